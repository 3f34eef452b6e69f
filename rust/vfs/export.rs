// SPDX-License-Identifier: GPL-2.0

//! File handles (`name_to_handle_at(2)`, `open_by_handle_at(2)`, NFS
//! export): the kernel's 32-bit inode number and generation handles,
//! decoded through [`ExportOps`].
//!
//! C header: [`include/linux/exportfs.h`](srctree/include/linux/exportfs.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::super_block::{FileSystem, SuperBlock};
use core::marker::PhantomData;
use kernel::{bindings, ffi::c_int, prelude::*, sync::aref::ARef};

/// Decoding file handles (`export_operations`).
pub(crate) trait ExportOps: FileSystem {
    /// Returns inode `ino` for a file handle made when the inode's
    /// generation was `generation`; `ESTALE` if that inode is gone.
    fn inode_for_handle(
        sb: &SuperBlock<Self>,
        ino: u64,
        generation: u32,
    ) -> Result<ARef<Inode<Self>>>;
    /// Returns the parent of directory `dir`, which is not the root.
    fn parent_dir(dir: &Inode<Self>) -> Result<ARef<Inode<Self>>>;
}

/// The `export_operations` of `T`.
pub(super) struct ExportTable<T>(PhantomData<T>);

impl<T: ExportOps> ExportTable<T> {
    const OPS: vfs_bindings::export_operations = vfs_bindings::export_operations {
        encode_fh: Some(vfs_bindings::generic_encode_ino32_fh),
        fh_to_dentry: Some(Self::fh_to_dentry),
        fh_to_parent: Some(Self::fh_to_parent),
        get_parent: Some(Self::get_parent),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks
        // and for no flags.
        ..unsafe { core::mem::zeroed() }
    };

    /// The table for `s_export_op`.
    pub(super) fn table() -> *const bindings::export_operations {
        core::ptr::from_ref(&Self::OPS).cast()
    }

    /// Returns a referenced inode, or an `ERR_PTR`, as `generic_fh_to_*`
    /// expect of their callback.
    ///
    /// # Safety
    ///
    /// Called by `generic_fh_to_*` on a mounted super block of `T`.
    unsafe extern "C" fn get_inode(
        sb: *mut bindings::super_block,
        ino: u64,
        generation: u32,
    ) -> *mut bindings::inode {
        // SAFETY: the VFS decodes handles on a mounted super block of `T`.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        match T::inode_for_handle(sb, ino, generation) {
            Ok(inode) => ARef::into_raw(inode).as_ptr().cast(),
            Err(e) => e.to_ptr(),
        }
    }

    /// `export_operations::fh_to_dentry`.
    ///
    /// # Safety
    ///
    /// Called by the VFS on a mounted super block of `T` with a handle of
    /// `fh_len` words.
    unsafe extern "C" fn fh_to_dentry(
        sb: *mut bindings::super_block,
        fid: *mut vfs_bindings::fid,
        fh_len: c_int,
        fh_type: c_int,
    ) -> *mut bindings::dentry {
        // SAFETY: the VFS passes a handle of `fh_len` words; `get_inode`
        // returns what the helper expects.
        unsafe {
            vfs_bindings::generic_fh_to_dentry(sb, fid, fh_len, fh_type, Some(Self::get_inode))
        }
    }

    /// `export_operations::fh_to_parent`.
    ///
    /// # Safety
    ///
    /// As for [`Self::fh_to_dentry`].
    unsafe extern "C" fn fh_to_parent(
        sb: *mut bindings::super_block,
        fid: *mut vfs_bindings::fid,
        fh_len: c_int,
        fh_type: c_int,
    ) -> *mut bindings::dentry {
        // SAFETY: as in `fh_to_dentry`.
        unsafe {
            vfs_bindings::generic_fh_to_parent(sb, fid, fh_len, fh_type, Some(Self::get_inode))
        }
    }

    /// `export_operations::get_parent`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a positive directory dentry of `T`.
    unsafe extern "C" fn get_parent(child: *mut bindings::dentry) -> *mut bindings::dentry {
        // SAFETY: the VFS asks for the parent of a positive directory
        // dentry of `T`, which holds its inode.
        let dir = unsafe { Inode::<T>::from_raw((*child).d_inode) };
        let parent = match T::parent_dir(dir) {
            Ok(parent) => ARef::into_raw(parent).as_ptr().cast(),
            Err(e) => e.to_ptr(),
        };
        // SAFETY: `d_obtain_alias` consumes the inode reference, or passes
        // an `ERR_PTR` on.
        unsafe { bindings::d_obtain_alias(parent) }
    }
}
