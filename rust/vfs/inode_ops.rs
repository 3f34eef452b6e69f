// SPDX-License-Identifier: GPL-2.0

//! The attribute operations every inode type shares (`setattr`, inode flags),
//! as [`InodeOps`], and the `inode_operations` of symbolic links and of
//! special files, which have nothing else.
//!
//! Directories (`dir.rs`) and regular files (`file.rs`) build their own
//! tables from the callbacks here and from their own.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fileattr.h`](srctree/include/linux/fileattr.h).

use super::bindings as vfs_bindings;
use super::inode::{Inode, InodeFlags, InodeTables};
use super::super_block::FileSystem;
use super::xattr::{Handlers, XattrOps};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
};

/// Attribute changes of inodes of every type.
pub(crate) trait InodeOps: FileSystem {
    /// Whether `inode` may change now, checked before any attribute or
    /// flag changes (a filesystem that was shut down refuses with `EIO`).
    fn may_change(_inode: &Inode<Self>) -> Result {
        Ok(())
    }

    /// Sets the size of a regular file (`ATTR_SIZE`, also to the size it
    /// has): `i_rwsem` is held and the VFS has checked the request
    /// (`setattr_prepare`); the new size is not yet in the inode.
    fn truncate(inode: &Inode<Self>, size: i64) -> Result;

    /// The inode's flags (`FS_IOC_GETFLAGS`, `FS_IOC_FSGETXATTR`).
    fn get_flags(inode: &Inode<Self>) -> InodeFlags;

    /// Sets the inode's flags to `flags` and persists them; fails with
    /// `EOPNOTSUPP` for a flag the filesystem does not have. The VFS holds
    /// `i_rwsem`, has checked the caller's rights (`CAP_LINUX_IMMUTABLE` to
    /// change `IMMUTABLE` or `APPEND`) and enforces the flags that have an
    /// `i_flags` bit once this returns.
    fn set_flags(inode: &Inode<Self>, flags: InodeFlags) -> Result;
}

/// The attribute callbacks of `T`, shared by the `inode_operations` of every
/// inode type.
pub(super) struct AttrCallbacks<T>(PhantomData<T>);

impl<T: InodeOps> AttrCallbacks<T> {
    /// `inode_operations::setattr`.
    ///
    /// # Safety
    ///
    /// Called by the VFS (`notify_change`) with the inode of a positive
    /// dentry of `T` locked, a valid idmapping and a valid `iattr`.
    pub(super) unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *mut bindings::iattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller; `setattr_prepare` checks
            // permissions and the size.
            unsafe {
                let inode = Inode::<T>::from_dentry(dentry).ok_or(ENOENT)?;
                // Nothing of an immutable inode changes (as in ext4). The
                // VFS refuses most changes itself, but not a size change
                // through a file opened before the flag was set.
                if inode.is_immutable() {
                    return Err(EPERM);
                }
                T::may_change(inode)?;
                to_result(bindings::setattr_prepare(idmap, dentry, attr))?;
                if (*attr).ia_valid & bindings::ATTR_SIZE != 0 {
                    T::truncate(inode, (*attr).ia_size)?;
                }
                bindings::setattr_copy(idmap, inode.as_raw(), attr);
                inode.mark_dirty();
            }
            Ok(0)
        })
    }

    /// `inode_operations::fileattr_get`, for `FS_IOC_GETFLAGS` and
    /// `FS_IOC_FSGETXATTR`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a positive dentry of `T`, referenced during
    /// the call, and the caller's valid `file_kattr`.
    pub(super) unsafe extern "C" fn fileattr_get(
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let inode = unsafe { Inode::<T>::from_dentry(dentry) }.ok_or(ENOENT)?;
            let flags = T::get_flags(inode);
            // SAFETY: `fa` is valid (guaranteed by the caller); the helper
            // sets its flags and the `fsx_xflags` they translate to.
            unsafe { vfs_bindings::fileattr_fill_flags(fa.cast(), flags.into()) };
            Ok(0)
        })
    }

    /// `inode_operations::fileattr_set`, for `FS_IOC_SETFLAGS` and
    /// `FS_IOC_FSSETXATTR`.
    ///
    /// # Safety
    ///
    /// Called by `vfs_fileattr_set`, which holds `i_rwsem`, has filled in
    /// what the request left out from [`Self::fileattr_get`] and checked the
    /// caller's rights, with a positive dentry of `T` and a valid
    /// `file_kattr` that nobody changes during the call.
    pub(super) unsafe extern "C" fn fileattr_set(
        _idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let inode = unsafe { Inode::<T>::from_dentry(dentry) }.ok_or(ENOENT)?;
            // SAFETY: guaranteed by the caller.
            let fa = unsafe { &*fa.cast::<vfs_bindings::file_kattr>() };
            // Only flags are supported, not what `struct fsxattr` has
            // beyond them (extent size hints, project IDs, other xflags).
            // SAFETY: `fa` is a valid `file_kattr`.
            if unsafe { vfs_bindings::rvfs_fileattr_has_fsx(fa) } {
                return Err(EOPNOTSUPP);
            }
            let flags = InodeFlags::known(fa.flags).ok_or(EOPNOTSUPP)?;
            T::may_change(inode)?;
            T::set_flags(inode, flags)?;
            inode.enforce_flags(flags);
            Ok(0)
        })
    }
}

/// The `inode_operations` of symbolic links and special files of `T`.
struct Tables<T>(PhantomData<T>);

impl<T: InodeOps + XattrOps> Tables<T> {
    const SYMLINK: bindings::inode_operations = bindings::inode_operations {
        get_link: Some(bindings::simple_get_link),
        setattr: Some(AttrCallbacks::<T>::setattr),
        listxattr: Some(Handlers::<T>::listxattr),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// Device nodes, FIFOs and sockets: attributes only (their data goes
    /// through the file operations `init_special_inode` sets).
    const SPECIAL: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(AttrCallbacks::<T>::setattr),
        listxattr: Some(Handlers::<T>::listxattr),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };
}

impl InodeTables {
    /// A symbolic link to `target`, which the inode keeps (`i_link`).
    pub(crate) fn symlink<T: InodeOps + XattrOps>(target: KVec<u8>) -> Self {
        InodeTables {
            iops: &Tables::<T>::SYMLINK,
            fops: None,
            aops: None,
            large_folios: false,
            dax: false,
            link: Some(target),
            rdev: None,
        }
    }

    /// A device node, FIFO or socket (as its mode says), with device number
    /// `rdev`.
    pub(crate) fn special<T: InodeOps + XattrOps>(rdev: u32) -> Self {
        InodeTables {
            iops: &Tables::<T>::SPECIAL,
            fops: None,
            aops: None,
            large_folios: false,
            dax: false,
            link: None,
            rdev: Some(rdev),
        }
    }
}
