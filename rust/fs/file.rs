// SPDX-License-Identifier: GPL-2.0

//! The file operations of regular files ([`FileOps`]): buffered and direct
//! read and write, `fallocate(2)` and `fsync(2)` (also of directories).
//!
//! Buffered I/O goes through the page cache and iomap with the mappings of
//! [`super::iomap`]; direct I/O is safe when the user buffer maps the same
//! file (see [`direct_io`]).

use super::ialloc::free_credits;
use super::inode::{account_blocks, extents};
use super::iomap::{
    allocate_credits, allocate_extent, block_of, bytes, convert_inline, free_range, zero_past_eof,
};
use super::reflink;
use super::txn::Txn;
use super::{RexInode, Rexfs};
use crate::format::{self, EXTENT_UNWRITTEN, INLINE_DATA_MAX};
use crate::vfs::{
    FallocFlag, FallocMode, FileOps, InodeLockGuard, IovIterDest, IovIterSource, Kiocb, OpenFile,
    RemapRequest, UserBuffer,
};
use kernel::prelude::*;

const BLOCK_SHIFT: u32 = format::BLOCK_SHIFT;

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
fn direct_io<B: UserBuffer>(
    iocb: &mut Kiocb<'_, Rexfs>,
    iter: &mut B,
    lock: &mut InodeLockGuard<'_, Rexfs>,
    fallback: impl FnOnce(
        &mut Kiocb<'_, Rexfs>,
        &mut B,
        &mut InodeLockGuard<'_, Rexfs>,
    ) -> Result<usize>,
) -> Result<usize> {
    let write = B::IS_SOURCE;
    let inode = iocb.inode();
    let probes = &inode.super_block().data().probes;
    let mut done = 0usize;
    let mut left_before_fault_in = None;
    let mut faulted;
    // An asynchronous write inside EOF first tries to return at submission,
    // which only a pure overwrite may (`Kiocb::direct_overwrite_nofault`);
    // a durable one (`O_DSYNC`) waits, for `write_iter` syncs after it.
    let mut overwrite = write
        && iocb.is_async()
        && !iocb.is_dsync()
        && iocb.pos() + iter.len() as i64 <= inode.size();
    loop {
        faulted = false;
        let pass = if core::mem::take(&mut overwrite) {
            match iocb.direct_overwrite_nofault(iter, done) {
                Err(e) if e == EAGAIN => {
                    probes.dio_async_waited.inc();
                    iocb.direct_io_nofault(iter, done)
                }
                Err(e) if e == EIOCBQUEUED => {
                    probes.dio_overwrite_queued.inc();
                    return Err(e);
                }
                done_or_error => done_or_error,
            }
        } else {
            iocb.direct_io_nofault(iter, done)
        };
        match pass {
            // The result counts the bytes done before the pass too.
            Ok(total) => done = total,
            // An asynchronous read submitted: its completion reports it all.
            Err(e) if e == EIOCBQUEUED => return Err(e),
            Err(e) if e == EFAULT => faulted = true,
            Err(e) if e == ENOTBLK && write => {
                probes.dio_fallback.inc();
                return Ok(done + fallback(iocb, iter, lock)?);
            }
            Err(e) if done > 0 => {
                pr_debug!("rexfs: direct I/O stopped after {done} bytes: {e:?}\n");
                break;
            }
            Err(e) => return Err(e),
        }
        let left = iter.len();
        if left == 0
            || (!write && iocb.pos() >= inode.size())
            || probes.unsafe_skip_dio_fallback.is_on()
        {
            break;
        }
        if left_before_fault_in == Some(left) {
            probes.dio_fallback.inc();
            return Ok(done + fallback(iocb, iter, lock)?);
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
    Ok(done)
}

/// Extents one transaction of [`allocate_unwritten`] allocates at most.
const ALLOCATE_BATCH: u32 = 32;

/// Allocates unwritten extents for the holes in file blocks `start..end`,
/// [`ALLOCATE_BATCH`] extents per transaction: a large range in fragmented
/// free space may need more than one can hold. A crash leaves a prefix of
/// the range allocated.
fn allocate_unwritten(inode: &RexInode, start: u64, end: u64) -> Result {
    let map = extents(inode)?;
    let mut block = start;
    while block < end {
        let txn = Txn::start(
            inode.super_block(),
            allocate_credits(inode, map, ALLOCATE_BATCH),
        )?;
        let mut next = block;
        let allocated = map.change(|map, _| -> Result {
            let mut allocated = 0;
            while next < end && allocated < ALLOCATE_BATCH {
                if let Some(e) = map.lookup(next) {
                    next = e.logical_end();
                    continue;
                }
                let hole_end = map.next_mapped(next).min(end);
                next += allocate_extent(&txn, map, next, hole_end - next, EXTENT_UNWRITTEN)?.1;
                allocated += 1;
            }
            Ok(())
        });
        account_blocks(inode);
        inode.mark_dirty();
        match allocated {
            // What this transaction allocated stays; the next one goes on
            // from there, after the commit of the busy blocks if it must.
            Err(e) if e == ENOSPC && next > block => txn.stop()?,
            Err(e) if e == ENOSPC => {
                if !txn.stop_for_busy()? {
                    return Err(ENOSPC);
                }
            }
            Err(e) => {
                txn.stop()?;
                return Err(e);
            }
            Ok(()) => txn.stop()?,
        }
        block = next;
    }
    Ok(())
}

impl FileOps for Rexfs {
    /// Reads the extent tree, which reading the inode left on disk: damage
    /// there fails the open with `EFSCORRUPTED`, as a damaged inode fails
    /// the lookup, and not the reads after it with the page cache's `EIO`.
    fn open(inode: &RexInode) -> Result {
        extents(inode).map(drop)
    }

    /// Buffered through the page cache, or direct under `i_rwsem` shared
    /// (which keeps truncate and fallocate away from its blocks).
    fn read_iter(iocb: &mut Kiocb<'_, Rexfs>, to: &mut IovIterDest<'_>) -> Result<usize> {
        iocb.inode().super_block().data().alive()?;
        if iocb.inode().is_dax() {
            let _lock = iocb.inode().lock_shared();
            return iocb.dax_rw(to);
        }
        // Inline data is read through the page cache.
        if !iocb.is_direct() || iocb.inode().data().is_inline() {
            return iocb.buffered_read(to, 0);
        }
        if to.is_empty() {
            return Ok(0);
        }
        let mut lock = iocb.inode().lock_shared();
        direct_io(iocb, to, &mut lock, |iocb, to, lock| {
            lock.unlocked(|| iocb.buffered_read(to, 0))
        })
    }

    /// Buffered through iomap, direct, or in place (DAX); all under
    /// `i_rwsem` exclusively.
    fn write_iter(iocb: &mut Kiocb<'_, Rexfs>, from: &mut IovIterSource<'_>) -> Result<usize> {
        let inode = iocb.inode();
        inode.super_block().data().alive()?;
        let written = {
            let mut lock = inode.lock();
            // The VFS checks these flags when a file is opened for writing,
            // not on the writes of a file opened before they were set.
            if inode.is_immutable() || (inode.is_append_only() && !iocb.is_append()) {
                return Err(EPERM);
            }
            if iocb.write_checks(from)? == 0 {
                return Ok(0);
            }
            iocb.file_modified()?;
            let end = iocb.pos() + from.len() as i64;
            if (iocb.is_direct() || end > INLINE_DATA_MAX as i64) && inode.data().is_inline() {
                convert_inline(inode, &inode.invalidate_lock())?;
            }
            // What lies between the old EOF and the write must read as
            // zeroes.
            let old_size = inode.size();
            if iocb.pos() > old_size {
                let _invalidate = inode.invalidate_lock();
                zero_past_eof(inode, old_size, iocb.pos())?;
            }
            let written = if inode.is_dax() {
                let written = iocb.dax_rw(from)?;
                if iocb.pos() > inode.size() {
                    inode.set_size(iocb.pos());
                }
                written
            } else if iocb.is_direct() {
                direct_io(iocb, from, &mut lock, |iocb, from, _| {
                    iocb.buffered_write_through(from)
                })?
            } else {
                iocb.buffered_write(from)?
            };
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

    /// The file's data (whose completion converts the unwritten extents it
    /// filled), then, with a journal, a commit of the transaction that last
    /// logged the inode (which holds its namespace changes too), and a
    /// cache flush unless the commit made one after the data; without a
    /// journal, the inode, every dirty metadata block (allocation bitmap,
    /// extent and directory blocks), and a cache flush.
    fn fsync(file: &OpenFile<Rexfs>, start: i64, end: i64, _datasync: bool) -> Result {
        let inode = file.inode();
        let sb = inode.super_block();
        sb.data().alive()?;
        file.write_and_wait_range(start, end)?;
        match sb.data().journal() {
            Some(journal) => {
                let tid = inode.data().last_tid();
                let flushed = journal.commit_flushes_data(tid);
                journal.complete_transaction(tid)?;
                if flushed {
                    return Ok(());
                }
            }
            None => {
                inode.sync_metadata()?;
                sb.sync_device()?;
            }
        }
        sb.flush_device()
    }

    /// Preallocation (unwritten extents), hole punching, range zeroing, and
    /// unsharing (copy-on-write of the shared blocks of a range, then
    /// preallocation).
    /// Takes `i_rwsem` and `invalidate_lock` exclusively, waits for direct
    /// I/O, and writes back and drops the page cache of a range before
    /// changing its extents.
    fn fallocate(file: &OpenFile<Rexfs>, mode: FallocMode, offset: i64, len: i64) -> Result {
        let inode = file.inode();
        let keep_size = mode.contains(FallocFlag::KeepSize);
        let punch = mode.contains(FallocFlag::PunchHole);
        let zero = mode.contains(FallocFlag::ZeroRange);
        let unshare = mode.contains(FallocFlag::UnshareRange);
        let supported = FallocFlag::KeepSize
            | FallocFlag::PunchHole
            | FallocFlag::ZeroRange
            | FallocFlag::UnshareRange;
        if mode.contains_any(!supported) || (punch && zero) || (unshare && (punch || zero)) {
            return Err(EOPNOTSUPP);
        }
        let sbi = inode.super_block().data();
        sbi.alive()?;
        let probes = &sbi.probes;
        let _lock = inode.lock();
        // A change by an unprivileged user drops setuid and setgid, as a
        // write does (generic/683-685).
        file.remove_privs()?;
        let end = offset + len;
        if !keep_size && end > inode.size() {
            inode.check_new_size(end)?;
        }
        let invalidate = inode.invalidate_lock();
        convert_inline(inode, &invalidate)?;
        let skip_invalidate_lock = probes.unsafe_skip_fallocate_invalidate_lock.is_on();
        // The negative control of race-dax-pin: the blocks go before the
        // layout break, which waits for pinned pages (not with the other
        // switch, which drops the lock the break needs).
        let late_break = (punch || zero)
            && inode.is_dax()
            && !skip_invalidate_lock
            && probes.unsafe_late_dax_break_layout.is_on();
        if (punch || zero) && !late_break {
            inode.dax_break_layout(&invalidate, offset, end - 1)?;
        }
        let invalidate = (!skip_invalidate_lock).then_some(invalidate);
        inode.dio_wait();
        let block_size = 1i64 << BLOCK_SHIFT;
        // Whole blocks inside the range, and the whole range rounded out.
        let (inner_start, inner_end) = (block_of(offset + block_size - 1), block_of(end));
        let (outer_start, outer_end) = (block_of(offset), block_of(end + block_size - 1));

        if punch || zero {
            if !late_break {
                inode.flush_and_drop_range(offset, end - 1)?;
            }
            probes.delay(|p| &p.delay_fallocate);
            if inner_start < inner_end {
                let free = free_credits(inode.super_block(), u64::MAX, 0);
                free_range(inode, inner_start, inner_end, free)?;
            }
            if let (true, Some(invalidate)) = (late_break, &invalidate) {
                // Freed already: the DAX entries go now, before the page
                // cache of the range (which must find none).
                inode.dax_break_layout(invalidate, offset, end - 1)?;
                inode.flush_and_drop_range(offset, end - 1)?;
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
        if !keep_size && end > inode.size() {
            zero_past_eof(inode, inode.size(), end)?;
        }
        if unshare && inode.data().may_share() {
            // The folios over shared blocks are dirtied, and their
            // writeback copies them into blocks of the file's own.
            inode.unshare_range(offset, len)?;
            inode.write_and_wait_range(offset, end - 1)?;
        }
        if !punch {
            let (start, stop) = if zero {
                (inner_start, inner_end)
            } else {
                (outer_start, outer_end)
            };
            allocate_unwritten(inode, start, stop)?;
            if !keep_size && end > inode.size() {
                inode.truncate_setsize(end);
            }
        }
        inode.touch(punch || zero);
        inode.mark_dirty();
        Ok(())
    }

    /// Clones or dedupes ([`reflink::remap`]); with either file opened
    /// for synchronous writes (`O_SYNC`, `O_DSYNC`, `chattr +S`), commits
    /// the destination's change before returning, as XFS forces its log
    /// (generic/628).
    fn remap_file_range(request: &RemapRequest<'_, Rexfs>) -> Result<i64> {
        let remapped = reflink::remap(request)?;
        if request.src.sync_writes() || request.dst.sync_writes() {
            let dst = request.dst.inode();
            if let Some(journal) = dst.super_block().data().journal() {
                journal.complete_transaction(dst.data().last_tid())?;
            }
        }
        Ok(remapped)
    }
}
