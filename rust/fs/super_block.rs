// SPDX-License-Identifier: GPL-2.0

//! Mounting, the per-mount state, writing the superblock, and the super
//! block operations ([`SuperOps`]).

use super::alloc::Allocator;
use super::dax::{DaxMode, DaxState};
use super::errors::{corrupted, mount_refused, ErrorState, OnError};
use super::lock::{AllocatorGuard, AllocatorLock};
use super::probes::Probes;
use super::txn::{Credits, Txn};
use super::{ialloc, inode, RexInode, RexSb, Rexfs};
use crate::format::{
    self, FormatError, Geometry, JournalSuperblock, Superblock, BITS_PER_BITMAP_BLOCK,
    FEATURE_INCOMPAT_REFLINK, STATE_CLEAN, STATE_ERRORS,
};
use crate::vfs::{
    self, DebugDir, Fresh, IoendQueue, Journal, MountOptions, OptionSpec, ParsedOption, Shutdown,
    StatFs, SuperBlock, SuperOps, TrimRange,
};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use kernel::{
    prelude::*,
    seq_file::{seq_print, SeqFile},
    sync::{aref::ARef, Arc, SetOnce},
};

/// The mount options one `mount` or remount gave (`None`: not given).
#[derive(Default)]
pub(crate) struct Options {
    errors: Option<OnError>,
    dax: Option<DaxMode>,
    discard: Option<bool>,
    norecovery: bool,
}

impl Options {
    const ERRORS: u8 = 0;
    const DAX: u8 = 1;
    const DAX_MODE: u8 = 2;
    const DISCARD: u8 = 3;
    const NODISCARD: u8 = 4;
    const NORECOVERY: u8 = 5;
}

impl MountOptions for Options {
    const SPECS: &'static [OptionSpec] = &[
        OptionSpec::enumerated(Options::ERRORS, c"errors", &OnError::VALUES),
        OptionSpec::flag(Options::DAX, c"dax"),
        OptionSpec::enumerated(Options::DAX_MODE, c"dax", &DaxMode::VALUES),
        OptionSpec::flag(Options::DISCARD, c"discard"),
        OptionSpec::flag(Options::NODISCARD, c"nodiscard"),
        OptionSpec::flag(Options::NORECOVERY, c"norecovery"),
        OptionSpec::END,
    ];

    fn set(&mut self, option: ParsedOption) -> Result {
        match option.opt {
            Options::ERRORS => self.errors = Some(OnError::from_value(option.value)?),
            Options::DAX => self.dax = Some(DaxMode::Always),
            Options::DAX_MODE => self.dax = Some(DaxMode::from_value(option.value)?),
            Options::DISCARD => self.discard = Some(true),
            Options::NODISCARD => self.discard = Some(false),
            Options::NORECOVERY => self.norecovery = true,
            _ => return Err(EINVAL),
        }
        Ok(())
    }
}

/// Per-mount state of rexfs.
#[pin_data]
pub(crate) struct SbInfo {
    geometry: Geometry,
    root_ino: u64,
    /// The journal, on a filesystem with one.
    journal: Option<Journal>,
    /// The allocator and the in-memory superblock it keeps the counts in.
    #[pin]
    alloc: AllocatorLock,
    pub(super) probes: Arc<Probes>,
    debugfs: SetOnce<DebugDir<Probes>>,
    /// Set by `FS_IOC_SHUTDOWN`, the device going away or damage found
    /// with `errors=remount-ro`: every operation fails with `EIO` from then
    /// on, and nothing more is written.
    shut_down: AtomicBool,
    /// Damage found, and what to do about it.
    pub(super) errors: ErrorState,
    /// The `dax=` mode and the DAX device.
    pub(super) dax: DaxState,
    /// The superblock's incompatible features, for the inode checks
    /// without the allocator lock.
    feature_incompat: AtomicU32,
    /// `-o discard`: freed blocks are discarded once their freeing is
    /// committed (at once without a journal), as ext4's online discard.
    discard: AtomicBool,
    /// `-o norecovery`: mounted read-only without loading the journal, so
    /// without replaying it (as XFS's `norecovery`, ext4's `noload`).
    norecovery: bool,
    /// Where writeback into unwritten and copy-on-write blocks completes;
    /// dropped with the rest after every inode is evicted.
    pub(super) ioend_queue: IoendQueue,
}

/// Whether `-o discard` (`wanted`) takes effect on the device of `sb`: not
/// on one that cannot discard, said in the log, as ext4 does.
fn discard_option<S>(sb: &SuperBlock<Rexfs, S>, wanted: bool) -> bool {
    if wanted && !sb.can_discard() {
        pr_warn!("{}: discard: the device cannot discard, ignored\n", sb.id());
        return false;
    }
    wanted
}

/// Reads and checks the superblock in block 0 of `sb`.
///
/// A device that is not rexfs fails with `-EINVAL`, a damaged rexfs with
/// `-EFSCORRUPTED`; either way with one line in the kernel log.
fn read_superblock<S>(sb: &SuperBlock<Rexfs, S>) -> Result<Superblock> {
    let block = sb.bread(0)?;
    Superblock::decode(block.data()).map_err(|e| match e {
        FormatError::BadMagic => {
            pr_err!("{}: not a rexfs filesystem (bad magic)\n", sb.id());
            EINVAL
        }
        FormatError::BadVersion | FormatError::UnknownFeatures => {
            pr_err!("{}: cannot mount: {}\n", sb.id(), e.reason());
            EINVAL
        }
        _ => mount_refused(sb, format_args!("superblock: {}", e.reason())),
    })
}

impl SbInfo {
    /// Reads and checks the superblock of the device being mounted with
    /// `options`; loads the journal, replaying it, and reads the superblock
    /// again as the replay left it.
    pub(super) fn read(
        sb: &SuperBlock<Rexfs, Fresh>,
        options: &Options,
    ) -> Result<impl PinInit<Self, Error>> {
        let mut disk = read_superblock(sb)?;
        let device_blocks = sb.device_bytes() >> format::BLOCK_SHIFT;
        if disk.geometry.block_count > device_blocks {
            return Err(mount_refused(
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
        let g = disk.geometry;
        let mut found_by_journal = false;
        if options.norecovery && !sb.is_read_only() {
            pr_err!("{}: norecovery needs a read-only mount\n", sb.id());
            return Err(EINVAL);
        }
        let journal = if g.has_journal() && options.norecovery {
            pr_warn!(
                "{}: norecovery: the journal is not replayed; what it holds is missing\n",
                sb.id()
            );
            None
        } else if g.has_journal() {
            let jsb = sb.bread(g.journal_start)?;
            let jsb = JournalSuperblock::decode(jsb.data(), g.journal_blocks)
                .map_err(|e| mount_refused(sb, format_args!("journal: {}", e.reason())))?;
            if jsb.needs_recovery() {
                // As ext4: a replay writes, which a read-only device refuses.
                if sb.device_read_only() {
                    pr_err!(
                        "{}: the journal needs recovery but the device is read-only (mount with norecovery)\n",
                        sb.id()
                    );
                    return Err(EROFS);
                }
                pr_info!("{}: replaying the journal\n", sb.id());
            }
            let journal = Journal::load(sb, g.journal_start, g.journal_blocks as u32)
                .inspect_err(|e| pr_err!("{}: loading the journal failed: {e:?}\n", sb.id()))?;
            let aborted = journal.take_error()?;
            if let Some(e) = aborted {
                pr_warn!(
                    "{}: the journal was aborted ({e:?}) by an earlier mount\n",
                    sb.id()
                );
            }
            let replayed = read_superblock(sb)?;
            if replayed.geometry != g {
                return Err(mount_refused(
                    sb,
                    format_args!("journal replay changed the layout"),
                ));
            }
            disk = replayed;
            // A shutdown is no damage; any other abort (an I/O error,
            // damage with `errors=remount-ro`) marks the filesystem.
            if aborted.is_some_and(|e| e != ESHUTDOWN) && disk.state & STATE_ERRORS == 0 {
                found_by_journal = true;
            }
            Some(journal)
        } else {
            pr_info!("{}: no journal: a crash needs fsck.rexfs\n", sb.id());
            None
        };
        let recorded = disk.state & STATE_ERRORS != 0;
        if recorded {
            pr_warn!(
                "{}: damage found by an earlier mount: run fsck.rexfs\n",
                sb.id()
            );
        }
        let errors = ErrorState::new(
            options.errors.unwrap_or_default(),
            recorded || found_by_journal,
            recorded,
        );
        let dax = DaxState::new(sb, options.dax.unwrap_or_default())?;
        let discard = discard_option(sb, options.discard.unwrap_or(false));
        let ioend_queue = IoendQueue::new(sb)?;
        let norecovery = options.norecovery;
        Ok(try_pin_init!(SbInfo {
            geometry: g,
            root_ino: disk.root_ino,
            journal,
            alloc <- AllocatorLock::new(Allocator::new(disk)),
            probes: Arc::new(Probes::default(), GFP_KERNEL)?,
            debugfs: SetOnce::new(),
            shut_down: AtomicBool::new(false),
            errors,
            dax,
            feature_incompat: AtomicU32::new(disk.feature_incompat),
            discard: AtomicBool::new(discard),
            norecovery,
            ioend_queue,
        }? Error))
    }

    /// With `-o discard`, discards `count` freed blocks from `block`, whose
    /// freeing is committed. Discard is advice: a failure leaves the blocks'
    /// old data there, as without the option.
    pub(super) fn discard_freed<S>(&self, sb: &SuperBlock<Rexfs, S>, block: u64, count: u64) {
        if self.discard.load(Ordering::Relaxed) {
            let _ = sb.discard(block, count);
        }
    }

    /// Takes the allocator lock (see [`super::lock`]).
    pub(super) fn allocator(&self) -> AllocatorGuard<'_> {
        self.alloc.lock()
    }

    /// Fails with `EIO` once the filesystem is shut down.
    pub(super) fn alive(&self) -> Result {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(EIO);
        }
        Ok(())
    }

    /// Whether nothing more reaches the disk: the filesystem is shut down,
    /// or its journal aborted (an I/O error, which jbd2 reported). What
    /// fails to be written from then on is not worth a line each.
    pub(super) fn writes_stopped(&self) -> bool {
        self.alive().is_err() || self.journal.as_ref().is_some_and(|j| j.is_aborted())
    }

    /// The journal, if the filesystem has one.
    pub(super) fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The layout of the filesystem.
    pub(super) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The root directory's inode number.
    pub(super) fn root_ino(&self) -> u64 {
        self.root_ino
    }

    /// Finishes mounting once the root inode is read: checks the bitmap
    /// (without a journal, after an unclean shutdown, recounts the free
    /// space), marks the filesystem in use on disk and frees the orphans a
    /// crash left (when writable), and publishes the probes.
    pub(super) fn mounted(&self, sb: &RexSb) -> Result {
        {
            let mut alloc = self.allocator();
            if alloc.disk().state != STATE_CLEAN && self.journal.is_none() {
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
            free_orphans(sb)?;
            if self.feature_incompat() & FEATURE_INCOMPAT_REFLINK != 0 {
                let reclaimed = Allocator::reclaim_staging(sb)?;
                if reclaimed != 0 {
                    pr_info!(
                        "{}: freed {reclaimed} copy-on-write staging blocks a crash left\n",
                        sb.id()
                    );
                }
            }
        }
        self.debugfs
            .populate(DebugDir::new(sb.id(), self.probes.clone(), &Probes::FILES));
        Ok(())
    }

    /// Unmounting: everything is written back; empties and frees the
    /// journal and marks the filesystem clean. After a shutdown nothing is
    /// written, but, without a journal, the superblock marked in use (and
    /// damaged, if it is): the next mount recounts.
    pub(super) fn unmount(&self, sb: &RexSb) {
        let alive = !self.writes_stopped();
        if let Some(journal) = &self.journal {
            // After a shutdown or an I/O error the journal is aborted, and
            // destroying it fails with `EIO` as expected: the abort was
            // reported.
            if let (Err(e), true) = (journal.destroy(), alive) {
                pr_err!(
                    "{}: writing the journal at unmount failed: {e:?}\n",
                    sb.id()
                );
            }
        }
        if !sb.is_read_only() && (alive || self.journal.is_none()) {
            if let Err(e) = self.set_clean(sb, alive) {
                pr_err!(
                    "{}: writing the superblock at unmount failed: {e:?}\n",
                    sb.id()
                );
            }
        }
    }

    /// Remounting read-only writes everything (with a journal, in place)
    /// and marks the filesystem clean; remounting read-write marks it in
    /// use.
    pub(super) fn remount(&self, sb: &RexSb, read_only: bool) -> Result {
        if read_only {
            sb.sync_filesystem()?;
            if let Some(journal) = &self.journal {
                journal.flush()?;
            }
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
    /// bitmaps and inodes: unmount, remount read-only, freeze), or in use.
    /// Written in place, synchronously: only when no journal handle can run
    /// (mounting, or the journal destroyed, flushed with its updates
    /// locked, or not started since).
    pub(super) fn set_clean(&self, sb: &RexSb, clean: bool) -> Result {
        let block = sb.bread(0)?;
        {
            let mut alloc = self.allocator();
            let disk = alloc.disk_mut();
            disk.state = self.errors.disk_state(clean);
            disk.write_time = vfs::now().0;
            let disk = *disk;
            block.modify(|b| disk.encode(b));
        }
        block.sync()?;
        self.errors.claim_write();
        Ok(())
    }

    /// Writes the superblock with [`STATE_ERRORS`] in `txn`, for damage
    /// found since the last superblock write (see [`Txn::start`]).
    pub(super) fn write_errors(&self, sb: &RexSb, txn: &Txn<'_>) -> Result {
        self.update_superblock(sb, txn, |disk| disk.state |= STATE_ERRORS)
    }

    /// The superblock's incompatible features.
    pub(super) fn feature_incompat(&self) -> u32 {
        self.feature_incompat.load(Ordering::Acquire)
    }

    /// Sets incompatible feature `feature` in the superblock, in `txn`
    /// (reserved [`Credits::SUPER`]), unless it is set already.
    pub(super) fn set_feature_incompat(&self, sb: &RexSb, txn: &Txn<'_>, feature: u32) -> Result {
        if self.feature_incompat() & feature != 0 {
            return Ok(());
        }
        self.update_superblock(sb, txn, |disk| disk.feature_incompat |= feature)?;
        self.feature_incompat.fetch_or(feature, Ordering::AcqRel);
        Ok(())
    }

    /// Changes the superblock by `change` and logs it in `txn`.
    fn update_superblock(
        &self,
        sb: &RexSb,
        txn: &Txn<'_>,
        change: impl FnOnce(&mut format::Superblock),
    ) -> Result {
        let block = sb.bread(0)?;
        let mut alloc = self.allocator();
        let disk = alloc.disk_mut();
        change(disk);
        let disk = *disk;
        txn.modify(&block, |b| disk.encode(b))
    }

    /// Shuts the filesystem down as `how` says (see [`SuperOps::shutdown`]);
    /// `why` is the error an aborted journal records, for the next mount.
    pub(super) fn shut_down(&self, sb: &RexSb, how: Shutdown, why: Error) {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        pr_warn!(
            "{}: shut down ({how:?}): nothing more is written\n",
            sb.id()
        );
        if let Some(journal) = self.journal().filter(|journal| !journal.is_aborted()) {
            if how == Shutdown::FlushLog {
                if let Err(e) = journal.commit(true) {
                    pr_err!("{}: committing at shutdown failed: {e:?}\n", sb.id());
                }
            }
            if how != Shutdown::Sync {
                journal.abort(why);
            }
        }
    }

    /// Writes the in-memory superblock (free counts) to block 0 without a
    /// journal (with one, every change of the counts is journaled).
    pub(super) fn write_super(&self, sb: &RexSb, sync: bool) -> Result {
        let txn = Txn::start(sb, Credits::SUPER)?;
        {
            let mut alloc = self.allocator();
            alloc.disk_mut().write_time = vfs::now().0;
            let block = sb.bread(0)?;
            let disk = *alloc.disk();
            txn.modify(&block, |b| disk.encode(b))?;
            if sync {
                block.sync()?;
            }
        }
        txn.stop()
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

/// Frees the inodes of the orphan list, which a crash left unlinked but
/// allocated: their last reference goes now, and eviction frees them (and
/// takes them off the list). One that has links again only leaves the list.
fn free_orphans(sb: &RexSb) -> Result {
    let orphans = sb.data().allocator().load_orphans(sb)?;
    if !orphans.is_empty() {
        pr_info!("{}: freeing {} orphan inodes\n", sb.id(), orphans.len());
    }
    for &ino in orphans.iter() {
        let inode = inode::iget(sb, ino)?;
        if inode.nlink() != 0 {
            let txn = Txn::start(sb, Credits::blocks(2).and(Credits::SUPER))?;
            sb.data().allocator().orphan_remove(&txn, ino)?;
            txn.stop()?;
        }
    }
    Ok(())
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
        if sb.data().errors.unwritten() {
            // `Txn::start` writes the flag.
            Txn::start(sb, Credits::NONE)?.stop()?;
        }
        match sb.data().journal() {
            Some(journal) => journal.commit(wait),
            None => sb.data().write_super(sb, wait),
        }
    }

    fn reconfigure(sb: &RexSb, read_only: bool, options: &Options) -> Result {
        let sbi = sb.data();
        // Inodes in memory keep the DAX state they were set up with (as
        // ext4 refuses the change too).
        if options.dax.is_some_and(|mode| mode != sbi.dax.mode()) {
            pr_err!("{}: dax= cannot change on remount\n", sb.id());
            return Err(EINVAL);
        }
        if sbi.norecovery && !read_only {
            pr_err!("{}: norecovery: cannot remount read-write\n", sb.id());
            return Err(EINVAL);
        }
        if let Some(on_error) = options.errors {
            sbi.errors.set_on_error(on_error);
        }
        if let Some(discard) = options.discard {
            sbi.discard
                .store(discard_option(sb, discard), Ordering::Relaxed);
        }
        if read_only != sb.is_read_only() {
            sbi.remount(sb, read_only)?;
        }
        Ok(())
    }

    fn show_options(sb: &RexSb, out: &SeqFile) {
        let on_error = sb.data().errors.on_error();
        if on_error != OnError::default() {
            seq_print!(out, ",errors={}", on_error.name());
        }
        let dax = sb.data().dax.mode();
        if dax != DaxMode::default() {
            seq_print!(out, ",dax={}", dax.name());
        }
        if sb.data().discard.load(Ordering::Relaxed) {
            seq_print!(out, ",discard");
        }
        if sb.data().norecovery {
            seq_print!(out, ",norecovery");
        }
    }

    /// The VFS has blocked every change and written everything back: the
    /// journal is emptied into place, and the superblock marked clean, so
    /// that a snapshot of the device mounts without a replay.
    fn freeze(sb: &RexSb) -> Result {
        let _updates = match sb.data().journal() {
            Some(journal) => {
                let updates = journal.lock_updates()?;
                journal.flush()?;
                Some(updates)
            }
            None => None,
        };
        sb.data().set_clean(sb, true)
    }

    fn unfreeze(sb: &RexSb) -> Result {
        sb.data().set_clean(sb, false)
    }

    /// With a journal, the inode was logged when it changed
    /// ([`Self::dirty_inode`]): a synchronous write commits its
    /// transaction. Without one, it is written in place.
    fn write_inode(inode: &RexInode, sync: bool) -> Result {
        let sb = inode.super_block();
        match sb.data().journal() {
            Some(journal) if sync => journal.complete_transaction(inode.data().last_tid()),
            Some(_) => Ok(()),
            None => {
                let txn = Txn::start(sb, Credits::blocks(0))?;
                let buf = inode::write_inode(&txn, inode)?;
                if sync {
                    buf.sync()?;
                }
                txn.stop()
            }
        }
    }

    /// Logs the inode in the running transaction (the caller's, or one of
    /// its own), as ext4 does.
    fn dirty_inode(inode: &RexInode) {
        let sb = inode.super_block();
        if sb.data().journal().is_none() {
            return;
        }
        let logged = Txn::start(sb, inode::inode_credits(inode, 2)).and_then(|txn| {
            inode::write_inode(&txn, inode)?;
            txn.stop()
        });
        match logged {
            Err(e) if !sb.data().writes_stopped() => pr_err!(
                "{}: inode {}: logging failed: {e:?}\n",
                sb.id(),
                inode.ino()
            ),
            _ => {}
        }
    }

    fn evict_inode(inode: &RexInode) {
        ialloc::evict(inode)
    }

    /// As ext4: `Sync` freezes the device (which writes everything, the
    /// journal committed) around setting the flag; `FlushLog` commits the
    /// journal, then aborts it; `Abort` aborts it at once. An aborted
    /// journal writes nothing more, and the next mount replays what it
    /// committed.
    fn shutdown(sb: &RexSb, how: Shutdown) -> Result {
        let sbi = sb.data();
        let _frozen = match how {
            Shutdown::Sync => Some(sb.freeze_device()?),
            _ => None,
        };
        sbi.shut_down(sb, how, ESHUTDOWN);
        Ok(())
    }

    /// Discards the free runs of the range's data blocks that no freeing
    /// waits to commit, one bitmap block at a time under the allocator lock
    /// (so that no allocation takes a run while it is discarded), as
    /// ext4's `FITRIM` does a block group at a time.
    fn trim(sb: &RexSb, range: TrimRange) -> Result<u64> {
        let sbi = sb.data();
        sbi.alive()?;
        // The bitmap may not say what the journal would: discarding its
        // free blocks could destroy data (xfstests generic/537).
        if sbi.norecovery {
            return Err(EROFS);
        }
        let g = sbi.geometry();
        // As ext4: a start past the end, a range shorter than a block or a
        // run longer than a bitmap block covers (the runs' limit here).
        if range.start >> format::BLOCK_SHIFT >= g.block_count
            || range.len < format::BLOCK_SIZE as u64
            || range.min_len >> format::BLOCK_SHIFT > BITS_PER_BITMAP_BLOCK
        {
            return Err(EINVAL);
        }
        let first = (range.start >> format::BLOCK_SHIFT).max(g.data_start);
        let end = range
            .start
            .saturating_add(range.len)
            .div_ceil(format::BLOCK_SIZE as u64)
            .min(g.block_count);
        let min_blocks = (range.min_len >> format::BLOCK_SHIFT).max(1);
        let mut trimmed = 0;
        let mut block = first;
        while block < end {
            let chunk_end = (block / BITS_PER_BITMAP_BLOCK + 1) * BITS_PER_BITMAP_BLOCK;
            let chunk_end = chunk_end.min(end);
            trimmed += sbi.allocator().trim(sb, block, chunk_end, min_blocks)?;
            block = chunk_end;
        }
        Ok(trimmed << format::BLOCK_SHIFT)
    }
}
