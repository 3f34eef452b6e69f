// SPDX-License-Identifier: GPL-2.0

//! Regular-file entry points: `read(2)` and `write(2)` (buffered and
//! direct), `mmap(2)` write faults, `fallocate(2)`, `fsync(2)`.
//!
//! The callbacks here translate the C arguments into typed handles and call
//! the filesystem, which composes the steps (locks, checks, iomap) offered
//! by [`Kiocb`] and [`Fault`].
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/mm.h`](srctree/include/linux/mm.h).

use super::bindings as rexfs_bindings;
use super::fs_type::FileSystem;
use super::inode::Inode;
use super::iomap::Tables;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*};

/// A `write(2)`-like request on a regular file of filesystem `T`.
///
/// # Invariants
///
/// `iocb` is valid for `'a` and its file is an open regular file of `T`.
pub(crate) struct Kiocb<'a, T: FileSystem>(&'a mut bindings::kiocb, PhantomData<T>);

/// The user buffer of a read or write (`struct iov_iter`).
///
/// # Invariants
///
/// `iter` is valid for `'a`.
pub(crate) struct IoIter<'a>(&'a mut bindings::iov_iter);

impl IoIter<'_> {
    /// The bytes left to transfer.
    pub(crate) fn count(&self) -> usize {
        // SAFETY: a valid iterator (type invariant).
        unsafe { rexfs_bindings::rexfs_iov_iter_count(self.0) }
    }

    /// Faults in the user pages of the next `bytes` bytes (readable ones for
    /// a write, writable ones for a read); returns how many bytes could not
    /// be faulted in. Call it without locks the fault path takes.
    pub(crate) fn fault_in(&self, bytes: usize) -> usize {
        // SAFETY: a valid iterator; faulting in has no other precondition.
        unsafe {
            if self.0.data_source {
                rexfs_bindings::fault_in_iov_iter_readable(self.0, bytes)
            } else {
                rexfs_bindings::fault_in_iov_iter_writeable(self.0, bytes)
            }
        }
    }
}

/// Holds the inode's `i_rwsem`, exclusively or shared; releases it on drop.
pub(crate) struct InodeLockGuard<'a, T: FileSystem> {
    pub(super) inode: &'a Inode<T>,
    pub(super) shared: bool,
}

impl<T: FileSystem> InodeLockGuard<'_, T> {
    /// Runs `f` with the lock released, then takes it again in the same
    /// mode.
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // SAFETY: the guard holds the lock; it holds it again before it is
        // used or dropped.
        unsafe { self.release() };
        let result = f();
        let inode = self.inode.as_raw();
        // SAFETY: locking a live inode, in the mode the guard records.
        unsafe {
            if self.shared {
                rexfs_bindings::rexfs_inode_lock_shared(inode);
            } else {
                rexfs_bindings::rexfs_inode_lock(inode);
            }
        }
        result
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The guard holds the lock in the mode it records.
    unsafe fn release(&self) {
        let inode = self.inode.as_raw();
        // SAFETY: the caller guarantees that we hold the lock so.
        unsafe {
            if self.shared {
                rexfs_bindings::rexfs_inode_unlock_shared(inode);
            } else {
                rexfs_bindings::rexfs_inode_unlock(inode);
            }
        }
    }
}

impl<T: FileSystem> Drop for InodeLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock in the mode it records.
        unsafe { self.release() };
    }
}

impl<'a, T: FileSystem> Kiocb<'a, T> {
    /// The file's inode.
    pub(crate) fn inode(&self) -> &'a Inode<T> {
        // SAFETY: the file is open, so its inode is referenced (type
        // invariant) and initialised.
        unsafe { Inode::from_raw((*self.0.ki_filp).f_inode) }
    }

    /// The file position of the request.
    pub(crate) fn pos(&self) -> i64 {
        self.0.ki_pos
    }

    /// Whether this is direct I/O (`O_DIRECT`).
    pub(crate) fn is_direct(&self) -> bool {
        self.0.ki_flags & rexfs_bindings::IOCB_DIRECT as c_int != 0
    }

    /// Whether the request writes at the end of the file (`O_APPEND`,
    /// `RWF_APPEND`).
    pub(crate) fn is_append(&self) -> bool {
        self.0.ki_flags & rexfs_bindings::IOCB_APPEND as c_int != 0
    }

    /// Takes the inode's `i_rwsem` exclusively.
    pub(crate) fn lock_inode(&self) -> InodeLockGuard<'a, T> {
        self.inode().lock()
    }

    /// Takes the inode's `i_rwsem` shared.
    pub(crate) fn lock_inode_shared(&self) -> InodeLockGuard<'a, T> {
        let inode = self.inode();
        // SAFETY: locking a live inode.
        unsafe { rexfs_bindings::rexfs_inode_lock_shared(inode.as_raw()) };
        InodeLockGuard { inode, shared: true }
    }

    /// One pass of direct I/O with `iomap_dio_rw` that never faults on the
    /// user buffer: the iterator is `nofault` (and page faults are disabled
    /// for reads, whose hole zeroing copies without the iterator's check).
    /// It stops at the first user page that is not present and returns the
    /// bytes done so far, including `done_before` (`IOMAP_DIO_PARTIAL`), or
    /// `EFAULT` when there are none. It waits for the I/O even for an
    /// asynchronous request (`IOMAP_DIO_FORCE_WAIT`), so completion runs
    /// under the caller's locks.
    pub(crate) fn direct_io_nofault(&mut self, iter: &mut IoIter<'_>, done_before: usize) -> Result<isize> {
        let read = !iter.0.data_source;
        let dio_ops = if read { core::ptr::null() } else { &Tables::<T>::DIO_WRITE_OPS };
        let flags = rexfs_bindings::IOMAP_DIO_PARTIAL | rexfs_bindings::IOMAP_DIO_FORCE_WAIT;
        iter.0.nofault = true;
        // SAFETY: the caller holds `i_rwsem` as direct I/O on this
        // filesystem requires (shared to read, exclusively to write); the
        // operation tables are `'static`; page faults are enabled again
        // right after.
        let ret = unsafe {
            if read {
                rexfs_bindings::rexfs_pagefault_disable();
            }
            let ret = rexfs_bindings::iomap_dio_rw(
                core::ptr::from_mut(self.0).cast(),
                core::ptr::from_mut(iter.0).cast(),
                Tables::<T>::ops(),
                dio_ops,
                flags,
                core::ptr::null_mut(),
                done_before,
            );
            if read {
                rexfs_bindings::rexfs_pagefault_enable();
            }
            ret
        };
        iter.0.nofault = false;
        to_result(ret.min(0) as i32).map(|()| ret)
    }

    /// Reads through the page cache (`filemap_read`), also for a direct
    /// I/O request; `already_read` bytes were done before and are added to
    /// the result.
    pub(crate) fn buffered_read(&mut self, to: &mut IoIter<'_>, already_read: isize) -> Result<isize> {
        // SAFETY: a valid request and iterator; `filemap_read` takes the
        // locks it needs.
        let ret = unsafe { rexfs_bindings::filemap_read(core::ptr::from_mut(self.0).cast(), to.0, already_read) };
        to_result(ret.min(0) as i32).map(|()| ret)
    }

    /// Writes the rest of a direct I/O request through the page cache, then
    /// writes those folios back and drops them, so that the write reaches
    /// the disk as direct I/O would. `i_rwsem` is held.
    pub(crate) fn buffered_write_through(&mut self, from: &mut IoIter<'_>) -> Result<isize> {
        let start = self.pos();
        let direct = self.0.ki_flags & rexfs_bindings::IOCB_DIRECT as c_int;
        self.0.ki_flags &= !direct;
        let written = self.buffered_write(from);
        self.0.ki_flags |= direct;
        let written = written?;
        if written > 0 {
            let inode = self.inode();
            let end = start + written as i64 - 1;
            inode.write_and_wait_range(start, end)?;
            inode.invalidate_pages(start, end);
        }
        Ok(written)
    }

    /// `generic_write_checks`: limits, `O_APPEND`; returns the bytes to write
    /// (0: nothing to do).
    pub(crate) fn write_checks(&mut self, from: &mut IoIter<'_>) -> Result<isize> {
        // SAFETY: the caller holds `i_rwsem` (required by the helper).
        let ret = unsafe { bindings::generic_write_checks(self.0, from.0) };
        to_result(ret.min(0) as i32).map(|()| ret)
    }

    /// `file_modified`: removes privileges and updates the times.
    pub(crate) fn file_modified(&mut self) -> Result {
        // SAFETY: the file is open.
        to_result(unsafe { bindings::file_modified(self.0.ki_filp) })
    }

    /// Writes through the page cache with iomap (`iomap_file_buffered_write`),
    /// validating mappings with [`FileSystem::iomap_valid`].
    pub(crate) fn buffered_write(&mut self, from: &mut IoIter<'_>) -> Result<isize> {
        // SAFETY: the caller holds `i_rwsem`; the operation tables are
        // `'static`.
        let ret = unsafe {
            rexfs_bindings::iomap_file_buffered_write(
                core::ptr::from_mut(self.0).cast(),
                core::ptr::from_mut(from.0).cast(),
                Tables::<T>::ops(),
                &Tables::<T>::WRITE_OPS,
                core::ptr::null_mut(),
            )
        };
        to_result(ret.min(0) as i32).map(|()| ret)
    }

    /// `generic_write_sync`: honours `O_SYNC`/`O_DSYNC` for `count` bytes
    /// just written. Call it without `i_rwsem`.
    pub(crate) fn write_sync(&mut self, count: isize) -> Result<isize> {
        // SAFETY: a valid kiocb.
        let ret = unsafe { rexfs_bindings::rexfs_generic_write_sync(core::ptr::from_mut(self.0).cast(), count) };
        to_result(ret.min(0) as i32).map(|()| ret)
    }
}

/// Runs `op`, `T::read_iter` or `T::write_iter`, on a request of the VFS.
///
/// # Safety
///
/// `iocb` and `iter` must be a valid request on an open regular file of `T`.
unsafe fn rw_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
    op: fn(&mut Kiocb<'_, T>, &mut IoIter<'_>) -> Result<isize>,
) -> isize {
    // SAFETY: the caller passes a valid request.
    let (mut iocb, mut iter) = unsafe { (Kiocb::<T>(&mut *iocb, PhantomData), IoIter(&mut *iter)) };
    match op(&mut iocb, &mut iter) {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

pub(super) unsafe extern "C" fn read_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    to: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: the VFS passes a valid request on an open regular file of `T`.
    unsafe { rw_iter(iocb, to, T::read_iter) }
}

pub(super) unsafe extern "C" fn write_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: the VFS passes a valid request on an open regular file of `T`.
    unsafe { rw_iter(iocb, from, T::write_iter) }
}

pub(super) unsafe extern "C" fn open<T: FileSystem>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: the VFS passes the inode and the file being opened;
    // `f_mode` is ours to extend until `open` returns.
    unsafe {
        (*file).f_mode |= rexfs_bindings::FMODE_CAN_ODIRECT;
        bindings::generic_file_open(inode, file)
    }
}

/// A page fault on a mapping of a regular file: `->fault`, or
/// `->page_mkwrite` for a write to a page mapped read-only.
///
/// # Invariants
///
/// `vmf` is valid for `'a` and maps a regular file of `T`; the fault holds
/// the mmap lock or the VMA's lock, so the VMA and its file are live.
pub(crate) struct Fault<'a, T: FileSystem>(*mut bindings::vm_fault, PhantomData<&'a T>);

/// A `vm_fault_t`.
pub(crate) struct VmFaultResult(bindings::vm_fault_t);

impl VmFaultResult {
    /// The fault lock was dropped (or, under `FAULT_FLAG_RETRY_NOWAIT`, is
    /// still held): the caller retries the fault.
    pub(crate) const RETRY: Self = Self(bindings::vm_fault_reason_VM_FAULT_RETRY as _);
    /// Nothing was mapped: the access faults again.
    pub(crate) const NOPAGE: Self = Self(bindings::vm_fault_reason_VM_FAULT_NOPAGE as _);

    /// The result for a failure (`vmf_error`).
    pub(crate) fn error(e: Error) -> Self {
        let reason = if e == ENOMEM {
            bindings::vm_fault_reason_VM_FAULT_OOM
        } else {
            bindings::vm_fault_reason_VM_FAULT_SIGBUS
        };
        Self(reason as _)
    }
}

/// What a fault may do when it needs a lock that ranks above the fault
/// lock (`mmap_lock`), as `__folio_lock_or_retry` decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultRetry {
    /// The first attempt of a fault that allows a retry: drop the fault
    /// lock, do the work, return [`VmFaultResult::RETRY`].
    DropLock,
    /// `FAULT_FLAG_RETRY_NOWAIT`: return [`VmFaultResult::RETRY`] with the
    /// fault lock still held, and do nothing.
    NoWait,
    /// No retry: the second attempt, or get_user_pages without a `locked`
    /// pointer (`/proc/PID/mem`, ptrace): the work must be done under the
    /// fault lock.
    None,
}

/// A file pinned by a fault that dropped its lock ([`Fault::release_lock`]);
/// released on drop.
///
/// # Invariants
///
/// We hold a reference to `file`, a regular file of `T`.
pub(crate) struct PinnedFile<T: FileSystem>(NonNull<bindings::file>, PhantomData<T>);

impl<T: FileSystem> PinnedFile<T> {
    /// The file's inode.
    pub(crate) fn inode(&self) -> &Inode<T> {
        // SAFETY: the pinned file holds a reference to its inode.
        unsafe { Inode::from_raw((*self.0.as_ptr()).f_inode) }
    }

    /// Protects a change of the file against freezing (`sb_start_write`),
    /// as write(2) is; taken before `i_rwsem`.
    pub(crate) fn start_write(&self) -> WriteFreezeGuard<'_, T> {
        let inode = self.inode();
        // SAFETY: the super block of an open file is live.
        unsafe { rexfs_bindings::rexfs_sb_start_write(inode.super_block().as_raw()) };
        WriteFreezeGuard(inode)
    }
}

/// Holds `sb_start_write` protection against freezing.
pub(crate) struct WriteFreezeGuard<'a, T: FileSystem>(&'a Inode<T>);

impl<T: FileSystem> Drop for WriteFreezeGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the protection.
        unsafe { rexfs_bindings::rexfs_sb_end_write(self.0.super_block().as_raw()) };
    }
}

impl<T: FileSystem> Drop for PinnedFile<T> {
    fn drop(&mut self) {
        // SAFETY: we hold a reference (type invariant).
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// An open file a file operation works on (`fsync(2)`, `O_SYNC` writes,
/// `fallocate(2)`).
///
/// # Invariants
///
/// The pointer is an open file of `T`, live for the call it was made for.
pub(crate) struct OpenFile<T: FileSystem>(*mut bindings::file, PhantomData<T>);

impl<T: FileSystem> OpenFile<T> {
    /// The file's inode.
    pub(crate) fn inode(&self) -> &Inode<T> {
        // SAFETY: an open file (type invariant) holds its inode.
        unsafe { Inode::from_raw((*self.0).f_inode) }
    }

    /// Writes back and waits for the dirty page cache in `start..=end`, and
    /// reports a writeback error not yet seen through this file
    /// (`file_write_and_wait_range`): every file open on the inode sees an
    /// error once, not only the first to sync.
    pub(crate) fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: an open file (type invariant).
        to_result(unsafe { bindings::file_write_and_wait_range(self.0, start, end) })
    }

    /// Clears the setuid and setgid bits and security capabilities that a
    /// change of the file by an unprivileged user drops (`file_remove_privs`).
    /// The caller holds the inode's `i_rwsem` (through `notify_change`,
    /// this calls the filesystem's `setattr`).
    pub(crate) fn remove_privs(&self) -> Result {
        // SAFETY: an open file (type invariant).
        to_result(unsafe { bindings::file_remove_privs(self.0) })
    }
}

/// Holds `sb_start_pagefault` protection against freezing.
pub(crate) struct PagefaultGuard<'a, T: FileSystem>(&'a Inode<T>);

impl<T: FileSystem> Drop for PagefaultGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the protection.
        unsafe { rexfs_bindings::rexfs_sb_end_pagefault(self.0.super_block().as_raw()) };
    }
}

impl<'a, T: FileSystem> Fault<'a, T> {
    fn file(&self) -> *mut bindings::file {
        // SAFETY: the faulting VMA is a file mapping (type invariant).
        unsafe { (*(*self.0).__bindgen_anon_1.vma).vm_file }
    }

    /// The inode of the mapped file.
    pub(crate) fn inode(&self) -> &'a Inode<T> {
        // SAFETY: the mapped file holds a reference to its inode.
        unsafe { Inode::from_raw((*self.file()).f_inode) }
    }

    /// Protects the fault against filesystem freezing (`sb_start_pagefault`).
    pub(crate) fn start_pagefault(&self) -> PagefaultGuard<'a, T> {
        let inode = self.inode();
        // SAFETY: the super block of a mapped file is live.
        unsafe { rexfs_bindings::rexfs_sb_start_pagefault(inode.super_block().as_raw()) };
        PagefaultGuard(inode)
    }

    /// Updates the file times (`file_update_time`).
    pub(crate) fn update_time(&self) {
        // SAFETY: the file is mapped, hence open. Failing to update the
        // times does not fail the fault, as in every in-tree filesystem.
        unsafe { bindings::file_update_time(self.file()) };
    }

    /// Whether this is a write through a shared mapping, which dirties the
    /// file's page cache.
    pub(crate) fn is_shared_write(&self) -> bool {
        // SAFETY: a valid fault (type invariant).
        let write = unsafe { (*self.0).flags } & bindings::fault_flag_FAULT_FLAG_WRITE != 0;
        // SAFETY: as above.
        write && unsafe { rexfs_bindings::rexfs_fault_vma_is_shared(self.0) }
    }

    /// What the fault may do about a lock it cannot take under the fault
    /// lock.
    pub(crate) fn retry(&self) -> FaultRetry {
        // SAFETY: a valid fault (type invariant).
        let flags = unsafe { (*self.0).flags };
        let has = |flag| flags & flag != 0;
        if !has(bindings::fault_flag_FAULT_FLAG_ALLOW_RETRY) || has(bindings::fault_flag_FAULT_FLAG_TRIED) {
            FaultRetry::None
        } else if has(bindings::fault_flag_FAULT_FLAG_RETRY_NOWAIT) {
            FaultRetry::NoWait
        } else {
            FaultRetry::DropLock
        }
    }

    /// Pins the file and drops the fault lock, ending the fault's use of
    /// its VMA; the fault must then return [`VmFaultResult::RETRY`]. Only
    /// for [`FaultRetry::DropLock`].
    pub(crate) fn release_lock(self) -> PinnedFile<T> {
        debug_assert_eq!(self.retry(), FaultRetry::DropLock);
        // SAFETY: a valid fault that may drop its lock; `self` is consumed,
        // so the VMA is not touched afterwards. The VMA maps a file (type
        // invariant), to which the helper takes a reference and returns.
        // INVARIANT: we hold that reference.
        unsafe { PinnedFile(NonNull::new_unchecked(rexfs_bindings::rexfs_fault_release_lock(self.0)), PhantomData) }
    }

    /// Reads the page in and maps it (`filemap_fault`).
    pub(crate) fn filemap_fault(&self) -> VmFaultResult {
        // SAFETY: a valid `->fault` call.
        VmFaultResult(unsafe { bindings::filemap_fault(self.0) })
    }

    /// Unmaps the faulting page of the file from every process, so that a
    /// write to it faults again through `->fault` (for `->page_mkwrite`).
    pub(crate) fn unmap_page(&self) {
        let shift = kernel::page::PAGE_SHIFT;
        // SAFETY: a valid fault of a mapped file; the caller holds no page
        // table lock or folio lock (`->page_mkwrite` is called without).
        unsafe {
            bindings::unmap_mapping_range(
                (*self.file()).f_mapping,
                ((*self.0).__bindgen_anon_1.pgoff << shift) as _,
                1 << shift,
                0,
            )
        };
    }

    /// Makes the faulting folio writable with iomap (`iomap_page_mkwrite`):
    /// maps (allocates) its blocks and dirties it.
    pub(crate) fn iomap_mkwrite(&self) -> VmFaultResult {
        // SAFETY: a valid fault; the operation table is `'static`.
        VmFaultResult(unsafe {
            rexfs_bindings::iomap_page_mkwrite(self.0, Tables::<T>::ops(), core::ptr::null_mut())
        })
    }
}

pub(super) unsafe extern "C" fn fault<T: FileSystem>(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
    // INVARIANT: mm calls `->fault` of our VMAs with a valid fault.
    T::fault(Fault(vmf, PhantomData)).0
}

pub(super) unsafe extern "C" fn page_mkwrite<T: FileSystem>(
    vmf: *mut bindings::vm_fault,
) -> bindings::vm_fault_t {
    T::page_mkwrite(&Fault(vmf, PhantomData)).0
}

pub(super) unsafe extern "C" fn mmap_prepare<T: FileSystem>(
    desc: *mut bindings::vm_area_desc,
) -> c_int {
    // SAFETY: the VFS passes a valid descriptor of a new mapping of an open
    // regular file; `vm_ops` is ours to set.
    unsafe {
        rexfs_bindings::rexfs_file_accessed((*desc).file);
        (*desc).vm_ops = &Tables::<T>::VM_OPS;
    }
    0
}

pub(super) unsafe extern "C" fn fallocate<T: FileSystem>(
    file: *mut bindings::file,
    mode: c_int,
    offset: bindings::loff_t,
    len: bindings::loff_t,
) -> c_long {
    // INVARIANT: the VFS passes an open regular file of this filesystem
    // and holds it for the call.
    let file = OpenFile(file, PhantomData);
    match T::fallocate(&file, mode, offset, len) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

pub(super) unsafe extern "C" fn fsync<T: FileSystem>(
    file: *mut bindings::file,
    start: bindings::loff_t,
    end: bindings::loff_t,
    datasync: c_int,
) -> c_int {
    // INVARIANT: the VFS passes an open file of this filesystem and holds
    // it for the call.
    let file = OpenFile(file, PhantomData);
    match T::fsync(&file, start, end, datasync != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: FileSystem> Tables<T> {
    pub(super) const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(fault::<T>),
        map_pages: Some(bindings::filemap_map_pages),
        page_mkwrite: Some(page_mkwrite::<T>),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };
}
