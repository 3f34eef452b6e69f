// SPDX-License-Identifier: GPL-2.0

//! Sharing blocks between regular files (`remap_file_range`: `FICLONE`,
//! `FICLONERANGE`, `FIDEDUPERANGE`, and `copy_file_range` inside one
//! filesystem): the flags of a request, and the locks and checks every
//! remap takes before the filesystem changes any extent.
//!
//! ```text
//! i_rwsem of both files (lock_two_nondirectories: by address)
//!   -> invalidate_lock of both (filemap_invalidate_lock_two: by address)
//!     -> wait for direct I/O, write back and clean both ranges, compare
//!        them for a dedupe (generic_remap_file_range_prep)
//! ```
//!
//! Both files are held exclusively: a dedupe that held the source only
//! shared would let a direct write, or a store through a mapping that was
//! writable before it began, change the source while it compares. The
//! writeback of the prep write-protects every page table entry mapping the
//! ranges, and the exclusive `invalidate_lock` keeps `page_mkwrite` from
//! making one writable again until the remap is done.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h).

use super::inode::Inode;
use super::lock::{InodeLockGuard, InvalidateGuard, LockMode};
use super::open_file::OpenFile;
use super::super_block::FileSystem;
use kernel::{bindings, error::to_result, prelude::*};

kernel::impl_flags!(
    /// How a remap request may be carried out (`REMAP_FILE_*` flags).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct RemapFlags(u32);

    /// One flag of a remap request.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum RemapFlag {
        /// Share the blocks only where both ranges hold the same data
        /// (`FIDEDUPERANGE`); a clone otherwise.
        Dedupe = bindings::REMAP_FILE_DEDUP,
        /// The remap may do less than asked (`copy_file_range`; for a
        /// dedupe, it is advisory).
        CanShorten = bindings::REMAP_FILE_CAN_SHORTEN,
    }
);

impl RemapFlags {
    /// The flags of `raw`, or `None` if it has one this type does not know.
    pub(super) fn known(raw: u32) -> Option<Self> {
        (raw & !Self::all_bits() == 0).then_some(Self(raw))
    }
}

/// A remap request between two regular files of one filesystem.
pub(crate) struct RemapRequest<'a, T: FileSystem> {
    /// The file whose blocks are shared.
    pub(crate) src: &'a OpenFile<T>,
    /// Where in `src`, in bytes.
    pub(crate) pos_in: i64,
    /// The file that gets them.
    pub(crate) dst: &'a OpenFile<T>,
    /// Where in `dst`, in bytes.
    pub(crate) pos_out: i64,
    /// Bytes to remap; 0 asks for everything to the end of `src`.
    pub(crate) len: i64,
    /// How.
    pub(crate) flags: RemapFlags,
}

impl<'a, T: FileSystem> RemapRequest<'a, T> {
    /// Whether source and destination are one file.
    pub(crate) fn same_inode(&self) -> bool {
        core::ptr::eq(self.src.inode(), self.dst.inode())
    }

    /// Takes the locks of a remap on both files, in the order above.
    pub(crate) fn lock(&self) -> RemapGuard<'a, T> {
        let (src, dst): (&'a Inode<T>, &'a Inode<T>) = (self.src.inode(), self.dst.inode());
        let same = self.same_inode();
        // SAFETY: two live inodes; the helpers lock one inode (mapping)
        // once when both are the same.
        unsafe {
            bindings::lock_two_nondirectories(src.as_raw(), dst.as_raw());
            bindings::filemap_invalidate_lock_two(src.mapping(), dst.mapping());
        }
        let exclusive = LockMode::Exclusive;
        // SAFETY: taken exclusively above, once per inode; the guards
        // release them one by one, as the `_two` unlock helpers do. Fields
        // drop in order: the invalidate locks go first.
        unsafe {
            RemapGuard {
                dst_invalidate: InvalidateGuard::assume_held(dst, exclusive),
                src_invalidate: (!same).then(|| InvalidateGuard::assume_held(src, exclusive)),
                _dst_lock: InodeLockGuard::assume_held(dst, exclusive),
                _src_lock: (!same).then(|| InodeLockGuard::assume_held(src, exclusive)),
                same,
                dst,
            }
        }
    }

    /// Takes the destination's locks only: the negative control of the
    /// race tests of the dedupe lock order, where writes to the source go
    /// on between the compare and the remap. Never for a real remap.
    pub(crate) fn lock_destination_only(&self) -> RemapGuard<'a, T> {
        let dst: &'a Inode<T> = self.dst.inode();
        let lock = dst.lock();
        RemapGuard {
            dst_invalidate: dst.invalidate_lock(),
            src_invalidate: None,
            _dst_lock: lock,
            _src_lock: None,
            same: self.same_inode(),
            dst,
        }
    }
}

/// Holds `i_rwsem` and `invalidate_lock` of both files of a remap,
/// exclusively (once if they are one file); releases them on drop.
pub(crate) struct RemapGuard<'a, T: FileSystem> {
    /// The destination's (and, for one file, the source's).
    dst_invalidate: InvalidateGuard<'a, T>,
    /// The source's, when it is another file (none for the negative
    /// control).
    src_invalidate: Option<InvalidateGuard<'a, T>>,
    _dst_lock: InodeLockGuard<'a, T>,
    _src_lock: Option<InodeLockGuard<'a, T>>,
    same: bool,
    dst: &'a Inode<T>,
}

impl<'a, T: FileSystem> RemapGuard<'a, T> {
    /// The VFS checks and preparation of `request`
    /// (`generic_remap_file_range_prep`): file types, immutable and swap
    /// files, offsets and block alignment, waits for direct I/O, writes
    /// back and cleans both ranges and, for a dedupe, compares them.
    /// Returns the bytes to remap (0: nothing to do); `EBADE` for a dedupe
    /// of ranges that differ.
    pub(crate) fn prepare(&self, request: &RemapRequest<'_, T>) -> Result<i64> {
        let mut len = request.len;
        // SAFETY: both files are open and their inodes locked as the helper
        // requires (the guard holds the locks; the negative control leaves
        // the source unlocked, which the helper does not check).
        to_result(unsafe {
            bindings::generic_remap_file_range_prep(
                request.src.as_ptr(),
                request.pos_in,
                request.dst.as_ptr(),
                request.pos_out,
                &mut len,
                request.flags.0,
            )
        })?;
        Ok(len)
    }

    /// The source's `invalidate_lock`, held exclusively (`None` only in the
    /// negative control of [`RemapRequest::lock_destination_only`]).
    pub(crate) fn src_invalidate(&self) -> Option<&InvalidateGuard<'a, T>> {
        match self.same {
            true => Some(&self.dst_invalidate),
            false => self.src_invalidate.as_ref(),
        }
    }

    /// The destination's `invalidate_lock`, held exclusively.
    pub(crate) fn dst_invalidate(&self) -> &InvalidateGuard<'a, T> {
        &self.dst_invalidate
    }

    /// Writes back and drops the destination's page cache over
    /// `start..=end`, whose blocks the remap replaces.
    pub(crate) fn drop_dst_pages(&self, start: i64, end: i64) -> Result {
        // Both locks of the destination are held.
        self.dst.flush_and_drop_range(start, end)
    }
}
