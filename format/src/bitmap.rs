// SPDX-License-Identifier: GPL-2.0
//! Allocation bitmap blocks: one bit per block of the device.

use super::{BlockHeader, BlockKind, FormatError, Geometry, Result, BLOCK_SIZE, HEADER_SIZE};

/// Blocks tracked by one bitmap block.
pub const BITS_PER_BITMAP_BLOCK: u64 = ((BLOCK_SIZE - HEADER_SIZE) * 8) as u64;

/// Where the allocation bit of block `blkno` lives: (index of the bitmap
/// block relative to `bitmap_start`, bit in that block's payload).
pub fn bitmap_position(blkno: u64) -> (u64, usize) {
    (
        blkno / BITS_PER_BITMAP_BLOCK,
        (blkno % BITS_PER_BITMAP_BLOCK) as usize,
    )
}

/// The bit array of a bitmap block (the block minus its header).
pub fn bitmap_payload(block: &[u8]) -> &[u8] {
    &block[HEADER_SIZE..]
}

/// Mutable access to the bit array of a bitmap block.
pub fn bitmap_payload_mut(block: &mut [u8]) -> &mut [u8] {
    &mut block[HEADER_SIZE..]
}

/// Whether bit `bit` of a bitmap payload is set.
pub fn test_bit(bits: &[u8], bit: usize) -> bool {
    bits[bit / 8] & (1 << (bit % 8)) != 0
}

/// Sets or clears bit `bit` of a bitmap payload.
pub fn assign_bit(bits: &mut [u8], bit: usize, value: bool) {
    if value {
        bits[bit / 8] |= 1 << (bit % 8);
    } else {
        bits[bit / 8] &= !(1 << (bit % 8));
    }
}

/// Verifies the header of bitmap block `index` (of `geometry`, whose first
/// bitmap block is `bitmap_start`): kind, block number, checksum, reserved
/// bytes (see [`BlockHeader::verify`]) and no owner.
pub fn verify_bitmap_header(block: &[u8], geometry: &Geometry, index: u64) -> Result<()> {
    let blkno = geometry.bitmap_start + index;
    if BlockHeader::verify(block, BlockKind::Bitmap, blkno)? != 0 {
        return Err(FormatError::BadField("bitmap block with an owner"));
    }
    Ok(())
}

/// Verifies bitmap block `index` of `geometry` whole: its header (see
/// [`verify_bitmap_header`]), and the bits of the blocks that are never
/// free set: the metadata before [`Geometry::data_start`] and the bits past
/// the last block of the filesystem.
pub fn verify_bitmap_block(block: &[u8], geometry: &Geometry, index: u64) -> Result<()> {
    verify_bitmap_header(block, geometry, index)?;
    let bits = bitmap_payload(block);
    let first = index * BITS_PER_BITMAP_BLOCK;
    let end = first + BITS_PER_BITMAP_BLOCK;
    // Bits of this block below data_start and from block_count on.
    let meta_end = geometry.data_start.clamp(first, end) - first;
    let tail_start = geometry.block_count.clamp(first, end) - first;
    let all_set = |from: u64, to: u64| (from..to).all(|bit| test_bit(bits, bit as usize));
    if !all_set(0, meta_end) {
        return Err(FormatError::BadField("metadata block marked free"));
    }
    if !all_set(tail_start, BITS_PER_BITMAP_BLOCK) {
        return Err(FormatError::BadField(
            "bits past the end of the filesystem marked free",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitmap block `index` of `g` with every data block free, sealed
    /// after `f` changed it.
    fn bitmap(g: &Geometry, index: u64, f: impl FnOnce(&mut [u8])) -> [u8; BLOCK_SIZE] {
        let mut block = [0u8; BLOCK_SIZE];
        let first = index * BITS_PER_BITMAP_BLOCK;
        let bits = bitmap_payload_mut(&mut block);
        for bit in 0..BITS_PER_BITMAP_BLOCK {
            let blkno = first + bit;
            assign_bit(
                bits,
                bit as usize,
                blkno < g.data_start || blkno >= g.block_count,
            );
        }
        f(&mut block);
        BlockHeader {
            kind: BlockKind::Bitmap,
            blkno: g.bitmap_start + index,
            owner: 0,
        }
        .seal(&mut block);
        block
    }

    fn geometry() -> Geometry {
        Geometry::new(BITS_PER_BITMAP_BLOCK + 100, 64, 0).unwrap()
    }

    #[test]
    fn bitmap_block_valid() {
        let g = geometry();
        for index in 0..g.bitmap_blocks {
            assert_eq!(
                verify_bitmap_block(&bitmap(&g, index, |_| {}), &g, index),
                Ok(())
            );
        }
    }

    #[test]
    fn bitmap_rule_header() {
        let g = geometry();
        let block = bitmap(&g, 0, |_| {});
        assert_eq!(
            verify_bitmap_block(&block, &g, 1),
            Err(FormatError::BadHeader)
        );
    }

    #[test]
    fn bitmap_rule_no_owner() {
        let g = geometry();
        let mut block = bitmap(&g, 0, |_| {});
        BlockHeader {
            kind: BlockKind::Bitmap,
            blkno: g.bitmap_start,
            owner: 3,
        }
        .seal(&mut block);
        assert_eq!(
            verify_bitmap_block(&block, &g, 0),
            Err(FormatError::BadField("bitmap block with an owner"))
        );
    }

    #[test]
    fn bitmap_rule_metadata_used() {
        let g = geometry();
        let block = bitmap(&g, 0, |b| {
            assign_bit(bitmap_payload_mut(b), (g.data_start - 1) as usize, false)
        });
        assert_eq!(
            verify_bitmap_block(&block, &g, 0),
            Err(FormatError::BadField("metadata block marked free"))
        );
    }

    #[test]
    fn bitmap_rule_tail_used() {
        let g = geometry();
        let block = bitmap(&g, 1, |b| assign_bit(bitmap_payload_mut(b), 100, false));
        assert_eq!(
            verify_bitmap_block(&block, &g, 1),
            Err(FormatError::BadField(
                "bits past the end of the filesystem marked free"
            ))
        );
        // The last data block's bit may be clear.
        let block = bitmap(&g, 1, |b| assign_bit(bitmap_payload_mut(b), 99, false));
        assert_eq!(verify_bitmap_block(&block, &g, 1), Ok(()));
    }

    #[test]
    fn bitmap_bits() {
        let mut bits = [0u8; 16];
        assign_bit(&mut bits, 9, true);
        assert!(test_bit(&bits, 9) && !test_bit(&bits, 8));
        assign_bit(&mut bits, 9, false);
        assert!(!test_bit(&bits, 9));
        assert_eq!(bitmap_position(BITS_PER_BITMAP_BLOCK + 3), (1, 3));
    }
}
