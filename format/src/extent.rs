// SPDX-License-Identifier: GPL-2.0
//! Extents, which map file blocks to disk blocks, and the extent blocks that
//! hold those not stored in the inode.

use super::{
    get_u32, get_u64, put_u32, put_u64, BlockHeader, BlockKind, FormatError, Geometry, Result,
    BLOCK_SIZE, HEADER_SIZE,
};

/// On-disk size of an [`Extent`].
pub const EXTENT_SIZE: usize = 24;
/// Extent flag: blocks are allocated but read as zeroes (fallocate).
pub const EXTENT_UNWRITTEN: u32 = 1;

/// A run of file blocks mapped to contiguous disk blocks:
/// `logical: u64, physical: u64, len: u32, flags: u32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub logical: u64,
    /// First disk block.
    pub physical: u64,
    /// Number of blocks, at least one.
    pub len: u32,
    /// `EXTENT_*` flags.
    pub flags: u32,
}

impl Extent {
    /// Decodes the extent at the start of `b`.
    pub fn decode(b: &[u8]) -> Self {
        Extent {
            logical: get_u64(b, 0),
            physical: get_u64(b, 8),
            len: get_u32(b, 16),
            flags: get_u32(b, 20),
        }
    }

    /// Encodes the extent into the start of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, self.logical);
        put_u64(b, 8, self.physical);
        put_u32(b, 16, self.len);
        put_u32(b, 20, self.flags);
    }

    /// One past the last file block.
    pub fn logical_end(&self) -> u64 {
        self.logical + u64::from(self.len)
    }

    /// Checks the extent against the filesystem layout.
    pub fn check(&self, geometry: &Geometry) -> Result<()> {
        if self.len == 0 || self.flags & !EXTENT_UNWRITTEN != 0 {
            return Err(FormatError::BadField("malformed extent"));
        }
        if self
            .logical
            .checked_add(u64::from(self.len))
            .is_none_or(|end| end > MAX_FILE_BLOCKS)
        {
            return Err(FormatError::BadField("extent beyond the maximum file size"));
        }
        if !geometry.is_data_range(self.physical, u64::from(self.len)) {
            return Err(FormatError::BadField("extent outside the data area"));
        }
        Ok(())
    }
}

/// Largest file size in blocks (2^40 blocks = 4 PiB).
pub const MAX_FILE_BLOCKS: u64 = 1 << 40;

/// Extent block layout: header, then `next: u64` (the following extent
/// block, 0 at the end of the chain), `count: u32`, `reserved: u32`, then
/// `count` extents sorted by `logical`.
pub const EXTENT_BLOCK_NEXT: usize = HEADER_SIZE;
const EXTENT_BLOCK_COUNT: usize = HEADER_SIZE + 8;
const EXTENT_BLOCK_ENTRIES: usize = HEADER_SIZE + 16;
/// Extents per extent block.
pub const EXTENTS_PER_BLOCK: usize = (BLOCK_SIZE - EXTENT_BLOCK_ENTRIES) / EXTENT_SIZE;

/// A decoded view of an extent block.
pub struct ExtentBlock<'a> {
    block: &'a [u8],
    /// Next extent block in the chain, 0 for none.
    pub next: u64,
    /// Number of extents in this block.
    pub count: usize,
}

impl<'a> ExtentBlock<'a> {
    /// Verifies `block` (stored at `blkno`, owned by `ino`) as an extent block.
    pub fn decode(block: &'a [u8], blkno: u64, ino: u64) -> Result<Self> {
        if BlockHeader::verify(block, BlockKind::Extent, blkno)? != ino {
            return Err(FormatError::BadHeader);
        }
        let count = get_u32(block, EXTENT_BLOCK_COUNT) as usize;
        if count == 0 || count > EXTENTS_PER_BLOCK {
            return Err(FormatError::BadField("bad extent block count"));
        }
        Ok(ExtentBlock {
            block,
            next: get_u64(block, EXTENT_BLOCK_NEXT),
            count,
        })
    }

    /// Extent `i` of this block.
    pub fn extent(&self, i: usize) -> Extent {
        Extent::decode(&self.block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..])
    }

    /// Writes an extent block: `extents` (at most [`EXTENTS_PER_BLOCK`]), the
    /// link to `next`, and the sealed header.
    pub fn encode(block: &mut [u8], blkno: u64, ino: u64, next: u64, extents: &[Extent]) {
        block.fill(0);
        put_u64(block, EXTENT_BLOCK_NEXT, next);
        put_u32(block, EXTENT_BLOCK_COUNT, extents.len() as u32);
        for (i, e) in extents.iter().enumerate() {
            e.encode(&mut block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..]);
        }
        BlockHeader {
            kind: BlockKind::Extent,
            blkno,
            owner: ino,
        }
        .seal(block);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_block_round_trip() {
        let g = Geometry::new(1024, 64).unwrap();
        let extents = [
            Extent {
                logical: 0,
                physical: g.data_start,
                len: 4,
                flags: 0,
            },
            Extent {
                logical: 10,
                physical: g.data_start + 8,
                len: 1,
                flags: EXTENT_UNWRITTEN,
            },
        ];
        let mut block = [0u8; BLOCK_SIZE];
        ExtentBlock::encode(&mut block, 100, 3, 0, &extents);
        let eb = ExtentBlock::decode(&block, 100, 3).unwrap();
        assert_eq!((eb.count, eb.next), (2, 0));
        assert_eq!(eb.extent(1), extents[1]);
        for e in extents {
            assert_eq!(e.check(&g), Ok(()));
        }
        let outside = Extent {
            logical: 0,
            physical: 1,
            len: 1,
            flags: 0,
        };
        assert!(outside.check(&g).is_err());
    }
}
