// SPDX-License-Identifier: GPL-2.0

//! Mapping file ranges to blocks for iomap: [`IomapOps`], [`Mapping`], and
//! the `iomap_ops`, `iomap_write_ops` and `iomap_dio_ops` tables; the iomap
//! helpers built on them (zeroing, FIEMAP, SEEK_HOLE/SEEK_DATA, bmap, swap
//! files).
//!
//! Every mapping a filesystem returns carries a validity cookie (for
//! example the generation of its extent map); [`IomapOps::iomap_valid`]
//! gets it back, with the folio locked, before iomap uses the mapping for
//! a write, and rejects it if the extents changed meanwhile.
//!
//! C header: [`include/linux/iomap.h`](srctree/include/linux/iomap.h).

use super::bindings as vfs_bindings;
use super::dax::DaxDevice;
use super::inode::Inode;
use super::super_block::{FileSystem, SuperBlock};
use core::{cell::UnsafeCell, marker::PhantomData, ptr, ptr::NonNull};
use kernel::{bindings, error::to_result, prelude::*};

kernel::impl_flags!(
    /// What an iomap operation wants of a mapping (`IOMAP_*` flags).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct IomapFlags(u32);

    /// One iomap operation flag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum IomapFlag {
        /// Writing: blocks must be allocated.
        Write = vfs_bindings::IOMAP_WRITE,
        /// Zeroing: holes may be skipped.
        Zero = vfs_bindings::IOMAP_ZERO,
        /// Reporting extents (FIEMAP, SEEK_HOLE/SEEK_DATA).
        Report = vfs_bindings::IOMAP_REPORT,
        /// Mapping for a page fault.
        Fault = vfs_bindings::IOMAP_FAULT,
        /// Direct I/O.
        Direct = vfs_bindings::IOMAP_DIRECT,
        /// Must not block.
        NoWait = vfs_bindings::IOMAP_NOWAIT,
        /// Only pure overwrites are allowed.
        OverwriteOnly = vfs_bindings::IOMAP_OVERWRITE_ONLY,
        /// Unsharing shared blocks (`FALLOC_FL_UNSHARE_RANGE`).
        Unshare = vfs_bindings::IOMAP_UNSHARE,
        /// DAX: the data is accessed in place on the DAX device.
        Dax = vfs_bindings::IOMAP_DAX,
    }
);

impl IomapFlags {
    /// The flags of `raw` that this type knows; iomap may pass others.
    fn from_raw(raw: u32) -> Self {
        Self(raw & Self::all_bits())
    }
}

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
    /// A write goes to blocks of its own instead of blocks the file shares
    /// (`IOMAP_F_SHARED`: copy-on-write); the data it replaces is mapped by
    /// the [`Mapped::srcmap`] that came with it.
    pub(crate) shared: bool,
    /// The extent-map generation the mapping was made under
    /// (`validity_cookie`).
    pub(crate) cookie: u64,
}

impl Mapping {
    /// Whether the mapping covers file offset `pos`.
    pub(crate) fn covers(&self, pos: i64) -> bool {
        pos >= self.offset && ((pos - self.offset) as u64) < self.length
    }

    pub(super) fn write_to(
        &self,
        iomap: &mut vfs_bindings::iomap,
        bdev: *mut bindings::block_device,
    ) {
        let null = vfs_bindings::IOMAP_NULL_ADDR as u64;
        let (type_, addr) = match self.kind {
            MapKind::Hole => (vfs_bindings::IOMAP_HOLE, null),
            MapKind::Mapped => (vfs_bindings::IOMAP_MAPPED, self.addr),
            MapKind::Unwritten => (vfs_bindings::IOMAP_UNWRITTEN, self.addr),
            MapKind::Inline(data) => {
                iomap.inline_data = data.0.as_ptr().cast();
                (vfs_bindings::IOMAP_INLINE, null)
            }
        };
        iomap.addr = addr;
        iomap.offset = self.offset;
        iomap.length = self.length;
        iomap.type_ = type_ as u16;
        iomap.flags = 0;
        if self.new {
            iomap.flags |= vfs_bindings::IOMAP_F_NEW as u16;
        }
        if self.shared {
            iomap.flags |= vfs_bindings::IOMAP_F_SHARED as u16;
        }
        iomap.bdev = bdev;
        iomap.validity_cookie = self.cookie;
    }

    pub(super) fn read_from(iomap: &vfs_bindings::iomap) -> Self {
        let kind = match u32::from(iomap.type_) {
            vfs_bindings::IOMAP_MAPPED => MapKind::Mapped,
            vfs_bindings::IOMAP_UNWRITTEN => MapKind::Unwritten,
            vfs_bindings::IOMAP_INLINE => match NonNull::new(iomap.inline_data.cast()) {
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
            new: iomap.flags & vfs_bindings::IOMAP_F_NEW as u16 != 0,
            shared: iomap.flags & vfs_bindings::IOMAP_F_SHARED as u16 != 0,
            cookie: iomap.validity_cookie,
        }
    }
}

/// What [`IomapOps::iomap_begin`] maps a range to.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mapped {
    /// Where the range is read from, or written to.
    pub(crate) iomap: Mapping,
    /// For a write into shared blocks ([`Mapping::shared`]): the blocks
    /// whose data the write replaces, from which iomap reads what the write
    /// does not cover (`srcmap`).
    pub(crate) srcmap: Option<Mapping>,
}

impl From<Mapping> for Mapped {
    fn from(iomap: Mapping) -> Self {
        Mapped {
            iomap,
            srcmap: None,
        }
    }
}

kernel::impl_flags!(
    /// What a completed direct write covered (`IOMAP_DIO_*` flags of its
    /// `end_io`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct DioWriteFlags(u32);

    /// One kind of blocks a direct write covered.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum DioWriteFlag {
        /// Unwritten extents, to convert.
        Unwritten = vfs_bindings::IOMAP_DIO_UNWRITTEN,
        /// Copy-on-write blocks ([`Mapping::shared`]), to remap.
        Cow = vfs_bindings::IOMAP_DIO_COW,
    }
);

/// Mapping file ranges of regular files to disk blocks, for iomap.
pub(crate) trait IomapOps: FileSystem {
    /// Maps `pos..pos + len` (allocating blocks when `flags` say so).
    fn iomap_begin(inode: &Inode<Self>, pos: i64, len: i64, flags: IomapFlags) -> Result<Mapped>;

    /// Ends the use of `mapping` after `written` bytes of `pos..pos + len`.
    fn iomap_end(
        _inode: &Inode<Self>,
        _pos: i64,
        _len: i64,
        _written: i64,
        _flags: IomapFlags,
        _mapping: &Mapping,
    ) -> Result {
        Ok(())
    }

    /// Whether `mapping` (from `iomap_begin`) still describes the file's
    /// blocks; called with the folio locked, before a buffered write or a
    /// zeroing uses it.
    fn iomap_valid(_inode: &Inode<Self>, _mapping: &Mapping) -> bool {
        true
    }

    /// A direct write of `size` bytes at `offset` completed (in the
    /// writer's task), into the kinds of blocks `covered` says.
    fn dio_write_end(inode: &Inode<Self>, offset: i64, size: u64, covered: DioWriteFlags)
        -> Result;

    /// The DAX device of a mount whose files may use DAX: iomap maps DAX
    /// requests ([`IomapFlag::Dax`]) to its addresses.
    fn dax_device(_sb: &SuperBlock<Self>) -> Option<&DaxDevice> {
        None
    }
}

/// The iomap tables of `T` and their callbacks.
pub(super) struct IomapTables<T>(PhantomData<T>);

impl<T: IomapOps> IomapTables<T> {
    const OPS: vfs_bindings::iomap_ops = vfs_bindings::iomap_ops {
        iomap_begin: Some(Self::iomap_begin),
        iomap_end: Some(Self::iomap_end),
        iomap_next: None,
    };

    const WRITE_OPS: vfs_bindings::iomap_write_ops = vfs_bindings::iomap_write_ops {
        iomap_valid: Some(Self::iomap_valid),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// Direct writes complete through [`IomapOps::dio_write_end`].
    const DIO_WRITE_OPS: vfs_bindings::iomap_dio_ops = vfs_bindings::iomap_dio_ops {
        end_io: Some(Self::dio_write_end_io),
        // SAFETY: all-zero is valid for the remaining (optional) fields.
        ..unsafe { core::mem::zeroed() }
    };

    /// The `iomap_ops`.
    pub(super) fn ops() -> *const vfs_bindings::iomap_ops {
        &Self::OPS
    }

    /// The `iomap_write_ops` of buffered writes and zeroing.
    pub(super) fn write_ops() -> *const vfs_bindings::iomap_write_ops {
        &Self::WRITE_OPS
    }

    /// The `iomap_dio_ops` of direct writes.
    pub(super) fn dio_write_ops() -> *const vfs_bindings::iomap_dio_ops {
        &Self::DIO_WRITE_OPS
    }

    /// `iomap_ops::iomap_begin`.
    ///
    /// # Safety
    ///
    /// Called by iomap on a referenced regular file of `T`, with `iomap`
    /// valid for writes.
    unsafe extern "C" fn iomap_begin(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        flags: c_uint,
        iomap: *mut vfs_bindings::iomap,
        srcmap: *mut vfs_bindings::iomap,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let (inode, iomap) = unsafe { (Inode::<T>::from_raw(inode), &mut *iomap) };
        match T::iomap_begin(inode, pos, length, IomapFlags::from_raw(flags)) {
            Ok(mapped) => {
                let sb = inode.super_block();
                mapped.iomap.write_to(iomap, sb.bdev());
                if let Some(src) = mapped.srcmap {
                    // SAFETY: iomap passes a valid `srcmap` with every
                    // `iomap_begin`.
                    src.write_to(unsafe { &mut *srcmap }, sb.bdev());
                }
                if flags & vfs_bindings::IOMAP_DAX != 0 {
                    let Some(dax) = T::dax_device(sb) else {
                        return EIO.to_errno();
                    };
                    iomap.dax_dev = dax.as_raw();
                    if iomap.addr != vfs_bindings::IOMAP_NULL_ADDR as u64 {
                        iomap.addr = dax.address(iomap.addr);
                    }
                }
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// `iomap_ops::iomap_end`.
    ///
    /// # Safety
    ///
    /// As for [`Self::iomap_begin`]; `iomap` is what `iomap_begin` filled.
    unsafe extern "C" fn iomap_end(
        inode: *mut bindings::inode,
        pos: bindings::loff_t,
        length: bindings::loff_t,
        written: isize,
        flags: c_uint,
        iomap: *mut vfs_bindings::iomap,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let (inode, mapping) =
            unsafe { (Inode::<T>::from_raw(inode), Mapping::read_from(&*iomap)) };
        let flags = IomapFlags::from_raw(flags);
        match T::iomap_end(inode, pos, length, written as i64, flags, &mapping) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// `iomap_write_ops::iomap_valid`.
    ///
    /// # Safety
    ///
    /// Called by iomap with the folio locked, on a referenced inode of `T`,
    /// with the iomap `iomap_begin` filled.
    unsafe extern "C" fn iomap_valid(
        inode: *mut bindings::inode,
        iomap: *const vfs_bindings::iomap,
    ) -> bool {
        // SAFETY: guaranteed by the caller.
        let (inode, mapping) =
            unsafe { (Inode::<T>::from_raw(inode), Mapping::read_from(&*iomap)) };
        T::iomap_valid(inode, &mapping)
    }

    /// `iomap_dio_ops::end_io` of direct writes.
    ///
    /// # Safety
    ///
    /// Called by iomap at the completion of a direct write of a referenced
    /// regular file of `T`, whose `ki_pos` is still where the write started.
    /// Direct writes through [`IomapTables::dio_write_ops`] always wait
    /// (`IOMAP_DIO_FORCE_WAIT`), so this runs in the writer's task.
    unsafe extern "C" fn dio_write_end_io(
        iocb: *mut bindings::kiocb,
        size: isize,
        error: c_int,
        flags: c_uint,
    ) -> c_int {
        if error != 0 || size <= 0 {
            return error;
        }
        // SAFETY: guaranteed by the caller.
        let (inode, offset) = unsafe {
            (
                Inode::<T>::from_raw((*(*iocb).ki_filp).f_inode),
                (*iocb).ki_pos,
            )
        };
        let covered = DioWriteFlags(flags & DioWriteFlags::all_bits());
        match T::dio_write_end(inode, offset, size as u64, covered) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// `inode_operations::fiemap` of regular files.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a referenced regular file of `T` and a valid
    /// request.
    pub(super) unsafe extern "C" fn fiemap(
        inode: *mut bindings::inode,
        info: *mut bindings::fiemap_extent_info,
        start: u64,
        len: u64,
    ) -> c_int {
        // SAFETY: guaranteed by the caller; the table is `'static`.
        unsafe { vfs_bindings::iomap_fiemap(inode, info.cast(), start, len, Self::ops()) }
    }

    /// `lseek(2)`: `SEEK_HOLE` and `SEEK_DATA` from the mappings (and the
    /// page cache over unwritten extents); the rest as any file.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an open regular file of `T`.
    pub(super) unsafe extern "C" fn llseek(
        file: *mut bindings::file,
        offset: bindings::loff_t,
        whence: c_int,
    ) -> bindings::loff_t {
        // SAFETY: guaranteed by the caller; the helpers take the locks they
        // need (the filesystem's, in `iomap_begin`).
        unsafe {
            let inode = (*file).f_inode;
            let found = match whence as u32 {
                vfs_bindings::SEEK_HOLE => {
                    vfs_bindings::iomap_seek_hole(inode, offset, Self::ops())
                }
                vfs_bindings::SEEK_DATA => {
                    vfs_bindings::iomap_seek_data(inode, offset, Self::ops())
                }
                _ => return bindings::generic_file_llseek(file, offset, whence),
            };
            if found < 0 {
                return found;
            }
            bindings::vfs_setpos(file, found, (*(*inode).i_sb).s_maxbytes)
        }
    }
}

impl<T: IomapOps> Inode<T> {
    /// Zeroes the file from `size` to the end of its block: in the page
    /// cache (`iomap_truncate_page`), or in place for a DAX file
    /// (`dax_truncate_page`).
    pub(crate) fn truncate_page(&self, size: i64) -> Result {
        // SAFETY: the caller holds `i_rwsem` and `invalidate_lock`, as both
        // helpers require; the tables are `'static`.
        to_result(unsafe {
            if self.is_dax() {
                vfs_bindings::dax_truncate_page(
                    self.as_raw(),
                    size,
                    ptr::null_mut(),
                    IomapTables::<T>::ops(),
                )
            } else {
                vfs_bindings::iomap_truncate_page(
                    self.as_raw(),
                    size,
                    ptr::null_mut(),
                    IomapTables::<T>::ops(),
                    IomapTables::<T>::write_ops(),
                    ptr::null_mut(),
                )
            }
        })
    }

    /// Gives `pos..pos + len` blocks of its own where it shares them
    /// (`iomap_file_unshare`): reads the folios over shared blocks and
    /// dirties them, so that their writeback copies on write. The caller
    /// holds `i_rwsem` and `invalidate_lock`.
    pub(crate) fn unshare_range(&self, pos: i64, len: i64) -> Result {
        // SAFETY: a live regular file of `T`, locked as the helper needs;
        // the tables are `'static`.
        to_result(unsafe {
            vfs_bindings::iomap_file_unshare(
                self.as_raw(),
                pos,
                len,
                IomapTables::<T>::ops(),
                IomapTables::<T>::write_ops(),
            )
        })
    }

    /// Zeroes `pos..pos + len` where blocks are mapped: in the page cache
    /// (`iomap_zero_range`), or in place for a DAX file (`dax_zero_range`).
    pub(crate) fn zero_range(&self, pos: i64, len: i64) -> Result {
        // SAFETY: as for `truncate_page`.
        to_result(unsafe {
            if self.is_dax() {
                vfs_bindings::dax_zero_range(
                    self.as_raw(),
                    pos,
                    len,
                    ptr::null_mut(),
                    IomapTables::<T>::ops(),
                )
            } else {
                vfs_bindings::iomap_zero_range(
                    self.as_raw(),
                    pos,
                    len,
                    ptr::null_mut(),
                    IomapTables::<T>::ops(),
                    IomapTables::<T>::write_ops(),
                    ptr::null_mut(),
                )
            }
        })
    }
}
