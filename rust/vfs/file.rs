// SPDX-License-Identifier: GPL-2.0

//! Regular files: [`FileOps`] (`read(2)` and `write(2)`, buffered and
//! direct, `fsync(2)`, `fallocate(2)`), the [`Kiocb`] handle whose steps a
//! filesystem composes (locks, checks, iomap), and the `file_operations`
//! and `inode_operations` of regular files.
//!
//! The user buffers are the kernel crate's [`IovIterDest`] (a read's) and
//! [`IovIterSource`] (a write's); its `Kiocb` is the request under ours.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/uio.h`](srctree/include/linux/uio.h).

use super::aops::{AopsTables, WritebackOps};
use super::bindings as vfs_bindings;
use super::fault::{VmOps, VmTables};
use super::inode::{Inode, InodeTables};
use super::inode_ops::{AttrCallbacks, InodeOps};
use super::iomap::{IomapOps, IomapTables};
use super::lock::PagefaultsDisabled;
use super::open_file::OpenFile;
use super::remap::{RemapFlags, RemapRequest};
use super::super_block::{FileSystem, SuperBlock};
use super::super_ops::{Shutdown, SuperOps, TrimRange};
use super::xattr::{Handlers, XattrOps};
use core::{marker::PhantomData, ptr};
use kernel::{
    bindings,
    error::{from_result, to_result},
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

kernel::impl_flags!(
    /// What `fallocate(2)` does (`FALLOC_FL_*`); no flag is preallocation
    /// that may grow the file.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct FallocMode(u32);

    /// One flag of `fallocate(2)`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum FallocFlag {
        /// The file size does not change.
        KeepSize = vfs_bindings::FALLOC_FL_KEEP_SIZE as u32,
        /// Deallocate the range.
        PunchHole = vfs_bindings::FALLOC_FL_PUNCH_HOLE as u32,
        /// Remove the range, shifting what follows down.
        CollapseRange = vfs_bindings::FALLOC_FL_COLLAPSE_RANGE as u32,
        /// Make the range read as zeroes, allocated.
        ZeroRange = vfs_bindings::FALLOC_FL_ZERO_RANGE as u32,
        /// Insert a hole, shifting what follows up.
        InsertRange = vfs_bindings::FALLOC_FL_INSERT_RANGE as u32,
        /// Give the range blocks of its own where they are shared.
        UnshareRange = vfs_bindings::FALLOC_FL_UNSHARE_RANGE as u32,
        /// Zero the range on the device, allocated and written.
        WriteZeroes = vfs_bindings::FALLOC_FL_WRITE_ZEROES as u32,
    }
);

/// The file operations of regular files (and `fsync` of directories).
pub(crate) trait FileOps: IomapOps {
    /// `read(2)` of a regular file; returns the bytes read.
    fn read_iter(iocb: &mut Kiocb<'_, Self>, to: &mut IovIterDest<'_>) -> Result<usize>;
    /// `write(2)` on a regular file; returns the bytes written.
    fn write_iter(iocb: &mut Kiocb<'_, Self>, from: &mut IovIterSource<'_>) -> Result<usize>;
    /// `fsync(2)` for `start..=end` of a regular file or a directory
    /// (`datasync`: `fdatasync(2)`).
    fn fsync(file: &OpenFile<Self>, start: i64, end: i64, datasync: bool) -> Result;
    /// `open(2)` of a regular file, after the VFS's own checks: what the
    /// file needs in memory before it is read, written or mapped.
    fn open(_inode: &Inode<Self>) -> Result {
        Ok(())
    }
    /// `fallocate(2)` on a regular file.
    fn fallocate(_file: &OpenFile<Self>, _mode: FallocMode, _offset: i64, _len: i64) -> Result {
        Err(EOPNOTSUPP)
    }
    /// `remap_file_range`: shares the blocks of a range of one file with
    /// another (or the same) file of the filesystem; returns the bytes
    /// remapped.
    fn remap_file_range(_request: &RemapRequest<'_, Self>) -> Result<i64> {
        Err(EOPNOTSUPP)
    }
}

/// The user buffer of a request: a read's destination or a write's source.
pub(crate) trait UserBuffer {
    /// Whether the buffer is a write's source.
    const IS_SOURCE: bool;

    /// The kernel's iterator.
    fn as_raw(&mut self) -> *mut bindings::iov_iter;

    /// The bytes left to transfer.
    fn len(&self) -> usize;

    /// Faults in the user pages of the next `bytes` bytes (readable ones for
    /// a write, writable ones for a read); returns how many bytes could not
    /// be faulted in. Call it without locks the fault path takes.
    fn fault_in(&mut self, bytes: usize) -> usize {
        let iter = self.as_raw();
        // SAFETY: a valid iterator; faulting in has no other precondition.
        unsafe {
            if Self::IS_SOURCE {
                vfs_bindings::fault_in_iov_iter_readable(iter, bytes)
            } else {
                vfs_bindings::fault_in_iov_iter_writeable(iter, bytes)
            }
        }
    }
}

impl UserBuffer for IovIterSource<'_> {
    const IS_SOURCE: bool = true;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterSource::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterSource::len(self)
    }
}

impl UserBuffer for IovIterDest<'_> {
    const IS_SOURCE: bool = false;

    fn as_raw(&mut self) -> *mut bindings::iov_iter {
        IovIterDest::as_raw(self)
    }

    fn len(&self) -> usize {
        IovIterDest::len(self)
    }
}

/// Converts the result of a C helper that returns a byte count or an errno.
fn to_count(ret: isize) -> Result<usize> {
    to_result(ret.min(0) as i32).map(|()| ret as usize)
}

/// A `read(2)` or `write(2)` request on a regular file of filesystem `T`.
///
/// # Invariants
///
/// The request's file is an open regular file of `T`.
pub(crate) struct Kiocb<'a, T: FileSystem>(kernel::fs::Kiocb<'a, ()>, PhantomData<T>);

impl<'a, T: IomapOps> Kiocb<'a, T> {
    fn raw(&self) -> *mut bindings::kiocb {
        self.0.as_raw()
    }

    fn flags(&self) -> u32 {
        // SAFETY: a valid request.
        unsafe { (*self.raw()).ki_flags as u32 }
    }

    /// The file's inode.
    pub(crate) fn inode(&self) -> &'a Inode<T> {
        // SAFETY: the file is open, so its inode, an initialised inode of
        // `T` (type invariant), is referenced for the request.
        unsafe { Inode::from_raw((*(*self.raw()).ki_filp).f_inode) }
    }

    /// The file position of the request.
    pub(crate) fn pos(&self) -> i64 {
        self.0.ki_pos()
    }

    /// Whether this is direct I/O (`O_DIRECT`).
    pub(crate) fn is_direct(&self) -> bool {
        self.flags() & vfs_bindings::IOCB_DIRECT as u32 != 0
    }

    /// Whether the request writes at the end of the file (`O_APPEND`,
    /// `RWF_APPEND`).
    pub(crate) fn is_append(&self) -> bool {
        self.flags() & vfs_bindings::IOCB_APPEND as u32 != 0
    }

    /// Whether the request completes asynchronously (aio, io_uring): its
    /// submitter may return before the I/O is done (`!is_sync_kiocb`).
    pub(crate) fn is_async(&self) -> bool {
        // SAFETY: a valid request.
        unsafe { (*self.raw()).ki_complete.is_some() }
    }

    /// Whether the write must be durable when it completes (`O_SYNC`,
    /// `O_DSYNC`, `RWF_DSYNC`, or a synchronous inode: `iocb_is_dsync`).
    pub(crate) fn is_dsync(&self) -> bool {
        // SAFETY: a valid request.
        unsafe { vfs_bindings::rvfs_iocb_is_dsync(self.raw().cast()) }
    }

    /// One pass of direct I/O with `iomap_dio_rw` that never faults on the
    /// user buffer: the iterator is `nofault` (and page faults are disabled
    /// for reads, whose hole zeroing copies without the iterator's check).
    /// It stops at the first user page that is not present and returns the
    /// bytes done so far, including `done_before` (`IOMAP_DIO_PARTIAL`), or
    /// `EFAULT` when there are none. A write waits for its I/O even for an
    /// asynchronous request (`IOMAP_DIO_FORCE_WAIT`), so its completion
    /// ([`IomapTables::dio_write_ops`]) runs under the caller's locks. An
    /// asynchronous read returns `EIOCBQUEUED` once its I/O is submitted
    /// (iomap waits itself when the pass stops at a fault after some I/O),
    /// and its completion reports the bytes done, `done_before` included:
    /// truncate, fallocate and remaps wait for it (`inode_dio_wait`).
    pub(crate) fn direct_io_nofault<B: UserBuffer>(
        &mut self,
        iter: &mut B,
        done_before: usize,
    ) -> Result<usize> {
        if B::IS_SOURCE {
            self.dio_pass(
                iter,
                done_before,
                IomapTables::<T>::dio_write_ops(),
                vfs_bindings::IOMAP_DIO_FORCE_WAIT,
            )
        } else {
            self.dio_pass(iter, done_before, ptr::null(), 0)
        }
    }

    /// A pass of [`Kiocb::direct_io_nofault`] for a write that may only
    /// overwrite written blocks inside EOF (`IOMAP_DIO_OVERWRITE_ONLY`):
    /// [`IomapOps::iomap_begin`] refuses anything else with `EAGAIN` before
    /// any I/O, for its first mapping must cover the whole request. Such a
    /// write has no completion work (no `end_io`), so an asynchronous one
    /// returns `EIOCBQUEUED` once its I/O is submitted, as a read does (for
    /// a read, which has no completion work either, this is its usual pass).
    pub(crate) fn direct_overwrite_nofault<B: UserBuffer>(
        &mut self,
        iter: &mut B,
        done_before: usize,
    ) -> Result<usize> {
        self.dio_pass(
            iter,
            done_before,
            ptr::null(),
            vfs_bindings::IOMAP_DIO_OVERWRITE_ONLY,
        )
    }

    /// One `nofault` pass of `iomap_dio_rw` with `dio_ops` and `dio_flags`
    /// (`IOMAP_DIO_PARTIAL` added).
    fn dio_pass<B: UserBuffer>(
        &mut self,
        iter: &mut B,
        done_before: usize,
        dio_ops: *const vfs_bindings::iomap_dio_ops,
        dio_flags: u32,
    ) -> Result<usize> {
        let flags = vfs_bindings::IOMAP_DIO_PARTIAL | dio_flags;
        let raw_iter = iter.as_raw();
        let _faults_off = (!B::IS_SOURCE).then(PagefaultsDisabled::enter);
        // SAFETY: a valid iterator, ours for the call; the caller holds
        // `i_rwsem` as direct I/O on this filesystem requires (shared to
        // read, exclusively to write); the operation tables are `'static`.
        let ret = unsafe {
            (*raw_iter).nofault = true;
            let ret = vfs_bindings::iomap_dio_rw(
                self.raw().cast(),
                raw_iter.cast(),
                IomapTables::<T>::ops(),
                dio_ops,
                flags,
                ptr::null_mut(),
                done_before,
            );
            (*raw_iter).nofault = false;
            ret
        };
        // `iomap_dio_complete` adds `done_before` to a pass that did
        // something only: one stopped at once (its mapping said `ENOTBLK`,
        // the fall back to the page cache) returns 0, not the bytes done.
        match to_count(ret)? {
            0 => Ok(done_before),
            total => Ok(total),
        }
    }

    /// Reads through the page cache (`filemap_read`), also for a direct
    /// I/O request; `already_read` bytes were done before and are added to
    /// the result.
    pub(crate) fn buffered_read(
        &mut self,
        to: &mut IovIterDest<'_>,
        already_read: usize,
    ) -> Result<usize> {
        // SAFETY: a valid request and iterator; `filemap_read` takes the
        // locks it needs.
        to_count(unsafe {
            vfs_bindings::filemap_read(self.raw().cast(), to.as_raw(), already_read as isize)
        })
    }

    /// `generic_write_checks`: limits, `O_APPEND`; returns the bytes to
    /// write (0: nothing to do).
    pub(crate) fn write_checks(&mut self, from: &mut IovIterSource<'_>) -> Result<usize> {
        // SAFETY: the caller holds `i_rwsem` (required by the helper).
        to_count(unsafe { bindings::generic_write_checks(self.raw(), from.as_raw()) })
    }

    /// `file_modified`: removes privileges and updates the times.
    pub(crate) fn file_modified(&mut self) -> Result {
        // SAFETY: the file is open.
        to_result(unsafe { bindings::file_modified((*self.raw()).ki_filp) })
    }

    /// `generic_write_sync`: honours `O_SYNC`/`O_DSYNC` for `count` bytes
    /// just written. Call it without `i_rwsem`.
    pub(crate) fn write_sync(&mut self, count: usize) -> Result<usize> {
        // SAFETY: a valid request.
        to_count(unsafe {
            vfs_bindings::rvfs_generic_write_sync(self.raw().cast(), count as isize)
        })
    }
}

impl<'a, T: IomapOps> Kiocb<'a, T> {
    /// Writes through the page cache with iomap (`iomap_file_buffered_write`),
    /// validating mappings with [`IomapOps::iomap_valid`].
    pub(crate) fn buffered_write(&mut self, from: &mut IovIterSource<'_>) -> Result<usize> {
        // SAFETY: the caller holds `i_rwsem`; the operation tables are
        // `'static`.
        to_count(unsafe {
            vfs_bindings::iomap_file_buffered_write(
                self.raw().cast(),
                from.as_raw().cast(),
                IomapTables::<T>::ops(),
                IomapTables::<T>::write_ops(),
                ptr::null_mut(),
            )
        })
    }

    /// Reads or writes in place on the DAX device (`dax_iomap_rw`); the
    /// caller holds `i_rwsem`, exclusively to write, and moves the size.
    pub(crate) fn dax_rw(&mut self, buffer: &mut impl UserBuffer) -> Result<usize> {
        // SAFETY: a valid request on a DAX file of `T` under `i_rwsem`; the
        // operation table is `'static`.
        to_count(unsafe {
            vfs_bindings::dax_iomap_rw(
                self.raw().cast(),
                buffer.as_raw().cast(),
                IomapTables::<T>::ops(),
            )
        })
    }

    /// Writes the rest of a direct I/O request through the page cache, then
    /// writes those folios back and drops them, so that the write reaches
    /// the disk as direct I/O would. `i_rwsem` is held.
    pub(crate) fn buffered_write_through(&mut self, from: &mut IovIterSource<'_>) -> Result<usize> {
        let start = self.pos();
        let direct = vfs_bindings::IOCB_DIRECT as c_int;
        // SAFETY: the request is ours for the call; the flag is restored
        // below.
        unsafe { (*self.raw()).ki_flags &= !direct };
        let written = self.buffered_write(from);
        // SAFETY: as above.
        unsafe { (*self.raw()).ki_flags |= direct };
        let written = written?;
        if written > 0 {
            let inode = self.inode();
            let end = start + written as i64 - 1;
            inode.write_and_wait_range(start, end)?;
            inode.invalidate_pages(start, end);
        }
        Ok(written)
    }
}

/// The file callbacks of `T` and the tables of regular files.
pub(super) struct FileCallbacks<T>(PhantomData<T>);

impl<T: FileOps> FileCallbacks<T> {
    /// Runs `op` on a request of the VFS.
    ///
    /// # Safety
    ///
    /// `iocb` must be a valid request on an open regular file of `T`.
    unsafe fn request<R>(
        iocb: *mut bindings::kiocb,
        op: impl FnOnce(&mut Kiocb<'_, T>) -> Result<R>,
    ) -> Result<R> {
        // SAFETY: guaranteed by the caller; the file has no private data of
        // ours, which `()` describes.
        let inner = unsafe { kernel::fs::Kiocb::<()>::from_raw(iocb) };
        // INVARIANT: the request is on a regular file of `T`.
        op(&mut Kiocb(inner, PhantomData))
    }

    /// `file_operations::read_iter`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a valid request on an open regular file of
    /// `T` and its destination iterator.
    unsafe extern "C" fn read_iter(
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: guaranteed by the caller.
        let result = unsafe {
            let to = IovIterDest::from_raw(to);
            Self::request(iocb, |iocb| T::read_iter(iocb, to))
        };
        result.map_or_else(|e| e.to_errno() as isize, |n| n as isize)
    }

    /// `file_operations::write_iter`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a valid request on an open regular file of
    /// `T` and its source iterator.
    unsafe extern "C" fn write_iter(
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: guaranteed by the caller.
        let result = unsafe {
            let from = IovIterSource::from_raw(from);
            Self::request(iocb, |iocb| T::write_iter(iocb, from))
        };
        result.map_or_else(|e| e.to_errno() as isize, |n| n as isize)
    }

    /// `file_operations::open`: regular files take direct I/O; then
    /// [`FileOps::open`].
    ///
    /// # Safety
    ///
    /// Called by the VFS with the inode and the file being opened.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: guaranteed by the caller; `f_mode` is ours to extend
        // until `open` returns.
        let ret = unsafe {
            (*file).f_mode |= vfs_bindings::FMODE_CAN_ODIRECT;
            bindings::generic_file_open(inode, file)
        };
        if ret != 0 {
            return ret;
        }
        // SAFETY: the VFS passes the inode of the file being opened, a
        // regular file of `T`, which the file holds for the call.
        let inode = unsafe { Inode::<T>::from_raw(inode) };
        T::open(inode).map_or_else(|e| e.to_errno(), |()| 0)
    }

    /// `file_operations::fsync` of regular files and directories.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an open file of `T`, which it holds for the
    /// call.
    pub(super) unsafe extern "C" fn fsync(
        file: *mut bindings::file,
        start: bindings::loff_t,
        end: bindings::loff_t,
        datasync: c_int,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let file = unsafe { OpenFile::<T>::from_raw(file) };
        from_result(|| T::fsync(file, start, end, datasync != 0).map(|()| 0))
    }

    /// `file_operations::unlocked_ioctl` of regular files and directories:
    /// the filesystem's own commands (the VFS handles the common ones, such
    /// as `FS_IOC_GETFLAGS` and `FS_IOC_FIEMAP`, before it calls this), both
    /// for `CAP_SYS_ADMIN`: `FS_IOC_SHUTDOWN` stops the filesystem
    /// ([`SuperOps::shutdown`]); `FITRIM` discards free blocks
    /// ([`SuperOps::trim`]; `EOPNOTSUPP` on a device that cannot discard)
    /// and returns the bytes discarded in the range's `len`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an open file of `T` and the caller's
    /// argument.
    pub(super) unsafe extern "C" fn ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long
    where
        T: SuperOps,
    {
        if cmd != vfs_bindings::FS_IOC_SHUTDOWN && cmd != vfs_bindings::FITRIM {
            return ENOTTY.to_errno() as c_long;
        }
        let result = (|| {
            // SAFETY: `capable` only looks at the current task's
            // credentials.
            if !unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as c_int) } {
                return Err(EPERM);
            }
            // SAFETY: guaranteed by the caller: the file's super block is
            // a mounted super block of `T`.
            let sb = unsafe { SuperBlock::<T>::from_raw((*(*file).f_inode).i_sb) };
            if cmd == vfs_bindings::FS_IOC_SHUTDOWN {
                let flags = UserSlice::new(UserPtr::from_addr(arg), 4)
                    .reader()
                    .read::<u32>()?;
                let how = Shutdown::from_flags(flags).ok_or(EINVAL)?;
                return T::shutdown(sb, how);
            }
            if !sb.can_discard() {
                return Err(EOPNOTSUPP);
            }
            // struct fstrim_range: start, len, minlen.
            let (mut reader, mut writer) =
                UserSlice::new(UserPtr::from_addr(arg), 24).reader_writer();
            let [start, len, min_len] = reader.read::<[u64; 3]>()?;
            let trimmed = T::trim(
                sb,
                TrimRange {
                    start,
                    len,
                    min_len,
                },
            )?;
            writer.write(&[start, trimmed, min_len])
        })();
        result.map_or_else(|e| e.to_errno() as c_long, |()| 0)
    }

    /// `file_operations::fallocate`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an open regular file of `T`, which it holds
    /// for the call, after checking the mode against `FALLOC_FL_*`.
    unsafe extern "C" fn fallocate(
        file: *mut bindings::file,
        mode: c_int,
        offset: bindings::loff_t,
        len: bindings::loff_t,
    ) -> c_long {
        // SAFETY: guaranteed by the caller.
        let file = unsafe { OpenFile::<T>::from_raw(file) };
        let result = FallocMode::known(mode as u32)
            .ok_or(EOPNOTSUPP)
            .and_then(|mode| T::fallocate(file, mode, offset, len));
        result.map_or_else(|e| e.to_errno() as c_long, |()| 0)
    }

    /// `file_operations::remap_file_range`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with two open files of one super block of `T`,
    /// the first a regular file (it has these operations), which it holds
    /// for the call.
    unsafe extern "C" fn remap_file_range(
        file_in: *mut bindings::file,
        pos_in: bindings::loff_t,
        file_out: *mut bindings::file,
        pos_out: bindings::loff_t,
        len: bindings::loff_t,
        flags: c_uint,
    ) -> bindings::loff_t {
        let Some(flags) = RemapFlags::known(flags) else {
            return EINVAL.to_errno().into();
        };
        // SAFETY: guaranteed by the caller: both files are of `T` (one
        // super block).
        let (src, dst) = unsafe {
            (
                OpenFile::<T>::from_raw(file_in),
                OpenFile::<T>::from_raw(file_out),
            )
        };
        let request = RemapRequest {
            src,
            pos_in,
            dst,
            pos_out,
            len,
            flags,
        };
        T::remap_file_range(&request).unwrap_or_else(|e| e.to_errno().into())
    }
}

impl FallocMode {
    /// The mode of `raw`, or `None` if it has a bit this type does not know.
    fn known(raw: u32) -> Option<Self> {
        (raw & !Self::all_bits() == 0).then_some(Self(raw))
    }
}

/// The tables of regular files of `T`.
struct Tables<T>(PhantomData<T>);

impl<T: FileOps + VmOps + WritebackOps + InodeOps + XattrOps + SuperOps> Tables<T> {
    const FILE_OPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(IomapTables::<T>::llseek),
        read_iter: Some(FileCallbacks::<T>::read_iter),
        write_iter: Some(FileCallbacks::<T>::write_iter),
        mmap_prepare: Some(VmTables::<T>::mmap_prepare),
        open: Some(FileCallbacks::<T>::open),
        fsync: Some(FileCallbacks::<T>::fsync),
        fallocate: Some(FileCallbacks::<T>::fallocate),
        unlocked_ioctl: Some(FileCallbacks::<T>::ioctl),
        remap_file_range: Some(FileCallbacks::<T>::remap_file_range),
        compat_ioctl: bindings::compat_ptr_ioctl,
        splice_read: Some(bindings::filemap_splice_read),
        splice_write: Some(bindings::iter_file_splice_write),
        // Without it, fcntl(F_SETLEASE) fails with EINVAL.
        setlease: Some(vfs_bindings::generic_setlease),
        // PMD-aligned addresses for large mappings, so DAX can map PMDs.
        get_unmapped_area: Some(bindings::thp_get_unmapped_area),
        fop_flags: vfs_bindings::FOP_MMAP_SYNC,
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    const INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(AttrCallbacks::<T>::setattr),
        fiemap: Some(IomapTables::<T>::fiemap),
        listxattr: Some(Handlers::<T>::listxattr),
        fileattr_get: Some(AttrCallbacks::<T>::fileattr_get),
        fileattr_set: Some(AttrCallbacks::<T>::fileattr_set),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };
}

impl InodeTables {
    /// A regular file: its data in the page cache through iomap, in large
    /// folios; or, with `dax`, in place on the mount's DAX device (`S_DAX`).
    pub(crate) fn regular_file<
        T: FileOps + VmOps + WritebackOps + InodeOps + XattrOps + SuperOps,
    >(
        dax: bool,
    ) -> Self {
        InodeTables {
            iops: &Tables::<T>::INODE_OPS,
            fops: Some(&Tables::<T>::FILE_OPS),
            aops: Some(if dax {
                &AopsTables::<T>::DAX_AOPS
            } else {
                &AopsTables::<T>::AOPS
            }),
            large_folios: !dax,
            dax,
            link: None,
            rdev: None,
        }
    }
}
