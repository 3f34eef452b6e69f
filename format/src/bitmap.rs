// SPDX-License-Identifier: GPL-2.0
//! Allocation bitmap blocks: one bit per block of the device.

use super::{BLOCK_SIZE, HEADER_SIZE};

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

#[cfg(test)]
mod tests {
    use super::*;

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
