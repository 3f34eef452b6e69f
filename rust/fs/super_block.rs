// SPDX-License-Identifier: GPL-2.0

//! Mounting, the per-mount state, writing the superblock, and the super
//! block operations ([`SuperOps`]).

use super::alloc::Allocator;
use super::lock::{AllocatorGuard, AllocatorLock};
use super::{corrupted, ialloc, inode, RexInode, RexSb, Rexfs};
use crate::format::{self, FormatError, Geometry, Superblock, STATE_CLEAN};
use crate::vfs::{
    self, Counter, DebugDir, DebugFile, DelayKnob, Fresh, StatFs, SuperBlock, SuperOps,
    UnsafeSwitch,
};
use kernel::{
    prelude::*,
    sync::{aref::ARef, Arc, SetOnce},
};

/// What `/sys/kernel/debug/rexfs/<dev>/` shows of one mount: event counters
/// that prove which path ran, and (debug builds) the race-injection knobs.
#[derive(Default)]
pub(crate) struct Probes {
    /// `iomap_begin` calls.
    pub(super) iomap_begin: Counter,
    /// Mappings `iomap_valid` found stale.
    pub(super) iomap_stale: Counter,
    /// Writeback reused its cached mapping.
    pub(super) wb_map_reused: Counter,
    /// Writeback found its cached mapping stale and looked it up again.
    pub(super) wb_map_refetched: Counter,
    /// Direct I/O stopped at a user page it could not touch without
    /// faulting, faulted the rest in and went on.
    pub(super) dio_retry: Counter,
    /// Direct I/O made no progress even after faulting in and finished the
    /// request through the page cache.
    pub(super) dio_fallback: Counter,
    /// Write faults into a shared mapping of an inline file that dropped
    /// the fault lock, converted the file and asked for a retry.
    pub(super) inline_fault_retry: Counter,
    /// Such faults that could only ask for a retry
    /// (`FAULT_FLAG_RETRY_NOWAIT`).
    pub(super) inline_fault_nowait: Counter,
    /// Such faults that allowed no retry and converted the file under the
    /// fault lock.
    pub(super) inline_fault_no_retry: Counter,
    /// Writes to a read-only mapped page of an inline file that
    /// `page_mkwrite` unmapped, sending them through `->fault`.
    pub(super) inline_mkwrite_unmap: Counter,
    /// Delay knobs that fired.
    pub(super) delays_injected: Counter,

    /// Sleep in `iomap_valid` before it samples the generation.
    pub(super) delay_iomap_valid: DelayKnob,
    /// Sleep in writeback after looking up (and caching) a mapping.
    pub(super) delay_wb_map: DelayKnob,
    /// Sleep in a write fault into an inline file before it converts the
    /// file (after dropping the fault lock, when it may).
    pub(super) delay_write_fault: DelayKnob,
    /// Sleep in `iomap_begin` of direct I/O, between mapping and submission.
    pub(super) delay_dio_map: DelayKnob,
    /// Sleep in fallocate between dropping the page cache of the range and
    /// changing its extents.
    pub(super) delay_fallocate: DelayKnob,

    /// `iomap_valid` accepts every mapping.
    pub(super) unsafe_skip_iomap_valid: UnsafeSwitch,
    /// Writeback reuses its cached mapping whatever the generation.
    pub(super) unsafe_skip_wb_revalidate: UnsafeSwitch,
    /// fallocate does not take `invalidate_lock`, so faults run beside it.
    pub(super) unsafe_skip_fallocate_invalidate_lock: UnsafeSwitch,
    /// Direct I/O returns what the no-fault pass moved: no fault-in retry,
    /// no buffered fallback.
    pub(super) unsafe_skip_dio_fallback: UnsafeSwitch,
    /// `page_mkwrite` makes a read-only page of an inline file writable
    /// as it is, without a conversion: the data is lost on writeback.
    pub(super) unsafe_skip_inline_mkwrite_unmap: UnsafeSwitch,
}

impl Probes {
    /// Fires `knob` (sleeps if it is armed) and counts it.
    pub(super) fn delay(&self, knob: fn(&Self) -> &DelayKnob) {
        if knob(self).fire() {
            self.delays_injected.inc();
        }
    }

    /// The debugfs files.
    const FILES: [(&'static CStr, DebugFile<Self>); 21] = [
        (c"iomap_begin", DebugFile::Counter(|p| &p.iomap_begin)),
        (c"iomap_stale", DebugFile::Counter(|p| &p.iomap_stale)),
        (c"wb_map_reused", DebugFile::Counter(|p| &p.wb_map_reused)),
        (
            c"wb_map_refetched",
            DebugFile::Counter(|p| &p.wb_map_refetched),
        ),
        (c"dio_retry", DebugFile::Counter(|p| &p.dio_retry)),
        (c"dio_fallback", DebugFile::Counter(|p| &p.dio_fallback)),
        (
            c"inline_fault_retry",
            DebugFile::Counter(|p| &p.inline_fault_retry),
        ),
        (
            c"inline_fault_nowait",
            DebugFile::Counter(|p| &p.inline_fault_nowait),
        ),
        (
            c"inline_fault_no_retry",
            DebugFile::Counter(|p| &p.inline_fault_no_retry),
        ),
        (
            c"inline_mkwrite_unmap",
            DebugFile::Counter(|p| &p.inline_mkwrite_unmap),
        ),
        (
            c"delays_injected",
            DebugFile::Counter(|p| &p.delays_injected),
        ),
        (
            c"delay_iomap_valid_ms",
            DebugFile::Delay(|p| &p.delay_iomap_valid),
        ),
        (c"delay_wb_map_ms", DebugFile::Delay(|p| &p.delay_wb_map)),
        (
            c"delay_write_fault_ms",
            DebugFile::Delay(|p| &p.delay_write_fault),
        ),
        (c"delay_dio_map_ms", DebugFile::Delay(|p| &p.delay_dio_map)),
        (
            c"delay_fallocate_ms",
            DebugFile::Delay(|p| &p.delay_fallocate),
        ),
        (
            c"unsafe_skip_iomap_valid",
            DebugFile::Switch(|p| &p.unsafe_skip_iomap_valid),
        ),
        (
            c"unsafe_skip_wb_revalidate",
            DebugFile::Switch(|p| &p.unsafe_skip_wb_revalidate),
        ),
        (
            c"unsafe_skip_fallocate_invalidate_lock",
            DebugFile::Switch(|p| &p.unsafe_skip_fallocate_invalidate_lock),
        ),
        (
            c"unsafe_skip_dio_fallback",
            DebugFile::Switch(|p| &p.unsafe_skip_dio_fallback),
        ),
        (
            c"unsafe_skip_inline_mkwrite_unmap",
            DebugFile::Switch(|p| &p.unsafe_skip_inline_mkwrite_unmap),
        ),
    ];
}

/// Per-mount state of rexfs.
#[pin_data]
pub(crate) struct SbInfo {
    geometry: Geometry,
    root_ino: u64,
    /// The allocator and the in-memory superblock it keeps the counts in.
    #[pin]
    alloc: AllocatorLock,
    pub(super) probes: Arc<Probes>,
    debugfs: SetOnce<DebugDir<Probes>>,
}

impl SbInfo {
    /// Reads and checks the superblock of the device being mounted.
    ///
    /// A device that is not rexfs fails with `-EINVAL`, a damaged rexfs with
    /// `-EFSCORRUPTED`; either way with one line in the kernel log.
    pub(super) fn read(sb: &SuperBlock<Rexfs, Fresh>) -> Result<impl PinInit<Self, Error>> {
        let block = sb.bread(0)?;
        let disk = Superblock::decode(block.data()).map_err(|e| match e {
            FormatError::BadMagic => {
                pr_err!("{}: not a rexfs filesystem (bad magic)\n", sb.id());
                EINVAL
            }
            FormatError::BadVersion | FormatError::UnknownFeatures => {
                pr_err!("{}: cannot mount: {}\n", sb.id(), e.reason());
                EINVAL
            }
            _ => corrupted(sb, format_args!("superblock: {}", e.reason())),
        })?;
        let device_blocks = sb.device_bytes() >> format::BLOCK_SHIFT;
        if disk.geometry.block_count > device_blocks {
            return Err(corrupted(
                sb,
                format_args!(
                    "filesystem has {} blocks, device only {}",
                    disk.geometry.block_count, device_blocks
                ),
            ));
        }
        if disk.needs_read_only() && !sb.is_read_only() {
            pr_err!(
                "{}: unsupported read-only features, mount read-only\n",
                sb.id()
            );
            return Err(EROFS);
        }
        Ok(try_pin_init!(SbInfo {
            geometry: disk.geometry,
            root_ino: disk.root_ino,
            alloc <- AllocatorLock::new(Allocator::new(disk)),
            probes: Arc::new(Probes::default(), GFP_KERNEL)?,
            debugfs: SetOnce::new(),
        }? Error))
    }

    /// Takes the allocator lock (see [`super::lock`]).
    pub(super) fn allocator(&self) -> AllocatorGuard<'_> {
        self.alloc.lock()
    }

    /// The layout of the filesystem.
    pub(super) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The root directory's inode number.
    pub(super) fn root_ino(&self) -> u64 {
        self.root_ino
    }

    /// Finishes mounting once the root inode is read: marks the filesystem
    /// in use on disk (when writable) and publishes the probes.
    pub(super) fn mounted(&self, sb: &RexSb) -> Result {
        {
            let mut alloc = self.allocator();
            if alloc.disk().state != STATE_CLEAN {
                pr_info!(
                    "{}: not cleanly unmounted, recounting free space\n",
                    sb.id()
                );
                alloc.recount(sb)?;
            } else {
                alloc.check_bitmap(sb)?;
            }
        }
        if !sb.is_read_only() {
            self.count_mount();
            self.set_clean(sb, false)?;
        }
        self.debugfs
            .populate(DebugDir::new(sb.id(), self.probes.clone(), &Probes::FILES));
        Ok(())
    }

    /// Unmounting: everything is written back; mark the filesystem clean.
    pub(super) fn unmount(&self, sb: &RexSb) {
        if !sb.is_read_only() {
            if let Err(e) = self.set_clean(sb, true) {
                pr_err!(
                    "{}: writing the superblock at unmount failed: {:?}\n",
                    sb.id(),
                    e
                );
            }
        }
    }

    /// Remounting read-only writes everything and marks the filesystem
    /// clean; remounting read-write marks it in use.
    pub(super) fn remount(&self, sb: &RexSb, read_only: bool) -> Result {
        if read_only {
            sb.sync_filesystem()?;
        } else {
            self.count_mount();
        }
        self.set_clean(sb, read_only)
    }

    /// Counts a mount, or a remount read-write, in the superblock.
    fn count_mount(&self) {
        let mut alloc = self.allocator();
        let disk = alloc.disk_mut();
        disk.mount_count = disk.mount_count.wrapping_add(1);
        disk.mount_time = vfs::now().0;
    }

    /// Writes the superblock marked clean (its free counts match the
    /// bitmaps and inodes: unmount, remount read-only, freeze), or in use
    /// (a mount after an unclean shutdown recounts them).
    pub(super) fn set_clean(&self, sb: &RexSb, clean: bool) -> Result {
        self.allocator().disk_mut().state = if clean { STATE_CLEAN } else { 0 };
        self.write_super(sb, true)
    }

    /// Writes the in-memory superblock (free counts, state) to block 0.
    ///
    /// Callers make sure the filesystem is writable (or is being remounted
    /// writable).
    pub(super) fn write_super(&self, sb: &RexSb, sync: bool) -> Result {
        let block = sb.bread(0)?;
        {
            let mut alloc = self.allocator();
            let disk = alloc.disk_mut();
            disk.write_time = vfs::now().0;
            let disk = *disk;
            block.modify(|b| disk.encode(b));
        }
        if sync {
            block.sync()?;
        }
        Ok(())
    }

    pub(super) fn statfs(&self) -> StatFs {
        let alloc = self.allocator();
        StatFs {
            blocks: self.geometry.data_blocks(),
            free_blocks: alloc.disk().free_blocks,
            available_blocks: alloc.available_blocks(),
            files: self.geometry.inode_count,
            free_files: alloc.disk().free_inodes,
            name_len: format::MAX_NAME_LEN as u64,
        }
    }
}

impl SuperOps for Rexfs {
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
        ialloc::evict(inode)
    }
}
