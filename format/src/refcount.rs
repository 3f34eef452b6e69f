// SPDX-License-Identifier: GPL-2.0
//! The refcount table (feature
//! [`FEATURE_INCOMPAT_REFLINK`](super::FEATURE_INCOMPAT_REFLINK)): how many
//! extent references each shared block has.
//!
//! The table is a fixed region of [`Geometry::refcount_blocks`] blocks at
//! [`Geometry::refcount_start`], right after the journal, with one entry per
//! block of the device. Each table block is a [`BlockHeader`] of kind
//! [`BlockKind::Refcount`] (owner 0) followed by [`REFCOUNTS_PER_BLOCK`]
//! little-endian `u32` entries: the entry of block `b` is entry
//! `b % REFCOUNTS_PER_BLOCK` of table block
//! `refcount_start + b / REFCOUNTS_PER_BLOCK` ([`refcount_location`]).
//!
//! An entry says:
//!
//! - `0`: the block is not shared: free, or mapped by exactly one extent
//!   (the bitmap says which);
//! - `2..=`[`REFCOUNT_MAX`]: the block is mapped by that many extent
//!   references (clones, in one file or in several);
//! - [`REFCOUNT_STAGING`]: a copy-on-write staging block, allocated in the
//!   bitmap and mapped by no extent, being written by a copy-on-write write
//!   that has not yet moved it into its file; the module frees every
//!   staging block at mount, after the journal's recovery (a crash left
//!   it);
//! - `1` is never stored: a block mapped once is not shared.
//!
//! The entries of the blocks outside the data area (below
//! [`Geometry::data_start`], and past the end of the device in the last
//! table block) are 0.
//!
//! The functions below work in place on a table block's buffer (the module
//! changes the blocks in their jbd2 buffers) and allocate nothing.

use super::{
    div_round_up, get_u32, put_u32, BlockHeader, BlockKind, FormatError, Geometry, Result,
    BLOCK_SIZE, HEADER_SIZE,
};

/// Bytes of one refcount entry.
pub const REFCOUNT_SIZE: usize = 4;
/// Entries of one refcount table block: 1,016.
pub const REFCOUNTS_PER_BLOCK: usize = (BLOCK_SIZE - HEADER_SIZE) / REFCOUNT_SIZE;
/// The largest count of extent references to a block: `u32::MAX - 1`.
pub const REFCOUNT_MAX: u32 = u32::MAX - 1;
/// The entry of a copy-on-write staging block: allocated in the bitmap,
/// mapped by no extent, written by a copy-on-write write in flight. The
/// module frees every staging block at mount, after journal recovery.
pub const REFCOUNT_STAGING: u32 = u32::MAX;

/// Blocks of the refcount table of a filesystem of `block_count` blocks:
/// one entry for every block of the device.
pub fn refcount_table_blocks(block_count: u64) -> u64 {
    div_round_up(block_count, REFCOUNTS_PER_BLOCK as u64)
}

/// Where the refcount entry of block `blkno` lives: (the table block, as a
/// block number of the device; the entry's index in it). `geometry` has a
/// refcount table ([`Geometry::has_refcounts`]) and `blkno` is below its
/// block count (the callers look up blocks of checked extents).
pub fn refcount_location(geometry: &Geometry, blkno: u64) -> (u64, usize) {
    let per_block = REFCOUNTS_PER_BLOCK as u64;
    (
        geometry.refcount_start + blkno / per_block,
        (blkno % per_block) as usize,
    )
}

/// Entry `index` of the refcount table block `block`.
pub fn refcount_get(block: &[u8], index: usize) -> u32 {
    get_u32(block, HEADER_SIZE + index * REFCOUNT_SIZE)
}

/// Sets entry `index` of the refcount table block `block` to `value`. The
/// block needs [`seal_refcount_block`] afterwards.
pub fn refcount_set(block: &mut [u8], index: usize, value: u32) {
    put_u32(block, HEADER_SIZE + index * REFCOUNT_SIZE, value);
}

/// Seals refcount table block `blkno` once its entries are final: writes
/// its header (owner 0) and its checksum.
pub fn seal_refcount_block(block: &mut [u8], blkno: u64) {
    BlockHeader {
        kind: BlockKind::Refcount,
        blkno,
        owner: 0,
    }
    .seal(block);
}

/// Fills `block` as refcount table block `blkno` with every entry 0 (no
/// block shared) and seals it: what mkfs writes.
pub fn init_refcount_block(block: &mut [u8], blkno: u64) {
    block[HEADER_SIZE..].fill(0);
    seal_refcount_block(block, blkno);
}

/// The rule of an entry's value, wherever it is: never 1 (a block mapped
/// once is not shared: its entry is 0).
pub fn check_refcount(value: u32) -> Result<()> {
    if value == 1 {
        return Err(FormatError::BadField("refcount of 1"));
    }
    Ok(())
}

/// Verifies `block`, read from refcount table block `blkno` (a block
/// number of the device) of `geometry`, whole: that `blkno` is a block of
/// the table; the header (see [`BlockHeader::verify`]: kind, block number,
/// checksum, reserved bytes) and no owner; the entries of blocks outside
/// the data area 0; no entry 1 ([`check_refcount`]).
pub fn verify_refcount_block(block: &[u8], blkno: u64, geometry: &Geometry) -> Result<()> {
    let index = blkno.wrapping_sub(geometry.refcount_start);
    if blkno < geometry.refcount_start || index >= geometry.refcount_blocks {
        return Err(FormatError::BadField("block outside the refcount table"));
    }
    if BlockHeader::verify(block, BlockKind::Refcount, blkno)? != 0 {
        return Err(FormatError::BadField("refcount block with an owner"));
    }
    let first = index * REFCOUNTS_PER_BLOCK as u64;
    for entry in 0..REFCOUNTS_PER_BLOCK {
        let value = refcount_get(block, entry);
        if value == 0 {
            continue;
        }
        let counted = first + entry as u64;
        if !(geometry.data_start..geometry.block_count).contains(&counted) {
            return Err(FormatError::BadField(
                "refcount of a block outside the data area",
            ));
        }
        check_refcount(value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crc32c_without_field, JOURNAL_MIN_BLOCKS};

    /// 65,536 blocks: a table of 65 blocks, the last one half used.
    fn geometry() -> Geometry {
        Geometry::with_refcounts(1 << 16, 64, JOURNAL_MIN_BLOCKS).unwrap()
    }

    /// Table block `index` of `g`, empty, sealed after `f` changed it.
    fn table_block(g: &Geometry, index: u64, f: impl FnOnce(&mut [u8])) -> [u8; BLOCK_SIZE] {
        let mut block = [0xa5u8; BLOCK_SIZE];
        let blkno = g.refcount_start + index;
        init_refcount_block(&mut block, blkno);
        f(&mut block);
        seal_refcount_block(&mut block, blkno);
        block
    }

    fn bad(why: &'static str) -> Result<()> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn table_layout() {
        let g = geometry();
        assert_eq!(REFCOUNTS_PER_BLOCK, 1016);
        assert_eq!(g.refcount_blocks, 65);
        assert_eq!(refcount_table_blocks(1016), 1);
        assert_eq!(refcount_table_blocks(1017), 2);
        assert_eq!(g.refcount_start, g.journal_start + g.journal_blocks);
        assert_eq!(g.data_start, g.refcount_start + g.refcount_blocks);
        assert!(g.has_refcounts());
        assert!(!Geometry::new(1 << 16, 64, JOURNAL_MIN_BLOCKS)
            .unwrap()
            .has_refcounts());
        assert_eq!(
            Geometry::with_refcounts(1 << 16, 64, 0),
            Err(FormatError::BadGeometry("refcount table without a journal"))
        );
    }

    #[test]
    fn entry_location() {
        let g = geometry();
        let start = g.refcount_start;
        assert_eq!(refcount_location(&g, 0), (start, 0));
        assert_eq!(refcount_location(&g, 1015), (start, 1015));
        assert_eq!(refcount_location(&g, 1016), (start + 1, 0));
        // 1,097: the superblock, 3 bitmap blocks, 4 inode-table blocks, the
        // journal and the table.
        assert_eq!(g.data_start, 1097);
        assert_eq!(refcount_location(&g, g.data_start), (start + 1, 81));
        assert_eq!(refcount_location(&g, (1 << 16) - 1), (start + 64, 511));
    }

    #[test]
    fn entries_round_trip() {
        let g = geometry();
        let block = table_block(&g, 1, |_| {});
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 1, &g),
            Ok(())
        );
        assert!((0..1016).all(|i| refcount_get(&block, i) == 0));
        assert!(block[HEADER_SIZE..].iter().all(|&b| b == 0));

        let (blkno, index) = refcount_location(&g, g.data_start + 3);
        let block = table_block(&g, blkno - g.refcount_start, |b| {
            refcount_set(b, index, 2);
            refcount_set(b, index + 1, REFCOUNT_MAX);
            refcount_set(b, index + 2, REFCOUNT_STAGING);
        });
        assert_eq!(verify_refcount_block(&block, blkno, &g), Ok(()));
        assert_eq!(refcount_get(&block, index), 2);
        assert_eq!(refcount_get(&block, index + 1), REFCOUNT_MAX);
        assert_eq!(refcount_get(&block, index + 2), REFCOUNT_STAGING);
        assert_eq!(refcount_get(&block, index - 1), 0);
        // Little endian, after the header.
        let at = HEADER_SIZE + index * REFCOUNT_SIZE;
        assert_eq!(block[at..at + 4], [2, 0, 0, 0]);
        // The last block's entries up to the last block of the device.
        let last = g.refcount_blocks - 1;
        let block = table_block(&g, last, |b| refcount_set(b, 511, 7));
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + last, &g),
            Ok(())
        );
    }

    #[test]
    fn refcount_rule_header() {
        let g = geometry();
        let block = table_block(&g, 1, |_| {});
        // Another table block's number, another kind of block.
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 2, &g),
            Err(FormatError::BadHeader)
        );
        let mut other = block;
        BlockHeader {
            kind: BlockKind::Bitmap,
            blkno: g.refcount_start + 1,
            owner: 0,
        }
        .seal(&mut other);
        assert_eq!(
            verify_refcount_block(&other, g.refcount_start + 1, &g),
            Err(FormatError::BadHeader)
        );
    }

    #[test]
    fn refcount_rule_checksum() {
        let g = geometry();
        let mut block = table_block(&g, 1, |b| refcount_set(b, 200, 3));
        block[HEADER_SIZE + 200 * REFCOUNT_SIZE] = 4;
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 1, &g),
            Err(FormatError::BadChecksum)
        );
    }

    #[test]
    fn refcount_rule_no_owner() {
        let g = geometry();
        let mut block = table_block(&g, 1, |_| {});
        BlockHeader {
            kind: BlockKind::Refcount,
            blkno: g.refcount_start + 1,
            owner: 5,
        }
        .seal(&mut block);
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 1, &g),
            bad("refcount block with an owner")
        );
    }

    #[test]
    fn refcount_rule_reserved_zero() {
        let g = geometry();
        let mut block = table_block(&g, 1, |_| {});
        block[24] = 1;
        let crc = crc32c_without_field(&block, 4);
        put_u32(&mut block, 4, crc);
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 1, &g),
            bad("block header reserved bytes not zero")
        );
    }

    #[test]
    fn refcount_rule_never_one() {
        let g = geometry();
        let (blkno, index) = refcount_location(&g, g.data_start + 10);
        let block = table_block(&g, blkno - g.refcount_start, |b| refcount_set(b, index, 1));
        assert_eq!(
            verify_refcount_block(&block, blkno, &g),
            bad("refcount of 1")
        );
        assert_eq!(check_refcount(1), bad("refcount of 1"));
        for value in [0, 2, REFCOUNT_MAX, REFCOUNT_STAGING] {
            assert_eq!(check_refcount(value), Ok(()));
        }
    }

    #[test]
    fn refcount_rule_data_area_only() {
        let g = geometry();
        let outside = bad("refcount of a block outside the data area");
        // The superblock's, the last metadata block's (in the second table
        // block), and past the end of the device in the last table block.
        let last = g.refcount_blocks - 1;
        for (index, entry) in [(0, 0), (1, 80), (last, 512), (last, 1015)] {
            let block = table_block(&g, index, |b| refcount_set(b, entry, 2));
            assert_eq!(
                verify_refcount_block(&block, g.refcount_start + index, &g),
                outside,
                "table block {index}, entry {entry}"
            );
        }
        let block = table_block(&g, 1, |b| refcount_set(b, 81, 2));
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start + 1, &g),
            Ok(())
        );
    }

    #[test]
    fn refcount_rule_table_block() {
        let g = geometry();
        let block = table_block(&g, 0, |_| {});
        for blkno in [g.refcount_start - 1, g.data_start, 0] {
            assert_eq!(
                verify_refcount_block(&block, blkno, &g),
                bad("block outside the refcount table")
            );
        }
        let none = Geometry::new(1 << 16, 64, JOURNAL_MIN_BLOCKS).unwrap();
        assert_eq!(
            verify_refcount_block(&block, g.refcount_start, &none),
            bad("block outside the refcount table")
        );
    }
}
