// SPDX-License-Identifier: GPL-2.0

//! The page cache of regular files on iomap: [`WritebackOps`], and the
//! `address_space_operations` and `iomap_writeback_ops` tables (reads,
//! readahead and writeback through iomap, bmap, swap files).
//!
//! Writeback caches the last mapping between folios; the filesystem decides
//! in [`WritebackOps::writeback_map`] whether it is still valid. Writeback
//! of unwritten extents and of copy-on-write blocks completes on a queue of
//! its own ([`IoendQueue`], one per mounted filesystem), where the filesystem
//! converts them
//! ([`WritebackOps::convert_unwritten`]) or puts them in place of the
//! shared blocks ([`WritebackOps::complete_cow`]) before the folios'
//! writeback ends.
//!
//! C headers: [`include/linux/iomap.h`](srctree/include/linux/iomap.h),
//! [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::iomap::{IomapOps, IomapTables, Mapping};
use super::super_block::SuperBlock;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*};

/// Writeback of regular files.
pub(crate) trait WritebackOps: IomapOps {
    /// Maps `pos` for writeback, reusing the mapping cached in `cache` if
    /// it is still valid; leaves a mapping that covers `pos` in `cache`.
    fn writeback_map(inode: &Inode<Self>, cache: &mut WritebackCache, pos: i64) -> Result;

    /// Writeback of unwritten blocks in `offset..offset + size` completed:
    /// they now hold data. Runs on the completion queue, before the folios'
    /// writeback ends.
    fn convert_unwritten(inode: &Inode<Self>, offset: i64, size: u64) -> Result;

    /// Writeback into copy-on-write blocks ([`Mapping::shared`]) of
    /// `offset..offset + size` completed: they replace the shared blocks
    /// in the file. Runs on the completion queue, before the folios'
    /// writeback ends.
    fn complete_cow(inode: &Inode<Self>, offset: i64, size: u64) -> Result;

    /// Whether [`Self::complete_cow`] of `inode` runs after the folios'
    /// writeback ended rather than before: never, but in the negative
    /// control of a race test (fsync then returns before the new blocks are
    /// in place).
    fn complete_cow_after_writeback(inode: &Inode<Self>) -> bool;

    /// The completion queue of the filesystem `sb`, which its data keeps
    /// from mount to unmount ([`IoendQueue::new`]).
    fn ioend_queue(sb: &SuperBlock<Self>) -> &IoendQueue;
}

/// The queue on which writeback of unwritten extents and copy-on-write
/// blocks of one mounted filesystem completes (C glue: a work item on a
/// workqueue of its own, which the conversion may block, never the context
/// that completed the bio). One per filesystem: the conversion of a
/// filesystem on a loop device over a file of another one may wait for
/// that file's writeback, which completes on the other's queue.
///
/// # Invariants
///
/// `0` was made by `rvfs_ioend_queue_create` and is destroyed on drop.
pub(crate) struct IoendQueue(NonNull<vfs_bindings::rvfs_ioend_queue>);

// SAFETY: the queue is used through its own lock and workqueue, from any
// thread.
unsafe impl Send for IoendQueue {}
// SAFETY: as above.
unsafe impl Sync for IoendQueue {}

impl IoendQueue {
    /// Makes the queue of the filesystem being mounted on `sb`. Its owner
    /// must keep it until every inode of `sb` is evicted (the super block's
    /// data, which `kill_sb` drops after that).
    pub(crate) fn new<T: WritebackOps, S>(sb: &SuperBlock<T, S>) -> Result<Self> {
        // SAFETY: `sb` is a live super block; the functions are `'static`.
        let queue = unsafe {
            vfs_bindings::rvfs_ioend_queue_create(
                sb.as_raw(),
                Some(AopsTables::<T>::convert_unwritten),
                Some(AopsTables::<T>::complete_cow),
            )
        };
        // INVARIANT: made by `rvfs_ioend_queue_create`.
        NonNull::new(queue).map(IoendQueue).ok_or(ENOMEM)
    }
}

impl Drop for IoendQueue {
    fn drop(&mut self) {
        // SAFETY: per the type invariant; the owner keeps the queue until no
        // ioend of its filesystem is left, and `destroy_workqueue` waits for
        // the work item.
        unsafe { vfs_bindings::rvfs_ioend_queue_destroy(self.0.as_ptr()) };
    }
}

/// The mapping a writeback pass caches between folios.
#[derive(Default)]
pub(crate) struct WritebackCache {
    /// The current mapping, if any.
    pub(crate) mapping: Option<Mapping>,
}

/// `struct iomap_writepage_ctx` with the cached mapping.
#[repr(C)]
struct WritebackCtx {
    ctx: vfs_bindings::iomap_writepage_ctx,
    cache: WritebackCache,
}

/// The page cache tables of `T` and their callbacks.
pub(super) struct AopsTables<T>(PhantomData<T>);

impl<T: WritebackOps> AopsTables<T> {
    const WRITEBACK_OPS: vfs_bindings::iomap_writeback_ops = vfs_bindings::iomap_writeback_ops {
        writeback_range: Some(Self::writeback_range),
        writeback_submit: Some(Self::writeback_submit),
    };

    /// The `address_space_operations` of regular files.
    pub(super) const AOPS: bindings::address_space_operations =
        bindings::address_space_operations {
            read_folio: Some(Self::read_folio),
            readahead: Some(Self::readahead),
            writepages: Some(Self::writepages),
            dirty_folio: Some(vfs_bindings::iomap_dirty_folio),
            release_folio: Some(vfs_bindings::iomap_release_folio),
            invalidate_folio: Some(vfs_bindings::iomap_invalidate_folio),
            migrate_folio: Some(bindings::filemap_migrate_folio),
            is_partially_uptodate: Some(vfs_bindings::iomap_is_partially_uptodate),
            error_remove_folio: Some(bindings::generic_error_remove_folio),
            bmap: Some(Self::bmap),
            swap_activate: Some(Self::swap_activate),
            // SAFETY: all-zero is valid for the remaining (optional) callbacks.
            ..unsafe { core::mem::zeroed() }
        };

    /// The `address_space_operations` of DAX files: no page cache, only
    /// the CPU caches over the data to write back.
    pub(super) const DAX_AOPS: bindings::address_space_operations =
        bindings::address_space_operations {
            writepages: Some(Self::dax_writepages),
            dirty_folio: Some(bindings::noop_dirty_folio),
            bmap: Some(Self::bmap),
            swap_activate: Some(Self::swap_activate),
            // SAFETY: all-zero is valid for the remaining (optional) callbacks.
            ..unsafe { core::mem::zeroed() }
        };

    /// `address_space_operations::read_folio`.
    ///
    /// # Safety
    ///
    /// Called by the page cache with a locked folio of a regular file of
    /// `T`.
    unsafe extern "C" fn read_folio(
        _file: *mut bindings::file,
        folio: *mut bindings::folio,
    ) -> c_int {
        // SAFETY: guaranteed by the caller; the table is `'static`.
        unsafe { vfs_bindings::rvfs_iomap_bio_read_folio(folio, IomapTables::<T>::ops()) };
        0
    }

    /// `address_space_operations::readahead`.
    ///
    /// # Safety
    ///
    /// Called by the page cache with a valid readahead request on a regular
    /// file of `T`.
    unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
        // SAFETY: guaranteed by the caller; the table is `'static`.
        unsafe { vfs_bindings::rvfs_iomap_bio_readahead(rac.cast(), IomapTables::<T>::ops()) };
    }

    /// `address_space_operations::bmap`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with the mapping of a live regular file of `T`.
    unsafe extern "C" fn bmap(
        mapping: *mut bindings::address_space,
        block: bindings::sector_t,
    ) -> bindings::sector_t {
        // SAFETY: guaranteed by the caller; the table is `'static`.
        unsafe { vfs_bindings::iomap_bmap(mapping, block, IomapTables::<T>::ops()) }
    }

    /// `address_space_operations::swap_activate`: `swapon(2)` of a regular
    /// file. Swap I/O then goes straight to the file's blocks, so every
    /// block must be allocated (iomap refuses holes and inline data). While
    /// the file is a swap file the VFS refuses what would move or free them
    /// (writes, truncation, fallocate: `ETXTBSY`).
    ///
    /// # Safety
    ///
    /// Called by `swapon` with its swap device, an open regular file of `T`
    /// (whose `i_rwsem` it holds) and where to put the span.
    unsafe extern "C" fn swap_activate(
        sis: *mut bindings::swap_info_struct,
        file: *mut bindings::file,
        span: *mut bindings::sector_t,
    ) -> c_int {
        // SAFETY: guaranteed by the caller; the table is `'static`.
        unsafe { vfs_bindings::iomap_swapfile_activate(sis, file, span, IomapTables::<T>::ops()) }
    }

    /// `address_space_operations::writepages`.
    ///
    /// # Safety
    ///
    /// Called by writeback with the mapping of a live regular file of `T`
    /// and a valid `writeback_control`.
    unsafe extern "C" fn writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        let mut wpc = WritebackCtx {
            // SAFETY: all-zero is a valid, empty writepage context.
            ctx: unsafe { core::mem::zeroed() },
            cache: WritebackCache::default(),
        };
        // SAFETY: guaranteed by the caller.
        wpc.ctx.inode = unsafe { (*mapping).host };
        wpc.ctx.wbc = wbc.cast();
        wpc.ctx.ops = &Self::WRITEBACK_OPS;
        // SAFETY: `wpc` is set up as `iomap_writepages` requires and lives
        // until it returns.
        unsafe { vfs_bindings::iomap_writepages(&mut wpc.ctx) }
    }

    /// `address_space_operations::writepages` of DAX files: flushes the CPU
    /// caches over the dirty DAX entries (`dax_writeback_mapping_range`).
    ///
    /// # Safety
    ///
    /// As for [`Self::writepages`], on a DAX file.
    unsafe extern "C" fn dax_writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { Inode::<T>::from_raw((*mapping).host) };
        let Some(dax) = T::dax_device(inode.super_block()) else {
            return EIO.to_errno();
        };
        // SAFETY: guaranteed by the caller; the DAX device is the mount's.
        unsafe {
            vfs_bindings::dax_writeback_mapping_range(mapping.cast(), dax.as_raw(), wbc.cast())
        }
    }

    /// `iomap_writeback_ops::writeback_range`.
    ///
    /// # Safety
    ///
    /// Called by `iomap_writepages` with the context [`Self::writepages`]
    /// made (the `ctx` field of a [`WritebackCtx`]) and a locked folio under
    /// writeback.
    unsafe extern "C" fn writeback_range(
        wpc: *mut vfs_bindings::iomap_writepage_ctx,
        folio: *mut bindings::folio,
        pos: u64,
        len: c_uint,
        end_pos: u64,
    ) -> isize {
        // SAFETY: guaranteed by the caller; the inode is referenced.
        let (ctx, inode) = unsafe {
            let ctx = &mut *wpc.cast::<WritebackCtx>();
            let inode = Inode::<T>::from_raw(ctx.ctx.inode);
            (ctx, inode)
        };
        if let Err(e) = T::writeback_map(inode, &mut ctx.cache, pos as i64) {
            return e.to_errno() as isize;
        }
        let Some(mapping) = ctx.cache.mapping.filter(|m| m.covers(pos as i64)) else {
            return EIO.to_errno() as isize;
        };
        mapping.write_to(&mut ctx.ctx.iomap, inode.super_block().bdev());
        // SAFETY: the folio is locked and under writeback; `wpc.iomap`
        // covers `pos`.
        unsafe { vfs_bindings::iomap_add_to_ioend(wpc, folio, pos as i64, end_pos as i64, len) }
    }

    /// `iomap_writeback_ops::writeback_submit`.
    ///
    /// # Safety
    ///
    /// Called by iomap with the pending ioend, not yet submitted, in
    /// `wb_ctx`, so its completion is ours to set.
    unsafe extern "C" fn writeback_submit(
        wpc: *mut vfs_bindings::iomap_writepage_ctx,
        error: c_int,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        unsafe {
            let ioend = (*wpc).wb_ctx.cast::<vfs_bindings::iomap_ioend>();
            let flags = u32::from((*ioend).io_flags);
            // The queue runs the completion the ioend's flags call for.
            let complete = flags
                & (vfs_bindings::IOMAP_IOEND_SHARED | vfs_bindings::IOMAP_IOEND_UNWRITTEN)
                != 0;
            if error == 0 && complete {
                let inode = Inode::<T>::from_raw((*ioend).io_inode);
                let queue = T::ioend_queue(inode.super_block());
                vfs_bindings::rvfs_ioend_convert_on_completion(ioend, queue.0.as_ptr());
            }
            vfs_bindings::iomap_ioend_writeback_submit(wpc, error)
        }
    }

    /// The completion of a writeback of unwritten extents, on the queue.
    ///
    /// # Safety
    ///
    /// Called by the ioend's completion with its inode, a regular file of
    /// `T`, which the ioend holds until `iomap_finish_ioends` (after this).
    unsafe extern "C" fn convert_unwritten(
        inode: *mut bindings::inode,
        offset: bindings::loff_t,
        size: usize,
        _after_writeback: bool,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { Inode::<T>::from_raw(inode) };
        T::convert_unwritten(inode, offset, size as u64).map_or_else(|e| e.to_errno(), |()| 0)
    }

    /// The completion of a writeback of copy-on-write blocks, on the queue;
    /// asks to run again after the folios' writeback ended if the
    /// filesystem says so.
    ///
    /// # Safety
    ///
    /// As for [`Self::convert_unwritten`]; with `after_writeback`, the
    /// glue holds a reference on the inode instead.
    unsafe extern "C" fn complete_cow(
        inode: *mut bindings::inode,
        offset: bindings::loff_t,
        size: usize,
        after_writeback: bool,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { Inode::<T>::from_raw(inode) };
        if !after_writeback && T::complete_cow_after_writeback(inode) {
            return vfs_bindings::RVFS_CONVERT_AFTER_WRITEBACK as c_int;
        }
        T::complete_cow(inode, offset, size as u64).map_or_else(|e| e.to_errno(), |()| 0)
    }
}
