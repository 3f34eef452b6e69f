// SPDX-License-Identifier: GPL-2.0
//! The header that starts every metadata block other than the superblock
//! and the inode table: bitmap, directory, extent, extended attribute,
//! refcount table and B+tree node blocks.

use super::{
    crc32c_without_field, get_u32, get_u64, put_u32, put_u64, FormatError, Result, BLOCK_SIZE,
};

/// Size of the header that starts every bitmap, directory, extent,
/// extended attribute, refcount table and B+tree node block.
pub const HEADER_SIZE: usize = 32;

/// The type of a metadata block, stored as its header magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BlockKind {
    /// Allocation bitmap block, "RXBM".
    Bitmap = 0x5258_424d,
    /// Directory block, "RXDR".
    Directory = 0x5258_4452,
    /// Extent block, "RXEX".
    Extent = 0x5258_4558,
    /// Extended attribute block, "RXXA" (see [`XattrBlock`](super::XattrBlock)).
    Xattr = 0x5258_5841,
    /// Refcount table block, "RXRC" (see
    /// [`verify_refcount_block`](super::verify_refcount_block)).
    Refcount = 0x5258_5243,
    /// B+tree node, "RXBT" (see [`BTree`](super::BTree)).
    BtreeNode = 0x5258_4254,
}

/// Header of a metadata block:
/// `magic: u32, crc: u32, blkno: u64, owner: u64, reserved: u64`.
///
/// `blkno` catches misdirected writes; `owner` is the inode the block belongs
/// to (0 for bitmap and refcount table blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// What the block holds.
    pub kind: BlockKind,
    /// The block's own address.
    pub blkno: u64,
    /// Owning inode, 0 for none.
    pub owner: u64,
}

const HDR_MAGIC: usize = 0;
const HDR_CRC: usize = 4;
const HDR_BLKNO: usize = 8;
const HDR_OWNER: usize = 16;
const HDR_RESERVED: usize = 24;

impl BlockHeader {
    /// Writes the header into `block` and seals the block with its checksum.
    /// Call it after the payload is final.
    pub fn seal(&self, block: &mut [u8]) {
        self.write(block);
        set_block_checksum(block);
    }

    /// Writes the header into `block` but not its checksum: the block is
    /// sealed when [`set_block_checksum`] runs after the payload is final
    /// (the module's journal runs it as the block's transaction commits).
    pub fn write(&self, block: &mut [u8]) {
        put_u32(block, HDR_MAGIC, self.kind as u32);
        put_u64(block, HDR_BLKNO, self.blkno);
        put_u64(block, HDR_OWNER, self.owner);
        put_u64(block, HDR_RESERVED, 0);
    }

    /// The cheap part of [`BlockHeader::verify`], for a block that passed
    /// it since it was read from disk: the magic of `kind` and the block's
    /// own number; returns the owner.
    pub fn identify(block: &[u8], kind: BlockKind, blkno: u64) -> Result<u64> {
        if block.len() != BLOCK_SIZE {
            return Err(FormatError::BadField("short block"));
        }
        if get_u32(block, HDR_MAGIC) != kind as u32 || get_u64(block, HDR_BLKNO) != blkno {
            return Err(FormatError::BadHeader);
        }
        Ok(get_u64(block, HDR_OWNER))
    }

    /// Checks that `block` is a sealed block of `kind` stored at `blkno`;
    /// returns its owner.
    ///
    /// Rules: a whole block; the magic of `kind` and the block's own number
    /// ([`FormatError::BadHeader`]); the checksum; the reserved bytes zero.
    pub fn verify(block: &[u8], kind: BlockKind, blkno: u64) -> Result<u64> {
        let owner = Self::identify(block, kind, blkno)?;
        if get_u32(block, HDR_CRC) != crc32c_without_field(block, HDR_CRC) {
            return Err(FormatError::BadChecksum);
        }
        if get_u64(block, HDR_RESERVED) != 0 {
            return Err(FormatError::BadField(
                "block header reserved bytes not zero",
            ));
        }
        Ok(owner)
    }
}

/// Seals `block`, whose header [`BlockHeader::write`] wrote, with the
/// checksum of its bytes as they are.
pub fn set_block_checksum(block: &mut [u8]) {
    let crc = crc32c_without_field(block, HDR_CRC);
    put_u32(block, HDR_CRC, crc);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: BlockHeader = BlockHeader {
        kind: BlockKind::Extent,
        blkno: 40,
        owner: 7,
    };

    /// A sealed block of `HEADER` with `f` applied to its bytes before
    /// sealing.
    fn sealed(f: impl FnOnce(&mut [u8])) -> [u8; BLOCK_SIZE] {
        let mut block = [0u8; BLOCK_SIZE];
        block[HEADER_SIZE..].fill(0x5a);
        HEADER.seal(&mut block);
        f(&mut block);
        let crc = crc32c_without_field(&block, HDR_CRC);
        put_u32(&mut block, HDR_CRC, crc);
        block
    }

    #[test]
    fn header_round_trip() {
        let block = sealed(|_| {});
        assert_eq!(BlockHeader::verify(&block, BlockKind::Extent, 40), Ok(7));
    }

    #[test]
    fn header_rule_whole_block() {
        let block = sealed(|_| {});
        assert_eq!(
            BlockHeader::verify(&block[..BLOCK_SIZE - 1], BlockKind::Extent, 40),
            Err(FormatError::BadField("short block"))
        );
    }

    #[test]
    fn header_rule_magic_and_number() {
        let block = sealed(|_| {});
        for (kind, blkno) in [(BlockKind::Directory, 40), (BlockKind::Extent, 41)] {
            assert_eq!(
                BlockHeader::verify(&block, kind, blkno),
                Err(FormatError::BadHeader)
            );
        }
    }

    #[test]
    fn header_rule_checksum() {
        let mut block = sealed(|_| {});
        block[100] ^= 1;
        assert_eq!(
            BlockHeader::verify(&block, BlockKind::Extent, 40),
            Err(FormatError::BadChecksum)
        );
    }

    #[test]
    fn header_rule_reserved_zero() {
        let block = sealed(|b| b[HDR_RESERVED + 7] = 1);
        assert_eq!(
            BlockHeader::verify(&block, BlockKind::Extent, 40),
            Err(FormatError::BadField(
                "block header reserved bytes not zero"
            ))
        );
    }
}
