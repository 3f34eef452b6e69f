// SPDX-License-Identifier: GPL-2.0

//! The in-memory extent map of an inode: which disk blocks hold which file
//! blocks.

use super::{corrupted, Rexfs};
use crate::format::{self, DiskInode, Extent, ExtentBlock, Geometry};
use crate::vfs::SuperBlock;
use kernel::prelude::*;

/// The extents of one inode, sorted by file block and non-overlapping.
pub(crate) struct ExtentMap {
    extents: KVec<Extent>,
}

impl ExtentMap {
    /// Loads and checks the extents of inode `ino`: those in the inode, then
    /// those in its chain of extent blocks.
    pub(super) fn load(sb: &SuperBlock<Rexfs>, ino: u64, disk: &DiskInode) -> Result<Self> {
        let geometry = sb.data().geometry();
        let count = disk.extent_count as usize;
        let mut extents = KVec::with_capacity(count, GFP_KERNEL)?;
        for extent in disk.inode_extents() {
            extents.push(extent, GFP_KERNEL)?;
        }
        let mut next = disk.extent_block;
        while next != 0 {
            if extents.len() >= count || !geometry.is_data_range(next, 1) {
                return Err(corrupted(sb, format_args!("inode {ino}: bad extent block {next}")));
            }
            let buf = sb.bread(next)?;
            let block = ExtentBlock::decode(buf.data(), next, ino).map_err(|e| {
                corrupted(sb, format_args!("inode {ino}: extent block {next}: {}", e.reason()))
            })?;
            for i in 0..block.count {
                extents.push(block.extent(i), GFP_KERNEL)?;
            }
            next = block.next;
        }
        if extents.len() != count {
            return Err(corrupted(sb, format_args!("inode {ino}: extent count mismatch")));
        }
        check_extents(&extents, geometry)
            .map_err(|why| corrupted(sb, format_args!("inode {ino}: {why}")))?;
        Ok(ExtentMap { extents })
    }

    /// The extent that maps file block `logical`, if any.
    pub(super) fn lookup(&self, logical: u64) -> Option<&Extent> {
        let i = self.extents.partition_point(|e| e.logical_end() <= logical);
        self.extents.get(i).filter(|e| e.logical <= logical)
    }
}

/// Checks that `extents` are each valid, sorted and non-overlapping.
fn check_extents(extents: &[Extent], geometry: &Geometry) -> core::result::Result<(), &'static str> {
    let mut end = 0;
    for e in extents {
        e.check(geometry).map_err(|e| e.reason())?;
        if e.logical < end {
            return Err("extents overlap or are out of order");
        }
        end = e.logical_end();
    }
    Ok(())
}

/// The disk block that holds file block `logical` of a fully written
/// extent, or `None` for a hole or an unwritten extent (both read as zeroes).
pub(super) fn written_block(map: &ExtentMap, logical: u64) -> Option<u64> {
    map.lookup(logical)
        .filter(|e| e.flags & format::EXTENT_UNWRITTEN == 0)
        .map(|e| e.physical + (logical - e.logical))
}
