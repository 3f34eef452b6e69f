// SPDX-License-Identifier: GPL-2.0

//! The base trait of a block-device filesystem, and super blocks.
//!
//! [`FileSystem`] names the filesystem's private data types and reads its
//! on-disk super block at mount; everything else a filesystem does comes
//! through the operations traits of the other files of [`crate::vfs`], one
//! per C table.
//!
//! C header: [`include/linux/fs/super_types.h`](srctree/include/linux/fs/super_types.h).

use super::bindings as vfs_bindings;
use super::buffer::Buffer;
use super::mount_options::MountOptions;
use core::marker::PhantomData;
use kernel::bindings;
use kernel::{error::to_result, prelude::*, types::Opaque};

/// A block-device filesystem type: its constants, its private data types and
/// how a mount starts.
///
/// Only one filesystem type per module may be registered (see
/// `Registration::new`).
pub(crate) trait FileSystem: Sized + Send + Sync + 'static {
    /// Name of the filesystem type, as given to `mount -t`.
    const NAME: &'static CStr;
    /// Name of the slab cache of the filesystem's inodes (`/proc/slabinfo`).
    const INODE_CACHE_NAME: &'static CStr;
    /// The `f_type` reported by `statfs(2)`.
    const MAGIC: u64;
    /// Block size of the filesystem; the device's logical block size must not
    /// be larger.
    const BLOCK_SIZE: u32;
    /// Largest file size in bytes.
    const MAX_BYTES: i64;
    /// Most links an inode may have (`s_max_links`): the VFS refuses
    /// `link`, `mkdir` and `rename` beyond it with `EMLINK`.
    const MAX_LINKS: u32;

    /// Per-mount data, owned by the super block.
    type Data: Send + Sync;
    /// Per-inode data, owned by the inode.
    type InodeData: Send + Sync;
    /// The mount options one `mount` or remount gives.
    type Options: MountOptions;

    /// Reads and checks the on-disk super block of a device being mounted
    /// with `options`; returns the initialiser of the per-mount data.
    fn fill_super(
        sb: &SuperBlock<Self, Fresh>,
        options: &Self::Options,
    ) -> Result<impl PinInit<Self::Data, Error>>;
}

/// State of a super block whose filesystem data is set up: the default.
pub(crate) struct Ready;

/// State of a super block being mounted: `fill_super` has not returned yet,
/// so there is no filesystem data.
pub(crate) struct Fresh;

/// A mounted (or mounting) super block of filesystem type `T`.
///
/// # Invariants
///
/// The wrapped `super_block` is alive for the lifetime of the reference, its
/// block device is open, and in state [`Ready`] its `s_fs_info` points to a
/// valid `T::Data`.
#[repr(transparent)]
pub(crate) struct SuperBlock<T: FileSystem, S = Ready>(
    Opaque<bindings::super_block>,
    PhantomData<(T, S)>,
);

impl<T: FileSystem, S> SuperBlock<T, S> {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a super block of type `T` that satisfies the type
    /// invariants for state `S` during `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: `SuperBlock` is a transparent wrapper; the caller
        // guarantees validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_raw(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The device name, for log messages.
    pub(crate) fn id(&self) -> &CStr {
        // SAFETY: `s_id` is a NUL-terminated string set before `fill_super`.
        unsafe { CStr::from_char_ptr((*self.as_raw()).s_id.as_ptr()) }
    }

    /// Stops the machine: `panic()` with `why` and the device name
    /// (`errors=panic`).
    pub(crate) fn panic(&self, why: core::fmt::Arguments<'_>) -> ! {
        // SAFETY: `%s` takes the NUL-terminated device name and `%pA` a
        // `fmt::Arguments`, both alive for the call.
        unsafe {
            bindings::panic(
                c"%s: %pA\n".as_char_ptr(),
                self.id().as_char_ptr(),
                core::ptr::from_ref(&why).cast::<kernel::ffi::c_void>(),
            )
        }
    }

    /// Size of the block device in bytes.
    pub(crate) fn device_bytes(&self) -> u64 {
        // SAFETY: the device is open (type invariant).
        unsafe { vfs_bindings::rvfs_bdev_nr_bytes(self.as_raw()) }
    }

    /// Whether the filesystem is mounted read-only.
    pub(crate) fn is_read_only(&self) -> bool {
        // SAFETY: reading `s_flags` of a live super block.
        unsafe { (*self.as_raw()).s_flags as u64 & vfs_bindings::SB_RDONLY as u64 != 0 }
    }

    /// The block device.
    pub(super) fn bdev(&self) -> *mut bindings::block_device {
        // SAFETY: `s_bdev` is set for the life of a block-device super block.
        unsafe { (*self.as_raw()).s_bdev }
    }

    /// A buffer for block `block` that is about to be overwritten whole:
    /// zeroed, without reading the disk.
    pub(crate) fn new_block(&self, block: u64) -> Result<Buffer> {
        // SAFETY: the device is open and the block size set.
        let bh = unsafe { vfs_bindings::rvfs_getblk_zeroed(self.as_raw(), block) };
        // SAFETY: `rvfs_getblk_zeroed` returns a referenced, up-to-date
        // buffer head, or NULL.
        unsafe { Buffer::from_raw(bh) }.ok_or(ENOMEM)
    }

    /// Drops the cached buffer of block `block`, which is being freed, with
    /// any change not yet written (`bforget`): the block's next owner may be
    /// a file, whose data the buffer must not overwrite later.
    pub(crate) fn forget_block(&self, block: u64) {
        // SAFETY: the device is open; the helper copes with an uncached
        // block.
        unsafe { vfs_bindings::rvfs_forget_block(self.as_raw(), block) };
    }

    /// Writes every dirty metadata block of the device and waits for them.
    pub(crate) fn sync_device(&self) -> Result {
        // SAFETY: the device is open.
        to_result(unsafe { bindings::sync_blockdev(self.bdev()) })
    }

    /// Whether the device is read-only (`blockdev --setro`, a write-protected
    /// disk), whatever the mount's flags.
    pub(crate) fn device_read_only(&self) -> bool {
        // SAFETY: the device is open.
        unsafe { vfs_bindings::rvfs_sb_device_read_only(self.as_raw()) }
    }

    /// Whether the device can discard blocks.
    pub(crate) fn can_discard(&self) -> bool {
        // SAFETY: the device is open.
        unsafe { vfs_bindings::rvfs_sb_can_discard(self.as_raw()) }
    }

    /// Discards `count` blocks from block `block` and waits for it.
    pub(crate) fn discard(&self, block: u64, count: u64) -> Result {
        // SAFETY: the device is open and the block size set.
        to_result(unsafe { vfs_bindings::rvfs_sb_discard(self.as_raw(), block, count) })
    }

    /// Flushes the device's volatile write cache.
    pub(crate) fn flush_device(&self) -> Result {
        // SAFETY: the device is open.
        to_result(unsafe { bindings::blkdev_issue_flush(self.bdev()) })
    }

    /// Reads block `block` through the buffer cache.
    pub(crate) fn bread(&self, block: u64) -> Result<Buffer> {
        // SAFETY: the device is open and `s_blocksize` is set (the block size
        // is set first thing in `fill_super`).
        let bh = unsafe { vfs_bindings::rvfs_sb_bread(self.as_raw(), block) };
        // SAFETY: `rvfs_sb_bread` returns a referenced, up-to-date buffer
        // head, or NULL on I/O error or without memory.
        unsafe { Buffer::from_raw(bh) }.ok_or(EIO)
    }
}

impl<T: FileSystem> SuperBlock<T> {
    /// As [`SuperBlock::bread`]; if block `block` is not cached, reads of
    /// the `ahead` blocks after it are started first (they must be blocks
    /// of the device), so that a walk of a table finds them cached.
    pub(crate) fn bread_ahead(&self, block: u64, ahead: u32) -> Result<Buffer> {
        // SAFETY: as in `bread`; the helper reads ahead only blocks the
        // caller vouches for.
        let bh = unsafe { vfs_bindings::rvfs_sb_bread_ahead(self.as_raw(), block, ahead) };
        // SAFETY: as in `bread`.
        unsafe { Buffer::from_raw(bh) }.ok_or(EIO)
    }
}

impl<T: FileSystem> SuperBlock<T, Fresh> {
    /// Sets the block size of the device, failing if its logical block size
    /// is larger.
    pub(super) fn set_block_size(&self, size: u32) -> Result {
        // SAFETY: the super block is being mounted and owned by us.
        if unsafe { bindings::sb_set_blocksize(self.as_raw(), size as i32) } == 0 {
            pr_err!("{}: device block size is larger than {}\n", self.id(), size);
            return Err(EINVAL);
        }
        Ok(())
    }
}

impl<T: FileSystem> SuperBlock<T> {
    /// The filesystem's per-mount data.
    pub(crate) fn data(&self) -> &T::Data {
        // SAFETY: in state `Ready`, `s_fs_info` points to a `T::Data` that
        // lives until `kill_sb`, after the last reference to `self`.
        unsafe { &*(*self.as_raw()).s_fs_info.cast::<T::Data>() }
    }

    /// Whether the filesystem is frozen (`freeze_fs` has returned and no
    /// thaw has begun): nothing may be written to the device.
    pub(crate) fn is_frozen(&self) -> bool {
        // SAFETY: the super block is live. `frozen` changes under
        // `s_umount`, which `sync_fs`, the only caller, holds; a racing
        // read would still see one of the states.
        let frozen =
            unsafe { core::ptr::read_volatile(&raw const (*self.as_raw()).s_writers.frozen) };
        u32::from(frozen) == bindings::SB_FREEZE_COMPLETE
    }

    /// Freezes the block device and the filesystem on it, which writes
    /// everything out (`bdev_freeze`), until the guard is dropped.
    pub(crate) fn freeze_device(&self) -> Result<DeviceFrozen<'_, T>> {
        // SAFETY: the device is open.
        to_result(unsafe { bindings::bdev_freeze(self.bdev()) })?;
        // INVARIANT: frozen above.
        Ok(DeviceFrozen(self))
    }

    /// Writes every dirty inode and its data and waits for both
    /// (`sync_inodes_sb`).
    pub(crate) fn sync_inodes(&self) {
        // SAFETY: a mounted super block; the caller (`sync_fs`) holds
        // `s_umount` as the helper requires.
        unsafe { bindings::sync_inodes_sb(self.as_raw()) };
    }

    /// Writes all dirty data and metadata of the filesystem (`sync_filesystem`).
    pub(crate) fn sync_filesystem(&self) -> Result {
        // SAFETY: a mounted super block; the callers (remount) hold
        // `s_umount` as the helper requires.
        to_result(unsafe { bindings::sync_filesystem(self.as_raw()) })
    }
}

/// The block device of a super block frozen by us; thawed on drop.
///
/// # Invariants
///
/// We froze the super block's device (`bdev_freeze`).
pub(crate) struct DeviceFrozen<'a, T: FileSystem>(&'a SuperBlock<T>);

impl<T: FileSystem> Drop for DeviceFrozen<'_, T> {
    fn drop(&mut self) {
        // SAFETY: frozen by us (type invariant); the thaw's error (none for
        // a freeze of ours) has nobody to go to.
        unsafe { bindings::bdev_thaw(self.0.bdev()) };
    }
}
