// SPDX-License-Identifier: GPL-2.0

//! The page cache of an inode: writing it back, dropping it, and locking
//! its folios.
//!
//! C headers: [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h),
//! [`include/linux/mm.h`](srctree/include/linux/mm.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::lock::{InvalidateGuard, LockMode};
use super::super_block::FileSystem;
use core::ptr::NonNull;
use kernel::{bindings, error::to_result, prelude::*};

impl<T: FileSystem> Inode<T> {
    /// Writes back and waits for the dirty page cache in `start..=end`.
    pub(crate) fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: the mapping of a live inode.
        to_result(unsafe { bindings::filemap_write_and_wait_range(self.mapping(), start, end) })
    }

    /// Writes back, waits for and drops the page cache of `start..=end`.
    pub(crate) fn flush_and_drop_range(&self, start: i64, end: i64) -> Result {
        self.write_and_wait_range(start, end)?;
        // SAFETY: the caller holds `i_rwsem` and `invalidate_lock`, so no
        // new page cache appears in the range.
        unsafe { bindings::truncate_pagecache_range(self.as_raw(), start, end) };
        Ok(())
    }

    /// Whether a folio of `start..=end` is dirty, under writeback or locked
    /// (`filemap_range_has_writeback`).
    pub(crate) fn range_has_writeback(&self, start: i64, end: i64) -> bool {
        // SAFETY: the mapping of a live inode; the helper only looks.
        unsafe { bindings::filemap_range_has_writeback(self.mapping(), start, end) }
    }

    /// Waits until no DAX page of `start..=end` is pinned, and unmaps them,
    /// before their blocks go away (`dax_break_layout`); nothing for a file
    /// without DAX. `invalidate_lock` is held exclusively, and dropped while
    /// waiting.
    pub(crate) fn dax_break_layout(
        &self,
        invalidate: &InvalidateGuard<'_, T>,
        start: i64,
        end: i64,
    ) -> Result {
        debug_assert_eq!(invalidate.mode(), LockMode::Exclusive);
        if !self.is_dax() {
            return Ok(());
        }
        // SAFETY: a live DAX inode whose `invalidate_lock` the caller holds
        // exclusively, as the helper's wait expects.
        to_result(unsafe { vfs_bindings::rvfs_dax_break_layout(self.as_raw(), start, end) })
    }

    /// Waits until no DAX page of the file is pinned, at eviction
    /// (`dax_break_layout_final`).
    pub(crate) fn dax_break_layout_final(&self) {
        if self.is_dax() {
            // SAFETY: a DAX inode being evicted: nothing maps it any more.
            unsafe { vfs_bindings::dax_break_layout_final(self.as_raw()) };
        }
    }

    /// Drops the clean, unmapped page cache of `start..=end` that nobody
    /// uses (`invalidate_mapping_pages`); what it cannot drop stays.
    pub(crate) fn invalidate_pages(&self, start: i64, end: i64) {
        let shift = kernel::page::PAGE_SHIFT;
        // SAFETY: the mapping of a live inode; the helper skips what is in
        // use.
        unsafe {
            vfs_bindings::invalidate_mapping_pages(
                self.mapping(),
                (start >> shift) as usize,
                (end >> shift) as usize,
            )
        };
    }

    /// Sets the size to `size` and drops the page cache past it
    /// (`truncate_setsize`).
    pub(crate) fn truncate_setsize(&self, size: i64) {
        // SAFETY: the caller holds `i_rwsem` (setattr).
        unsafe { bindings::truncate_setsize(self.as_raw(), size) };
    }

    /// Locks the folio at file offset 0, reading it in first if needed.
    pub(crate) fn lock_first_folio(&self) -> Result<LockedFolio> {
        let mapping = self.mapping();
        loop {
            // SAFETY: the mapping of a live inode; the folio is read with
            // the mapping's `read_folio`.
            let folio = unsafe { vfs_bindings::rvfs_read_mapping_folio(mapping, 0) };
            let folio = kernel::error::from_err_ptr(folio)?;
            // SAFETY: `read_mapping_folio` returned a referenced folio.
            let folio = unsafe { NonNull::new_unchecked(folio) };
            // SAFETY: we hold a reference; the helper takes the lock.
            if unsafe { vfs_bindings::rvfs_folio_lock_in(folio.as_ptr(), mapping) } {
                // INVARIANT: referenced and locked.
                return Ok(LockedFolio(folio));
            }
            // Truncated or reclaimed before we locked it: read it again.
            drop(LockedFolio(folio));
        }
    }
}

/// A locked folio of the page cache; unlocked and released on drop.
///
/// # Invariants
///
/// We hold a reference to the folio and its lock.
pub(crate) struct LockedFolio(NonNull<bindings::folio>);

impl LockedFolio {
    /// Marks the folio dirty, for writeback to write.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: a locked folio of a mapping (type invariant).
        unsafe { bindings::folio_mark_dirty(self.0.as_ptr()) };
    }
}

impl Drop for LockedFolio {
    fn drop(&mut self) {
        // SAFETY: we hold the lock and a reference (type invariant).
        unsafe {
            bindings::folio_unlock(self.0.as_ptr());
            vfs_bindings::rvfs_folio_put(self.0.as_ptr());
        }
    }
}
