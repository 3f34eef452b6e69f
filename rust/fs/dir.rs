// SPDX-License-Identifier: GPL-2.0

//! Directories: lookup, readdir and the namespace operations.
//!
//! A directory's data is a sequence of directory blocks (see
//! [`format::DirBlock`]), read and written through the buffer cache. The
//! `readdir` position of an entry is its byte offset in the directory;
//! entries never move (a removed entry is merged into the one before it, or
//! becomes a free slot), so positions are stable. Positions 0 and 1 are "."
//! and "..", which are not stored (every entry offset is at least
//! [`format::HEADER_SIZE`]).
//!
//! With the `DIR_INDEX` feature, a directory that outgrows its first block
//! gets a hashed index ([`super::dir_index`]): lookups, creates and removals
//! then read O(log N) blocks, and a data block left empty is freed (a hole
//! that `readdir` skips).
//!
//! The VFS holds the directory's `i_rwsem` (shared for lookup and readdir,
//! exclusive for changes), which serialises the changes of its blocks.
//! Every inode a namespace operation changes is written to its inode-table
//! buffer right away ([`inode::save`]), so that `fsync` of the directory,
//! which writes all dirty metadata buffers, makes the operation durable.

use super::dir_index::{self, DirIndex};
use super::extent_map::{written_block, FreedRuns};
use super::ialloc::{self, orphan, CREATE_CREDITS, ORPHAN_CREDITS};
use super::inode::{self, account_blocks, iget_entry, save, write_credits};
use super::txn::{Credits, Txn};
use super::{corrupted, RexInode, Rexfs};
use crate::format::{
    self, block_room, dir_hash, dirent_size, file_type, init_dir_block, write_dirent, BlockHeader,
    BlockKind, DirBlock, DirEntry, Extent, FormatError, DIR_DATA_BLOCKS_MAX, EMPTY_BLOCK_ROOM,
    HEADER_SIZE, MAX_NAME_LEN,
};
use crate::vfs::{
    Buffer, DirEmitter, DirOps, Idmap, NewInodeKind, RenameFlag, RenameFlags, TmpFile,
    TmpFileAttached,
};
use kernel::{prelude::*, sync::aref::ARef};

const BLOCK_SIZE: i64 = format::BLOCK_SIZE as i64;

fn block_count(dir: &RexInode) -> u64 {
    (dir.size() / BLOCK_SIZE) as u64
}

/// Reads directory block `index` of `dir`.
fn read_block(dir: &RexInode, index: u64) -> Result<(u64, Buffer)> {
    let sb = dir.super_block();
    let ino = dir.ino();
    let blkno = inode::extents(dir)?.read(|map, _| written_block(map, index));
    let Some(blkno) = blkno else {
        return Err(corrupted(
            sb,
            format_args!("directory {ino}: hole at block {index}"),
        ));
    };
    Ok((blkno, sb.bread(blkno)?))
}

/// Calls `f` on directory block `index` of `dir`. Every walk of a
/// directory's blocks goes through here: the whole block is verified
/// before `f` sees any of its entries, so that nothing acts on part of a
/// block it then rejects (a `readdir` would emit its first entries again
/// and again). A block verified since it was read from disk is not
/// verified again.
fn with_block<R>(dir: &RexInode, index: u64, f: impl FnOnce(&DirBlock<'_>) -> R) -> Result<R> {
    let (blkno, buf) = checked_block(dir, index)?;
    let block = DirBlock::trusted(buf.data(), blkno, dir.ino())
        .map_err(|e| damaged_block(dir, blkno, e))?;
    Ok(f(&block))
}

/// Directory block `index` of `dir`, verified whole unless it was since
/// it was read from disk: its block number and buffer.
fn checked_block(dir: &RexInode, index: u64) -> Result<(u64, Buffer)> {
    let (blkno, buf) = read_block(dir, index)?;
    if !buf.is_verified() {
        let inode_count = dir.super_block().data().geometry().inode_count;
        DirBlock::verify(buf.data(), blkno, dir.ino(), inode_count)
            .map_err(|e| damaged_block(dir, blkno, e))?;
        buf.set_verified();
    }
    Ok((blkno, buf))
}

/// Reports block `blkno` of `dir` damaged as `e` says.
fn damaged_block(dir: &RexInode, blkno: u64, e: FormatError) -> Error {
    corrupted(
        dir.super_block(),
        format_args!("directory {} block {blkno}: {}", dir.ino(), e.reason()),
    )
}

/// Calls `f` on each entry (used or free) of directory block `index` of
/// `dir` until `f` returns `Some`, and returns that.
fn find_in_block<R>(
    dir: &RexInode,
    index: u64,
    mut f: impl FnMut(&DirEntry<'_>) -> Option<R>,
) -> Result<Option<R>> {
    with_block(dir, index, |block| block.entries().find_map(|e| f(&e)))
}

/// Where an entry is: block index, byte offset, and what it holds.
#[derive(Clone, Copy)]
struct Slot {
    index: u64,
    offset: usize,
    ino: u64,
    /// The entry's `file_type::*`.
    file_type: u8,
}

/// Finds the entry `name` of `dir`.
fn find(dir: &RexInode, name: &[u8]) -> Result<Option<Slot>> {
    if let Some(dir_index) = DirIndex::of(dir)? {
        return dir_index.find(name, |index, offset| find_indexed(dir, name, index, offset));
    }
    for index in 0..block_count(dir) {
        let found = find_in_block(dir, index, |e| {
            (e.ino != 0 && e.name == name).then_some(Slot {
                index,
                offset: e.offset,
                ino: e.ino,
                file_type: e.file_type,
            })
        })?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The entry at `offset` of data block `index` of `dir`, where a name key
/// of `name`'s hash points: `Some` if it is `name`, `None` if another name
/// of the same hash; damage if no entry of that hash is there.
fn find_indexed(dir: &RexInode, name: &[u8], index: u64, offset: usize) -> Result<Option<Slot>> {
    let found = find_in_block(dir, index, |e| {
        (e.offset == offset && e.ino != 0).then(|| {
            (
                dir_hash(e.name) == dir_hash(name),
                (e.name == name).then_some(Slot {
                    index,
                    offset,
                    ino: e.ino,
                    file_type: e.file_type,
                }),
            )
        })
    })?;
    match found {
        Some((true, slot)) => Ok(slot),
        _ => Err(corrupted(
            dir.super_block(),
            format_args!(
                "directory {}: index points to block {index} offset {offset}, not an entry of the name's hash",
                dir.ino()
            ),
        )),
    }
}

/// Whether `dir` has no entries.
fn is_empty(dir: &RexInode) -> Result<bool> {
    if let Some(dir_index) = DirIndex::of(dir)? {
        return Ok(!dir_index.has_names()?);
    }
    for index in 0..block_count(dir) {
        if find_in_block(dir, index, |e| (e.ino != 0).then_some(()))?.is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Changes directory block `index` of `dir` with `f` in `txn`, which
/// seals it.
fn modify_block<R>(
    txn: &Txn<'_>,
    dir: &RexInode,
    index: u64,
    f: impl FnOnce(&mut [u8]) -> R,
) -> Result<R> {
    let (blkno, buf) = checked_block(dir, index)?;
    let header = BlockHeader {
        kind: BlockKind::Directory,
        blkno,
        owner: dir.ino(),
    };
    txn.modify_sealed(&buf, |b| {
        let r = f(b);
        header.write(b);
        r
    })
}

/// What changing an entry of `dir` may change: the entry's block, or a new
/// block (allocated, mapped) or an emptied one (freed), its index (whose
/// new nodes are mapped too), and the directory's inode with the extents
/// of both.
fn entry_credits(dir: &RexInode) -> Result<Credits> {
    let (index, index_extents) = dir_index::credits(dir)?;
    Ok(Credits::blocks(2)
        .and(Credits::SUPER)
        .and(Credits::revokes(1))
        .and(Credits::allocations(1 + index_extents))
        .and(index)
        .and(write_credits(dir, inode::extents(dir)?, 1 + index_extents)))
}

/// What changing the links or times of an inode changes: its slot.
const INODE_CREDITS: Credits = Credits::blocks(1);

/// A copy of an entry's header and name, taken before changing its block.
struct EntryCopy {
    ino: u64,
    rec_len: usize,
    file_type: u8,
    name: [u8; MAX_NAME_LEN],
    name_len: usize,
}

impl EntryCopy {
    fn of(e: &DirEntry<'_>) -> Self {
        let mut name = [0; MAX_NAME_LEN];
        name[..e.name.len()].copy_from_slice(e.name);
        EntryCopy {
            ino: e.ino,
            rec_len: e.rec_len,
            file_type: e.file_type,
            name,
            name_len: e.name.len(),
        }
    }

    fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// Puts entry `name` -> `ino` in directory block `index` of `dir` in
/// `txn`, if it has room: into a free slot that fits, or the slack after a
/// used entry. Returns the entry's offset and the block's room after.
fn insert_in_block(
    txn: &Txn<'_>,
    dir: &RexInode,
    index: u64,
    name: &[u8],
    ino: u64,
    ftype: u8,
) -> Result<Option<(usize, usize)>> {
    let need = dirent_size(name.len());
    // One walk: the first entry with room for the name, and the most room
    // of the others (the block's room afterwards, with what is left there).
    let place = with_block(dir, index, |block| {
        let mut first_fit = None;
        let mut others = 0;
        for e in block.entries() {
            if first_fit.is_none() && e.room() >= need {
                first_fit = Some((e.offset, e.rec_len - e.room(), EntryCopy::of(&e)));
            } else {
                others = others.max(e.room());
            }
        }
        first_fit.map(|fit| (fit, others))
    })?;
    let Some(((offset, used, entry), others)) = place else {
        return Ok(None);
    };
    modify_block(txn, dir, index, |b| {
        if used == 0 {
            write_dirent(b, offset, ino, entry.rec_len, ftype, name);
        } else {
            write_dirent(b, offset, entry.ino, used, entry.file_type, entry.name());
            write_dirent(b, offset + used, ino, entry.rec_len - used, ftype, name);
        }
    })?;
    Ok(Some((
        offset + used,
        others.max(entry.rec_len - used - need),
    )))
}

/// Maps a new directory block at the end of `dir` in `txn`, holding the
/// one entry `name` -> `ino`; returns the block's index and room.
fn add_block(
    txn: &Txn<'_>,
    dir: &RexInode,
    name: &[u8],
    ino: u64,
    ftype: u8,
) -> Result<(u64, usize)> {
    let sb = dir.super_block();
    let index = block_count(dir);
    let map = inode::extents(dir)?;
    let goal = map.read(|map, _| map.goal_for(index));
    let (blkno, _) = sb.data().allocator().alloc_blocks(txn, goal, 1)?;
    let extent = Extent {
        logical: index,
        physical: blkno,
        len: 1,
        flags: 0,
    };
    map.change(|map, _| map.insert(extent))?;
    let header = BlockHeader {
        kind: BlockKind::Directory,
        blkno,
        owner: dir.ino(),
    };
    let room = txn.new_block(blkno, |b| {
        init_dir_block(b);
        write_dirent(
            b,
            HEADER_SIZE,
            ino,
            format::BLOCK_SIZE - HEADER_SIZE,
            ftype,
            name,
        );
        header.seal(b);
        block_room(b)
    })?;
    dir.set_size((index as i64 + 1) * BLOCK_SIZE);
    account_blocks(dir);
    Ok((index, room))
}

/// Makes the index of `dir`, whose blocks are all full, in `txn`: the keys
/// of every entry and block.
fn make_index<'a>(txn: &Txn<'_>, dir: &'a RexInode) -> Result<DirIndex<'a>> {
    let dir_index = DirIndex::create(txn, dir)?;
    for index in 0..block_count(dir) {
        with_block(dir, index, |block| {
            let names = block
                .entries()
                .filter(|e| e.ino != 0)
                .map(|e| (e.name, e.offset));
            dir_index.add_block(txn, index, names, block.room())
        })??;
    }
    Ok(dir_index)
}

/// Adds entry `name` -> `ino` to `dir` in `txn`: in a block with room (the
/// index's free-space keys find it; without an index, the first block with
/// room), or else in a new block. A directory with the `DIR_INDEX` feature
/// gets its index when its first block is full.
fn add_entry(txn: &Txn<'_>, dir: &RexInode, name: &[u8], ino: u64, ftype: u8) -> Result {
    let dir_index = match DirIndex::of(dir)? {
        Some(dir_index) => dir_index,
        None => {
            for index in 0..block_count(dir) {
                if insert_in_block(txn, dir, index, name, ino, ftype)?.is_some() {
                    return Ok(());
                }
            }
            let features = dir.super_block().data().feature_incompat();
            if block_count(dir) == 0 || features & format::FEATURE_INCOMPAT_DIR_INDEX == 0 {
                return add_block(txn, dir, name, ino, ftype).map(drop);
            }
            make_index(txn, dir)?
        }
    };
    if let Some((index, room)) = dir_index.block_with_room(dirent_size(name.len()))? {
        let Some((offset, new_room)) = insert_in_block(txn, dir, index, name, ino, ftype)? else {
            return Err(corrupted(
                dir.super_block(),
                format_args!(
                    "directory {}: block {index} has not the room its index says",
                    dir.ino()
                ),
            ));
        };
        dir_index.add_name(txn, name, index, offset)?;
        return dir_index.set_room(txn, index, room, new_room);
    }
    if block_count(dir) >= DIR_DATA_BLOCKS_MAX {
        return Err(ENOSPC);
    }
    let (index, room) = add_block(txn, dir, name, ino, ftype)?;
    dir_index.add_name(txn, name, index, HEADER_SIZE)?;
    dir_index.set_room(txn, index, 0, room)
}

/// A copy of the entry at `slot` of `dir`.
fn entry_at(dir: &RexInode, slot: Slot) -> Result<EntryCopy> {
    find_in_block(dir, slot.index, |e| {
        (e.offset == slot.offset).then(|| EntryCopy::of(e))
    })?
    .ok_or(EINVAL)
}

/// Removes the entry at `slot` of `dir` in `txn`: the entry before it in
/// its block takes over its space, or it becomes a free slot if it is the
/// first. With an index, its name key goes, and a block left empty (but
/// the first) is freed.
fn remove_entry(txn: &Txn<'_>, dir: &RexInode, slot: Slot) -> Result {
    // One walk: the entry, the one before it, with its room, and the
    // block's room.
    let (prev, this, room) = with_block(dir, slot.index, |block| {
        let (mut prev, mut this, mut room) = (None, None, 0);
        for e in block.entries() {
            room = room.max(e.room());
            if e.offset + e.rec_len == slot.offset {
                prev = Some((e.offset, e.room(), EntryCopy::of(&e)));
            } else if e.offset == slot.offset {
                this = Some(EntryCopy::of(&e));
            }
        }
        (prev, this, room)
    })?;
    let this = this.ok_or(EINVAL)?;
    // Only the space the entry leaves grows: the previous entry's room,
    // or a free slot of its own.
    let freed_room = prev
        .as_ref()
        .map_or(this.rec_len, |&(_, prev_room, _)| prev_room + this.rec_len);
    let new_room = room.max(freed_room);
    modify_block(txn, dir, slot.index, |b| match prev {
        Some((offset, _, p)) => write_dirent(
            b,
            offset,
            p.ino,
            p.rec_len + this.rec_len,
            p.file_type,
            p.name(),
        ),
        None => write_dirent(b, slot.offset, 0, this.rec_len, 0, &[]),
    })?;
    let Some(dir_index) = DirIndex::of(dir)? else {
        return Ok(());
    };
    dir_index.remove_name(txn, this.name(), slot.index, slot.offset)?;
    if new_room == EMPTY_BLOCK_ROOM && slot.index != 0 {
        dir_index.set_room(txn, slot.index, room, 0)?;
        return free_block(txn, dir, slot.index);
    }
    dir_index.set_room(txn, slot.index, room, new_room)
}

/// Frees the empty data block `index` of indexed directory `dir` in
/// `txn`; the directory ends at its last data block left.
fn free_block(txn: &Txn<'_>, dir: &RexInode, index: u64) -> Result {
    let mut freed = FreedRuns::new();
    let end = inode::extents(dir)?.change(|map, _| -> Result<u64> {
        map.remove(index, index + 1, &mut freed)?;
        Ok(map.end_before(index + 1))
    })?;
    for &(blkno, len) in freed.iter() {
        (blkno..blkno + len).try_for_each(|b| txn.forget(b))?;
        dir.super_block()
            .data()
            .allocator()
            .free_blocks(txn, blkno, len)?;
    }
    if index + 1 == block_count(dir) {
        dir.set_size(end as i64 * BLOCK_SIZE);
    }
    account_blocks(dir);
    Ok(())
}

/// Points the entry at `slot` of `dir` to `ino` in `txn`.
fn set_entry(txn: &Txn<'_>, dir: &RexInode, slot: Slot, ino: u64, ftype: u8) -> Result {
    let this = entry_at(dir, slot)?;
    modify_block(txn, dir, slot.index, |b| {
        write_dirent(b, slot.offset, ino, this.rec_len, ftype, this.name())
    })
}

fn check_name(name: &[u8]) -> Result {
    if name.len() > MAX_NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Finds `name` in `dir`, which the VFS says refers to `inode`.
fn find_existing(dir: &RexInode, name: &[u8], inode: &RexInode) -> Result<Slot> {
    match find(dir, name)? {
        Some(slot) if slot.ino == inode.ino() => Ok(slot),
        _ => Err(corrupted(
            dir.super_block(),
            format_args!(
                "directory {}: entry for inode {} not found",
                dir.ino(),
                inode.ino()
            ),
        )),
    }
}

/// Fails with `ENOTEMPTY` if `victim` is a directory with entries: it is
/// about to lose its name.
fn check_removable(victim: &RexInode) -> Result {
    if victim.data().is_dir() && !is_empty(victim)? {
        return Err(ENOTEMPTY);
    }
    Ok(())
}

/// Checks, before anything changes, the link counts that `victim` losing
/// its entry in `dir` drops: `victim`'s, which has a link since an entry
/// names it, and if it is a directory, `dir`'s (see
/// [`check_subdir_leaves`]). A count from a damaged inode may be lower;
/// dropping it would wrap around (`drop_nlink` warns at 0).
fn check_link_drop(dir: &RexInode, victim: &RexInode) -> Result {
    if victim.nlink() == 0 {
        return Err(corrupted(
            dir.super_block(),
            format_args!(
                "directory {}: entry names inode {}, which has no links",
                dir.ino(),
                victim.ino()
            ),
        ));
    }
    if victim.data().is_dir() {
        check_subdir_leaves(dir, victim)?;
    }
    Ok(())
}

/// Checks that `dir` may lose the link that the `..` of its subdirectory
/// `subdir` gives it: a directory with a subdirectory has at least three
/// (its entry, its `.` and the subdirectory's `..`).
fn check_subdir_leaves(dir: &RexInode, subdir: &RexInode) -> Result {
    if dir.nlink() <= 2 {
        return Err(corrupted(
            dir.super_block(),
            format_args!(
                "directory {}: {} links with subdirectory {}",
                dir.ino(),
                dir.nlink(),
                subdir.ino()
            ),
        ));
    }
    Ok(())
}

/// `victim` lost its entry in `dir`: drops its link (a directory loses both
/// of its own, and `dir` the one of its `..`); one left without links goes
/// on the orphan list until its last reference goes. The caller checked
/// the counts with [`check_link_drop`] before changing anything.
fn drop_link(txn: &Txn<'_>, dir: &RexInode, victim: &RexInode) -> Result {
    if victim.data().is_dir() {
        victim.clear_nlink();
        dir.drop_nlink();
    } else {
        victim.drop_nlink();
    }
    victim.touch(false);
    if victim.nlink() == 0 {
        orphan(txn, victim)?;
    }
    save(txn, victim)
}

/// A new inode that could not be linked in: without links, it is freed
/// with its last reference, and on the orphan list until then. `txn` must
/// stop before that reference goes.
fn unlinked(txn: &Txn<'_>, inode: &RexInode) {
    inode.clear_nlink();
    if let Err(e) = orphan(txn, inode).and_then(|()| save(txn, inode)) {
        pr_err!(
            "rexfs: inode {}: putting on the orphan list: {e:?}\n",
            inode.ino()
        );
    }
}

impl DirOps for Rexfs {
    /// Looks `name` up in `dir`.
    fn lookup(dir: &RexInode, name: &[u8]) -> Result<Option<ARef<RexInode>>> {
        dir.super_block().data().alive()?;
        check_name(name)?;
        find(dir, name)?
            .map(|slot| iget_entry(dir, slot.ino, slot.file_type))
            .transpose()
    }

    /// Emits the entries of `dir` from the emitter's position on. The
    /// position moves past each entry emitted, so that a call that fails
    /// after emitting some (the VFS keeps the position and returns those)
    /// goes on after them the next time.
    fn read_dir(dir: &RexInode, emitter: &mut DirEmitter<'_>) -> Result {
        dir.super_block().data().alive()?;
        if emitter.pos() == 0 {
            if !emitter.emit(b".", dir.ino(), file_type::DIR) {
                return Ok(());
            }
            emitter.set_pos(1);
        }
        if emitter.pos() == 1 {
            if !emitter.emit(b"..", dir.data().parent(), file_type::DIR) {
                return Ok(());
            }
            emitter.set_pos(HEADER_SIZE as i64);
        }
        let indexed =
            dir.super_block().data().feature_incompat() & format::FEATURE_INCOMPAT_DIR_INDEX != 0;
        while emitter.pos() < dir.size() {
            let pos = emitter.pos();
            let index = (pos / BLOCK_SIZE) as u64;
            let start = (pos % BLOCK_SIZE) as usize;
            // A freed block of an indexed directory: on to the next one.
            let next = inode::extents(dir)?.read(|map, _| map.next_mapped(index));
            if indexed && next > index {
                let next = next.min(block_count(dir));
                emitter.set_pos(next as i64 * BLOCK_SIZE + HEADER_SIZE as i64);
                continue;
            }
            let full = find_in_block(dir, index, |e| {
                if e.ino == 0 || e.offset < start {
                    return None;
                }
                if !emitter.emit(e.name, e.ino, e.file_type) {
                    return Some(());
                }
                emitter.set_pos(index as i64 * BLOCK_SIZE + (e.offset + e.rec_len) as i64);
                None
            })?;
            if full.is_some() {
                return Ok(());
            }
            emitter.set_pos((index as i64 + 1) * BLOCK_SIZE + HEADER_SIZE as i64);
        }
        Ok(())
    }

    /// Creates `name` in `dir`.
    fn create(
        dir: &RexInode,
        name: &[u8],
        kind: NewInodeKind<'_>,
        mode: u16,
        idmap: Idmap<'_>,
    ) -> Result<ARef<RexInode>> {
        check_name(name)?;
        let credits = entry_credits(dir)?.and(CREATE_CREDITS).and(ORPHAN_CREDITS);
        let txn = Txn::start(dir.super_block(), credits)?;
        let inode = ialloc::create(&txn, dir, kind, mode, idmap)?;
        if let Err(e) = add_entry(&txn, dir, name, inode.ino(), inode::dirent_type(&inode)) {
            unlinked(&txn, &inode);
            txn.stop()?;
            return Err(e);
        }
        if let NewInodeKind::Dir = kind {
            dir.inc_nlink();
        }
        dir.touch(true);
        save(&txn, dir)?;
        txn.stop()?;
        Ok(inode)
    }

    /// Adds hard link `name` in `dir` to `inode`.
    fn link(dir: &RexInode, name: &[u8], inode: &RexInode) -> Result {
        check_name(name)?;
        let credits = entry_credits(dir)?.and(INODE_CREDITS).and(ORPHAN_CREDITS);
        let txn = Txn::start(dir.super_block(), credits)?;
        add_entry(&txn, dir, name, inode.ino(), inode::dirent_type(inode))?;
        // An `O_TMPFILE` file gets its first link: it is no orphan any more.
        if inode.nlink() == 0 {
            dir.super_block()
                .data()
                .allocator()
                .orphan_remove(&txn, inode.ino())?;
        }
        inode.inc_nlink();
        inode.touch(false);
        save(&txn, inode)?;
        dir.touch(true);
        save(&txn, dir)?;
        txn.stop()
    }

    /// Removes `name` (which refers to `inode`) from `dir`; `rmdir` too.
    fn unlink(dir: &RexInode, name: &[u8], inode: &RexInode) -> Result {
        let slot = find_existing(dir, name, inode)?;
        check_removable(inode)?;
        check_link_drop(dir, inode)?;
        let credits = entry_credits(dir)?.and(INODE_CREDITS).and(ORPHAN_CREDITS);
        let txn = Txn::start(dir.super_block(), credits)?;
        remove_entry(&txn, dir, slot)?;
        drop_link(&txn, dir, inode)?;
        dir.touch(true);
        save(&txn, dir)?;
        txn.stop()
    }

    /// Renames `old_dir/old_name` (`old`) to `new_dir/new_name` (`new`, if it
    /// exists), or exchanges the two with `RENAME_EXCHANGE`. With
    /// `RENAME_WHITEOUT` (which the VFS refuses together with `RENAME_EXCHANGE`),
    /// `old_name` is left to a new whiteout, a character device 0:0 owned as
    /// `idmap` says.
    fn rename(
        old_dir: &RexInode,
        old_name: &[u8],
        old: &RexInode,
        new_dir: &RexInode,
        new_name: &[u8],
        new: Option<&RexInode>,
        flags: RenameFlags,
        idmap: Idmap<'_>,
    ) -> Result {
        check_name(new_name)?;
        let same_dir = old_dir.ino() == new_dir.ino();
        let old_is_dir = old.data().is_dir();
        let old_slot = find_existing(old_dir, old_name, old)?;
        let credits = entry_credits(old_dir)?
            .and(entry_credits(new_dir)?)
            .and(INODE_CREDITS.times(2))
            .and(CREATE_CREDITS)
            .and(ORPHAN_CREDITS.times(2));
        let txn = Txn::start(old_dir.super_block(), credits)?;

        if flags.contains(RenameFlag::Exchange) {
            let new = new.ok_or(ENOENT)?;
            let new_slot = find_existing(new_dir, new_name, new)?;
            let new_is_dir = new.data().is_dir();
            // A subdirectory that moves to the other directory takes the
            // link of its `..` along: from, the subdirectory, to.
            let moved = match (same_dir, old_is_dir, new_is_dir) {
                (false, true, false) => Some((old_dir, old, new_dir)),
                (false, false, true) => Some((new_dir, new, old_dir)),
                _ => None,
            };
            if let Some((from, subdir, _)) = moved {
                check_subdir_leaves(from, subdir)?;
            }
            set_entry(&txn, old_dir, old_slot, new.ino(), inode::dirent_type(new))?;
            set_entry(&txn, new_dir, new_slot, old.ino(), inode::dirent_type(old))?;
            if !same_dir {
                if old_is_dir {
                    old.data().set_parent(new_dir.ino());
                }
                if new_is_dir {
                    new.data().set_parent(old_dir.ino());
                }
            }
            if let Some((from, _, to)) = moved {
                from.drop_nlink();
                to.inc_nlink();
            }
            for inode in [old, new] {
                inode.touch(false);
                save(&txn, inode)?;
            }
        } else {
            if let Some(new) = new {
                check_removable(new)?;
                check_link_drop(new_dir, new)?;
            }
            if old_is_dir && !same_dir {
                check_subdir_leaves(old_dir, old)?;
            }
            // Made before anything changes, so that failing to make it changes
            // nothing.
            let whiteout = if flags.contains(RenameFlag::Whiteout) {
                let (kind, mode) = NewInodeKind::whiteout();
                Some(ialloc::create(&txn, old_dir, kind, mode, idmap)?)
            } else {
                None
            };
            let old_type = inode::dirent_type(old);
            let target = match new {
                Some(new) => find_existing(new_dir, new_name, new)
                    .and_then(|slot| set_entry(&txn, new_dir, slot, old.ino(), old_type)),
                None => add_entry(&txn, new_dir, new_name, old.ino(), old_type),
            };
            if let Err(e) = target {
                if let Some(whiteout) = &whiteout {
                    unlinked(&txn, whiteout);
                }
                txn.stop()?;
                return Err(e);
            }
            if let Some(new) = new {
                drop_link(&txn, new_dir, new)?;
            }
            // Adding may have split the old entry's predecessor: look it up again.
            let old_slot = find_existing(old_dir, old_name, old)?;
            match &whiteout {
                Some(whiteout) => set_entry(
                    &txn,
                    old_dir,
                    old_slot,
                    whiteout.ino(),
                    inode::dirent_type(whiteout),
                )?,
                None => remove_entry(&txn, old_dir, old_slot)?,
            }
            if old_is_dir && !same_dir {
                old.data().set_parent(new_dir.ino());
                old_dir.drop_nlink();
                new_dir.inc_nlink();
            }
            old.touch(false);
            save(&txn, old)?;
        }
        for dir in [old_dir, new_dir] {
            dir.touch(true);
            save(&txn, dir)?;
        }
        txn.stop()
    }

    /// The new file goes on the orphan list at once, and only
    /// [`DirOps::link`] takes it off. Attaching it to the file drops its one
    /// link in the same transaction: a crash must not leave it on the list
    /// with a link, which the next mount would keep.
    fn tmpfile(
        dir: &RexInode,
        mode: u16,
        idmap: Idmap<'_>,
        file: TmpFile<'_, Rexfs>,
    ) -> Result<TmpFileAttached> {
        let txn = Txn::start(dir.super_block(), CREATE_CREDITS.and(ORPHAN_CREDITS))?;
        let inode = ialloc::create(&txn, dir, NewInodeKind::File, mode, idmap)?;
        orphan(&txn, &inode)?;
        let attached = file.attach(inode);
        txn.stop()?;
        Ok(attached)
    }
}
