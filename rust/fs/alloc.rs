// SPDX-License-Identifier: GPL-2.0

//! Block and inode allocation over the bitmap and the inode table.
//!
//! Every function here is called with [`SbInfo::alloc`] held (the
//! [`Allocator`] is its contents), which serialises all changes of the
//! bitmap, of inode-table slot ownership and of the free counts.
//!
//! [`SbInfo::alloc`]: super::SbInfo

use super::inode_table::write_inode_slot;
use super::{corrupted, RexSb};
use crate::format::{
    self, assign_bit, bitmap_payload, bitmap_payload_mut, bitmap_position, test_bit, BlockHeader,
    BlockKind, DiskInode, Superblock, BITS_PER_BITMAP_BLOCK,
};
use kernel::prelude::*;

/// The allocator's state: the in-memory superblock, which holds the free
/// counts, and where the next searches start.
pub(crate) struct Allocator {
    disk: Superblock,
    block_hint: u64,
    ino_hint: u64,
}

impl Allocator {
    pub(super) fn new(disk: Superblock) -> Self {
        Allocator {
            block_hint: disk.geometry.data_start,
            ino_hint: format::ROOT_INO,
            disk,
        }
    }

    /// The in-memory superblock.
    pub(super) fn disk(&self) -> &Superblock {
        &self.disk
    }

    /// The in-memory superblock, to change what is written at the next
    /// superblock write.
    pub(super) fn disk_mut(&mut self) -> &mut Superblock {
        &mut self.disk
    }

    /// Verifies every bitmap block and counts the free data blocks. Done
    /// once at mount, so that allocation does not checksum a block it only
    /// reads.
    pub(super) fn check_bitmap(&self, sb: &RexSb) -> Result<u64> {
        let g = self.disk.geometry;
        let mut free_blocks = 0;
        for index in 0..g.bitmap_blocks {
            let blkno = g.bitmap_start + index;
            let buf = sb.bread(blkno)?;
            BlockHeader::verify(buf.data(), BlockKind::Bitmap, blkno)
                .map_err(|e| corrupted(sb, format_args!("bitmap block {blkno}: {}", e.reason())))?;
            let base = index * BITS_PER_BITMAP_BLOCK;
            let bits = bitmap_payload(buf.data());
            let first = g.data_start.saturating_sub(base).min(BITS_PER_BITMAP_BLOCK);
            let last = g
                .block_count
                .saturating_sub(base)
                .min(BITS_PER_BITMAP_BLOCK);
            free_blocks += (first..last)
                .filter(|&bit| !test_bit(bits, bit as usize))
                .count() as u64;
        }
        Ok(free_blocks)
    }

    /// Recounts the free blocks and inodes from the bitmap and the inode
    /// table: after an unclean shutdown the superblock's counts are stale
    /// (they are written at sync and unmount, not with every allocation).
    pub(super) fn recount(&mut self, sb: &RexSb) -> Result {
        let g = self.disk.geometry;
        let free_blocks = self.check_bitmap(sb)?;
        let mut free_inodes = 0;
        for index in 0..g.inode_table_blocks {
            let blkno = g.inode_table_start + index;
            let buf = sb.bread(blkno)?;
            for (slot, chunk) in buf.data().chunks(format::INODE_SIZE).enumerate() {
                let ino = index * format::INODES_PER_BLOCK + slot as u64 + 1;
                if ino > g.inode_count {
                    break;
                }
                let inode = DiskInode::decode(chunk)
                    .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?;
                free_inodes += u64::from(inode.is_free());
            }
        }
        self.disk.free_blocks = free_blocks;
        self.disk.free_inodes = free_inodes;
        Ok(())
    }

    /// Blocks that file data may not take: the last free blocks are kept for
    /// metadata (extent, directory and attribute blocks), so that an inode
    /// whose extents grew can still be written, and a file unlinked, when
    /// data has filled the filesystem. 1/64 of the blocks, at most 64.
    pub(super) fn metadata_reserve(&self) -> u64 {
        (self.disk.geometry.data_blocks() / 64).min(64)
    }

    /// Free blocks that file data may take.
    pub(super) fn available_blocks(&self) -> u64 {
        self.disk
            .free_blocks
            .saturating_sub(self.metadata_reserve())
    }

    /// Allocates up to `max` contiguous blocks for file data, as
    /// [`Self::alloc_blocks`] does, but not from the metadata reserve.
    pub(super) fn alloc_data_blocks(
        &mut self,
        sb: &RexSb,
        goal: Option<u64>,
        max: u64,
    ) -> Result<(u64, u64)> {
        match self.available_blocks().min(max) {
            0 => Err(ENOSPC),
            max => self.alloc_blocks(sb, goal, max),
        }
    }

    /// Allocates up to `max` contiguous blocks, preferring a run that starts
    /// at `goal`. Returns the first block and the count (at least one).
    pub(super) fn alloc_blocks(
        &mut self,
        sb: &RexSb,
        goal: Option<u64>,
        max: u64,
    ) -> Result<(u64, u64)> {
        let g = self.disk.geometry;
        if self.disk.free_blocks == 0 {
            return Err(ENOSPC);
        }
        let start = goal
            .filter(|&b| g.is_data_range(b, 1))
            .unwrap_or(self.block_hint);
        // Scan from `start` to the end, then from the data start to `start`.
        for (from, to) in [(start, g.block_count), (g.data_start, start)] {
            let mut block = from;
            while block < to {
                let (index, first_bit) = bitmap_position(block);
                let bitmap_blkno = g.bitmap_start + index;
                let block_base = index * BITS_PER_BITMAP_BLOCK;
                let limit = (to - block_base).min(BITS_PER_BITMAP_BLOCK) as usize;
                let buf = sb.bread(bitmap_blkno)?;
                let found = find_free_run(bitmap_payload(buf.data()), first_bit, limit, max);
                if let Some((bit, len)) = found {
                    buf.modify(|b| {
                        let bits = bitmap_payload_mut(b);
                        for i in bit..bit + len {
                            assign_bit(bits, i, true);
                        }
                        BlockHeader {
                            kind: BlockKind::Bitmap,
                            blkno: bitmap_blkno,
                            owner: 0,
                        }
                        .seal(b);
                    });
                    let first = block_base + bit as u64;
                    self.disk.free_blocks -= len as u64;
                    self.block_hint = first + len as u64;
                    return Ok((first, len as u64));
                }
                block = block_base + BITS_PER_BITMAP_BLOCK;
            }
        }
        Err(corrupted(
            sb,
            format_args!(
                "free block count {} but no free block",
                self.disk.free_blocks
            ),
        ))
    }

    /// Frees blocks `start..start + len`.
    pub(super) fn free_blocks(&mut self, sb: &RexSb, start: u64, len: u64) -> Result {
        let g = self.disk.geometry;
        if !g.is_data_range(start, len) {
            return Err(corrupted(
                sb,
                format_args!("freeing blocks {start}+{len} outside the data area"),
            ));
        }
        let mut block = start;
        while block < start + len {
            let (index, first_bit) = bitmap_position(block);
            let bitmap_blkno = g.bitmap_start + index;
            let n =
                ((start + len - block) as usize).min(BITS_PER_BITMAP_BLOCK as usize - first_bit);
            let buf = sb.bread(bitmap_blkno)?;
            let double_free = buf.modify(|b| {
                let bits = bitmap_payload_mut(b);
                let double_free = (first_bit..first_bit + n).any(|i| !test_bit(bits, i));
                for i in first_bit..first_bit + n {
                    assign_bit(bits, i, false);
                }
                BlockHeader {
                    kind: BlockKind::Bitmap,
                    blkno: bitmap_blkno,
                    owner: 0,
                }
                .seal(b);
                double_free
            });
            if double_free {
                return Err(corrupted(
                    sb,
                    format_args!("blocks {block}+{n} freed twice"),
                ));
            }
            self.disk.free_blocks += n as u64;
            block += n as u64;
        }
        Ok(())
    }

    /// Finds a free inode-table slot, writes `inode` into it and returns its
    /// inode number.
    pub(super) fn alloc_inode(&mut self, sb: &RexSb, inode: &DiskInode) -> Result<u64> {
        let g = self.disk.geometry;
        if self.disk.free_inodes == 0 {
            return Err(ENOSPC);
        }
        for n in 0..g.inode_count {
            let ino = (self.ino_hint - 1 + n) % g.inode_count + 1;
            let (blkno, offset) = g
                .inode_location(ino)
                .map_err(|e| corrupted(sb, format_args!("{}", e.reason())))?;
            let buf = sb.bread(blkno)?;
            // Under the buffer lock: writeback may be rewriting the slot.
            let claimed = buf.modify_if(|b| {
                let slot = &mut b[offset..offset + format::INODE_SIZE];
                match DiskInode::decode(slot) {
                    Ok(existing) if existing.is_free() => {
                        inode.encode(slot);
                        (true, Ok(true))
                    }
                    Ok(_) => (false, Ok(false)),
                    Err(e) => (false, Err(e)),
                }
            });
            if claimed.map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))? {
                self.disk.free_inodes -= 1;
                self.ino_hint = ino + 1;
                return Ok(ino);
            }
        }
        Err(corrupted(
            sb,
            format_args!(
                "free inode count {} but no free inode",
                self.disk.free_inodes
            ),
        ))
    }

    /// Frees inode `ino`'s slot.
    pub(super) fn free_inode(&mut self, sb: &RexSb, ino: u64) -> Result {
        write_inode_slot(sb, ino, &DiskInode::FREE)?;
        self.disk.free_inodes += 1;
        Ok(())
    }
}

/// Finds the first run of clear bits in `bits[from..limit]`, at most `max`
/// long. Returns (first bit, length).
fn find_free_run(bits: &[u8], from: usize, limit: usize, max: u64) -> Option<(usize, usize)> {
    let mut bit = from;
    while bit < limit {
        // Skip full bytes quickly.
        if bit % 8 == 0 && bits[bit / 8] == 0xff {
            bit += 8;
            continue;
        }
        if test_bit(bits, bit) {
            bit += 1;
            continue;
        }
        let mut end = bit + 1;
        while end < limit && (end - bit) < max as usize && !test_bit(bits, end) {
            end += 1;
        }
        return Some((bit, end - bit));
    }
    None
}

#[kunit_tests(rexfs_alloc)]
mod tests {
    use super::*;

    #[test]
    fn free_runs_in_a_bitmap() {
        let mut bits = [0u8; 8];
        for bit in [0, 1, 2, 5, 9] {
            assign_bit(&mut bits, bit, true);
        }
        assert_eq!(find_free_run(&bits, 0, 64, 100), Some((3, 2)));
        assert_eq!(find_free_run(&bits, 5, 64, 3), Some((6, 3)));
        assert_eq!(find_free_run(&bits, 10, 64, 100), Some((10, 54)));
        assert_eq!(find_free_run(&bits, 10, 12, 100), Some((10, 2)));
        bits = [0xff; 8];
        assert_eq!(find_free_run(&bits, 0, 64, 1), None);
    }
}
