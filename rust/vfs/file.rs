// SPDX-License-Identifier: GPL-2.0

//! Regular-file entry points: `write(2)`, `mmap(2)` write faults, `fsync(2)`.
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
use core::marker::PhantomData;
use kernel::{bindings, error::to_result, prelude::*};

/// A `write(2)`-like request on a regular file of filesystem `T`.
///
/// # Invariants
///
/// `iocb` is valid for `'a` and its file is an open regular file of `T`.
pub(crate) struct Kiocb<'a, T: FileSystem>(&'a mut bindings::kiocb, PhantomData<T>);

/// The user data of a write.
///
/// # Invariants
///
/// `iter` is valid for `'a`.
pub(crate) struct WriteIter<'a>(&'a mut bindings::iov_iter);

/// Holds the inode's `i_rwsem`; releases it on drop.
pub(crate) struct InodeLockGuard<'a, T: FileSystem>(pub(super) &'a Inode<T>);

impl<T: FileSystem> Drop for InodeLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock.
        unsafe { rexfs_bindings::rexfs_inode_unlock(self.0.as_raw()) };
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

    /// Takes the inode's `i_rwsem` exclusively.
    pub(crate) fn lock_inode(&self) -> InodeLockGuard<'a, T> {
        self.inode().lock()
    }

    /// `generic_write_checks`: limits, `O_APPEND`; returns the bytes to write
    /// (0: nothing to do).
    pub(crate) fn write_checks(&mut self, from: &mut WriteIter<'_>) -> Result<isize> {
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
    pub(crate) fn buffered_write(&mut self, from: &mut WriteIter<'_>) -> Result<isize> {
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

pub(super) unsafe extern "C" fn write_iter<T: FileSystem>(
    iocb: *mut bindings::kiocb,
    from: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: the VFS passes a valid request on an open regular file of `T`.
    let (mut iocb, mut from) =
        unsafe { (Kiocb::<T>(&mut *iocb, PhantomData), WriteIter(&mut *from)) };
    match T::write_iter(&mut iocb, &mut from) {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

/// A write fault on a shared file mapping (`->page_mkwrite`).
///
/// # Invariants
///
/// `vmf` is valid for `'a` and maps a regular file of `T`.
pub(crate) struct Fault<'a, T: FileSystem>(*mut bindings::vm_fault, PhantomData<&'a T>);

/// A `vm_fault_t`.
pub(crate) struct VmFaultResult(bindings::vm_fault_t);

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

    /// Makes the faulting folio writable with iomap (`iomap_page_mkwrite`):
    /// maps (allocates) its blocks and dirties it.
    pub(crate) fn iomap_mkwrite(&self) -> VmFaultResult {
        // SAFETY: a valid fault; the operation table is `'static`.
        VmFaultResult(unsafe {
            rexfs_bindings::iomap_page_mkwrite(self.0, Tables::<T>::ops(), core::ptr::null_mut())
        })
    }
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
    // SAFETY: the VFS passes an open regular file of this filesystem.
    let inode = unsafe { Inode::<T>::from_raw((*file).f_inode) };
    match T::fallocate(inode, mode, offset, len) {
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
    // SAFETY: the VFS passes an open file of this filesystem.
    let inode = unsafe { Inode::<T>::from_raw((*file).f_inode) };
    match T::fsync(inode, start, end, datasync != 0) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

impl<T: FileSystem> Tables<T> {
    pub(super) const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(bindings::filemap_fault),
        map_pages: Some(bindings::filemap_map_pages),
        page_mkwrite: Some(page_mkwrite::<T>),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };
}
