// SPDX-License-Identifier: GPL-2.0

//! Open files of a filesystem: [`OpenFile`], the kernel crate's
//! [`File`] known to be a file of filesystem `T`, which gives its inode
//! typed.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::super_block::FileSystem;
use core::{marker::PhantomData, ops::Deref, ptr::NonNull};
use kernel::{bindings, error::to_result, fs::File, prelude::*, sync::aref::AlwaysRefCounted};

/// An open file of filesystem `T`.
///
/// # Invariants
///
/// The file's inode is an initialised inode of `T`.
#[repr(transparent)]
pub(crate) struct OpenFile<T: FileSystem>(File, PhantomData<T>);

// SAFETY: `OpenFile` is a `File`, reference counted the same way.
unsafe impl<T: FileSystem> AlwaysRefCounted for OpenFile<T> {
    fn inc_ref(&self) {
        self.0.inc_ref();
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference; `OpenFile` is a transparent
        // wrapper of `File`.
        unsafe { File::dec_ref(obj.cast()) };
    }
}

impl<T: FileSystem> Deref for OpenFile<T> {
    type Target = File;

    fn deref(&self) -> &File {
        &self.0
    }
}

impl<T: FileSystem> OpenFile<T> {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a file of `T` with a positive reference count for
    /// `'a`, with no `fdget_pos` call active that did not take
    /// `f_pos_lock` (as for [`File::from_raw_file`]).
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a Self {
        // SAFETY: `OpenFile` is a transparent wrapper of `File`; guaranteed
        // by the caller.
        unsafe { &*ptr.cast() }
    }

    /// The file's inode.
    pub(crate) fn inode(&self) -> &Inode<T> {
        // SAFETY: an open file holds its inode, an inode of `T` (type
        // invariant).
        unsafe { Inode::from_raw((*self.as_ptr()).f_inode) }
    }

    /// Writes back and waits for the dirty page cache in `start..=end`, and
    /// reports a writeback error not yet seen through this file
    /// (`file_write_and_wait_range`): every file open on the inode sees an
    /// error once, not only the first to sync.
    pub(crate) fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: an open file.
        to_result(unsafe { bindings::file_write_and_wait_range(self.as_ptr(), start, end) })
    }

    /// Whether changes through the file must be durable when they return:
    /// opened `O_SYNC` or `O_DSYNC`, or a synchronous inode (`chattr +S`,
    /// `mount -o sync`).
    pub(crate) fn sync_writes(&self) -> bool {
        // SAFETY: an open file.
        unsafe { vfs_bindings::rvfs_file_sync_writes(self.as_ptr()) }
    }

    /// Clears the setuid and setgid bits and security capabilities that a
    /// change of the file by an unprivileged user drops (`file_remove_privs`).
    /// The caller holds the inode's `i_rwsem` (through `notify_change`,
    /// this calls the filesystem's `setattr`).
    pub(crate) fn remove_privs(&self) -> Result {
        // SAFETY: an open file.
        to_result(unsafe { bindings::file_remove_privs(self.as_ptr()) })
    }
}
