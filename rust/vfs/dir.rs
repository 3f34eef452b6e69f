// SPDX-License-Identifier: GPL-2.0

//! Directory iteration (`readdir`).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h) (`struct dir_context`).

use super::bindings as rexfs_bindings;
use kernel::bindings;

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
    /// # Safety
    ///
    /// `ctx` must satisfy the type invariants for the returned lifetime.
    pub(super) unsafe fn from_raw<'a>(ctx: *mut bindings::dir_context) -> DirEmitter<'a> {
        // SAFETY: guaranteed by the caller.
        DirEmitter { ctx: unsafe { &mut *ctx } }
    }

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
            rexfs_bindings::rexfs_dir_emit(
                self.ctx,
                name.as_ptr().cast(),
                name.len() as i32,
                ino,
                file_type.into(),
            )
        }
    }
}
