// SPDX-License-Identifier: GPL-2.0

//! The iomap data path of regular files: mappings, the iomap, write and
//! writeback operation tables, and the address space and file operation
//! tables built on them.
//!
//! C header: [`include/linux/iomap.h`](srctree/include/linux/iomap.h).

use super::bindings as rexfs_bindings;
use super::file;
use super::fs_type::FileSystem;
use super::inode::Inode;
use core::{cell::UnsafeCell, marker::PhantomData, ptr, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*};

/// What a [`Mapping`] maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapKind {
    /// No blocks: reads return zeroes.
    Hole,
    /// Blocks with data.
    Mapped,
    /// Allocated blocks that read as zeroes until written.
    Unwritten,
    /// Data stored in the inode, at file offset 0.
    Inline(InlinePtr),
}

/// Where a file's inline data lives, for [`MapKind::Inline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InlinePtr(NonNull<u8>);

/// A buffer of inline file data that iomap reads into and writes from the
/// page cache (`iomap->inline_data`).
///
/// iomap copies between it and folio 0 under that folio's lock; the
/// alignment keeps the buffer inside one page, as iomap requires.
#[repr(C, align(256))]
pub(crate) struct InlineData(UnsafeCell<[u8; Self::CAPACITY]>);

// SAFETY: the buffer is written only by iomap with folio 0 locked, and by
// `new` before it is shared; see `snapshot` for its readers.
unsafe impl Sync for InlineData {}
// SAFETY: plain bytes.
unsafe impl Send for InlineData {}

impl InlineData {
    /// Bytes the buffer holds.
    pub(crate) const CAPACITY: usize = 256;

    /// A buffer holding `data` (at most [`Self::CAPACITY`] bytes), zeroes
    /// after it.
    pub(crate) fn new(data: &[u8]) -> Self {
        let mut bytes = [0u8; Self::CAPACITY];
        bytes[..data.len()].copy_from_slice(data);
        Self(UnsafeCell::new(bytes))
    }

    /// The mapping target for iomap.
    pub(crate) fn ptr(&self) -> InlinePtr {
        // SAFETY: `UnsafeCell::get` is never null.
        InlinePtr(unsafe { NonNull::new_unchecked(self.0.get().cast()) })
    }

    /// Copies the first `out.len()` bytes into `out`, to write the inode.
    ///
    /// A buffered write may be copying into the buffer meanwhile (writing
    /// the inode does not take folio 0's lock); such a write marks the inode
    /// dirty after its copy, so a torn snapshot is always written again.
    pub(crate) fn snapshot(&self, out: &mut [u8]) {
        let len = out.len().min(Self::CAPACITY);
        // SAFETY: `len` bytes fit in the buffer and `out` is a distinct
        // slice; a racing iomap copy only writes bytes (see above).
        unsafe { ptr::copy_nonoverlapping(self.0.get().cast::<u8>(), out.as_mut_ptr(), len) };
    }
}

/// A mapping of a file range to disk blocks, the filesystem's view of a
/// `struct iomap`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapping {
    /// File offset of the mapping, in bytes.
    pub(crate) offset: i64,
    /// Length of the mapping, in bytes.
    pub(crate) length: u64,
    /// What the range maps to.
    pub(crate) kind: MapKind,
    /// Disk address of `offset`, in bytes (unused for holes).
    pub(crate) addr: u64,
    /// The blocks were allocated by this mapping call (`IOMAP_F_NEW`).
    pub(crate) new: bool,
    /// The extent-map generation the mapping was made under
    /// (`validity_cookie`).
    pub(crate) cookie: u64,
}

impl Mapping {
    /// Whether the mapping covers file offset `pos`.
    pub(crate) fn covers(&self, pos: i64) -> bool {
        pos >= self.offset && ((pos - self.offset) as u64) < self.length
    }

    fn write_to(&self, iomap: &mut rexfs_bindings::iomap, bdev: *mut bindings::block_device) {
        let null = rexfs_bindings::IOMAP_NULL_ADDR as u64;
        let (type_, addr) = match self.kind {
            MapKind::Hole => (rexfs_bindings::IOMAP_HOLE, null),
            MapKind::Mapped => (rexfs_bindings::IOMAP_MAPPED, self.addr),
            MapKind::Unwritten => (rexfs_bindings::IOMAP_UNWRITTEN, self.addr),
            MapKind::Inline(data) => {
                iomap.inline_data = data.0.as_ptr().cast();
                (rexfs_bindings::IOMAP_INLINE, null)
            }
        };
        iomap.addr = addr;
        iomap.offset = self.offset;
        iomap.length = self.length;
        iomap.type_ = type_ as u16;
        iomap.flags = if self.new { rexfs_bindings::IOMAP_F_NEW as u16 } else { 0 };
        iomap.bdev = bdev;
        iomap.validity_cookie = self.cookie;
    }

    fn read_from(iomap: &rexfs_bindings::iomap) -> Self {
        let kind = match iomap.type_ as u32 {
            rexfs_bindings::IOMAP_MAPPED => MapKind::Mapped,
            rexfs_bindings::IOMAP_UNWRITTEN => MapKind::Unwritten,
            rexfs_bindings::IOMAP_INLINE => match NonNull::new(iomap.inline_data.cast()) {
                Some(data) => MapKind::Inline(InlinePtr(data)),
                None => MapKind::Hole,
            },
            _ => MapKind::Hole,
        };
        Mapping {
            offset: iomap.offset,
            length: iomap.length,
            kind,
            addr: iomap.addr,
            new: iomap.flags & rexfs_bindings::IOMAP_F_NEW as u16 != 0,
            cookie: iomap.validity_cookie,
        }
    }
}

/// The mapping a writeback pass caches between folios; the filesystem
/// decides in [`FileSystem::writeback_map`] whether it can be reused.
#[derive(Default)]
pub(crate) struct WritebackCache {
    /// The current mapping, if any.
    pub(crate) mapping: Option<Mapping>,
}

/// `struct iomap_writepage_ctx` with the cached mapping.
#[repr(C)]
struct WritebackCtx {
    ctx: rexfs_bindings::iomap_writepage_ctx,
    cache: WritebackCache,
}

/// The operation tables of regular files of filesystem `T`.
pub(crate) struct Tables<T>(PhantomData<T>);

impl<T: FileSystem> Tables<T> {
    const IOMAP_OPS: rexfs_bindings::iomap_ops = rexfs_bindings::iomap_ops {
        iomap_begin: Some(Self::iomap_begin),
        iomap_end: Some(Self::iomap_end),
        iomap_next: None,
    };

    pub(super) const WRITE_OPS: rexfs_bindings::iomap_write_ops = rexfs_bindings::iomap_write_ops {
        iomap_valid: Some(Self::iomap_valid),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// Direct writes complete through [`FileSystem::dio_write_end`].
    pub(super) const DIO_WRITE_OPS: rexfs_bindings::iomap_dio_ops = rexfs_bindings::iomap_dio_ops {
        end_io: Some(Self::dio_write_end_io),
        // SAFETY: all-zero is valid for the remaining (optional) fields.
        ..unsafe { core::mem::zeroed() }
    };

    const WRITEBACK_OPS: rexfs_bindings::iomap_writeback_ops = rexfs_bindings::iomap_writeback_ops {
        writeback_range: Some(Self::writeback_range),
        writeback_submit: Some(Self::writeback_submit),
    };

    pub(super) const AOPS: bindings::address_space_operations = bindings::address_space_operations {
        read_folio: Some(Self::read_folio),
        readahead: Some(Self::readahead),
        writepages: Some(Self::writepages),
        dirty_folio: Some(rexfs_bindings::iomap_dirty_folio),
        release_folio: Some(rexfs_bindings::iomap_release_folio),
        invalidate_folio: Some(rexfs_bindings::iomap_invalidate_folio),
        migrate_folio: Some(bindings::filemap_migrate_folio),
        is_partially_uptodate: Some(rexfs_bindings::iomap_is_partially_uptodate),
        error_remove_folio: Some(bindings::generic_error_remove_folio),
        bmap: Some(Self::bmap),
        swap_activate: Some(Self::swap_activate),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const FILE_OPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(Self::llseek),
        read_iter: Some(file::read_iter::<T>),
        write_iter: Some(file::write_iter::<T>),
        mmap_prepare: Some(file::mmap_prepare::<T>),
        open: Some(file::open::<T>),
        fsync: Some(file::fsync::<T>),
        fallocate: Some(file::fallocate::<T>),
        splice_read: Some(bindings::filemap_splice_read),
        splice_write: Some(bindings::iter_file_splice_write),
        // Without it, fcntl(F_SETLEASE) fails with EINVAL.
        setlease: Some(rexfs_bindings::generic_setlease),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// Inode operations of regular files.
    pub(super) const INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(super::fs_type::Registration::<T>::setattr),
        fiemap: Some(Self::fiemap),
        listxattr: Some(super::xattr::Handlers::<T>::listxattr),
        fileattr_get: Some(super::fs_type::Registration::<T>::fileattr_get),
        fileattr_set: Some(super::fs_type::Registration::<T>::fileattr_set),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) fn ops() -> *const rexfs_bindings::iomap_ops {
        &Self::IOMAP_OPS
    }

    unsafe extern "C" fn iomap_begin(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        flags: c_uint,
        iomap: *mut rexfs_bindings::iomap,
        _srcmap: *mut rexfs_bindings::iomap,
    ) -> c_int {
        // SAFETY: iomap calls us on a referenced regular file of this
        // filesystem, with `iomap` valid for writes.
        let (inode, iomap) = unsafe { (Inode::<T>::from_raw(inode), &mut *iomap) };
        match T::iomap_begin(inode, pos, length, flags) {
            Ok(mapping) => {
                mapping.write_to(iomap, inode.super_block().bdev());
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn iomap_end(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        written: isize,
        flags: c_uint,
        iomap: *mut rexfs_bindings::iomap,
    ) -> c_int {
        // SAFETY: as in `iomap_begin`; `iomap` is what `iomap_begin` filled.
        let (inode, mapping) = unsafe { (Inode::<T>::from_raw(inode), Mapping::read_from(&*iomap)) };
        match T::iomap_end(inode, pos, length, written as i64, flags, &mapping) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn iomap_valid(
        inode: *mut bindings::inode,
        iomap: *const rexfs_bindings::iomap,
    ) -> bool {
        // SAFETY: called with the folio locked, on a referenced inode, with
        // the iomap `iomap_begin` filled.
        let (inode, mapping) = unsafe { (Inode::<T>::from_raw(inode), Mapping::read_from(&*iomap)) };
        T::iomap_valid(inode, &mapping)
    }

    unsafe extern "C" fn dio_write_end_io(
        iocb: *mut bindings::kiocb,
        size: isize,
        error: c_int,
        flags: c_uint,
    ) -> c_int {
        if error != 0 || size <= 0 {
            return error;
        }
        // SAFETY: iomap completes a direct write of a referenced regular
        // file of `T`; `ki_pos` is still where the write started. Direct
        // I/O here always waits (`IOMAP_DIO_FORCE_WAIT`), so this runs in
        // the writer's task, which holds `i_rwsem`.
        let (inode, offset) = unsafe { (Inode::<T>::from_raw((*(*iocb).ki_filp).f_inode), (*iocb).ki_pos) };
        let unwritten = flags & rexfs_bindings::IOMAP_DIO_UNWRITTEN != 0;
        match T::dio_write_end(inode, offset, size as u64, unwritten) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    unsafe extern "C" fn fiemap(
        inode: *mut bindings::inode,
        info: *mut bindings::fiemap_extent_info,
        start: u64,
        len: u64,
    ) -> c_int {
        // SAFETY: the VFS passes a referenced regular file of `T` and a
        // valid request; the table is `'static`.
        unsafe { rexfs_bindings::iomap_fiemap(inode, info.cast(), start, len, Self::ops()) }
    }

    unsafe extern "C" fn bmap(mapping: *mut bindings::address_space, block: bindings::sector_t) -> bindings::sector_t {
        // SAFETY: the VFS passes the mapping of a live regular file of `T`.
        unsafe { rexfs_bindings::iomap_bmap(mapping, block, Self::ops()) }
    }

    /// `swapon(2)` of a regular file: swap I/O then goes straight to the
    /// file's blocks, so every block must be allocated (iomap refuses holes
    /// and inline data). While the file is a swap file the VFS refuses what
    /// would move or free them (writes, truncation, fallocate: `ETXTBSY`).
    unsafe extern "C" fn swap_activate(
        sis: *mut bindings::swap_info_struct,
        file: *mut bindings::file,
        span: *mut bindings::sector_t,
    ) -> c_int {
        // SAFETY: `swapon` passes its swap device, an open regular file of
        // `T` (whose `i_rwsem` it holds) and where to put the span; the
        // table is `'static`.
        unsafe { rexfs_bindings::iomap_swapfile_activate(sis, file, span, Self::ops()) }
    }

    /// `lseek(2)`: `SEEK_HOLE` and `SEEK_DATA` from the extent map (and the
    /// page cache over unwritten extents); the rest as any file.
    unsafe extern "C" fn llseek(file: *mut bindings::file, offset: bindings::loff_t, whence: c_int) -> bindings::loff_t {
        // SAFETY: the VFS passes an open regular file of `T`; the helpers
        // take the locks they need (ours: the extent-map lock).
        unsafe {
            let inode = (*file).f_inode;
            let found = match whence as u32 {
                rexfs_bindings::SEEK_HOLE => rexfs_bindings::iomap_seek_hole(inode, offset, Self::ops()),
                rexfs_bindings::SEEK_DATA => rexfs_bindings::iomap_seek_data(inode, offset, Self::ops()),
                _ => return bindings::generic_file_llseek(file, offset, whence),
            };
            if found < 0 {
                return found;
            }
            bindings::vfs_setpos(file, found, (*(*inode).i_sb).s_maxbytes)
        }
    }

    unsafe extern "C" fn read_folio(
        _file: *mut bindings::file,
        folio: *mut bindings::folio,
    ) -> c_int {
        // SAFETY: the VFS passes a locked folio of a regular file.
        unsafe { rexfs_bindings::rexfs_iomap_bio_read_folio(folio, Self::ops()) };
        0
    }

    unsafe extern "C" fn readahead(rac: *mut bindings::readahead_control) {
        // SAFETY: the VFS passes a valid readahead request.
        unsafe { rexfs_bindings::rexfs_iomap_bio_readahead(rac.cast(), Self::ops()) };
    }

    unsafe extern "C" fn writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        let mut wpc = WritebackCtx {
            // SAFETY: all-zero is a valid, empty writepage context.
            ctx: unsafe { core::mem::zeroed() },
            cache: WritebackCache::default(),
        };
        // SAFETY: the VFS passes the mapping of a live regular file.
        wpc.ctx.inode = unsafe { (*mapping).host };
        wpc.ctx.wbc = wbc.cast();
        wpc.ctx.ops = &Self::WRITEBACK_OPS;
        // SAFETY: `wpc` is set up as `iomap_writepages` requires and lives
        // until it returns.
        unsafe { rexfs_bindings::iomap_writepages(&mut wpc.ctx) }
    }

    unsafe extern "C" fn writeback_range(
        wpc: *mut rexfs_bindings::iomap_writepage_ctx,
        folio: *mut bindings::folio,
        pos: u64,
        len: c_uint,
        end_pos: u64,
    ) -> isize {
        // SAFETY: `wpc` is the `ctx` field of the `WritebackCtx` that
        // `writepages` passed to `iomap_writepages`; its inode is referenced.
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
        unsafe { rexfs_bindings::iomap_add_to_ioend(wpc, folio, pos as i64, end_pos as i64, len) }
    }
}

impl<T: FileSystem> Tables<T> {
    unsafe extern "C" fn writeback_submit(
        wpc: *mut rexfs_bindings::iomap_writepage_ctx,
        error: c_int,
    ) -> c_int {
        // SAFETY: iomap calls `writeback_submit` with the pending ioend in
        // `wb_ctx`, not yet submitted, so its completion is ours to set.
        unsafe {
            let ioend = (*wpc).wb_ctx.cast::<rexfs_bindings::iomap_ioend>();
            if error == 0 && u32::from((*ioend).io_flags) & rexfs_bindings::IOMAP_IOEND_UNWRITTEN != 0 {
                rexfs_bindings::rexfs_ioend_convert_on_completion(ioend, Some(Self::convert_unwritten));
            }
            rexfs_bindings::iomap_ioend_writeback_submit(wpc, error)
        }
    }

    unsafe extern "C" fn convert_unwritten(
        inode: *mut bindings::inode,
        offset: bindings::loff_t,
        size: usize,
    ) -> c_int {
        // SAFETY: the ioend holds its inode until `iomap_finish_ioends`,
        // which runs after this.
        let inode = unsafe { Inode::<T>::from_raw(inode) };
        match T::convert_unwritten(inode, offset, size as u64) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// Zeroes the page cache from `size` to the end of its block.
pub(super) fn truncate_page<T: FileSystem>(inode: &Inode<T>, size: i64) -> Result {
    // SAFETY: the caller holds `i_rwsem` and `invalidate_lock`, as
    // `iomap_truncate_page` requires.
    to_result(unsafe {
        rexfs_bindings::iomap_truncate_page(
            inode.as_raw(),
            size,
            core::ptr::null_mut(),
            Tables::<T>::ops(),
            &Tables::<T>::WRITE_OPS,
            core::ptr::null_mut(),
        )
    })
}

/// Zeroes the page cache over `pos..pos + len` where blocks are mapped.
pub(super) fn zero_range<T: FileSystem>(inode: &Inode<T>, pos: i64, len: i64) -> Result {
    // SAFETY: as for `truncate_page`.
    to_result(unsafe {
        rexfs_bindings::iomap_zero_range(
            inode.as_raw(),
            pos,
            len,
            core::ptr::null_mut(),
            Tables::<T>::ops(),
            &Tables::<T>::WRITE_OPS,
            core::ptr::null_mut(),
        )
    })
}
