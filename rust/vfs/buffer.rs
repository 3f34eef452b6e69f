// SPDX-License-Identifier: GPL-2.0

//! Metadata blocks read through the block device's buffer cache.
//!
//! C header: [`include/linux/buffer_head.h`](srctree/include/linux/buffer_head.h).

use super::bindings as rexfs_bindings;
use core::ptr::NonNull;

/// A referenced, up-to-date buffer head; released on drop.
///
/// # Invariants
///
/// We own a reference to the buffer head, its data is up to date and mapped
/// at `b_data` for `b_size` bytes.
pub(crate) struct Buffer(NonNull<rexfs_bindings::buffer_head>);

impl Buffer {
    /// Takes ownership of the reference `bh`; `None` if `bh` is NULL.
    ///
    /// # Safety
    ///
    /// A non-NULL `bh` must satisfy the type invariants.
    pub(super) unsafe fn from_raw(bh: *mut rexfs_bindings::buffer_head) -> Option<Self> {
        NonNull::new(bh).map(Self)
    }

    /// The block's contents.
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: per the type invariants `b_data` maps `b_size` bytes for as
        // long as we hold the reference.
        unsafe {
            let bh = self.0.as_ptr();
            core::slice::from_raw_parts((*bh).b_data.cast::<u8>(), (*bh).b_size)
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: we own a reference (type invariant).
        unsafe { rexfs_bindings::__brelse(self.0.as_ptr()) };
    }
}
