// SPDX-License-Identifier: GPL-2.0

//! Metadata blocks read and written through the block device's buffer cache.
//!
//! C header: [`include/linux/buffer_head.h`](srctree/include/linux/buffer_head.h).

use super::bindings as vfs_bindings;
use core::ptr::NonNull;
use kernel::{error::to_result, prelude::*};

/// A referenced, up-to-date buffer head; released on drop.
///
/// # Invariants
///
/// We own a reference to the buffer head, its data is up to date and mapped
/// at `b_data` for `b_size` bytes.
pub(crate) struct Buffer(NonNull<vfs_bindings::buffer_head>);

impl Buffer {
    /// Takes ownership of the reference `bh`; `None` if `bh` is NULL.
    ///
    /// # Safety
    ///
    /// A non-NULL `bh` must satisfy the type invariants.
    pub(super) unsafe fn from_raw(bh: *mut vfs_bindings::buffer_head) -> Option<Self> {
        NonNull::new(bh).map(Self)
    }

    fn raw_data(&self) -> (*mut u8, usize) {
        let bh = self.0.as_ptr();
        // SAFETY: reading the fields of a referenced buffer head.
        unsafe { ((*bh).b_data.cast::<u8>(), (*bh).b_size) }
    }

    /// The block's contents.
    ///
    /// Metadata writers change a block only with the buffer locked (see
    /// [`Buffer::modify`]); a reader that needs a stable view of a block
    /// that may change concurrently must hold the filesystem lock that
    /// serialises its writers.
    pub(crate) fn data(&self) -> &[u8] {
        let (ptr, len) = self.raw_data();
        // SAFETY: per the type invariants `b_data` maps `b_size` bytes for as
        // long as we hold the reference.
        unsafe { core::slice::from_raw_parts(ptr, len) }
    }

    pub(super) fn as_raw(&self) -> *mut vfs_bindings::buffer_head {
        self.0.as_ptr()
    }

    /// Runs `f` on the block under the buffer lock, so that it sees no
    /// half-made change of another writer (and makes none visible).
    pub(crate) fn with_lock<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let bh = self.as_raw();
        let (ptr, len) = self.raw_data();
        // SAFETY: the buffer lock excludes other writers of the block and
        // the I/O that writes it out; the data is mapped for `len` bytes.
        unsafe {
            vfs_bindings::rvfs_buffer_lock(bh);
            let ret = f(core::slice::from_raw_parts_mut(ptr, len));
            vfs_bindings::rvfs_buffer_unlock(bh);
            ret
        }
    }

    /// Changes the block under the buffer lock and marks it dirty, for
    /// writeback to write in place: metadata of a filesystem without a
    /// journal (with one, changes go through a journal `Handle`).
    pub(crate) fn modify<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let ret = self.with_lock(f);
        // SAFETY: a referenced, up-to-date buffer head.
        unsafe { vfs_bindings::mark_buffer_dirty(self.as_raw()) };
        ret
    }

    /// Whether [`Buffer::set_verified`] was called since the block was
    /// last read from disk (jbd2's `BH_Verified`, as ext4 uses it).
    pub(crate) fn is_verified(&self) -> bool {
        // SAFETY: a referenced buffer head.
        unsafe { vfs_bindings::rvfs_buffer_verified(self.as_raw()) }
    }

    /// Records that the block's contents passed the filesystem's checks,
    /// so that later readers of the cached buffer may skip them. A buffer
    /// read from disk again is a new buffer head, without the flag; blocks
    /// the filesystem writes itself stay valid.
    pub(crate) fn set_verified(&self) {
        // SAFETY: a referenced buffer head; the flag is an atomic bit.
        unsafe { vfs_bindings::rvfs_set_buffer_verified(self.as_raw()) }
    }

    /// Writes the block if it is dirty and waits for it.
    pub(crate) fn sync(&self) -> Result {
        // SAFETY: a referenced buffer head.
        to_result(unsafe { vfs_bindings::sync_dirty_buffer(self.as_raw()) })
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: we own a reference (type invariant).
        unsafe { vfs_bindings::__brelse(self.0.as_ptr()) };
    }
}
