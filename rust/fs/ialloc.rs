// SPDX-License-Identifier: GPL-2.0

//! Creating inodes, and freeing them when their last link and reference
//! are gone.

use super::extent_map::{ExtentChain, ExtentMap, FreedRuns};
use super::inode::{
    self, account_blocks, extents, save, to_inode_flags, InodeInfo, InodeInit, InodeType,
};
use super::lock::LoadedMap;
use super::refcount::release_credits;
use super::txn::{Credits, Txn};
use super::{corrupted, xattr, RexInode, RexSb};
use crate::format::{self, mode, DiskInode, Extent, Timestamp, INLINE_DATA_MAX, INODE_DAX};
use crate::vfs::{self, Attrs, Idmap, InodeParams, NewInodeKind, Owner};
use kernel::{prelude::*, sync::aref::ARef};

/// What [`create`] may change: the new inode's slot and, for a long
/// symlink, its target block (allocated).
pub(super) const CREATE_CREDITS: Credits = Credits::blocks(2)
    .and(Credits::SUPER)
    .and(Credits::blocks(2));

/// Creates a new inode of `kind` for directory `dir` in `txn`: allocates
/// its slot and, for long symlinks, its data block. The caller links it
/// into `dir` (or, for `O_TMPFILE`, the VFS drops its link); if that fails,
/// clearing its links frees it with its last reference.
pub(super) fn create(
    txn: &Txn<'_>,
    dir: &RexInode,
    kind: NewInodeKind<'_>,
    mode: u16,
    idmap: Idmap<'_>,
) -> Result<ARef<RexInode>> {
    let sb = dir.super_block();
    let (now_sec, now_nsec) = vfs::now();
    let now = Timestamp {
        sec: now_sec,
        nsec: now_nsec,
    };
    // New files and directories inherit the directory's DAX flag.
    let user_flags = match kind {
        NewInodeKind::File | NewInodeKind::Dir => dir.data().user_flags() & INODE_DAX,
        NewInodeKind::Symlink(_) | NewInodeKind::Special(_) => 0,
    };
    let (typ, size, nlink) = match kind {
        NewInodeKind::File => (
            InodeType::File {
                dax: sb.data().dax.for_file(user_flags & INODE_DAX != 0),
            },
            0,
            1,
        ),
        NewInodeKind::Dir => (InodeType::Dir, 0, 2),
        NewInodeKind::Symlink(target) => {
            if target.is_empty() || target.len() >= format::BLOCK_SIZE {
                return Err(ENAMETOOLONG);
            }
            let mut copy = KVec::with_capacity(target.len(), GFP_KERNEL)?;
            copy.extend_from_slice(target, GFP_KERNEL)?;
            (InodeType::Symlink(copy), target.len() as i64, 1)
        }
        NewInodeKind::Special(rdev) => (InodeType::Special(rdev), 0, 1),
    };

    // Claim a slot first: the provisional inode marks it used on disk.
    let mut provisional = DiskInode::FREE;
    provisional.mode = mode;
    provisional.nlink = nlink;
    let ino = sb.data().allocator().alloc_inode(txn, &provisional)?;

    let mut map = ExtentMap::new();
    // New files keep their data inline until it outgrows the inode; DAX
    // files never do.
    map.inline = matches!(typ, InodeType::File { dax: false });
    let mut symlink = None;
    if let InodeType::Symlink(target) = &typ {
        if target.len() <= INLINE_DATA_MAX {
            let mut copy = KVec::with_capacity(target.len(), GFP_KERNEL)?;
            copy.extend_from_slice(target, GFP_KERNEL)?;
            symlink = Some(copy);
        } else if let Err(e) = write_symlink_block(txn, target, &mut map) {
            free_slot(txn, ino);
            return Err(e);
        }
    }
    let rdev = if let InodeType::Special(rdev) = typ {
        rdev
    } else {
        0
    };
    // A new generation tells the file handles of the slot's earlier
    // inodes from this one's.
    let attrs = Attrs {
        mode,
        nlink,
        size,
        generation: vfs::random_u32(),
        ..Attrs::default()
    };
    let new = match RexInode::get_or_new(sb, ino) {
        Ok(Err(new)) => new,
        Ok(Ok(_)) => {
            return Err(corrupted(
                sb,
                format_args!("inode {ino}: allocated while in use"),
            ))
        }
        Err(e) => {
            free_slot(txn, ino);
            return Err(e);
        }
    };
    let params = InodeParams {
        attrs,
        flags: to_inode_flags(user_flags),
        owner: Owner::Inherit(idmap, dir),
        tables: typ.tables(),
    };
    let inode = new.init(
        params,
        InodeInfo::new(InodeInit {
            file_type: mode & mode::S_IFMT,
            crtime: now,
            rdev,
            symlink,
            inline_data: &[],
            parent: dir.ino(),
            user_flags,
            map,
            chain: ExtentChain::default(),
            xattr_block: 0,
            // `save` below sets it.
            last_tid: 0,
            shared: false,
        }),
    )?;
    account_blocks(&inode);
    if let Err(e) = save(txn, &inode) {
        inode.clear_nlink();
        return Err(e);
    }
    Ok(inode)
}

/// Stores a long symlink target in a new data block mapped at file block 0.
fn write_symlink_block(txn: &Txn<'_>, target: &[u8], map: &mut ExtentMap) -> Result {
    let (blkno, _) = txn.sb().data().allocator().alloc_blocks(txn, None, 1)?;
    txn.new_block(blkno, |b| b[..target.len()].copy_from_slice(target))?;
    map.insert(Extent {
        logical: 0,
        physical: blkno,
        len: 1,
        flags: 0,
    })
}

/// Gives back the slot of an inode whose creation failed.
fn free_slot(txn: &Txn<'_>, ino: u64) {
    let sb = txn.sb();
    if let Err(e) = sb.data().allocator().free_inode(txn, ino) {
        pr_err!(
            "{}: inode {ino}: freeing after a failed create: {:?}\n",
            sb.id(),
            e
        );
    }
}

/// Frees blocks `runs` of the allocator in `txn`.
pub(super) fn free_runs(txn: &Txn<'_>, runs: &FreedRuns) -> Result {
    let mut alloc = txn.sb().data().allocator();
    runs.iter()
        .try_for_each(|&(start, len)| alloc.free_blocks(txn, start, len))
}

/// Gives back blocks `runs` that the extents of `inode` no longer map, in
/// `txn`: freed, or, for an inode that may share blocks, a reference less
/// (freed if it was the last).
pub(super) fn release_runs(txn: &Txn<'_>, inode: &RexInode, runs: &FreedRuns) -> Result {
    if !inode.data().may_share() {
        return free_runs(txn, runs);
    }
    let mut alloc = txn.sb().data().allocator();
    runs.iter()
        .try_for_each(|&(start, len)| alloc.release(txn, start, len))
}

/// Frees copy-on-write staging blocks `runs` in `txn`.
pub(super) fn free_staged(txn: &Txn<'_>, runs: &FreedRuns) -> Result {
    if runs.is_empty() {
        return Ok(());
    }
    let mut alloc = txn.sb().data().allocator();
    runs.iter()
        .try_for_each(|&(start, len)| alloc.free_staging(txn, start, len))
}

/// Unmaps file blocks `start..end` of `inode` in `txn`, with the staging
/// blocks of copy-on-write writes over them, and gives their blocks back
/// ([`release_runs`]). The caller reserves [`free_credits`] and
/// [`release_credits`] for the runs.
pub(super) fn unmap_range(txn: &Txn<'_>, inode: &RexInode, start: u64, end: u64) -> Result {
    let mut freed = FreedRuns::new();
    let mut staged = FreedRuns::new();
    extents(inode)?.change_with_cow(|map, cow, _| -> Result {
        map.remove(start, end, &mut freed)?;
        cow.remove(start, end, &mut staged)
    })?;
    release_runs(txn, inode, &freed)?;
    free_staged(txn, &staged)?;
    account_blocks(inode);
    Ok(())
}

/// Frees the staging blocks of `inode` that no write uses (at eviction).
fn free_unused_staging(inode: &RexInode) -> Result {
    let sb = inode.super_block();
    let txn = Txn::start(
        sb,
        free_credits(sb, u64::MAX, 0).and(release_credits(inode, u64::MAX, u64::MAX)),
    )?;
    let mut staged = FreedRuns::new();
    extents(inode)?.change_with_cow(|_, cow, _| cow.remove(0, u64::MAX, &mut staged))?;
    free_staged(&txn, &staged)?;
    txn.stop()
}

/// What freeing `runs` runs of `blocks` blocks in all may change.
pub(super) fn free_credits(sb: &RexSb, runs: u64, blocks: u64) -> Credits {
    Credits::bitmap_runs(sb.data().geometry(), runs, blocks)
}

/// Puts `inode`, which has no links left but is still in use, on the
/// orphan list in `txn`, so that a crash does not leak it.
pub(super) fn orphan(txn: &Txn<'_>, inode: &RexInode) -> Result {
    txn.sb().data().allocator().orphan_add(txn, inode.ino())
}

/// What [`orphan`] and taking an inode off the list may change: the
/// superblock and two inode-table blocks.
pub(super) const ORPHAN_CREDITS: Credits = Credits::blocks(2).and(Credits::SUPER);

/// What freeing `inode` may change: every bitmap block at worst, its slot
/// and the orphan list's, and it revokes its extent blocks, its attribute
/// block and, for a directory or a symlink, its data blocks (metadata).
fn evict_credits(inode: &RexInode, map: LoadedMap<'_>) -> Credits {
    let sb = inode.super_block();
    let info = inode.data();
    let chain = map.storage_blocks();
    let metadata_data = if info.data_is_metadata() {
        info.map.blocks()
    } else {
        0
    };
    Credits::bitmap_runs(sb.data().geometry(), u64::MAX, 0)
        .and(release_credits(inode, u64::MAX, u64::MAX))
        .and(Credits::blocks(1))
        .and(ORPHAN_CREDITS)
        .and(Credits::revokes(chain + metadata_data as u32 + 1))
}

/// The inode is going away; if it has no links left, frees its blocks, its
/// slot, and takes it off the orphan list, in one transaction.
pub(super) fn evict(inode: &RexInode) {
    let sb = inode.super_block();
    // After a shutdown or a journal abort nothing is written: the orphan
    // list, or fsck without a journal, frees the inode after the next
    // mount.
    if sb.is_read_only() || sb.data().writes_stopped() {
        return;
    }
    let info = inode.data();
    let has_cow = || info.map.has_cow();
    if inode.nlink() != 0 && !(info.may_share() && has_cow()) {
        return;
    }
    // The last close of an unlinked file may come while the filesystem is
    // frozen: wait for the thaw to free it.
    let _freeze = sb.start_internal_write();
    if inode.nlink() != 0 {
        // Its writeback is done: the staging blocks left are unused.
        if let Err(e) = free_unused_staging(inode) {
            pr_err!(
                "{}: inode {}: freeing staging blocks failed: {:?}\n",
                sb.id(),
                inode.ino(),
                e
            );
        }
        return;
    }
    let result = extents(inode).and_then(|map| {
        let txn = Txn::start(sb, evict_credits(inode, map))?;
        let mut data = FreedRuns::new();
        let mut staged = FreedRuns::new();
        map.change_with_cow(|map, cow, _| -> Result {
            map.remove(0, u64::MAX, &mut data)?;
            cow.remove(0, u64::MAX, &mut staged)
        })?;
        let chain = info
            .map
            .store(|_, _, chain| core::mem::take(&mut chain.blocks));
        // Extent blocks, and the blocks of a directory or a symlink, are
        // metadata in the device's buffer cache (and the journal): forget
        // them, dirty or not, so that none is written over the blocks' next
        // owner.
        if info.data_is_metadata() {
            for &(start, len) in data.iter() {
                (start..start + len).try_for_each(|blkno| txn.forget(blkno))?;
            }
        }
        let mut chain_runs = FreedRuns::new();
        for &blkno in chain.iter() {
            txn.forget(blkno)?;
            chain_runs.push((blkno, 1), GFP_KERNEL)?;
        }
        release_runs(&txn, inode, &data)?;
        free_staged(&txn, &staged)?;
        free_runs(&txn, &chain_runs)?;
        inode::free_extent_tree(&txn, inode)?;
        xattr::evict(&txn, inode)?;
        {
            let mut alloc = sb.data().allocator();
            alloc.orphan_remove(&txn, inode.ino())?;
            alloc.free_inode(&txn, inode.ino())?;
        }
        txn.stop()
    });
    if let Err(e) = result {
        pr_err!(
            "{}: inode {}: freeing failed: {:?}\n",
            sb.id(),
            inode.ino(),
            e
        );
    }
}
