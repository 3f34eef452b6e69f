// SPDX-License-Identifier: GPL-2.0

//! A jbd2 journal in a region of the filesystem's own device ([`Journal`]),
//! and the handles through which metadata changes go ([`Handle`]).
//!
//! The journal's superblock is the region's first block; jbd2 numbers the
//! log blocks from it, and this layer maps them onto the device by adding
//! the region's start (`j_bmap`). A handle belongs to the task that starts
//! it (`current->journal_info`); a task that starts one while it holds one
//! gets the same handle back, with another reference, so nested starts are
//! free, but the first start must reserve the credits of everything done
//! under it.
//!
//! Lock order (as ext4's): a handle is started after `i_rwsem`,
//! `invalidate_lock` and `sb_start_pagefault`, and before the folio lock and
//! any lock of the filesystem's own. No task starts a handle while it holds
//! a folio lock, nor waits for writeback while it holds one: a commit waits
//! for every handle of its transaction to stop, and a new handle waits for
//! the commit, so either could close a cycle.
//!
//! C header: [`include/linux/jbd2.h`](srctree/include/linux/jbd2.h).

use super::bindings as vfs_bindings;
use super::buffer::Buffer;
use super::super_block::{FileSystem, SuperBlock};
use core::{
    marker::PhantomData,
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings,
    error::{from_err_ptr, to_result},
    prelude::*,
};

/// A jbd2 journal.
///
/// # Invariants
///
/// `journal` is a journal loaded by [`Journal::load`], or NULL once
/// [`Journal::destroy`] ran.
pub(crate) struct Journal {
    journal: AtomicPtr<vfs_bindings::journal_t>,
}

// SAFETY: jbd2 journals are used from any task, under jbd2's own locks.
unsafe impl Send for Journal {}
// SAFETY: as above.
unsafe impl Sync for Journal {}

/// A checksum that jbd2 computes into a metadata block when the block's
/// transaction commits, on the bytes it writes to the log (a `t_frozen`
/// buffer trigger, as ocfs2 seals its blocks): a block changed many times
/// in a transaction is checksummed once. The block on disk and in the log
/// is sealed; the cached one between a change and its commit is not, so
/// its reader must not verify a cached block it changed (the filesystem
/// checks a block once per read from disk).
///
/// # Invariants
///
/// `raw.t_frozen` is [`frozen_seal`], which finds `seal` from `raw` (the
/// first field of this `repr(C)` struct).
#[repr(C)]
pub(crate) struct CommitSeal {
    raw: vfs_bindings::jbd2_buffer_trigger_type,
    seal: fn(&mut [u8]),
}

impl CommitSeal {
    /// A trigger that calls `seal` on a block's bytes as they are written
    /// to the log.
    pub(crate) const fn new(seal: fn(&mut [u8])) -> Self {
        // INVARIANT: `t_frozen` is `frozen_seal`.
        CommitSeal {
            raw: vfs_bindings::jbd2_buffer_trigger_type {
                t_frozen: Some(frozen_seal),
                t_abort: None,
            },
            seal,
        }
    }
}

/// `jbd2_buffer_trigger_type::t_frozen` of a [`CommitSeal`].
///
/// # Safety
///
/// Called by jbd2 with the trigger type a [`CommitSeal`] registered and
/// `size` bytes of the block's frozen data at `data`, which nothing else
/// changes during the call.
unsafe extern "C" fn frozen_seal(
    trigger: *mut vfs_bindings::jbd2_buffer_trigger_type,
    _bh: *mut vfs_bindings::buffer_head,
    data: *mut c_void,
    size: usize,
) {
    // SAFETY: `trigger` is the `raw` field, at offset 0, of a `CommitSeal`
    // (`repr(C)`), which is `'static` (see `Handle::modify_sealed`).
    let seal = unsafe { &*trigger.cast::<CommitSeal>() };
    // SAFETY: guaranteed by the caller.
    let block = unsafe { core::slice::from_raw_parts_mut(data.cast::<u8>(), size) };
    (seal.seal)(block);
}

/// `journal_t::j_bmap` of a journal in a region of the filesystem's device:
/// log block `block` is device block `start + block`.
///
/// # Safety
///
/// Called by jbd2 with one of its journals and a valid block number to map.
unsafe extern "C" fn region_bmap(
    journal: *mut vfs_bindings::journal_s,
    block: *mut bindings::sector_t,
) -> c_int {
    // SAFETY: guaranteed by the caller; `j_blk_offset` is the region's
    // start, set at creation.
    unsafe { *block += (*journal).j_blk_offset };
    0
}

impl Journal {
    /// Opens the journal of `blocks` blocks whose superblock is device
    /// block `start` of `sb`, and replays it if it holds transactions
    /// (`jbd2_journal_load`): call it before reading any metadata it may
    /// change.
    pub(crate) fn load<T: FileSystem, S>(
        sb: &SuperBlock<T, S>,
        start: u64,
        blocks: u32,
    ) -> Result<Self> {
        let bdev = sb.bdev();
        let len = c_int::try_from(blocks).map_err(|_| EINVAL)?;
        // SAFETY: the device is open for the life of the mount; jbd2 reads
        // the journal superblock at `start`.
        let journal = unsafe {
            from_err_ptr(vfs_bindings::jbd2_journal_init_dev(
                bdev,
                bdev,
                start,
                len,
                T::BLOCK_SIZE as c_int,
            ))?
        };
        // SAFETY: `journal` is a new journal, not loaded yet, exclusively
        // ours: its log maps through `region_bmap`, and its commits flush
        // the device's cache before and after the commit block.
        unsafe {
            (*journal).j_bmap = Some(region_bmap);
            (*journal).j_flags |= vfs_bindings::JBD2_BARRIER as c_ulong;
        }
        // INVARIANT: loaded below, or destroyed on failure.
        let this = Journal {
            journal: AtomicPtr::new(journal),
        };
        // SAFETY: a journal made by `jbd2_journal_init_dev`.
        to_result(unsafe { vfs_bindings::jbd2_journal_load(journal) })?;
        Ok(this)
    }

    /// The error a previous mount aborted the journal with (recorded in the
    /// journal's superblock), cleared on disk as it is returned.
    pub(crate) fn take_error(&self) -> Result<Option<Error>> {
        let journal = self.raw()?;
        // SAFETY: a loaded journal.
        let errno = unsafe { vfs_bindings::jbd2_journal_errno(journal) };
        if errno == 0 {
            return Ok(None);
        }
        // SAFETY: a loaded journal, not aborted (or `jbd2_journal_errno`
        // would have said `EROFS`, which `clear_err` refuses too).
        unsafe {
            to_result(vfs_bindings::jbd2_journal_clear_err(journal))?;
            vfs_bindings::jbd2_journal_update_sb_errno(journal);
        }
        Ok(Some(Error::from_errno(errno)))
    }

    fn raw(&self) -> Result<*mut vfs_bindings::journal_t> {
        let journal = self.journal.load(Ordering::Acquire);
        if journal.is_null() {
            return Err(EROFS);
        }
        Ok(journal)
    }

    /// Starts a handle (or joins the task's running one) that may dirty
    /// `credits` metadata blocks and revoke `revokes` freed ones.
    pub(crate) fn start(&self, credits: u32, revokes: u32) -> Result<Handle<'_>> {
        let journal = self.raw()?;
        // SAFETY: a loaded journal (type invariant); jbd2 allocates the
        // handle without recursing into filesystem reclaim.
        let handle = unsafe {
            from_err_ptr(vfs_bindings::jbd2__journal_start(
                journal,
                credits as c_int,
                0,
                revokes as c_int,
                vfs_bindings::GFP_NOFS,
                0,
                0,
            ))?
        };
        // INVARIANT: `jbd2__journal_start` returned a handle of this task.
        Ok(Handle {
            handle: NonNull::new(handle).ok_or(ENOMEM)?,
            _journal: PhantomData,
        })
    }

    /// The most credits one handle may reserve.
    pub(crate) fn max_credits(&self) -> Result<u32> {
        // SAFETY: a loaded journal; the limit is set when it is loaded.
        Ok(unsafe { (*self.raw()?).j_max_transaction_buffers } as u32)
    }

    /// Commits transaction `tid` if it is not committed yet, and waits for
    /// it (`jbd2_complete_transaction`).
    pub(crate) fn complete_transaction(&self, tid: u32) -> Result {
        // SAFETY: a loaded journal.
        to_result(unsafe { vfs_bindings::jbd2_complete_transaction(self.raw()?, tid) })
    }

    /// The running transaction, or the committing one, or the last one
    /// committed: what a change made now would join or follow.
    pub(crate) fn latest_tid(&self) -> u32 {
        // SAFETY: a loaded journal; the helper takes its state lock.
        self.raw().map_or(0, |journal| unsafe {
            vfs_bindings::rvfs_journal_latest_tid(journal)
        })
    }

    /// Whether committing transaction `tid` flushes the device's cache
    /// before its commit block, so that data written before it is durable
    /// too (`jbd2_trans_will_send_data_barrier`).
    pub(crate) fn commit_flushes_data(&self, tid: u32) -> bool {
        // SAFETY: a loaded journal.
        self.raw().is_ok_and(
            |journal| unsafe { vfs_bindings::jbd2_trans_will_send_data_barrier(journal, tid) } != 0,
        )
    }

    /// Whether transaction `tid` has committed (`jbd2_transaction_committed`).
    pub(crate) fn is_committed(&self, tid: u32) -> bool {
        // SAFETY: a loaded journal; the helper reads the commit sequence.
        self.raw().is_ok_and(
            |journal| unsafe { vfs_bindings::jbd2_transaction_committed(journal, tid) } != 0,
        )
    }

    /// Commits the running transaction, and waits for it if `wait`.
    pub(crate) fn commit(&self, wait: bool) -> Result {
        let journal = self.raw()?;
        let mut tid = 0;
        // SAFETY: a loaded journal; `tid` is valid for writes.
        if unsafe { vfs_bindings::jbd2_journal_start_commit(journal, &mut tid) } != 0 && wait {
            // SAFETY: as above.
            to_result(unsafe { vfs_bindings::jbd2_log_wait_commit(journal, tid) })?;
        }
        Ok(())
    }

    /// Commits everything and writes it in place, leaving the log empty
    /// (`jbd2_journal_flush`).
    pub(crate) fn flush(&self) -> Result {
        // SAFETY: a loaded journal.
        to_result(unsafe { vfs_bindings::jbd2_journal_flush(self.raw()?, 0) })
    }

    /// Waits for the running handles to stop and keeps new ones from
    /// starting until the guard is dropped (`jbd2_journal_lock_updates`).
    pub(crate) fn lock_updates(&self) -> Result<UpdatesLocked<'_>> {
        let journal = self.raw()?;
        // SAFETY: a loaded journal; the guard unlocks.
        unsafe { vfs_bindings::jbd2_journal_lock_updates(journal) };
        // INVARIANT: locked above.
        Ok(UpdatesLocked {
            journal,
            _p: PhantomData,
        })
    }

    /// Aborts the journal with `err`: nothing more is committed, and every
    /// handle fails from now on (`jbd2_journal_abort`).
    pub(crate) fn abort(&self, err: Error) {
        if let Ok(journal) = self.raw() {
            // SAFETY: a loaded journal.
            unsafe { vfs_bindings::jbd2_journal_abort(journal, err.to_errno()) };
        }
    }

    /// Whether the journal was aborted (or destroyed).
    pub(crate) fn is_aborted(&self) -> bool {
        // SAFETY: a loaded journal; `j_flags` is read without jbd2's lock,
        // as `is_journal_aborted` does.
        self.raw().map_or(true, |journal| unsafe {
            ptr::read_volatile(&raw const (*journal).j_flags) & vfs_bindings::JBD2_ABORT as c_ulong
                != 0
        })
    }

    /// Commits and checkpoints everything, marks the journal empty on disk
    /// and frees it (`jbd2_journal_destroy`). Called at unmount, once no
    /// handle can start; later calls do nothing.
    pub(crate) fn destroy(&self) -> Result {
        let journal = self.journal.swap(ptr::null_mut(), Ordering::AcqRel);
        if journal.is_null() {
            return Ok(());
        }
        // SAFETY: a loaded journal, no longer reachable through `self`.
        to_result(unsafe { vfs_bindings::jbd2_journal_destroy(journal) })
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // A mount that failed after loading the journal.
        if let Err(e) = self.destroy() {
            pr_err!("jbd2 journal: destroying failed: {e:?}\n");
        }
    }
}

/// The journal's updates locked ([`Journal::lock_updates`]).
///
/// # Invariants
///
/// `journal` is loaded and its updates are locked by us.
pub(crate) struct UpdatesLocked<'a> {
    journal: *mut vfs_bindings::journal_t,
    _p: PhantomData<&'a Journal>,
}

impl Drop for UpdatesLocked<'_> {
    fn drop(&mut self) {
        // SAFETY: locked by us (type invariant).
        unsafe { vfs_bindings::jbd2_journal_unlock_updates(self.journal) };
    }
}

/// A jbd2 handle of the current task; stopped on drop.
///
/// # Invariants
///
/// `handle` is a running handle of the current task, one of whose
/// references we own. Not `Send`: handles are per task.
pub(crate) struct Handle<'a> {
    handle: NonNull<vfs_bindings::handle_t>,
    _journal: PhantomData<(&'a Journal, *mut ())>,
}

impl Handle<'_> {
    fn raw(&self) -> *mut vfs_bindings::handle_t {
        self.handle.as_ptr()
    }

    /// Whether the task held the handle before this start (a nested start):
    /// then it must not wait for a commit, which waits for the handle.
    pub(crate) fn is_nested(&self) -> bool {
        // SAFETY: a running handle of this task; `h_ref` counts its starts.
        unsafe { (*self.raw()).h_ref > 1 }
    }

    /// The ID of the transaction the handle's changes belong to.
    pub(crate) fn tid(&self) -> u32 {
        // SAFETY: a running handle belongs to a transaction, which lives
        // until the handle stops.
        unsafe { (*(*self.raw()).__bindgen_anon_1.h_transaction).t_tid }
    }

    /// Changes `buf`, a metadata block already on disk, in the handle's
    /// transaction: gets write access, runs `f` under the buffer lock and
    /// files the buffer as dirty metadata of the transaction.
    pub(crate) fn modify<R>(&self, buf: &Buffer, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        // SAFETY: a running handle and a referenced buffer of the journal's
        // filesystem device.
        to_result(unsafe {
            vfs_bindings::jbd2_journal_get_write_access(self.raw(), buf.as_raw())
        })?;
        self.change(buf, f)
    }

    /// Block `blkno` of `sb`, newly allocated for metadata (its old
    /// contents do not matter, and a revoke of its previous life is
    /// cancelled), filled by `f` from zeroes in the handle's transaction.
    pub(crate) fn new_block<T: FileSystem, R>(
        &self,
        sb: &SuperBlock<T>,
        blkno: u64,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R> {
        // SAFETY: the device is open and its block size set; the helper
        // returns a referenced buffer, not read, or NULL.
        let bh = unsafe { vfs_bindings::rvfs_getblk_locked(sb.as_raw(), blkno) };
        if bh.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: a running handle and the locked buffer (as jbd2 wants it
        // for create access), which we fill and mark up to date before
        // unlocking it; the data is mapped for `b_size` bytes.
        let created = unsafe {
            match to_result(vfs_bindings::jbd2_journal_get_create_access(self.raw(), bh)) {
                Ok(()) => {
                    let data =
                        core::slice::from_raw_parts_mut((*bh).b_data.cast::<u8>(), (*bh).b_size);
                    data.fill(0);
                    let result = f(data);
                    vfs_bindings::rvfs_buffer_unlock_uptodate(bh);
                    Ok(result)
                }
                Err(e) => {
                    vfs_bindings::rvfs_buffer_unlock(bh);
                    Err(e)
                }
            }
        };
        // SAFETY: `bh` is referenced; if `created`, it is up to date, and
        // otherwise the reference is only released.
        let buf = unsafe { Buffer::from_raw(bh) }.ok_or(ENOMEM)?;
        let result = created?;
        // SAFETY: the handle has create access to the buffer.
        to_result(unsafe { vfs_bindings::jbd2_journal_dirty_metadata(self.raw(), buf.as_raw()) })?;
        Ok(result)
    }

    /// As [`Handle::modify`] for a block that `seal` seals as the change
    /// commits: `f` need not checksum it.
    pub(crate) fn modify_sealed<R>(
        &self,
        buf: &Buffer,
        seal: &'static CommitSeal,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R> {
        // SAFETY: a running handle and a referenced buffer of the journal's
        // filesystem device.
        to_result(unsafe {
            vfs_bindings::jbd2_journal_get_write_access(self.raw(), buf.as_raw())
        })?;
        // SAFETY: the buffer has a journal head (write access); jbd2 keeps
        // the pointer to `seal`, which is `'static`, and never writes
        // through it.
        unsafe {
            vfs_bindings::jbd2_journal_set_triggers(
                buf.as_raw(),
                ptr::from_ref(&seal.raw).cast_mut(),
            )
        };
        self.change(buf, f)
    }

    fn change<R>(&self, buf: &Buffer, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        let result = buf.with_lock(f);
        // SAFETY: the handle has write access to the buffer.
        to_result(unsafe { vfs_bindings::jbd2_journal_dirty_metadata(self.raw(), buf.as_raw()) })?;
        Ok(result)
    }

    /// Block `blkno` of `sb`, a metadata block, was freed: drops its cached
    /// buffer from the journal and the cache and records a revoke, so that
    /// neither writeback nor a replay of an older transaction writes over
    /// the block's next owner (`jbd2_journal_revoke`). The handle must have
    /// been started with a revoke credit for it.
    pub(crate) fn revoke<T: FileSystem>(&self, sb: &SuperBlock<T>, blkno: u64) -> Result {
        // SAFETY: the device is open; the helper returns a referenced
        // buffer or NULL.
        let bh = unsafe { vfs_bindings::rvfs_find_block(sb.as_raw(), blkno) };
        // SAFETY: a running handle; `jbd2_journal_revoke` consumes the
        // reference to `bh` (or finds the buffer itself when NULL).
        to_result(unsafe { vfs_bindings::jbd2_journal_revoke(self.raw(), blkno, bh) })
    }

    /// Stops the handle, reporting an error the journal had (an abort).
    pub(crate) fn stop(self) -> Result {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: we own a reference to the running handle (type
        // invariant), given up here.
        to_result(unsafe { vfs_bindings::jbd2_journal_stop(this.raw()) })
    }
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `stop`. An error was seen by whoever used the
        // handle: the journal is aborted, and every later handle fails.
        unsafe { vfs_bindings::jbd2_journal_stop(self.raw()) };
    }
}
