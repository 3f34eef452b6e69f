// SPDX-License-Identifier: GPL-2.0

//! Block and inode allocation over the bitmap and the inode table, and the
//! orphan list.
//!
//! Every function here is called with the allocator lock held (the
//! [`Allocator`] is what it protects, see [`super::lock`]), which
//! serialises all changes of the bitmap, of inode-table slot ownership, of
//! the free counts and of the orphan list, and inside a [`Txn`], in which
//! each change writes the superblock's counts with the blocks it changed:
//! with a journal, the counts are exact after a crash.

use super::inode_table::{set_next_orphan, write_inode_slot};
use super::txn::Txn;
use super::{corrupted, RexSb};
use crate::format::{
    self, assign_bit, bitmap_payload, bitmap_payload_mut, bitmap_position, test_bit, BlockHeader,
    BlockKind, DiskInode, Superblock, BITS_PER_BITMAP_BLOCK,
};
use kernel::prelude::*;
use kernel::task::Pid;

/// Blocks freed by a journal transaction that has not committed yet.
#[derive(Clone, Copy)]
struct BusyRun {
    tid: u32,
    start: u64,
    end: u64,
}

/// Metadata blocks set aside for the operation a task runs ([`Txn::start`]),
/// which its allocations of metadata take first.
struct Reservation {
    task: Pid,
    /// Blocks set aside and not allocated yet.
    blocks: u64,
    /// Fewer were free than the operation asked for: it may not allocate
    /// file data (see [`Allocator::reserve`]).
    short: bool,
}

/// The allocator's state: the in-memory superblock, which holds the free
/// counts and the head of the orphan list, the orphan list itself, the busy
/// runs, the reservations, and where the next searches start.
pub(crate) struct Allocator {
    disk: Superblock,
    /// Blocks free in the bitmap whose freeing is not committed yet ("busy
    /// extents", as XFS calls them): they are not handed out again until
    /// it is. File data is written in place, not journaled, so a block
    /// reused at once and written could be lost to its old owner, whom a
    /// crash before the commit brings back; and jbd2 refuses a block that
    /// the committing transaction still holds as a new metadata block.
    /// Sorted by block; no two overlap.
    busy: KVec<BusyRun>,
    /// The blocks of [`Self::busy`].
    busy_blocks: u64,
    /// The running operations' reservations, and the blocks they hold.
    reservations: KVec<Reservation>,
    reserved: u64,
    /// The orphan list, from its head: unlinked inodes still in use, freed
    /// at their eviction, or at the next mount after a crash.
    orphans: KVec<u64>,
    block_hint: u64,
    ino_hint: u64,
}

impl Allocator {
    pub(super) fn new(disk: Superblock) -> Self {
        Allocator {
            block_hint: disk.geometry.data_start,
            ino_hint: format::ROOT_INO,
            orphans: KVec::new(),
            busy: KVec::new(),
            busy_blocks: 0,
            reservations: KVec::new(),
            reserved: 0,
            disk,
        }
    }

    /// Writes the in-memory superblock (counts, orphan list head) into
    /// block 0 in `txn`.
    fn write_super(&self, txn: &Txn<'_>) -> Result {
        let buf = txn.sb().bread(0)?;
        let disk = self.disk;
        txn.modify(&buf, |b| disk.encode(b))
    }

    /// The in-memory superblock.
    pub(super) fn disk(&self) -> &Superblock {
        &self.disk
    }

    /// The in-memory superblock, to change what is written at the next
    /// superblock write.
    pub(super) fn disk_mut(&mut self) -> &mut Superblock {
        &mut self.disk
    }

    /// Verifies every bitmap block and counts the free data blocks. Done
    /// once at mount, so that allocation does not checksum a block it only
    /// reads.
    pub(super) fn check_bitmap(&self, sb: &RexSb) -> Result<u64> {
        let g = self.disk.geometry;
        let mut free_blocks = 0;
        for index in 0..g.bitmap_blocks {
            let blkno = g.bitmap_start + index;
            let buf = sb.bread(blkno)?;
            format::verify_bitmap_block(buf.data(), &g, index)
                .map_err(|e| corrupted(sb, format_args!("bitmap block {blkno}: {}", e.reason())))?;
            // The bits of the metadata and of the blocks past the end are
            // set (verified): the clear ones are the free data blocks.
            free_blocks += bitmap_payload(buf.data())
                .iter()
                .map(|byte| u64::from(byte.count_zeros()))
                .sum::<u64>();
        }
        Ok(free_blocks)
    }

    /// Recounts the free blocks and inodes from the bitmap and the inode
    /// table: after an unclean shutdown the superblock's counts are stale
    /// (they are written at sync and unmount, not with every allocation).
    pub(super) fn recount(&mut self, sb: &RexSb) -> Result {
        let g = self.disk.geometry;
        let free_blocks = self.check_bitmap(sb)?;
        let mut free_inodes = 0;
        for index in 0..g.inode_table_blocks {
            let blkno = g.inode_table_start + index;
            let buf = sb.bread(blkno)?;
            for (slot, chunk) in buf.data().chunks(format::INODE_SIZE).enumerate() {
                let ino = index * format::INODES_PER_BLOCK + slot as u64 + 1;
                if ino > g.inode_count {
                    break;
                }
                let inode = DiskInode::decode(chunk)
                    .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?;
                free_inodes += u64::from(inode.is_free());
            }
        }
        self.disk.free_blocks = free_blocks;
        self.disk.free_inodes = free_inodes;
        Ok(())
    }

    /// Blocks that file data may not take: the last free blocks are kept for
    /// metadata (extent, directory and attribute blocks), so that an inode
    /// whose extents grew can still be written, and a file unlinked, when
    /// data has filled the filesystem. 1/64 of the blocks, at most 64.
    pub(super) fn metadata_reserve(&self) -> u64 {
        (self.disk.geometry.data_blocks() / 64).min(64)
    }

    /// Free blocks that file data may take, as `statfs` reports them.
    pub(super) fn available_blocks(&self) -> u64 {
        self.disk
            .free_blocks
            .saturating_sub(self.metadata_reserve())
    }

    /// Free blocks that neither wait for a commit nor are set aside.
    fn unclaimed(&self) -> u64 {
        self.disk
            .free_blocks
            .saturating_sub(self.busy_blocks + self.reserved)
    }

    /// Blocks the current task's operation may allocate for file data:
    /// none unless all the blocks it asked to set aside were, so that the
    /// data cannot take the blocks its extents need; then those free and
    /// not busy, but the metadata reserve, which holds the blocks set
    /// aside (metadata too) as long as it is the larger.
    fn data_available(&self, sb: &RexSb) -> u64 {
        if sb.data().probes.unsafe_skip_metadata_reservation.is_on() {
            return self.available_blocks();
        }
        match self.own_reservation() {
            Some(i) if self.reservations[i].short => 0,
            _ => (self.disk.free_blocks.saturating_sub(self.busy_blocks))
                .saturating_sub(self.metadata_reserve().max(self.reserved)),
        }
    }

    /// The index of the current task's reservation.
    fn own_reservation(&self) -> Option<usize> {
        let task = kernel::current!().pid();
        self.reservations.iter().position(|r| r.task == task)
    }

    /// Sets aside `blocks` metadata blocks (extent storage, directory
    /// blocks) for the operation the current task starts, unless it is
    /// inside one already, which set aside what both need; returns whether
    /// it did, then [`Self::end_reservation`] ends it. As XFS's block
    /// reservation of a transaction: the operation's data allocations
    /// cannot then take the blocks that storing its extents needs, which
    /// `dirty_inode` could only log as failed. Sets aside what is free,
    /// neither busy nor set aside already, if that is less: an operation
    /// that only frees or converts goes on, and any allocation of data
    /// fails with `ENOSPC` (then its caller may wait for busy blocks and
    /// start again).
    pub(super) fn reserve(&mut self, sb: &RexSb, blocks: u64) -> Result<bool> {
        if sb.data().probes.unsafe_skip_metadata_reservation.is_on()
            || self.own_reservation().is_some()
        {
            return Ok(false);
        }
        self.forget_committed(sb);
        let granted = blocks.min(self.unclaimed());
        self.reservations.push(
            Reservation {
                task: kernel::current!().pid(),
                blocks: granted,
                short: granted < blocks,
            },
            GFP_KERNEL,
        )?;
        self.reserved += granted;
        Ok(true)
    }

    /// Ends the current task's reservation, returning the blocks it did
    /// not allocate.
    pub(super) fn end_reservation(&mut self) {
        if let Some(Ok(ended)) = self.own_reservation().map(|i| self.reservations.remove(i)) {
            self.reserved -= ended.blocks;
        }
    }

    /// Allocates up to `max` contiguous blocks for file data, as
    /// [`Self::alloc_blocks`] does, but only from [`Self::data_available`].
    pub(super) fn alloc_data_blocks(
        &mut self,
        txn: &Txn<'_>,
        goal: Option<u64>,
        max: u64,
    ) -> Result<(u64, u64)> {
        // Before counting: a busy block left from a done commit would make
        // the caller wait for commits forever.
        self.forget_committed(txn.sb());
        match self.data_available(txn.sb()).min(max) {
            0 => Err(ENOSPC),
            max => self.claim_blocks(txn, goal, max),
        }
    }

    /// Forgets the busy blocks whose freeing has committed, discarding
    /// them first with `-o discard` (before they can be allocated again).
    fn forget_committed(&mut self, sb: &RexSb) {
        let sbi = sb.data();
        if let Some(journal) = sbi.journal() {
            let mut returned = 0;
            self.busy.retain(|b| {
                let committed = journal.is_committed(b.tid);
                if committed {
                    sbi.discard_freed(sb, b.start, b.end - b.start);
                    returned += b.end - b.start;
                }
                !committed
            });
            self.busy_blocks -= returned;
        }
    }

    /// Discards the free runs of at least `min` blocks in `from..to`, within
    /// one bitmap block, but their busy blocks (`FITRIM`, [`Rexfs::trim`]);
    /// returns the blocks discarded.
    ///
    /// [`Rexfs::trim`]: crate::vfs::SuperOps::trim
    pub(super) fn trim(&mut self, sb: &RexSb, from: u64, to: u64, min: u64) -> Result<u64> {
        self.forget_committed(sb);
        let (index, first_bit) = bitmap_position(from);
        let base = index * BITS_PER_BITMAP_BLOCK;
        let limit = (to - base) as usize;
        let buf = sb.bread(self.disk.geometry.bitmap_start + index)?;
        let mut bit = first_bit;
        let mut trimmed = 0;
        while let Some((run, len)) = find_free_run(bitmap_payload(buf.data()), bit, limit, u64::MAX)
        {
            bit = run + len;
            let (mut start, end) = (base + run as u64, base + bit as u64);
            while start < end {
                match self.not_busy(start, end - start) {
                    Ok(free) => {
                        if free >= min {
                            sb.discard(start, free)?;
                            trimmed += free;
                        }
                        start += free;
                    }
                    Err(busy_end) => start = busy_end,
                }
            }
        }
        Ok(trimmed)
    }

    /// Whether blocks were busy at the last allocation: a commit may have
    /// returned them since, so a failed allocation is worth another try.
    pub(super) fn has_busy(&self) -> bool {
        !self.busy.is_empty()
    }

    /// The part of `start..start + len` before the first busy block in it
    /// (`None` if that is the first), and where the next free block past
    /// the busy run may be.
    fn not_busy(&self, start: u64, len: u64) -> core::result::Result<u64, u64> {
        let end = start + len;
        // The runs are sorted and apart: the first ending past `start` is
        // the first that may overlap.
        let at = self.busy.partition_point(|b| b.end <= start);
        match self.busy.get(at) {
            Some(b) if b.start < end && b.start > start => Ok(b.start - start),
            Some(b) if b.start < end => Err(b.end),
            _ => Ok(len),
        }
    }

    /// Blocks `start..start + len` were freed in transaction `tid`: busy
    /// until it commits. [`Self::busy`] is kept sorted by block, so that a
    /// search of a filesystem full of busy blocks looks each up at once,
    /// not through all of them.
    fn add_busy(&mut self, tid: u32, start: u64, len: u64) -> Result {
        let at = self.busy.partition_point(|b| b.start < start);
        match at.checked_sub(1).and_then(|i| self.busy.get_mut(i)) {
            Some(prev) if prev.tid == tid && prev.end == start => prev.end = start + len,
            _ => {
                let run = BusyRun {
                    tid,
                    start,
                    end: start + len,
                };
                self.busy.reserve(1, GFP_KERNEL)?;
                self.busy
                    .insert_within_capacity(at, run)
                    .map_err(|_| ENOMEM)?;
            }
        }
        self.busy_blocks += len;
        Ok(())
    }

    /// Allocates up to `max` contiguous blocks for metadata, preferring a
    /// run that starts at `goal`: the blocks the current task's operation
    /// set aside first, then those free, neither busy nor set aside.
    /// Returns the first block and the count (at least one). Fails with
    /// `ENOSPC` if there are none (then, if blocks are busy, a commit is
    /// started, and a caller without a running handle may wait for it and
    /// try again).
    pub(super) fn alloc_blocks(
        &mut self,
        txn: &Txn<'_>,
        goal: Option<u64>,
        max: u64,
    ) -> Result<(u64, u64)> {
        self.forget_committed(txn.sb());
        let own = self.own_reservation();
        let set_aside = own.map_or(0, |i| self.reservations[i].blocks);
        let max = max.min(set_aside + self.unclaimed());
        if max == 0 {
            return Err(self.no_space(txn.sb()));
        }
        let (first, len) = self.claim_blocks(txn, goal, max)?;
        if let Some(i) = own {
            let taken = len.min(set_aside);
            self.reservations[i].blocks -= taken;
            self.reserved -= taken;
        }
        Ok((first, len))
    }

    /// Claims up to `max` contiguous blocks, of which the caller counted
    /// at least one free (and not busy, unless its protection is off).
    fn claim_blocks(&mut self, txn: &Txn<'_>, goal: Option<u64>, max: u64) -> Result<(u64, u64)> {
        let found = self.claim_run(txn, goal, false, |bits, from, limit, _| {
            find_free_run(bits, from, limit, max)
        })?;
        match found {
            Some(found) => Ok(found),
            None if self.has_busy() => Err(self.no_space(txn.sb())),
            None => Err(corrupted(
                txn.sb(),
                format_args!(
                    "free block count {} but no free block",
                    self.disk.free_blocks
                ),
            )),
        }
    }

    /// The error of an allocation that found no block: `ENOSPC`, after
    /// starting the commit that returns the busy blocks, if there are any.
    fn no_space(&self, sb: &RexSb) -> Error {
        if let (Some(journal), true) = (sb.data().journal(), self.has_busy()) {
            if let Err(e) = journal.commit(false) {
                return e;
            }
        }
        ENOSPC
    }

    /// Allocates `count` contiguous blocks for file data starting at a
    /// multiple of `align`, a power of two (a DAX file's PMD: 2 MiB of
    /// blocks at a 2 MiB boundary, which the device maps with one
    /// page-table entry), if a free, not busy run of them exists; `None`
    /// otherwise.
    pub(super) fn alloc_aligned_data_blocks(
        &mut self,
        txn: &Txn<'_>,
        goal: Option<u64>,
        count: u64,
        align: u64,
    ) -> Result<Option<(u64, u64)>> {
        self.forget_committed(txn.sb());
        if self.data_available(txn.sb()) < count {
            return Ok(None);
        }
        self.claim_run(txn, goal, true, |bits, from, limit, base| {
            find_aligned_free_run(bits, from, limit, base, count, align)
        })
    }

    /// Marks used the first run `find` finds free in the bitmap, from
    /// `goal` (or where the last allocation ended) to the end, then from
    /// the data start; skips busy blocks, and with `whole`, runs that are
    /// busy in part. `find(bits, from, limit, base)` looks in the bitmap
    /// block whose first bit is block `base`, between bits `from` and
    /// `limit`, for a run `(bit, len)`. The caller forgot the committed
    /// busy runs, before it counted the blocks it may take.
    fn claim_run(
        &mut self,
        txn: &Txn<'_>,
        goal: Option<u64>,
        whole: bool,
        find: impl Fn(&[u8], usize, usize, u64) -> Option<(usize, usize)>,
    ) -> Result<Option<(u64, u64)>> {
        let sb = txn.sb();
        let g = self.disk.geometry;
        let start = goal
            .filter(|&b| g.is_data_range(b, 1))
            .unwrap_or(self.block_hint);
        // Scan from `start` to the end, then from the data start to `start`.
        for (from, to) in [(start, g.block_count), (g.data_start, start)] {
            let mut block = from;
            while block < to {
                let (index, first_bit) = bitmap_position(block);
                let bitmap_blkno = g.bitmap_start + index;
                let block_base = index * BITS_PER_BITMAP_BLOCK;
                let limit = (to - block_base).min(BITS_PER_BITMAP_BLOCK) as usize;
                let buf = sb.bread(bitmap_blkno)?;
                let mut from_bit = first_bit;
                let mut found = None;
                while let Some((bit, len)) =
                    find(bitmap_payload(buf.data()), from_bit, limit, block_base)
                {
                    match self.not_busy(block_base + bit as u64, len as u64) {
                        Ok(free) if !whole || free == len as u64 => {
                            found = Some((bit, free as usize));
                            break;
                        }
                        Ok(_) => from_bit = bit + 1,
                        Err(busy_end) => {
                            from_bit = (busy_end - block_base).min(limit as u64) as usize
                        }
                    }
                }
                if let Some((bit, len)) = found {
                    txn.modify_sealed(&buf, |b| {
                        let bits = bitmap_payload_mut(b);
                        for i in bit..bit + len {
                            assign_bit(bits, i, true);
                        }
                        bitmap_header(bitmap_blkno).write(b);
                    })?;
                    let first = block_base + bit as u64;
                    self.disk.free_blocks -= len as u64;
                    self.block_hint = first + len as u64;
                    self.write_super(txn)?;
                    return Ok(Some((first, len as u64)));
                }
                block = block_base + BITS_PER_BITMAP_BLOCK;
            }
        }
        Ok(None)
    }

    /// Frees blocks `start..start + len`.
    pub(super) fn free_blocks(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        let sb = txn.sb();
        let g = self.disk.geometry;
        if !g.is_data_range(start, len) {
            return Err(corrupted(
                sb,
                format_args!("freeing blocks {start}+{len} outside the data area"),
            ));
        }
        let mut block = start;
        while block < start + len {
            let (index, first_bit) = bitmap_position(block);
            let bitmap_blkno = g.bitmap_start + index;
            let n =
                ((start + len - block) as usize).min(BITS_PER_BITMAP_BLOCK as usize - first_bit);
            let buf = sb.bread(bitmap_blkno)?;
            let double_free = txn.modify_sealed(&buf, |b| {
                let bits = bitmap_payload_mut(b);
                let double_free = (first_bit..first_bit + n).any(|i| !test_bit(bits, i));
                for i in first_bit..first_bit + n {
                    assign_bit(bits, i, false);
                }
                bitmap_header(bitmap_blkno).write(b);
                double_free
            })?;
            if double_free {
                return Err(corrupted(
                    sb,
                    format_args!("blocks {block}+{n} freed twice"),
                ));
            }
            self.disk.free_blocks += n as u64;
            block += n as u64;
        }
        match txn.tid() {
            Some(tid) => self.add_busy(tid, start, len)?,
            // Without a journal they may be allocated again at once.
            None => sb.data().discard_freed(sb, start, len),
        }
        self.write_super(txn)
    }

    /// Finds a free inode-table slot, writes `inode` into it and returns its
    /// inode number.
    pub(super) fn alloc_inode(&mut self, txn: &Txn<'_>, inode: &DiskInode) -> Result<u64> {
        let sb = txn.sb();
        let g = self.disk.geometry;
        if self.disk.free_inodes == 0 {
            return Err(ENOSPC);
        }
        for n in 0..g.inode_count {
            let ino = (self.ino_hint - 1 + n) % g.inode_count + 1;
            let (blkno, offset) = g
                .inode_location(ino)
                .map_err(|e| corrupted(sb, format_args!("{}", e.reason())))?;
            let buf = sb.bread(blkno)?;
            // Read under the buffer lock: another inode of the block may be
            // being written. Only this lock's holders take free slots, so
            // one found free stays free until it is claimed below.
            let free = buf
                .with_lock(|b| DiskInode::decode(&b[offset..offset + format::INODE_SIZE]))
                .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?
                .is_free();
            if free {
                txn.modify(&buf, |b| {
                    inode.encode(&mut b[offset..offset + format::INODE_SIZE])
                })?;
                self.disk.free_inodes -= 1;
                self.ino_hint = ino + 1;
                self.write_super(txn)?;
                return Ok(ino);
            }
        }
        Err(corrupted(
            sb,
            format_args!(
                "free inode count {} but no free inode",
                self.disk.free_inodes
            ),
        ))
    }

    /// Frees inode `ino`'s slot (the inode is on no orphan list).
    pub(super) fn free_inode(&mut self, txn: &Txn<'_>, ino: u64) -> Result {
        write_inode_slot(txn, ino, &DiskInode::FREE)?;
        self.disk.free_inodes += 1;
        self.write_super(txn)
    }

    /// Reads the orphan list at mount: the inodes a crash left unlinked but
    /// not freed; returns a copy of it. Each one is checked as the walk
    /// reaches it (the superblock's checks cover only the head): an inode in
    /// use, not the root directory, which freeing would take from under the
    /// mount, and not on the list already, which also bounds the walk by the
    /// inode count.
    pub(super) fn load_orphans(&mut self, sb: &RexSb) -> Result<KVec<u64>> {
        let g = self.disk.geometry;
        let mut ino = self.disk.orphan_head;
        while ino != 0 {
            if ino == self.disk.root_ino {
                return Err(corrupted(
                    sb,
                    format_args!("root directory {ino} on the orphan list"),
                ));
            }
            if self.orphans.len() as u64 >= g.inode_count || self.orphans.contains(&ino) {
                return Err(corrupted(
                    sb,
                    format_args!("orphan list loops at inode {ino}"),
                ));
            }
            self.orphans.push(ino, GFP_KERNEL)?;
            let (blkno, offset) = g
                .inode_location(ino)
                .map_err(|e| corrupted(sb, format_args!("orphan {ino}: {}", e.reason())))?;
            let buf = sb.bread(blkno)?;
            let disk = DiskInode::decode(&buf.data()[offset..offset + format::INODE_SIZE])
                .map_err(|e| corrupted(sb, format_args!("orphan {ino}: {}", e.reason())))?;
            if disk.is_free() {
                return Err(corrupted(
                    sb,
                    format_args!("free inode {ino} on the orphan list"),
                ));
            }
            ino = u64::from(disk.next_orphan);
        }
        let mut copy = KVec::new();
        copy.extend_from_slice(&self.orphans, GFP_KERNEL)?;
        Ok(copy)
    }

    /// Puts inode `ino` at the head of the orphan list: it has no links
    /// left but is still in use, and must be freed after a crash.
    pub(super) fn orphan_add(&mut self, txn: &Txn<'_>, ino: u64) -> Result {
        if !self.disk.geometry.has_journal() || self.orphans.contains(&ino) {
            return Ok(());
        }
        set_next_orphan(txn, ino, self.disk.orphan_head)?;
        self.orphans.insert_within_capacity(0, ino).or_else(|_| {
            self.orphans.reserve(1, GFP_KERNEL)?;
            self.orphans
                .insert_within_capacity(0, ino)
                .map_err(|_| ENOMEM)
        })?;
        self.disk.orphan_head = ino;
        self.write_super(txn)
    }

    /// Takes inode `ino` off the orphan list, if it is on it: it is being
    /// freed, or linked again.
    pub(super) fn orphan_remove(&mut self, txn: &Txn<'_>, ino: u64) -> Result {
        let Some(i) = self.orphans.iter().position(|&o| o == ino) else {
            return Ok(());
        };
        let next = self.orphans.get(i + 1).copied().unwrap_or(0);
        match i.checked_sub(1) {
            Some(prev) => set_next_orphan(txn, self.orphans[prev], next)?,
            None => {
                self.disk.orphan_head = next;
                self.write_super(txn)?;
            }
        }
        set_next_orphan(txn, ino, 0)?;
        self.orphans.remove(i).map_err(|_| EINVAL)?;
        Ok(())
    }
}

/// Finds the first run of clear bits in `bits[from..limit]`, at most `max`
/// long. Returns (first bit, length).
fn find_free_run(bits: &[u8], from: usize, limit: usize, max: u64) -> Option<(usize, usize)> {
    let mut bit = from;
    while bit < limit {
        // Skip full bytes quickly.
        if bit % 8 == 0 && bits[bit / 8] == 0xff {
            bit += 8;
            continue;
        }
        if test_bit(bits, bit) {
            bit += 1;
            continue;
        }
        let mut end = bit + 1;
        while end < limit && (end - bit) < max as usize && !test_bit(bits, end) {
            end += 1;
        }
        return Some((bit, end - bit));
    }
    None
}

/// The first run of `count` free bits of `bits` between bits `from` and
/// `limit` whose block (`base` plus the bit) is a multiple of `align`, a
/// power of two, as `(bit, count)`.
fn find_aligned_free_run(
    bits: &[u8],
    from: usize,
    limit: usize,
    base: u64,
    count: u64,
    align: u64,
) -> Option<(usize, usize)> {
    let count = count as usize;
    debug_assert!(align.is_power_of_two());
    // A mask, not `next_multiple_of`: no division, so no panic path.
    let first_aligned =
        |bit: usize| (((base + bit as u64 + align - 1) & !(align - 1)) - base) as usize;
    let mut bit = first_aligned(from);
    while bit + count <= limit {
        match (bit..bit + count).rev().find(|&b| test_bit(bits, b)) {
            None => return Some((bit, count)),
            Some(used) => bit = first_aligned(used + 1),
        }
    }
    None
}

/// The block header of bitmap block `blkno`.
fn bitmap_header(blkno: u64) -> BlockHeader {
    BlockHeader {
        kind: BlockKind::Bitmap,
        blkno,
        owner: 0,
    }
}

#[kunit_tests(rexfs_alloc)]
mod tests {
    use super::*;

    #[test]
    fn free_runs_in_a_bitmap() {
        let mut bits = [0u8; 8];
        for bit in [0, 1, 2, 5, 9] {
            assign_bit(&mut bits, bit, true);
        }
        assert_eq!(find_free_run(&bits, 0, 64, 100), Some((3, 2)));
        assert_eq!(find_free_run(&bits, 5, 64, 3), Some((6, 3)));
        assert_eq!(find_free_run(&bits, 10, 64, 100), Some((10, 54)));
        assert_eq!(find_free_run(&bits, 10, 12, 100), Some((10, 2)));
        bits = [0xff; 8];
        assert_eq!(find_free_run(&bits, 0, 64, 1), None);
    }

    #[test]
    fn busy_runs_sorted_and_looked_up() -> Result {
        let geometry = format::Geometry::new(1 << 16, 1024, 0).map_err(|_| EINVAL)?;
        let mut alloc = Allocator::new(Superblock::new(geometry, 0, [0; 16]));
        // Freed out of order; 20..30 joins 10..20 of the same transaction.
        for (tid, start, len) in [(1, 100, 10), (1, 10, 10), (2, 50, 5), (1, 20, 10)] {
            alloc.add_busy(tid, start, len)?;
        }
        let runs = alloc.busy.iter().map(|b| (b.start, b.end));
        assert!(runs.eq([(10, 30), (50, 55), (100, 110)]));
        assert_eq!(alloc.busy_blocks, 35);
        assert_eq!(alloc.not_busy(0, 10), Ok(10));
        assert_eq!(alloc.not_busy(0, 20), Ok(10));
        assert_eq!(alloc.not_busy(25, 10), Err(30));
        assert_eq!(alloc.not_busy(30, 100), Ok(20));
        assert_eq!(alloc.not_busy(55, 45), Ok(45));
        assert_eq!(alloc.not_busy(110, 5), Ok(5));
        Ok(())
    }

    #[test]
    fn aligned_free_runs_in_a_bitmap() {
        let mut bits = [0u8; 8];
        for bit in [1, 17] {
            assign_bit(&mut bits, bit, true);
        }
        // Runs of 8 at blocks that are multiples of 8; bit 0 is block 4.
        assert_eq!(find_aligned_free_run(&bits, 0, 64, 4, 8, 8), Some((4, 8)));
        assert_eq!(find_aligned_free_run(&bits, 0, 64, 0, 8, 8), Some((8, 8)));
        assert_eq!(
            find_aligned_free_run(&bits, 0, 64, 0, 16, 16),
            Some((32, 16))
        );
        assert_eq!(find_aligned_free_run(&bits, 0, 40, 0, 16, 16), None);
    }
}
