// SPDX-License-Identifier: GPL-2.0

//! Directories: the namespace operations ([`DirOps`]) and `readdir`
//! ([`DirEmitter`]), with the `inode_operations` and `file_operations` of
//! directories.
//!
//! The VFS holds the directories' `i_rwsem` around every namespace
//! operation (shared for lookup and readdir), and the inodes' it changes.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/dcache.h`](srctree/include/linux/dcache.h).

use super::bindings as vfs_bindings;
use super::file::{FileCallbacks, FileOps};
use super::inode::{Idmap, Inode, InodeTables};
use super::inode_ops::{AttrCallbacks, InodeOps};
use super::super_block::FileSystem;
use super::super_ops::SuperOps;
use super::xattr::{Handlers, XattrOps};
use core::{marker::PhantomData, ptr};
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    sync::aref::ARef,
};

/// What kind of inode a namespace operation creates.
#[derive(Clone, Copy)]
pub(crate) enum NewInodeKind<'a> {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to the target.
    Symlink(&'a [u8]),
    /// A device node, FIFO or socket, with its device number.
    Special(u32),
}

impl NewInodeKind<'static> {
    /// The whiteout `RENAME_WHITEOUT` leaves at the old name (a character
    /// device 0:0), with its mode.
    pub(crate) fn whiteout() -> (Self, u16) {
        let mode = bindings::S_IFCHR as u16 | bindings::WHITEOUT_MODE as u16;
        (NewInodeKind::Special(bindings::WHITEOUT_DEV), mode)
    }
}

kernel::impl_flags!(
    /// How `renameat2(2)` renames (`RENAME_*`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct RenameFlags(u32);

    /// One flag of `renameat2(2)`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum RenameFlag {
        /// Fail if the target exists (the VFS checks it).
        NoReplace = bindings::RENAME_NOREPLACE,
        /// Exchange the two names.
        Exchange = bindings::RENAME_EXCHANGE,
        /// Leave a whiteout at the old name.
        Whiteout = bindings::RENAME_WHITEOUT,
    }
);

/// The namespace operations of directories (`inode_operations`) and
/// `readdir` (`file_operations::iterate_shared`).
pub(crate) trait DirOps: InodeOps + XattrOps + FileOps + SuperOps {
    /// Looks `name` up in directory `dir`; `None` if it does not exist.
    fn lookup(dir: &Inode<Self>, name: &[u8]) -> Result<Option<ARef<Inode<Self>>>>;
    /// Emits the entries of directory `dir` from the emitter's position on.
    fn read_dir(dir: &Inode<Self>, emitter: &mut DirEmitter<'_>) -> Result;
    /// Creates an inode of `kind` named `name` in `dir`.
    fn create(
        dir: &Inode<Self>,
        name: &[u8],
        kind: NewInodeKind<'_>,
        mode: u16,
        idmap: Idmap<'_>,
    ) -> Result<ARef<Inode<Self>>>;
    /// `O_TMPFILE`: creates a regular file for `dir` without an entry in it,
    /// with one link, and attaches it to `file` ([`TmpFile::attach`], which
    /// drops the link). [`DirOps::link`] may give it a name later;
    /// otherwise it goes at its last close, as an unlinked open file does.
    /// The VFS does not hold `dir`'s `i_rwsem`.
    fn tmpfile(
        dir: &Inode<Self>,
        mode: u16,
        idmap: Idmap<'_>,
        file: TmpFile<'_, Self>,
    ) -> Result<TmpFileAttached>;
    /// Adds a hard link `name` in `dir` to `inode` (which has no link if it
    /// is an `O_TMPFILE` file).
    fn link(dir: &Inode<Self>, name: &[u8], inode: &Inode<Self>) -> Result;
    /// Removes the entry `name` of `inode` from `dir` (`rmdir` for
    /// directories).
    fn unlink(dir: &Inode<Self>, name: &[u8], inode: &Inode<Self>) -> Result;
    /// Renames `old_dir/old_name` (`old`) to `new_dir/new_name` (`new`, if
    /// it exists) as `flags` say (`NoReplace` is checked by the VFS); a
    /// whiteout that `Whiteout` asks for is owned as `idmap` says.
    #[allow(clippy::too_many_arguments)]
    fn rename(
        old_dir: &Inode<Self>,
        old_name: &[u8],
        old: &Inode<Self>,
        new_dir: &Inode<Self>,
        new_name: &[u8],
        new: Option<&Inode<Self>>,
        flags: RenameFlags,
        idmap: Idmap<'_>,
    ) -> Result;
}

/// The file an `O_TMPFILE` open makes, on a dentry without a name, waiting
/// for its inode ([`DirOps::tmpfile`]).
///
/// # Invariants
///
/// `file` is being opened by `vfs_tmpfile` on a negative dentry, for the
/// lifetime `'a`.
pub(crate) struct TmpFile<'a, T> {
    file: *mut bindings::file,
    _p: PhantomData<(&'a bindings::file, T)>,
}

/// Proof that [`TmpFile::attach`] ran: the file's dentry has its inode.
pub(crate) struct TmpFileAttached(());

impl<T: DirOps> TmpFile<'_, T> {
    /// Attaches `inode`, made with one link, to the file's dentry
    /// (`d_tmpfile`), which drops the link and marks the inode dirty: called
    /// inside the transaction that made the inode, that link is never
    /// written.
    pub(crate) fn attach(self, inode: ARef<Inode<T>>) -> TmpFileAttached {
        // SAFETY: by the type invariant `file` is being opened on a
        // negative dentry; `d_tmpfile` gives our reference to the dentry.
        unsafe { bindings::d_tmpfile(self.file, ARef::into_raw(inode).as_ptr().cast()) };
        TmpFileAttached(())
    }
}

/// The `dir_context` of one `iterate_shared` call: a position in the
/// directory and a sink for entries.
///
/// # Invariants
///
/// `ctx` is valid and exclusively ours for `'a`.
pub(crate) struct DirEmitter<'a> {
    ctx: &'a mut bindings::dir_context,
}

impl DirEmitter<'_> {
    /// The current position (an opaque, stable cookie of the filesystem).
    pub(crate) fn pos(&self) -> i64 {
        self.ctx.pos
    }

    /// Moves the position to `pos`.
    pub(crate) fn set_pos(&mut self, pos: i64) {
        self.ctx.pos = pos;
    }

    /// Emits an entry at the current position. Returns `false` when the
    /// caller's buffer is full: the position must then stay where it is.
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, file_type: u8) -> bool {
        // SAFETY: `ctx` is valid (type invariant); `name` is valid for
        // `name.len()` bytes during the call.
        unsafe {
            vfs_bindings::rvfs_dir_emit(
                self.ctx,
                name.as_ptr().cast(),
                name.len() as i32,
                ino,
                file_type.into(),
            )
        }
    }
}

/// The name of `dentry`.
///
/// # Safety
///
/// The dentry's name must be stable for `'a`, as it is while the VFS holds
/// its parent directory locked.
unsafe fn name<'a>(dentry: *mut bindings::dentry) -> &'a [u8] {
    let mut len = 0u32;
    // SAFETY: the caller guarantees the name is stable; the returned
    // pointer is valid for `len` bytes.
    unsafe {
        let ptr = vfs_bindings::rvfs_dentry_name(dentry, &mut len);
        core::slice::from_raw_parts(ptr, len as usize)
    }
}

/// Gives the reference `inode` to the negative `dentry` (`d_instantiate`).
///
/// # Safety
///
/// `dentry` must be a negative dentry whose inode the VFS expects the
/// operation to set.
unsafe fn instantiate<T: FileSystem>(dentry: *mut bindings::dentry, inode: ARef<Inode<T>>) {
    // SAFETY: guaranteed by the caller; `d_instantiate` takes over the
    // reference.
    unsafe { bindings::d_instantiate(dentry, ARef::into_raw(inode).as_ptr().cast()) };
}

/// The directory tables of `T` and their callbacks.
struct Tables<T>(PhantomData<T>);

impl<T: DirOps> Tables<T> {
    const INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        lookup: Some(Self::lookup),
        create: Some(Self::create),
        link: Some(Self::link),
        unlink: Some(Self::unlink),
        symlink: Some(Self::symlink),
        mkdir: Some(Self::mkdir),
        rmdir: Some(Self::unlink),
        mknod: Some(Self::mknod),
        rename: Some(Self::rename),
        tmpfile: Some(Self::tmpfile),
        setattr: Some(AttrCallbacks::<T>::setattr),
        listxattr: Some(Handlers::<T>::listxattr),
        fileattr_get: Some(AttrCallbacks::<T>::fileattr_get),
        fileattr_set: Some(AttrCallbacks::<T>::fileattr_set),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    const FILE_OPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read: Some(bindings::generic_read_dir),
        iterate_shared: Some(Self::iterate_shared),
        fsync: Some(FileCallbacks::<T>::fsync),
        unlocked_ioctl: Some(FileCallbacks::<T>::ioctl),
        compat_ioctl: bindings::compat_ptr_ioctl,
        setlease: Some(vfs_bindings::generic_setlease),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// `inode_operations::lookup`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a referenced directory of `T`, locked for
    /// lookup (which keeps the dentry's name stable), and the unhashed
    /// dentry being looked up.
    unsafe extern "C" fn lookup(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        _flags: c_uint,
    ) -> *mut bindings::dentry {
        // SAFETY: guaranteed by the caller.
        let (dir, name) = unsafe { (Inode::<T>::from_raw(dir), name(dentry)) };
        let inode = match T::lookup(dir, name) {
            Ok(Some(inode)) => ARef::into_raw(inode).as_ptr().cast(),
            Ok(None) => ptr::null_mut(),
            Err(e) => return e.to_ptr(),
        };
        // SAFETY: `dentry` is the valid, unhashed dentry being looked up;
        // `d_splice_alias` consumes the inode reference (or NULL).
        unsafe { bindings::d_splice_alias(inode, dentry) }
    }

    /// Creates an inode of `kind` for the negative `dentry` in `dir`.
    ///
    /// # Safety
    ///
    /// The pointers are what the VFS passes to a creating inode operation
    /// of a directory of `T`, which it holds locked.
    unsafe fn create_common(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        kind: NewInodeKind<'_>,
    ) -> Result {
        // SAFETY: guaranteed by the caller (the lock keeps the name stable;
        // `idmap` is the mount's idmapping, valid during the call).
        let (dir, name, idmap) = unsafe {
            (
                Inode::<T>::from_raw(dir),
                name(dentry),
                Idmap::from_raw(idmap),
            )
        };
        let inode = T::create(dir, name, kind, mode, idmap)?;
        // SAFETY: `dentry` is negative and hashed.
        unsafe { instantiate(dentry, inode) };
        Ok(())
    }

    /// `inode_operations::create`.
    ///
    /// # Safety
    ///
    /// As for [`Self::create_common`].
    unsafe extern "C" fn create(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> c_int {
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            Self::create_common(idmap, dir, dentry, mode, NewInodeKind::File).map(|()| 0)
        })
    }

    /// `inode_operations::mkdir`.
    ///
    /// # Safety
    ///
    /// As for [`Self::create_common`].
    unsafe extern "C" fn mkdir(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> *mut bindings::dentry {
        // SAFETY: forwarding the VFS's arguments.
        match unsafe { Self::create_common(idmap, dir, dentry, mode, NewInodeKind::Dir) } {
            Ok(()) => ptr::null_mut(),
            Err(e) => e.to_ptr(),
        }
    }

    /// `inode_operations::symlink`.
    ///
    /// # Safety
    ///
    /// As for [`Self::create_common`]; `target` is a NUL-terminated string
    /// valid during the call.
    unsafe extern "C" fn symlink(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        target: *const c_char,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let target = unsafe { CStr::from_char_ptr(target) }.to_bytes();
        let mode = bindings::S_IFLNK as u16 | 0o777;
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            Self::create_common(idmap, dir, dentry, mode, NewInodeKind::Symlink(target)).map(|()| 0)
        })
    }

    /// `inode_operations::mknod`.
    ///
    /// # Safety
    ///
    /// As for [`Self::create_common`].
    unsafe extern "C" fn mknod(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        rdev: bindings::dev_t,
    ) -> c_int {
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            Self::create_common(idmap, dir, dentry, mode, NewInodeKind::Special(rdev)).map(|()| 0)
        })
    }

    /// `inode_operations::tmpfile`.
    ///
    /// # Safety
    ///
    /// Called by `vfs_tmpfile` with a referenced directory of `T`, the
    /// mount's idmapping, valid during the call, and a file being opened on
    /// a new negative dentry that has no name in `dir`.
    unsafe extern "C" fn tmpfile(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        mode: bindings::umode_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let (dir, idmap) = unsafe { (Inode::<T>::from_raw(dir), Idmap::from_raw(idmap)) };
            // INVARIANT: guaranteed by the caller, for this call.
            let tmpfile = TmpFile {
                file,
                _p: PhantomData,
            };
            let TmpFileAttached(()) = T::tmpfile(dir, mode, idmap, tmpfile)?;
            // SAFETY: guaranteed by the caller; the dentry has its inode.
            to_result(unsafe { vfs_bindings::rvfs_finish_open_simple(file) })?;
            Ok(0)
        })
    }

    /// `inode_operations::link`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with `dir` and the source inode (of the positive
    /// `old_dentry`) locked, and the negative `dentry` of the new name.
    unsafe extern "C" fn link(
        old_dentry: *mut bindings::dentry,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let (dir, name, inode) = unsafe {
                (
                    Inode::<T>::from_raw(dir),
                    name(dentry),
                    Inode::<T>::from_dentry(old_dentry).ok_or(ENOENT)?,
                )
            };
            T::link(dir, name, inode)?;
            // SAFETY: `dentry` is negative.
            unsafe { instantiate(dentry, inode.into()) };
            Ok(0)
        })
    }

    /// `inode_operations::unlink` and `rmdir`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with `dir` and the victim of the positive `dentry`
    /// locked.
    unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let (dir, name, inode) = unsafe {
                (
                    Inode::<T>::from_raw(dir),
                    name(dentry),
                    Inode::<T>::from_dentry(dentry).ok_or(ENOENT)?,
                )
            };
            T::unlink(dir, name, inode).map(|()| 0)
        })
    }

    /// `inode_operations::rename`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with both directories and both inodes locked (so
    /// names and inodes are stable) and the mount's idmapping, valid
    /// during the call.
    unsafe extern "C" fn rename(
        idmap: *mut bindings::mnt_idmap,
        old_dir: *mut bindings::inode,
        old_dentry: *mut bindings::dentry,
        new_dir: *mut bindings::inode,
        new_dentry: *mut bindings::dentry,
        flags: c_uint,
    ) -> c_int {
        from_result(|| {
            let flags = RenameFlags::known(flags).ok_or(EINVAL)?;
            // SAFETY: guaranteed by the caller.
            unsafe {
                T::rename(
                    Inode::from_raw(old_dir),
                    name(old_dentry),
                    Inode::from_dentry(old_dentry).ok_or(ENOENT)?,
                    Inode::from_raw(new_dir),
                    name(new_dentry),
                    Inode::from_dentry(new_dentry),
                    flags,
                    Idmap::from_raw(idmap),
                )
            }
            .map(|()| 0)
        })
    }

    /// `file_operations::iterate_shared`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an open directory of `T` (whose inode is
    /// referenced during the call) and a `dir_context` that is ours for the
    /// call.
    unsafe extern "C" fn iterate_shared(
        file: *mut bindings::file,
        ctx: *mut bindings::dir_context,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let dir = unsafe { Inode::<T>::from_raw((*file).f_inode) };
        // INVARIANT: `ctx` is valid and exclusively ours for the call.
        let mut emitter = DirEmitter {
            // SAFETY: guaranteed by the caller.
            ctx: unsafe { &mut *ctx },
        };
        from_result(|| T::read_dir(dir, &mut emitter).map(|()| 0))
    }
}

impl RenameFlags {
    /// The flags of `raw`, or `None` if it has a bit this type does not know.
    fn known(raw: u32) -> Option<Self> {
        (raw & !Self::all_bits() == 0).then_some(Self(raw))
    }
}

impl InodeTables {
    /// A directory.
    pub(crate) fn directory<T: DirOps>() -> Self {
        InodeTables {
            iops: &Tables::<T>::INODE_OPS,
            fops: Some(&Tables::<T>::FILE_OPS),
            aops: None,
            large_folios: false,
            dax: false,
            link: None,
            rdev: None,
        }
    }
}
