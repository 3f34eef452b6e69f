// SPDX-License-Identifier: GPL-2.0

//! Page faults on mappings of regular files: [`VmOps`], the [`Fault`]
//! handle and the `vm_operations_struct` table.
//!
//! A fault holds the mmap lock or the VMA's lock, which ranks below
//! `i_rwsem`: a fault that needs `i_rwsem` must drop its lock and ask for a
//! retry, where the fault allows one ([`Fault::retry`]).
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::iomap::{IomapOps, IomapTables};
use super::open_file::OpenFile;
use core::{marker::PhantomData, ptr};
use kernel::{bindings, prelude::*, sync::aref::ARef};

/// Page faults on shared and private mappings of regular files.
pub(crate) trait VmOps: IomapOps {
    /// A page fault that finds no page mapped.
    fn fault(fault: Fault<'_, Self>) -> VmFaultResult {
        fault.filemap_fault()
    }

    /// A write fault on a page of a shared mapping that is mapped
    /// read-only. Called without the fault's real flags (in 7.3 it cannot
    /// see whether the fault may be retried).
    fn page_mkwrite(fault: &Fault<'_, Self>) -> VmFaultResult;

    /// A fault that may map more than a page: a PMD (`order` 9) of a DAX
    /// file. The default falls back to page faults.
    fn huge_fault(_fault: &Fault<'_, Self>, _order: u32) -> VmFaultResult {
        VmFaultResult::FALLBACK
    }

    /// A write fault on a DAX page mapped read-only (as `page_mkwrite` for
    /// the page cache): the default is [`VmOps::page_mkwrite`].
    fn pfn_mkwrite(fault: &Fault<'_, Self>) -> VmFaultResult {
        Self::page_mkwrite(fault)
    }
}

/// A page fault on a mapping of a regular file: `->fault`, or
/// `->page_mkwrite` for a write to a page mapped read-only.
///
/// # Invariants
///
/// `vmf` is valid for `'a` and maps a regular file of `T`; the fault holds
/// the mmap lock or the VMA's lock, so the VMA and its file are live.
pub(crate) struct Fault<'a, T: IomapOps>(*mut bindings::vm_fault, PhantomData<&'a T>);

/// A `vm_fault_t`.
pub(crate) struct VmFaultResult(bindings::vm_fault_t);

impl VmFaultResult {
    /// The fault lock was dropped (or, under `FAULT_FLAG_RETRY_NOWAIT`, is
    /// still held): the caller retries the fault.
    pub(crate) const RETRY: Self = Self(bindings::vm_fault_reason_VM_FAULT_RETRY);
    /// Nothing was mapped: the access faults again.
    pub(crate) const NOPAGE: Self = Self(bindings::vm_fault_reason_VM_FAULT_NOPAGE);
    /// A huge fault could not map the huge page: mm falls back to pages.
    pub(crate) const FALLBACK: Self = Self(bindings::vm_fault_reason_VM_FAULT_FALLBACK);

    /// Whether a huge fault fell back to pages.
    pub(crate) fn is_fallback(&self) -> bool {
        self.0 & bindings::vm_fault_reason_VM_FAULT_FALLBACK != 0
    }

    /// Whether the fault failed with `SIGBUS` (any error but `ENOMEM`).
    pub(crate) fn is_sigbus(&self) -> bool {
        self.0 & bindings::vm_fault_reason_VM_FAULT_SIGBUS != 0
    }

    /// The result for a failure (`vmf_error`).
    pub(crate) fn error(e: Error) -> Self {
        let reason = if e == ENOMEM {
            bindings::vm_fault_reason_VM_FAULT_OOM
        } else {
            bindings::vm_fault_reason_VM_FAULT_SIGBUS
        };
        Self(reason)
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

impl<'a, T: IomapOps> Fault<'a, T> {
    fn file(&self) -> *mut bindings::file {
        // SAFETY: the faulting VMA is a file mapping (type invariant).
        unsafe { (*(*self.0).__bindgen_anon_1.vma).vm_file }
    }

    /// The inode of the mapped file.
    pub(crate) fn inode(&self) -> &'a Inode<T> {
        // SAFETY: the mapped file holds a reference to its inode, an inode
        // of `T` (type invariant).
        unsafe { Inode::from_raw((*self.file()).f_inode) }
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
        write && unsafe { vfs_bindings::rvfs_fault_vma_is_shared(self.0) }
    }

    /// What the fault may do about a lock it cannot take under the fault
    /// lock.
    pub(crate) fn retry(&self) -> FaultRetry {
        // SAFETY: a valid fault (type invariant).
        let flags = unsafe { (*self.0).flags };
        let has = |flag| flags & flag != 0;
        if !has(bindings::fault_flag_FAULT_FLAG_ALLOW_RETRY)
            || has(bindings::fault_flag_FAULT_FLAG_TRIED)
        {
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
    pub(crate) fn release_lock(self) -> ARef<OpenFile<T>> {
        debug_assert_eq!(self.retry(), FaultRetry::DropLock);
        // SAFETY: a valid fault that may drop its lock; `self` is consumed,
        // so the VMA is not touched afterwards. The VMA maps a file of `T`
        // (type invariant), to which the helper takes a reference and
        // returns it.
        unsafe {
            let file = vfs_bindings::rvfs_fault_release_lock(self.0);
            ARef::from_raw(ptr::NonNull::new_unchecked(file).cast())
        }
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
                ((*self.0).__bindgen_anon_1.pgoff << shift) as i64,
                1 << shift,
                0,
            )
        };
    }

    /// The byte range of the file that the faulting page's folio caches, as
    /// `(pos, len)`; `None` in `->fault`, which has no page yet.
    pub(crate) fn folio_range(&self) -> Option<(u64, u64)> {
        // SAFETY: a valid fault (type invariant).
        if unsafe { (*self.0).page }.is_null() {
            return None;
        }
        let (mut pos, mut len) = (0, 0);
        // SAFETY: a valid fault with a page, which the fault holds a
        // reference to (`->page_mkwrite`).
        unsafe { vfs_bindings::rvfs_fault_folio_range(self.0, &mut pos, &mut len) };
        Some((pos as u64, len as u64))
    }

    /// Makes the faulting folio writable with iomap (`iomap_page_mkwrite`):
    /// maps (allocates) its blocks and dirties it.
    pub(crate) fn iomap_mkwrite(&self) -> VmFaultResult {
        // SAFETY: a valid fault; the operation table is `'static`.
        VmFaultResult(unsafe {
            vfs_bindings::iomap_page_mkwrite(self.0, IomapTables::<T>::ops(), ptr::null_mut())
        })
    }
}

impl<T: IomapOps> Fault<'_, T> {
    /// Maps the fault's page (`order` 0) or PMD (`order` 9) from the DAX
    /// device (`dax_iomap_fault`), allocating for a write; then runs
    /// `done` (which ends the fault's journal handle), and finishes a
    /// `MAP_SYNC` write fault by syncing the metadata it needs
    /// (`dax_finish_sync_fault`, an fsync: it must not run inside a
    /// handle). The caller holds `invalidate_lock`.
    pub(crate) fn dax_fault(&self, order: u32, done: impl FnOnce() -> Result) -> VmFaultResult {
        let mut pfn = 0;
        // SAFETY: a valid fault on a DAX file of `T` (type invariant); the
        // operation table is `'static`.
        let result = unsafe {
            vfs_bindings::dax_iomap_fault(
                self.0,
                order,
                &mut pfn,
                ptr::null_mut(),
                IomapTables::<T>::ops(),
            )
        };
        if let Err(e) = done() {
            return VmFaultResult::error(e);
        }
        if result & bindings::vm_fault_reason_VM_FAULT_NEEDDSYNC == 0 {
            return VmFaultResult(result);
        }
        // SAFETY: as above; `pfn` is what the fault mapped.
        VmFaultResult(unsafe { vfs_bindings::dax_finish_sync_fault(self.0, order, pfn) })
    }
}

/// The `vm_operations_struct` of `T` and its callbacks.
pub(super) struct VmTables<T>(PhantomData<T>);

impl<T: VmOps> VmTables<T> {
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault),
        map_pages: Some(bindings::filemap_map_pages),
        page_mkwrite: Some(Self::page_mkwrite),
        huge_fault: Some(Self::huge_fault),
        pfn_mkwrite: Some(Self::pfn_mkwrite),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// `file_operations::mmap_prepare`: the mapping's operations.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a valid descriptor of a new mapping of an
    /// open regular file of `T`.
    ///
    /// `MAP_SYNC` (the file operations have `FOP_MMAP_SYNC`) only maps DAX
    /// files of a synchronous DAX device; DAX mappings may take PMDs.
    pub(super) unsafe extern "C" fn mmap_prepare(desc: *mut bindings::vm_area_desc) -> c_int {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { Inode::<T>::from_raw((*(*desc).file).f_inode) };
        let dax = T::dax_device(inode.super_block()).map_or(ptr::null_mut(), |d| d.as_raw());
        // SAFETY: a valid descriptor and the mapped file's inode; a DAX
        // file's mount has a DAX device.
        if !unsafe { vfs_bindings::rvfs_daxdev_mapping_supported(desc, inode.as_raw(), dax) } {
            return EOPNOTSUPP.to_errno();
        }
        // SAFETY: guaranteed by the caller; `vm_ops` is ours to set and the
        // table is `'static`.
        unsafe {
            vfs_bindings::rvfs_file_accessed((*desc).file);
            (*desc).vm_ops = &Self::VM_OPS;
            if inode.is_dax() {
                vfs_bindings::rvfs_vma_desc_set_hugepage(desc);
            }
        }
        0
    }

    /// `vm_operations_struct::fault`.
    ///
    /// # Safety
    ///
    /// Called by mm with a valid fault on a mapping of a regular file of
    /// `T`, under the fault lock.
    unsafe extern "C" fn fault(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // INVARIANT: guaranteed by the caller.
        T::fault(Fault(vmf, PhantomData)).0
    }

    /// `vm_operations_struct::page_mkwrite`.
    ///
    /// # Safety
    ///
    /// As for [`Self::fault`].
    unsafe extern "C" fn page_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // INVARIANT: guaranteed by the caller.
        T::page_mkwrite(&Fault(vmf, PhantomData)).0
    }

    /// `vm_operations_struct::huge_fault`.
    ///
    /// # Safety
    ///
    /// As for [`Self::fault`].
    unsafe extern "C" fn huge_fault(
        vmf: *mut bindings::vm_fault,
        order: c_uint,
    ) -> bindings::vm_fault_t {
        // INVARIANT: guaranteed by the caller.
        T::huge_fault(&Fault(vmf, PhantomData), order).0
    }

    /// `vm_operations_struct::pfn_mkwrite`.
    ///
    /// # Safety
    ///
    /// As for [`Self::fault`].
    unsafe extern "C" fn pfn_mkwrite(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // INVARIANT: guaranteed by the caller.
        T::pfn_mkwrite(&Fault(vmf, PhantomData)).0
    }
}
