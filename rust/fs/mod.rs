// SPDX-License-Identifier: GPL-2.0

//! The rexfs filesystem, in safe Rust over [`crate::vfs`].
//!
//! # Lock order
//!
//! This is the one place the order is written down; keep it true.
//!
//! ```text
//! i_rwsem (VFS inode lock: write, truncate, namespace operations)
//!   -> mapping->invalidate_lock (truncate: exclusive; write faults: shared)
//!     -> folio lock (iomap write, page_mkwrite, writeback)
//!       -> InodeInfo::map (the extent map and its generation)
//!         -> SbInfo::alloc (bitmap, inode-table slots, free counts)
//!           -> buffer lock (Buffer::modify of one metadata block)
//!
//! i_rwsem (setxattr, removexattr; getxattr and listxattr start below it)
//!   -> InodeInfo::xattrs (the extended attribute block)
//!     -> SbInfo::alloc -> buffer lock
//!
//! mmap_lock -> sb_start_pagefault -> invalidate_lock (shared) -> folio lock -> ...
//!
//! sb_start_intwrite (evict of an unlinked inode) -> InodeInfo::map -> ...
//! ```
//!
//! - Freeze protection ranks above everything of the filesystem's:
//!   `sb_start_write` (taken by the VFS, or by a write fault that retries
//!   with `i_rwsem`) before `i_rwsem`, `sb_start_pagefault` before
//!   `invalidate_lock`, `sb_start_intwrite` before the extent-map lock.
//!
//! - Never take `i_rwsem` inside a fault, never hold `invalidate_lock`
//!   across a copy from or to user memory.
//! - Inline data moves into a block (the first write past the inline size,
//!   direct I/O, fallocate, truncate up, a write fault) under
//!   `invalidate_lock` exclusively and folio 0's lock, and under `i_rwsem`
//!   except in a fault that may not drop its lock. A write fault that may
//!   drops the fault lock first (with the file pinned) and then takes
//!   `sb_start_write -> i_rwsem -> invalidate_lock`, as write(2) does, and
//!   asks for a retry. A buffered write that mapped the inline data before
//!   a conversion sees the generation moved and maps again.
//! - `iomap_begin` runs under the folio lock (write, page_mkwrite,
//!   writeback) and under `invalidate_lock` shared (readahead), so it takes
//!   only the extent-map lock and what ranks below it.
//! - Direct I/O holds `i_rwsem` (shared to read, exclusively to write) and
//!   nothing below it while `iomap_dio_rw` pins the user buffer, which may
//!   be a mapping of the same file: the fault it takes there needs
//!   `invalidate_lock` and the folio lock. A direct read releases `i_rwsem`
//!   to fault its buffer in (write faults, which may convert an inline file
//!   under its `i_rwsem`) and for its buffered fallback.
//! - Directory blocks change only under the directory's `i_rwsem`, which the
//!   VFS holds for every namespace operation.
//! - The extended attribute lock (`InodeInfo::xattrs`) ranks beside the
//!   extent-map lock, not above or below it: the two are never held
//!   together. It is never taken under `invalidate_lock` or a folio lock;
//!   what runs there and needs the attribute block's number (the block
//!   count for `i_blocks`, `write_inode`) reads it without the lock, and a
//!   change marks the inode dirty after it. Setting an attribute allocates
//!   and frees the block under it, so it ranks above the allocator. Like
//!   the extent-map and allocator locks, it is held in a `memalloc_nofs`
//!   scope.
//! - The extent-map generation is bumped under the extent-map lock before
//!   every change of the map, and sampled under it into each mapping's
//!   cookie; `iomap_valid` and writeback compare it without the lock.

mod alloc;
mod data;
mod dir;
mod extent_map;
mod inode;
mod super_block;
mod xattr;

use crate::format;
use crate::vfs::{
    self, DirEmitter, Fault, FileSystem, Fresh, Idmap, Kiocb, Mapping, NewInodeKind,
    StatFs, SuperBlock, OpenFile, VmFaultResult, WritebackCache, IoIter, XattrList, XattrNamespace,
    XattrSetFlags,
};
use kernel::{prelude::*, sync::aref::ARef};

pub(crate) use inode::InodeInfo;
pub(crate) use super_block::SbInfo;

/// The rexfs filesystem type.
pub(crate) struct Rexfs;

type RexInode = vfs::Inode<Rexfs>;
type RexSb = SuperBlock<Rexfs>;

impl FileSystem for Rexfs {
    const NAME: &'static CStr = c"rexfs";
    const MAGIC: u64 = format::SUPER_MAGIC as u64;
    const BLOCK_SIZE: u32 = format::BLOCK_SIZE as u32;
    const MAX_BYTES: i64 = (format::MAX_FILE_BLOCKS << format::BLOCK_SHIFT) as i64;

    type Data = SbInfo;
    type InodeData = InodeInfo;

    fn fill_super(sb: &SuperBlock<Self, Fresh>) -> Result<impl PinInit<SbInfo, Error>> {
        SbInfo::read(sb)
    }

    fn root(sb: &RexSb) -> Result<ARef<RexInode>> {
        let root = inode::iget(sb, sb.data().root_ino())?;
        if !root.data().is_dir() {
            return Err(corrupted(sb, format_args!("root inode is not a directory")));
        }
        sb.data().mounted(sb)?;
        Ok(root)
    }

    fn put_super(sb: &RexSb) {
        sb.data().unmount(sb);
    }

    fn statfs(sb: &RexSb) -> Result<StatFs> {
        Ok(sb.data().statfs())
    }

    fn sync_fs(sb: &RexSb, wait: bool) -> Result {
        // sync(2) syncs frozen filesystems too; `freeze` wrote everything,
        // and the device must not change until the thaw.
        if sb.is_frozen() {
            return Ok(());
        }
        if wait {
            // sync(2) and unmount write an inode before they wait for its
            // data (fs/fs-writeback.c leaves the rest to `->sync_fs`):
            // unwritten extents converted at the data's I/O completion
            // dirtied it again, and unmount would drop it (generic/393).
            sb.sync_inodes();
        }
        sb.data().write_super(sb, wait)
    }

    fn remount(sb: &RexSb, read_only: bool) -> Result {
        sb.data().remount(sb, read_only)
    }

    fn freeze(sb: &RexSb) -> Result {
        sb.data().set_clean(sb, true)
    }

    fn unfreeze(sb: &RexSb) -> Result {
        sb.data().set_clean(sb, false)
    }

    fn write_inode(inode: &RexInode, sync: bool) -> Result {
        inode::write_inode(inode, sync)
    }

    fn evict_inode(inode: &RexInode) {
        inode::evict(inode)
    }

    fn lookup(dir: &RexInode, name: &[u8]) -> Result<Option<ARef<RexInode>>> {
        dir::lookup(dir, name)
    }

    fn read_dir(dir: &RexInode, emitter: &mut DirEmitter<'_>) -> Result {
        dir::read_dir(dir, emitter)
    }

    fn create(
        dir: &RexInode,
        name: &[u8],
        kind: NewInodeKind<'_>,
        mode: u16,
        idmap: Idmap<'_>,
    ) -> Result<ARef<RexInode>> {
        dir::create(dir, name, kind, mode, idmap)
    }

    fn tmpfile(dir: &RexInode, mode: u16, idmap: Idmap<'_>) -> Result<ARef<RexInode>> {
        inode::create(dir, NewInodeKind::File, mode, idmap)
    }

    fn link(dir: &RexInode, name: &[u8], inode: &RexInode) -> Result {
        dir::link(dir, name, inode)
    }

    fn unlink(dir: &RexInode, name: &[u8], inode: &RexInode) -> Result {
        dir::unlink(dir, name, inode)
    }

    fn rename(
        old_dir: &RexInode,
        old_name: &[u8],
        old: &RexInode,
        new_dir: &RexInode,
        new_name: &[u8],
        new: Option<&RexInode>,
        flags: u32,
        idmap: Idmap<'_>,
    ) -> Result {
        dir::rename(old_dir, old_name, old, new_dir, new_name, new, flags, idmap)
    }

    fn get_flags(inode: &RexInode) -> u32 {
        inode::flags(inode)
    }

    fn set_flags(inode: &RexInode, flags: u32) -> Result {
        inode::set_flags(inode, flags)
    }

    fn truncate(inode: &RexInode, size: i64) -> Result {
        data::truncate(inode, size)
    }

    fn read_iter(iocb: &mut Kiocb<'_, Self>, to: &mut IoIter<'_>) -> Result<isize> {
        data::read_iter(iocb, to)
    }

    fn write_iter(iocb: &mut Kiocb<'_, Self>, from: &mut IoIter<'_>) -> Result<isize> {
        data::write_iter(iocb, from)
    }

    fn dio_write_end(inode: &RexInode, offset: i64, size: u64, unwritten: bool) -> Result {
        data::dio_write_end(inode, offset, size, unwritten)
    }

    fn fault(fault: Fault<'_, Self>) -> VmFaultResult {
        data::fault(fault)
    }

    fn page_mkwrite(fault: &Fault<'_, Self>) -> VmFaultResult {
        data::page_mkwrite(fault)
    }

    fn fallocate(file: &OpenFile<Self>, mode: i32, offset: i64, len: i64) -> Result {
        data::fallocate(file, mode, offset, len)
    }

    fn convert_unwritten(inode: &RexInode, offset: i64, size: u64) -> Result {
        data::convert_unwritten(inode, offset, size)
    }

    fn fsync(file: &OpenFile<Self>, start: i64, end: i64, _datasync: bool) -> Result {
        data::fsync(file, start, end)
    }

    fn iomap_begin(inode: &RexInode, pos: i64, len: i64, flags: u32) -> Result<Mapping> {
        data::iomap_begin(inode, pos, len, flags)
    }

    fn iomap_end(
        inode: &RexInode,
        pos: i64,
        len: i64,
        written: i64,
        flags: u32,
        mapping: &Mapping,
    ) -> Result {
        data::iomap_end(inode, pos, len, written, flags, mapping)
    }

    fn iomap_valid(inode: &RexInode, mapping: &Mapping) -> bool {
        data::iomap_valid(inode, mapping)
    }

    fn writeback_map(inode: &RexInode, cache: &mut WritebackCache, pos: i64) -> Result {
        data::writeback_map(inode, cache, pos)
    }

    fn get_xattr<R>(
        inode: &RexInode,
        namespace: XattrNamespace,
        name: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        xattr::get(inode, namespace, name, read)
    }

    fn set_xattr(
        inode: &RexInode,
        namespace: XattrNamespace,
        name: &[u8],
        value: Option<&[u8]>,
        flags: XattrSetFlags,
    ) -> Result {
        xattr::set(inode, namespace, name, value, flags)
    }

    fn list_xattrs(inode: &RexInode, list: &mut XattrList<'_>) -> Result {
        xattr::list(inode, list)
    }

    fn inode_for_handle(sb: &RexSb, ino: u64, generation: u32) -> Result<ARef<RexInode>> {
        inode::iget_for_handle(sb, ino, generation)
    }

    fn parent_dir(dir: &RexInode) -> Result<ARef<RexInode>> {
        inode::iget(dir.super_block(), dir.data().parent())
    }
}

/// Logs why the filesystem on `sb` is corrupted and returns `-EFSCORRUPTED`.
fn corrupted<S>(sb: &SuperBlock<Rexfs, S>, why: core::fmt::Arguments<'_>) -> Error {
    pr_err!("{}: corrupted: {}\n", sb.id(), why);
    EUCLEAN
}
