// SPDX-License-Identifier: GPL-2.0

//! The data path of regular files on iomap: mapping and allocating blocks,
//! the validity check of cached mappings, writeback mapping reuse, write,
//! write faults, truncate and fsync.
//!
//! Every mapping handed to iomap carries the extent-map generation it was
//! made under as its cookie; [`iomap_valid`] and [`writeback_map`] reject a
//! mapping whose cookie is not the current generation.

use super::extent_map::FreedRuns;
use super::inode::{account_blocks, free_runs};
use super::{RexInode, Rexfs};
use crate::format::{self, Extent, EXTENT_UNWRITTEN};
use crate::vfs::{
    self, falloc, iomap_flags, Fault, Kiocb, MapKind, Mapping, VmFaultResult,
    WritebackCache, WriteIter,
};
use kernel::prelude::*;

const BLOCK_SHIFT: u32 = format::BLOCK_SHIFT;

fn block_of(pos: i64) -> u64 {
    (pos as u64) >> BLOCK_SHIFT
}

fn bytes(blocks: u64) -> u64 {
    blocks << BLOCK_SHIFT
}

/// The mapping of file block `first` in `map`: the extent that contains it,
/// or the hole up to the next extent.
fn map_block(map: &super::extent_map::ExtentMap, first: u64, cookie: u64) -> Mapping {
    match map.lookup(first) {
        Some(e) => Mapping {
            offset: bytes(first) as i64,
            length: bytes(e.logical_end() - first),
            kind: if e.flags & EXTENT_UNWRITTEN != 0 { MapKind::Unwritten } else { MapKind::Mapped },
            addr: bytes(e.physical + (first - e.logical)),
            new: false,
            cookie,
        },
        None => {
            let next = map.next_mapped(first).min(format::MAX_FILE_BLOCKS);
            Mapping {
                offset: bytes(first) as i64,
                length: bytes(next - first),
                kind: MapKind::Hole,
                addr: 0,
                new: false,
                cookie,
            }
        }
    }
}

/// `iomap_begin`: maps `pos..pos + len`; for writes, allocates blocks for a
/// hole at `pos` (as far as the hole and the request reach).
pub(super) fn iomap_begin(inode: &RexInode, pos: i64, len: i64, flags: u32) -> Result<Mapping> {
    let sb = inode.super_block();
    let sbi = sb.data();
    sbi.counters.iomap_begin.inc();
    let first = block_of(pos);
    let end = block_of(pos + len - 1) + 1;
    let info = inode.data();
    let mapping = info.read_map(|map, generation| map_block(map, first, generation));
    if mapping.kind != MapKind::Hole || flags & iomap_flags::WRITE == 0 {
        return Ok(mapping);
    }

    // Allocate for the hole. The map may have changed since we looked, so
    // look again under the lock that the change holds.
    let allocated = info.change_map(|map, generation| -> Result<Mapping> {
        let current = map_block(map, first, generation);
        if current.kind != MapKind::Hole {
            return Ok(current);
        }
        let want = end.min(first + (current.length >> BLOCK_SHIFT)) - first;
        let goal = map.goal_for(first);
        let (physical, count) = sbi.alloc.lock().alloc_blocks(sb, goal, want)?;
        let extent = Extent { logical: first, physical, len: count as u32, flags: 0 };
        if let Err(e) = map.insert(extent) {
            sbi.alloc.lock().free_blocks(sb, physical, count)?;
            return Err(e);
        }
        Ok(Mapping {
            offset: bytes(first) as i64,
            length: bytes(count),
            kind: MapKind::Mapped,
            addr: bytes(physical),
            new: true,
            cookie: generation,
        })
    })?;
    account_blocks(inode);
    inode.mark_dirty();
    Ok(allocated)
}

/// `iomap_end`: gives back the blocks a write allocated but did not use (a
/// short write, or none at all after a stale mapping).
pub(super) fn iomap_end(
    inode: &RexInode,
    pos: i64,
    _len: i64,
    written: i64,
    flags: u32,
    mapping: &Mapping,
) -> Result {
    if flags & iomap_flags::WRITE == 0 || !mapping.new {
        return Ok(());
    }
    let start = block_of(pos + written + (1 << BLOCK_SHIFT) - 1);
    let end = block_of(mapping.offset) + (mapping.length >> BLOCK_SHIFT);
    if start >= end {
        return Ok(());
    }
    let mut freed = FreedRuns::new();
    inode.data().change_map(|map, _| map.remove(start, end, &mut freed))?;
    free_runs(inode.super_block(), &freed)?;
    account_blocks(inode);
    inode.mark_dirty();
    Ok(())
}

/// `iomap_valid`, called with the folio locked: a mapping is valid while the
/// extent map has the generation it was made under.
pub(super) fn iomap_valid(inode: &RexInode, mapping: &Mapping) -> bool {
    let generation = inode.data().generation();
    if mapping.cookie == generation {
        return true;
    }
    inode.super_block().data().counters.iomap_stale.inc();
    vfs::trace_iomap_stale(inode.ino(), mapping.offset, mapping.length, mapping.cookie, generation);
    false
}

/// Maps `pos` for writeback. The cached mapping is reused while it covers
/// `pos` and the extent map has not changed since it was made; the folio
/// lock writeback holds keeps buffered writes and truncation of this folio
/// out, and every change of the map bumps the generation first.
pub(super) fn writeback_map(inode: &RexInode, cache: &mut WritebackCache, pos: i64) -> Result {
    let counters = &inode.super_block().data().counters;
    if let Some(cached) = cache.mapping.filter(|m| m.covers(pos)) {
        let generation = inode.data().generation();
        if cached.cookie == generation {
            counters.wb_map_reused.inc();
            return Ok(());
        }
        counters.wb_map_refetched.inc();
        vfs::trace_wb_refetch(inode.ino(), pos, cached.cookie, generation);
    }
    let mapping = inode.data().read_map(|map, generation| map_block(map, block_of(pos), generation));
    cache.mapping = Some(mapping);
    Ok(())
}

/// `write(2)`: buffered, through iomap.
pub(super) fn write_iter(iocb: &mut Kiocb<'_, Rexfs>, from: &mut WriteIter<'_>) -> Result<isize> {
    let inode = iocb.inode();
    let written = {
        let _lock = iocb.lock_inode();
        if iocb.write_checks(from)? == 0 {
            return Ok(0);
        }
        iocb.file_modified()?;
        // Data past the old EOF in its last block must read as zeroes.
        let old_size = inode.size();
        if iocb.pos() > old_size {
            let _invalidate = inode.invalidate_lock();
            inode.zero_range(old_size, iocb.pos() - old_size)?;
        }
        let written = iocb.buffered_write(from)?;
        if inode.size() != old_size {
            inode.mark_dirty();
        }
        written
    };
    if written > 0 {
        iocb.write_sync(written)?;
    }
    Ok(written)
}

/// `page_mkwrite`: allocates the folio's blocks and dirties it, serialised
/// against truncation by `invalidate_lock`.
pub(super) fn page_mkwrite(fault: &Fault<'_, Rexfs>) -> VmFaultResult {
    let _freeze = fault.start_pagefault();
    fault.update_time();
    let _invalidate = fault.inode().invalidate_lock_shared();
    fault.iomap_mkwrite()
}

/// Changes the size of a regular file (`i_rwsem` held).
pub(super) fn truncate(inode: &RexInode, size: i64) -> Result {
    let _invalidate = inode.invalidate_lock();
    let old_size = inode.size();
    if size < old_size {
        inode.truncate_page(size)?;
    }
    inode.truncate_setsize(size);
    if size < old_size {
        let first = block_of(size + (1 << BLOCK_SHIFT) - 1);
        let mut freed = FreedRuns::new();
        inode.data().change_map(|map, _| map.remove(first, u64::MAX, &mut freed))?;
        free_runs(inode.super_block(), &freed)?;
        account_blocks(inode);
    }
    inode.touch(true);
    inode.mark_dirty();
    Ok(())
}

/// Writeback of unwritten blocks completed: they hold data now.
pub(super) fn convert_unwritten(inode: &RexInode, offset: i64, size: u64) -> Result {
    let start = block_of(offset);
    let end = block_of(offset + size as i64 + (1 << BLOCK_SHIFT) - 1);
    inode.data().change_map(|map, _| map.mark_written(start, end))?;
    inode.mark_dirty();
    Ok(())
}

/// Allocates unwritten extents for the holes in file blocks `start..end`.
fn allocate_unwritten(inode: &RexInode, start: u64, end: u64) -> Result {
    let sb = inode.super_block();
    inode.data().change_map(|map, _| -> Result {
        let mut block = start;
        while block < end {
            if let Some(e) = map.lookup(block) {
                block = e.logical_end();
                continue;
            }
            let hole_end = map.next_mapped(block).min(end);
            let (physical, count) =
                sb.data().alloc.lock().alloc_blocks(sb, map.goal_for(block), hole_end - block)?;
            let extent = Extent { logical: block, physical, len: count as u32, flags: EXTENT_UNWRITTEN };
            if let Err(e) = map.insert(extent) {
                sb.data().alloc.lock().free_blocks(sb, physical, count)?;
                return Err(e);
            }
            block += count;
        }
        Ok(())
    })
}

/// `fallocate(2)`: preallocation (unwritten extents), hole punching and
/// range zeroing. Takes `i_rwsem` and `invalidate_lock` exclusively, waits
/// for direct I/O, and writes back and drops the page cache of a range
/// before changing its extents.
pub(super) fn fallocate(inode: &RexInode, mode: i32, offset: i64, len: i64) -> Result {
    let (keep_size, punch, zero) = (falloc::KEEP_SIZE, falloc::PUNCH_HOLE, falloc::ZERO_RANGE);
    if mode & !(keep_size | punch | zero) != 0 || (mode & punch != 0 && mode & zero != 0) {
        return Err(EOPNOTSUPP);
    }
    let _lock = inode.lock();
    let _invalidate = inode.invalidate_lock();
    inode.dio_wait();
    let end = offset + len;
    let block_size = 1i64 << BLOCK_SHIFT;
    // Whole blocks inside the range, and the whole range rounded out.
    let (inner_start, inner_end) = (block_of(offset + block_size - 1), block_of(end));
    let (outer_start, outer_end) = (block_of(offset), block_of(end + block_size - 1));

    if mode & (punch | zero) != 0 {
        inode.flush_and_drop_range(offset, end - 1)?;
        if inner_start < inner_end {
            let mut freed = FreedRuns::new();
            inode.data().change_map(|map, _| map.remove(inner_start, inner_end, &mut freed))?;
            free_runs(inode.super_block(), &freed)?;
        }
        // Partial blocks at the edges: zero them through the page cache.
        let inner = (bytes(inner_start) as i64, bytes(inner_end) as i64);
        if inner.0 >= inner.1 {
            inode.zero_range(offset, len)?;
        } else {
            if offset < inner.0 {
                inode.zero_range(offset, inner.0 - offset)?;
            }
            if end > inner.1 {
                inode.zero_range(inner.1, end - inner.1)?;
            }
        }
    }
    if mode & punch == 0 {
        let (start, stop) = if mode & zero != 0 { (inner_start, inner_end) } else { (outer_start, outer_end) };
        allocate_unwritten(inode, start, stop)?;
        if mode & keep_size == 0 && end > inode.size() {
            inode.truncate_setsize(end);
        }
    }
    account_blocks(inode);
    inode.touch(mode & (punch | zero) != 0);
    inode.mark_dirty();
    Ok(())
}

/// `fsync(2)`: the file's data, then its inode, then every dirty metadata
/// block (allocation bitmap, extent and directory blocks), then a cache
/// flush.
pub(super) fn fsync(inode: &RexInode, start: i64, end: i64) -> Result {
    let sb = inode.super_block();
    inode.write_and_wait_range(start, end)?;
    inode.sync_metadata()?;
    sb.sync_device()?;
    sb.flush_device()
}
