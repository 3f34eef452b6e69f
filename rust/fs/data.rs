// SPDX-License-Identifier: GPL-2.0

//! The data path of regular files on iomap: mapping and allocating blocks,
//! the validity check of cached mappings, writeback mapping reuse, buffered
//! and direct read and write, write faults, truncate, fallocate and fsync.
//!
//! Every mapping handed to iomap carries the extent-map generation it was
//! made under as its cookie; [`iomap_valid`] and [`writeback_map`] reject a
//! mapping whose cookie is not the current generation.
//!
//! A new file keeps its data in the inode (`IOMAP_INLINE`) until something
//! needs a block: see [`convert_inline`] and the lock order in [`super`].

use super::extent_map::{ExtentMap, FreedRuns};
use super::inode::{account_blocks, free_runs, InodeInfo};
use super::{RexInode, Rexfs};
use crate::format::{self, Extent, EXTENT_UNWRITTEN, INLINE_DATA_MAX};
use crate::vfs::{
    self, falloc, iomap_flags, Fault, FaultRetry, InodeLockGuard, InvalidateGuard, IoIter, Kiocb,
    MapKind, Mapping, OpenFile, VmFaultResult, WritebackCache,
};
use kernel::prelude::*;

const BLOCK_SHIFT: u32 = format::BLOCK_SHIFT;

fn block_of(pos: i64) -> u64 {
    (pos as u64) >> BLOCK_SHIFT
}

fn bytes(blocks: u64) -> u64 {
    blocks << BLOCK_SHIFT
}

/// The mapping of file block `first` in `map` of `info`: the extent that
/// contains it, or the hole up to the next extent; for an inline file, the
/// inline data in block 0 and a hole after it.
fn map_block(info: &InodeInfo, map: &ExtentMap, first: u64, cookie: u64) -> Mapping {
    if map.inline {
        let (kind, length) = match first {
            0 => (MapKind::Inline(info.inline_data.ptr()), bytes(1)),
            _ => (MapKind::Hole, bytes(format::MAX_FILE_BLOCKS - first)),
        };
        return Mapping { offset: bytes(first) as i64, length, kind, addr: 0, new: false, cookie };
    }
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

/// Allocates up to `want` blocks for the hole at file block `first` of
/// `map` and inserts them as one extent with `flags`; returns its physical
/// start and length.
fn allocate_extent(inode: &RexInode, map: &mut ExtentMap, first: u64, want: u64, flags: u32) -> Result<(u64, u64)> {
    let sb = inode.super_block();
    let alloc = &sb.data().alloc;
    let (physical, count) = alloc.lock().alloc_data_blocks(sb, map.goal_for(first), want)?;
    let extent = Extent { logical: first, physical, len: count as u32, flags };
    if let Err(e) = map.insert(extent) {
        alloc.lock().free_blocks(sb, physical, count)?;
        return Err(e);
    }
    Ok((physical, count))
}

/// `iomap_begin`: maps `pos..pos + len`; for writes, allocates blocks for a
/// hole at `pos` (as far as the hole and the request reach): written blocks
/// for the page cache, which zeroes what the write does not cover, and
/// unwritten ones for direct I/O, converted when the write completes so that
/// nobody reads the blocks' old contents meanwhile.
pub(super) fn iomap_begin(inode: &RexInode, pos: i64, len: i64, flags: u32) -> Result<Mapping> {
    let probes = &inode.super_block().data().probes;
    probes.iomap_begin.inc();
    let first = block_of(pos);
    let end = block_of(pos + len - 1) + 1;
    let direct = flags & iomap_flags::DIRECT != 0;
    let info = inode.data();
    let mut mapping = info.read_map(|map, generation| map_block(info, map, first, generation));
    if mapping.kind == MapKind::Hole && flags & iomap_flags::WRITE != 0 {
        // The map may have changed since we looked, so look again under the
        // lock that every change holds.
        mapping = info.change_map(|map, generation| -> Result<Mapping> {
            let current = map_block(info, map, first, generation);
            if current.kind != MapKind::Hole {
                return Ok(current);
            }
            if map.inline {
                // Writes past the inline data convert the file first.
                return Err(EIO);
            }
            let want = end.min(first + (current.length >> BLOCK_SHIFT)) - first;
            let (kind, flags) = if direct { (MapKind::Unwritten, EXTENT_UNWRITTEN) } else { (MapKind::Mapped, 0) };
            let (physical, count) = allocate_extent(inode, map, first, want, flags)?;
            Ok(Mapping {
                offset: bytes(first) as i64,
                length: bytes(count),
                kind,
                addr: bytes(physical),
                new: true,
                cookie: generation,
            })
        })?;
        account_blocks(inode);
        inode.mark_dirty();
    }
    if direct {
        probes.delay(|p| &p.delay_dio_map);
    }
    Ok(mapping)
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
    let probes = &inode.super_block().data().probes;
    probes.delay(|p| &p.delay_iomap_valid);
    let generation = inode.data().generation();
    if mapping.cookie == generation || probes.unsafe_skip_iomap_valid.is_on() {
        return true;
    }
    probes.iomap_stale.inc();
    vfs::trace_iomap_stale(inode.ino(), mapping.offset, mapping.length, mapping.cookie, generation);
    false
}

/// Maps `pos` for writeback. The cached mapping is reused while it covers
/// `pos` and the extent map has not changed since it was made; the folio
/// lock writeback holds keeps buffered writes and truncation of this folio
/// out, and every change of the map bumps the generation first.
pub(super) fn writeback_map(inode: &RexInode, cache: &mut WritebackCache, pos: i64) -> Result {
    let probes = &inode.super_block().data().probes;
    if let Some(cached) = cache.mapping.filter(|m| m.covers(pos)) {
        let generation = inode.data().generation();
        if cached.cookie == generation || probes.unsafe_skip_wb_revalidate.is_on() {
            probes.wb_map_reused.inc();
            return Ok(());
        }
        probes.wb_map_refetched.inc();
        vfs::trace_wb_refetch(inode.ino(), pos, cached.cookie, generation);
    }
    let info = inode.data();
    let mapping = info.read_map(|map, generation| map_block(info, map, block_of(pos), generation));
    if matches!(mapping.kind, MapKind::Inline(_)) {
        // Inline data is written with the inode; its folio is never dirty
        // unless a write fault made it writable without converting.
        return Err(EIO);
    }
    cache.mapping = Some(mapping);
    probes.delay(|p| &p.delay_wb_map);
    Ok(())
}

/// Direct I/O of the whole request, safe when the user buffer is a mapping
/// of this very file: `iomap_dio_rw` runs without faulting on the buffer;
/// where it stops at a page that is not present, the rest is faulted in
/// (no filesystem lock the fault path takes is held: `i_rwsem` ranks above
/// `mmap_lock`) and it goes on; when a pass makes no progress even so (a
/// write's own page cache invalidation unmaps a buffer that maps the range
/// it writes), the rest goes through the page cache. `lock` is `i_rwsem`;
/// a read releases it while it faults its buffer in and for its buffered
/// fallback, since those are write faults, and a write fault into an inline
/// file takes that file's `i_rwsem`. A write's faults only read.
fn direct_io(
    iocb: &mut Kiocb<'_, Rexfs>,
    iter: &mut IoIter<'_>,
    lock: &mut InodeLockGuard<'_, Rexfs>,
    write: bool,
) -> Result<isize> {
    let inode = iocb.inode();
    let probes = &inode.super_block().data().probes;
    let mut done = 0usize;
    let mut left_before_fault_in = None;
    let mut faulted;
    loop {
        faulted = false;
        match iocb.direct_io_nofault(iter, done) {
            // The result counts the bytes done before the pass too.
            Ok(total) => done = total as usize,
            Err(e) if e == EFAULT => faulted = true,
            Err(e) if e == ENOTBLK && write => {
                probes.dio_fallback.inc();
                return Ok((done as isize) + iocb.buffered_write_through(iter)?);
            }
            Err(e) if done > 0 => {
                pr_debug!("rexfs: direct I/O stopped after {done} bytes: {e:?}\n");
                break;
            }
            Err(e) => return Err(e),
        }
        let left = iter.count();
        if left == 0 || (!write && iocb.pos() >= inode.size()) || probes.unsafe_skip_dio_fallback.is_on() {
            break;
        }
        if left_before_fault_in == Some(left) {
            probes.dio_fallback.inc();
            let rest = if write {
                iocb.buffered_write_through(iter)?
            } else {
                lock.unlocked(|| iocb.buffered_read(iter, 0))?
            };
            return Ok(done as isize + rest);
        }
        probes.dio_retry.inc();
        if write {
            iter.fault_in(left);
        } else {
            lock.unlocked(|| iter.fault_in(left));
        }
        left_before_fault_in = Some(left);
    }
    if faulted && done == 0 {
        return Err(EFAULT);
    }
    Ok(done as isize)
}

/// `read(2)`: buffered through the page cache, or direct under `i_rwsem`
/// shared (which keeps truncate and fallocate away from its blocks).
pub(super) fn read_iter(iocb: &mut Kiocb<'_, Rexfs>, to: &mut IoIter<'_>) -> Result<isize> {
    // Inline data is read through the page cache.
    if !iocb.is_direct() || iocb.inode().data().is_inline() {
        return iocb.buffered_read(to, 0);
    }
    if to.count() == 0 {
        return Ok(0);
    }
    let mut lock = iocb.lock_inode_shared();
    direct_io(iocb, to, &mut lock, false)
}

/// A direct write completed: its unwritten blocks hold data now, and the
/// file grows to its end.
pub(super) fn dio_write_end(inode: &RexInode, offset: i64, size: u64, unwritten: bool) -> Result {
    if unwritten {
        convert_unwritten(inode, offset, size)?;
    }
    let end = offset + size as i64;
    if end > inode.size() {
        inode.set_size(end);
        inode.mark_dirty();
    }
    Ok(())
}

/// `write(2)`: buffered through iomap, or direct; both under `i_rwsem`
/// exclusively.
pub(super) fn write_iter(iocb: &mut Kiocb<'_, Rexfs>, from: &mut IoIter<'_>) -> Result<isize> {
    let inode = iocb.inode();
    let written = {
        let mut lock = iocb.lock_inode();
        // The VFS checks these flags when a file is opened for writing, not
        // on the writes of a file opened before they were set.
        if inode.is_immutable() || (inode.is_append_only() && !iocb.is_append()) {
            return Err(EPERM);
        }
        if iocb.write_checks(from)? == 0 {
            return Ok(0);
        }
        iocb.file_modified()?;
        let end = iocb.pos() + from.count() as i64;
        if (iocb.is_direct() || end > INLINE_DATA_MAX as i64) && inode.data().is_inline() {
            convert_inline(inode, &inode.invalidate_lock())?;
        }
        // Data past the old EOF in its last block must read as zeroes.
        let old_size = inode.size();
        if iocb.pos() > old_size {
            let _invalidate = inode.invalidate_lock();
            inode.zero_range(old_size, iocb.pos() - old_size)?;
        }
        let written =
            if iocb.is_direct() { direct_io(iocb, from, &mut lock, true)? } else { iocb.buffered_write(from)? };
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

/// `->fault`: a write through a shared mapping of an inline file must first
/// move the data into a block, which takes `i_rwsem`, above the fault lock:
/// drop the fault lock and ask for a retry when the fault may; return a
/// retry at once when it may only do that (`RETRY_NOWAIT`); convert under
/// the fault lock, without `i_rwsem`, when it may not retry at all
/// (get_user_pages without a `locked` pointer: `/proc/PID/mem`, ptrace).
pub(super) fn fault(fault: Fault<'_, Rexfs>) -> VmFaultResult {
    let inode = fault.inode();
    if !fault.is_shared_write() || !inode.data().is_inline() {
        return fault.filemap_fault();
    }
    // Not converted: the write fails, as in `page_mkwrite`.
    if inode.is_immutable() {
        return VmFaultResult::error(EPERM);
    }
    let probes = &inode.super_block().data().probes;
    match fault.retry() {
        FaultRetry::DropLock => {
            probes.inline_fault_retry.inc();
            let file = fault.release_lock();
            let inode = file.inode();
            inode.super_block().data().probes.delay(|p| &p.delay_write_fault);
            let _freeze = file.start_write();
            let _lock = inode.lock();
            // A failure shows in the retried fault, which may not drop its
            // lock and converts under it.
            if let Err(e) = convert_inline(inode, &inode.invalidate_lock()) {
                pr_debug!("rexfs: inode {}: converting inline data: {e:?}\n", inode.ino());
            }
            VmFaultResult::RETRY
        }
        FaultRetry::NoWait => {
            probes.inline_fault_nowait.inc();
            VmFaultResult::RETRY
        }
        FaultRetry::None => {
            probes.inline_fault_no_retry.inc();
            probes.delay(|p| &p.delay_write_fault);
            let converted = {
                let _freeze = fault.start_pagefault();
                convert_inline(inode, &inode.invalidate_lock())
            };
            match converted {
                Ok(()) => fault.filemap_fault(),
                Err(e) => VmFaultResult::error(e),
            }
        }
    }
}

/// `page_mkwrite`: allocates the folio's blocks and dirties it, serialised
/// against truncation by `invalidate_lock`.
///
/// The page of an inline file can only have been mapped read-only (by a
/// read fault); it is unmapped instead, so that the write faults again
/// through [`fault`], which sees the fault's real flags (`page_mkwrite`
/// does not) and converts the file.
pub(super) fn page_mkwrite(fault: &Fault<'_, Rexfs>) -> VmFaultResult {
    let inode = fault.inode();
    // A shared writable mapping made before the file became immutable: the
    // write fails with `SIGBUS`, as in ext4.
    if inode.is_immutable() {
        return VmFaultResult::error(EPERM);
    }
    let probes = &inode.super_block().data().probes;
    if inode.data().is_inline() && !probes.unsafe_skip_inline_mkwrite_unmap.is_on() {
        probes.inline_mkwrite_unmap.inc();
        fault.unmap_page();
        return VmFaultResult::NOPAGE;
    }
    let _freeze = fault.start_pagefault();
    fault.update_time();
    let _invalidate = inode.invalidate_lock_shared();
    fault.iomap_mkwrite()
}

/// Moves the data of an inline file into a block (an empty file needs
/// none): folio 0, read in from the inode if it is not cached, gets an
/// unwritten block and is dirtied;
/// writeback writes it and converts the extent. The caller holds
/// `invalidate_lock` exclusively (no fault, truncate or fallocate runs); a
/// buffered write holding an inline mapping finds it stale, the generation
/// having moved, and maps again.
fn convert_inline(inode: &RexInode, invalidate: &InvalidateGuard<'_, Rexfs>) -> Result {
    debug_assert!(invalidate.is_exclusive());
    let info = inode.data();
    if !info.is_inline() {
        return Ok(());
    }
    if inode.size() == 0 {
        info.change_map(|map, _| map.inline = false);
        return Ok(());
    }
    let folio = inode.lock_first_folio()?;
    info.change_map(|map, _| -> Result {
        if map.inline {
            allocate_extent(inode, map, 0, 1, EXTENT_UNWRITTEN)?;
            map.inline = false;
        }
        Ok(())
    })?;
    folio.mark_dirty();
    drop(folio);
    account_blocks(inode);
    inode.mark_dirty();
    Ok(())
}

/// Changes the size of a regular file (`i_rwsem` held), or trims the
/// blocks past its end when the size stays.
pub(super) fn truncate(inode: &RexInode, size: i64) -> Result {
    let invalidate = inode.invalidate_lock();
    inode.dio_wait();
    let old_size = inode.size();
    if size > INLINE_DATA_MAX as i64 {
        convert_inline(inode, &invalidate)?;
    }
    if size < old_size {
        if inode.data().is_inline() {
            // Zero the inline bytes past the new size, which a later
            // extension would read back (not the whole block as
            // `truncate_page` does: the inode holds less).
            inode.zero_range(size, old_size - size)?;
        } else {
            inode.truncate_page(size)?;
        }
    }
    inode.truncate_setsize(size);
    // Blocks past the new end go, also those that fallocate(KEEP_SIZE)
    // placed past an unchanged one (as XFS and ext4 do, generic/092).
    if size <= old_size {
        let first = block_of(size + (1 << BLOCK_SHIFT) - 1);
        let mut freed = FreedRuns::new();
        inode.data().change_map(|map, _| map.remove(first, u64::MAX, &mut freed))?;
        free_runs(inode.super_block(), &freed)?;
        account_blocks(inode);
    }
    if size != old_size {
        inode.touch(true);
    }
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
    inode.data().change_map(|map, _| -> Result {
        let mut block = start;
        while block < end {
            if let Some(e) = map.lookup(block) {
                block = e.logical_end();
                continue;
            }
            let hole_end = map.next_mapped(block).min(end);
            block += allocate_extent(inode, map, block, hole_end - block, EXTENT_UNWRITTEN)?.1;
        }
        Ok(())
    })
}

/// `fallocate(2)`: preallocation (unwritten extents), hole punching and
/// range zeroing. Takes `i_rwsem` and `invalidate_lock` exclusively, waits
/// for direct I/O, and writes back and drops the page cache of a range
/// before changing its extents.
pub(super) fn fallocate(file: &OpenFile<Rexfs>, mode: i32, offset: i64, len: i64) -> Result {
    let inode = file.inode();
    let (keep_size, punch, zero) = (falloc::KEEP_SIZE, falloc::PUNCH_HOLE, falloc::ZERO_RANGE);
    if mode & !(keep_size | punch | zero) != 0 || (mode & punch != 0 && mode & zero != 0) {
        return Err(EOPNOTSUPP);
    }
    let probes = &inode.super_block().data().probes;
    let _lock = inode.lock();
    // A change by an unprivileged user drops setuid and setgid, as a write
    // does (generic/683-685).
    file.remove_privs()?;
    let end = offset + len;
    if mode & keep_size == 0 && end > inode.size() {
        inode.check_new_size(end)?;
    }
    let invalidate = inode.invalidate_lock();
    convert_inline(inode, &invalidate)?;
    let _invalidate = (!probes.unsafe_skip_fallocate_invalidate_lock.is_on()).then_some(invalidate);
    inode.dio_wait();
    let block_size = 1i64 << BLOCK_SHIFT;
    // Whole blocks inside the range, and the whole range rounded out.
    let (inner_start, inner_end) = (block_of(offset + block_size - 1), block_of(end));
    let (outer_start, outer_end) = (block_of(offset), block_of(end + block_size - 1));

    if mode & (punch | zero) != 0 {
        inode.flush_and_drop_range(offset, end - 1)?;
        probes.delay(|p| &p.delay_fallocate);
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
pub(super) fn fsync(file: &OpenFile<Rexfs>, start: i64, end: i64) -> Result {
    let inode = file.inode();
    let sb = inode.super_block();
    file.write_and_wait_range(start, end)?;
    inode.sync_metadata()?;
    sb.sync_device()?;
    sb.flush_device()
}
