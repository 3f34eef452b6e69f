// SPDX-License-Identifier: GPL-2.0

//! The operations of a mounted super block: [`SuperOps`] and the
//! `super_operations` table it fills.
//!
//! C header: [`include/linux/fs/super_types.h`](srctree/include/linux/fs/super_types.h).

use super::bindings as vfs_bindings;
use super::inode::{self, Inode};
use super::super_block::{FileSystem, SuperBlock};
use core::marker::PhantomData;
use kernel::bindings;
use kernel::{error::from_result, prelude::*, seq_file::SeqFile, sync::aref::ARef};

/// Filesystem statistics, as returned by `statfs(2)`.
pub(crate) struct StatFs {
    /// Total data blocks.
    pub(crate) blocks: u64,
    /// Free data blocks.
    pub(crate) free_blocks: u64,
    /// Free data blocks that file data may take (`f_bavail`).
    pub(crate) available_blocks: u64,
    /// Total inodes.
    pub(crate) files: u64,
    /// Free inodes.
    pub(crate) free_files: u64,
    /// Longest file name.
    pub(crate) name_len: u64,
}

/// How [`SuperOps::shutdown`] stops a filesystem (`FS_IOC_SHUTDOWN`'s
/// flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shutdown {
    /// Write everything out first, with the device frozen
    /// (`FS_SHUTDOWN_FLAGS_DEFAULT`).
    Sync,
    /// Commit the journal, but write no data (`FS_SHUTDOWN_FLAGS_LOGFLUSH`).
    FlushLog,
    /// Write nothing more (`FS_SHUTDOWN_FLAGS_NOLOGFLUSH`; also when the
    /// device goes away).
    Abort,
}

impl Shutdown {
    /// The mode of `FS_IOC_SHUTDOWN`'s argument.
    pub(super) fn from_flags(flags: u32) -> Option<Self> {
        match flags {
            0 => Some(Shutdown::Sync),
            1 => Some(Shutdown::FlushLog),
            2 => Some(Shutdown::Abort),
            _ => None,
        }
    }
}

/// The operations of a mounted super block (`super_operations`).
pub(crate) trait SuperOps: FileSystem {
    /// Returns the root directory inode of a filesystem being mounted, once
    /// [`FileSystem::fill_super`] has set up its data.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>>;
    /// Called on unmount, after all inodes are written back and evicted.
    fn put_super(sb: &SuperBlock<Self>);
    /// Reports filesystem statistics.
    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs>;
    /// Writes the filesystem's own dirty state (`wait`: synchronously).
    fn sync_fs(sb: &SuperBlock<Self>, wait: bool) -> Result;
    /// Remounting with `options`: called before the read-only flag changes
    /// to `read_only` (if it does).
    fn reconfigure(sb: &SuperBlock<Self>, read_only: bool, options: &Self::Options) -> Result;
    /// Writes the mount's options that differ from the defaults, each as
    /// `,name` or `,name=value` (`/proc/mounts`).
    fn show_options(_sb: &SuperBlock<Self>, _out: &SeqFile) {}
    /// Freezing (`FIFREEZE`, snapshots): the VFS has blocked every change
    /// and written everything back; leaves the device consistent.
    fn freeze(sb: &SuperBlock<Self>) -> Result;
    /// Thawing: changes may start again.
    fn unfreeze(sb: &SuperBlock<Self>) -> Result;
    /// Writes the inode to disk (`sync`: and waits for it).
    fn write_inode(inode: &Inode<Self>, sync: bool) -> Result;
    /// The inode's metadata changed (`mark_inode_dirty`; not for a change
    /// of its times only, with `lazytime`): a journaling filesystem logs it
    /// here, in the caller's transaction if it has one.
    fn dirty_inode(_inode: &Inode<Self>) {}
    /// The last reference to the inode is gone and its page cache is
    /// truncated; frees it on disk if it has no links left.
    fn evict_inode(inode: &Inode<Self>);
    /// Stops the filesystem as `how` says: every operation fails with `EIO`
    /// from now on, and the device is left for the next mount to recover
    /// (`FS_IOC_SHUTDOWN`, or the device going away).
    fn shutdown(_sb: &SuperBlock<Self>, _how: Shutdown) -> Result {
        Err(EOPNOTSUPP)
    }
    /// Discards the free blocks of `range` on a device that can discard
    /// (`FITRIM`); returns the bytes discarded.
    fn trim(_sb: &SuperBlock<Self>, _range: TrimRange) -> Result<u64> {
        Err(EOPNOTSUPP)
    }
}

/// A `FITRIM` request: the free blocks of the filesystem's bytes `start..`
/// (`len` bytes) to discard, in free runs of at least `min_len` bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TrimRange {
    /// The first byte.
    pub(crate) start: u64,
    /// The bytes from `start` (`u64::MAX`: to the end).
    pub(crate) len: u64,
    /// The shortest free run worth a discard, in bytes.
    pub(crate) min_len: u64,
}

/// The `super_operations` of `T`.
pub(super) struct SuperTable<T>(PhantomData<T>);

impl<T: SuperOps> SuperTable<T> {
    pub(super) const OPS: bindings::super_operations = bindings::super_operations {
        alloc_inode: Some(inode::alloc_inode::<T>),
        free_inode: Some(inode::free_inode::<T>),
        write_inode: Some(Self::write_inode),
        dirty_inode: Some(Self::dirty_inode),
        evict_inode: Some(Self::evict_inode),
        put_super: Some(Self::put_super),
        sync_fs: Some(Self::sync_fs),
        freeze_fs: Some(Self::freeze_fs),
        unfreeze_fs: Some(Self::unfreeze_fs),
        statfs: Some(Self::statfs),
        shutdown: Some(Self::shutdown),
        show_options: Some(Self::show_options),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// `super_operations::write_inode`.
    ///
    /// # Safety
    ///
    /// Called by writeback with a referenced inode of `T` and a valid
    /// `writeback_control`.
    unsafe extern "C" fn write_inode(
        inode: *mut bindings::inode,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        let wbc = wbc.cast::<vfs_bindings::writeback_control>();
        // SAFETY: guaranteed by the caller.
        let (inode, sync) = unsafe {
            (
                Inode::<T>::from_raw(inode),
                (*wbc).sync_mode == bindings::writeback_sync_modes_WB_SYNC_ALL,
            )
        };
        from_result(|| T::write_inode(inode, sync).map(|()| 0))
    }

    /// `super_operations::dirty_inode`.
    ///
    /// # Safety
    ///
    /// Called by `__mark_inode_dirty` with a referenced inode of `T`.
    unsafe extern "C" fn dirty_inode(inode: *mut bindings::inode, flags: c_int) {
        if flags as u32 & vfs_bindings::I_DIRTY_INODE == 0 {
            return;
        }
        // SAFETY: guaranteed by the caller.
        if !unsafe { inode::is_initialised::<T>(inode) } {
            return;
        }
        // SAFETY: guaranteed by the caller; the data is initialised.
        T::dirty_inode(unsafe { Inode::<T>::from_raw(inode) });
    }

    /// `super_operations::evict_inode`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with an inode of `T` being evicted: no other user
    /// is left.
    unsafe extern "C" fn evict_inode(inode_ptr: *mut bindings::inode) {
        // SAFETY: guaranteed by the caller: the page cache can be truncated
        // (after DAX pages are no longer pinned) and the inode cleared; the
        // filesystem sees only inodes whose data it initialised, and none
        // that failed to be read (bad inodes).
        unsafe {
            Inode::<T>::from_raw(inode_ptr).dax_break_layout_final();
            bindings::truncate_inode_pages_final(&raw mut (*inode_ptr).i_data);
            if inode::is_initialised::<T>(inode_ptr) && !bindings::is_bad_inode(inode_ptr) {
                T::evict_inode(Inode::<T>::from_raw(inode_ptr));
            }
            bindings::clear_inode(inode_ptr);
        }
    }

    /// `super_operations::put_super`.
    ///
    /// # Safety
    ///
    /// Called at unmount with a super block of `T` whose data is still set
    /// up (it is freed later, in `kill_sb`).
    unsafe extern "C" fn put_super(sb: *mut bindings::super_block) {
        // SAFETY: guaranteed by the caller.
        T::put_super(unsafe { SuperBlock::<T>::from_raw(sb) });
    }

    /// `super_operations::sync_fs`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a mounted super block of `T`.
    unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: c_int) -> c_int {
        // SAFETY: guaranteed by the caller.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::sync_fs(sb, wait != 0).map(|()| 0))
    }

    /// `super_operations::freeze_fs`.
    ///
    /// # Safety
    ///
    /// Called by `freeze_super` with a mounted, writable super block of `T`.
    unsafe extern "C" fn freeze_fs(sb: *mut bindings::super_block) -> c_int {
        // SAFETY: guaranteed by the caller.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::freeze(sb).map(|()| 0))
    }

    /// `super_operations::unfreeze_fs`.
    ///
    /// # Safety
    ///
    /// Called by `thaw_super` with a mounted, frozen super block of `T`.
    unsafe extern "C" fn unfreeze_fs(sb: *mut bindings::super_block) -> c_int {
        // SAFETY: guaranteed by the caller.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::unfreeze(sb).map(|()| 0))
    }

    /// `super_operations::shutdown`: the device went away.
    ///
    /// # Safety
    ///
    /// Called by the VFS (`fs_bdev_mark_dead`) with a mounted super block
    /// of `T`.
    unsafe extern "C" fn shutdown(sb: *mut bindings::super_block) {
        // SAFETY: guaranteed by the caller.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        if let Err(e) = T::shutdown(sb, Shutdown::Abort) {
            pr_err!("{}: shutting down failed: {e:?}\n", sb.id());
        }
    }

    /// `super_operations::show_options`.
    ///
    /// # Safety
    ///
    /// Called by the VFS (`/proc/mounts`) with the seq_file being written,
    /// which no other thread touches, and the root of a mount of `T`.
    unsafe extern "C" fn show_options(
        m: *mut bindings::seq_file,
        root: *mut bindings::dentry,
    ) -> c_int {
        // SAFETY: guaranteed by the caller.
        let (out, sb) = unsafe {
            (
                SeqFile::from_raw(m),
                SuperBlock::<T>::from_raw((*root).d_sb),
            )
        };
        T::show_options(sb, out);
        0
    }

    /// `super_operations::statfs`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a dentry of a mounted super block of `T` and a
    /// zeroed, writable `kstatfs`.
    unsafe extern "C" fn statfs(
        dentry: *mut bindings::dentry,
        buf: *mut bindings::kstatfs,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller.
            let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
            let stat = T::statfs(sb)?;
            let buf = buf.cast::<vfs_bindings::kstatfs>();
            // SAFETY: guaranteed by the caller.
            unsafe {
                (*buf).f_type = T::MAGIC as isize;
                (*buf).f_bsize = T::BLOCK_SIZE as isize;
                (*buf).f_frsize = T::BLOCK_SIZE as isize;
                (*buf).f_blocks = stat.blocks;
                (*buf).f_bfree = stat.free_blocks;
                (*buf).f_bavail = stat.available_blocks;
                (*buf).f_files = stat.files;
                (*buf).f_ffree = stat.free_files;
                (*buf).f_namelen = stat.name_len as isize;
            }
            Ok(0)
        })
    }
}
