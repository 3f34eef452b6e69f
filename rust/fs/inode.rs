// SPDX-License-Identifier: GPL-2.0

//! In-memory inodes: their rexfs data ([`InodeInfo`]), reading them from
//! the inode table, writing them back, and finding them for file handles
//! ([`ExportOps`]). Creating and freeing them is in [`super::ialloc`].

use super::btree::TreeNodes;
use super::extent_map::{written_block, ExtentChain, ExtentMap};
use super::inode_table::{read_disk_inode, update_inode_slot};
use super::lock::{ExtentMapLock, LoadedMap, XattrLock};
use super::txn::{Credits, Txn};
use super::{corrupted, RexInode, RexSb, Rexfs};
use crate::format::{
    self, file_type, mode, BTree, DiskInode, ExtentBlock, Record, Timestamp, TreeKind,
    FEATURE_INCOMPAT_EXTENT_TREE, INLINE_DATA_MAX, INODE_APPEND, INODE_DAX, INODE_EXTENTS,
    INODE_IMMUTABLE, INODE_INLINE, INODE_NOATIME, INODE_NODUMP, INODE_SHARED, INODE_SYNC,
    INODE_USER_FLAGS,
};
use crate::vfs::{
    Attrs, Buffer, ExportOps, InlineData, InodeFlag, InodeFlags, InodeParams, InodeTables, Owner,
};
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use kernel::{prelude::*, sync::aref::ARef};

const _: () = assert!(INLINE_DATA_MAX <= InlineData::CAPACITY);

/// The rexfs data of an in-memory inode.
#[pin_data]
pub(crate) struct InodeInfo {
    file_type: u16,
    pub(super) crtime: Timestamp,
    pub(super) rdev: u32,
    /// Symlinks: the target, when stored in the inode.
    symlink: Option<KVec<u8>>,
    /// Regular files: the data while the extent map says it is inline.
    pub(super) inline_data: InlineData,
    /// Directories: the parent directory's inode number.
    parent: AtomicU64,
    /// The `chattr` flags ([`INODE_USER_FLAGS`]); changed under `i_rwsem`.
    user_flags: AtomicU16,
    /// The extent map. See the lock order in [`super::lock`].
    #[pin]
    pub(super) map: ExtentMapLock,
    /// The extended attribute block. See the lock order in [`super::lock`].
    #[pin]
    pub(super) xattrs: XattrLock,
    /// The journal transaction that last wrote the inode, which `fsync`
    /// commits.
    last_tid: AtomicU32,
    /// The inode may map shared blocks ([`INODE_SHARED`]): set by the
    /// first clone that shares its blocks, and never cleared; writes into
    /// the blocks of an inode without it need no reference count.
    shared: AtomicBool,
}

/// What an [`InodeInfo`] starts from: an inode read from disk, or a new one.
pub(super) struct InodeInit<'a> {
    pub(super) file_type: u16,
    pub(super) crtime: Timestamp,
    pub(super) rdev: u32,
    pub(super) symlink: Option<KVec<u8>>,
    pub(super) inline_data: &'a [u8],
    pub(super) parent: u64,
    pub(super) user_flags: u16,
    pub(super) map: ExtentMap,
    pub(super) chain: ExtentChain,
    pub(super) xattr_block: u64,
    /// The journal transaction that last wrote the inode, as far as known.
    pub(super) last_tid: u32,
    pub(super) shared: bool,
}

impl InodeInfo {
    /// The one constructor, so that each lock of an inode is one lockdep
    /// class.
    pub(super) fn new(init: InodeInit<'_>) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(InodeInfo {
            file_type: init.file_type,
            crtime: init.crtime,
            rdev: init.rdev,
            symlink: init.symlink,
            inline_data: InlineData::new(init.inline_data),
            parent: AtomicU64::new(init.parent),
            user_flags: AtomicU16::new(init.user_flags),
            map <- ExtentMapLock::new(init.map, init.chain),
            xattrs <- XattrLock::new(init.xattr_block),
            last_tid: AtomicU32::new(init.last_tid),
            shared: AtomicBool::new(init.shared),
        }? Error)
    }

    /// Whether the inode is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.file_type == mode::S_IFDIR
    }

    /// Whether the inode's data blocks are metadata, written through the
    /// device's buffer cache: a directory's blocks, a long symlink's target.
    pub(super) fn data_is_metadata(&self) -> bool {
        self.file_type != mode::S_IFREG
    }

    /// Directories: the parent directory.
    pub(super) fn parent(&self) -> u64 {
        self.parent.load(Ordering::Relaxed)
    }

    /// Directories: sets the parent directory (rename; under `i_rwsem`).
    pub(super) fn set_parent(&self, ino: u64) {
        self.parent.store(ino, Ordering::Relaxed);
    }

    /// The `chattr` flags, as stored on disk.
    pub(super) fn user_flags(&self) -> u16 {
        self.user_flags.load(Ordering::Relaxed)
    }

    /// Sets the `chattr` flags (under `i_rwsem`).
    pub(super) fn set_user_flags(&self, flags: u16) {
        self.user_flags.store(flags, Ordering::Relaxed);
    }

    /// The journal transaction that last wrote the inode.
    pub(super) fn last_tid(&self) -> u32 {
        self.last_tid.load(Ordering::Acquire)
    }

    /// Whether the inode may map shared blocks.
    pub(super) fn may_share(&self) -> bool {
        self.shared.load(Ordering::Acquire)
    }

    /// The inode maps shared blocks from now on (in the transaction that
    /// shares them, which writes the inode).
    pub(super) fn set_shared(&self) {
        self.shared.store(true, Ordering::Release);
    }

    /// Regular files: whether the data is stored in the inode.
    pub(super) fn is_inline(&self) -> bool {
        self.map.is_inline()
    }
}

/// The file type of an inode, with what its tables need.
pub(super) enum InodeType {
    /// A regular file, its data accessed with DAX or not.
    File { dax: bool },
    /// A directory.
    Dir,
    /// A symbolic link with its target.
    Symlink(KVec<u8>),
    /// A device node, FIFO or socket, with its device number.
    Special(u32),
}

impl InodeType {
    /// The operation tables of each inode type: the one place that decides
    /// them.
    pub(super) fn tables(self) -> InodeTables {
        match self {
            InodeType::File { dax } => InodeTables::regular_file::<Rexfs>(dax),
            InodeType::Dir => InodeTables::directory::<Rexfs>(),
            InodeType::Symlink(target) => InodeTables::symlink::<Rexfs>(target),
            InodeType::Special(rdev) => InodeTables::special::<Rexfs>(rdev),
        }
    }
}

/// The `chattr` flags: on disk, and as inode flags.
pub(super) const USER_FLAGS: [(u16, InodeFlag); 6] = [
    (INODE_IMMUTABLE, InodeFlag::Immutable),
    (INODE_APPEND, InodeFlag::Append),
    (INODE_SYNC, InodeFlag::Sync),
    (INODE_NOATIME, InodeFlag::NoAtime),
    (INODE_NODUMP, InodeFlag::NoDump),
    (INODE_DAX, InodeFlag::Dax),
];

/// The inode flags of the on-disk flags `disk`.
pub(super) fn to_inode_flags(disk: u16) -> InodeFlags {
    USER_FLAGS
        .iter()
        .filter(|&&(d, _)| disk & d != 0)
        .fold(InodeFlags::empty(), |acc, &(_, f)| acc | f)
}

/// The `DT_*` type of `inode` for directory entries.
pub(super) fn dirent_type(inode: &RexInode) -> u8 {
    file_type::from_mode(inode.attrs().mode)
}

/// Returns inode `ino`, reading it from disk if it is not cached.
pub(super) fn iget(sb: &RexSb, ino: u64) -> Result<ARef<RexInode>> {
    iget_checked(sb, ino, |_, _| Ok(()))
}

/// Returns inode `ino`, which an entry of type `entry_type` in directory
/// `dir` names: it must be in use, have links and be of the entry's type
/// ([`format::check_entry_target`]).
pub(super) fn iget_entry(dir: &RexInode, ino: u64, entry_type: u8) -> Result<ARef<RexInode>> {
    let sb = dir.super_block();
    iget_checked(sb, ino, |mode, nlink| {
        format::check_entry_target(entry_type, mode, nlink).map_err(|e| {
            corrupted(
                sb,
                format_args!(
                    "directory {} entry of inode {ino}: {}",
                    dir.ino(),
                    e.reason()
                ),
            )
        })
    })
}

/// Returns inode `ino` if `check` accepts its mode and link count. An inode
/// read from disk is checked before its in-memory inode is set up: failing
/// after would drop that inode's only reference, and evicting an inode
/// without links frees it.
fn iget_checked(
    sb: &RexSb,
    ino: u64,
    check: impl FnOnce(u16, u32) -> Result,
) -> Result<ARef<RexInode>> {
    let new = match RexInode::get_or_new(sb, ino)? {
        Ok(cached) => {
            check(cached.attrs().mode, cached.nlink())?;
            return Ok(cached);
        }
        Err(new) => new,
    };
    let disk = read_disk_inode(sb, ino)?;
    check(disk.mode, disk.nlink)?;
    let (mut map, chain) = ExtentMap::load(sb, ino, &disk)?;
    let mut symlink = None;
    let mut inline_data = &[][..];
    let typ = match disk.file_type() {
        mode::S_IFDIR => InodeType::Dir,
        mode::S_IFREG => {
            if disk.is_inline() {
                // DiskInode::decode checked that the size fits.
                map.inline = true;
                inline_data = &disk.data[..disk.size as usize];
            }
            InodeType::File {
                dax: !disk.is_inline() && sb.data().dax.for_file(disk.flags & INODE_DAX != 0),
            }
        }
        mode::S_IFLNK => {
            let target = read_symlink(sb, ino, &disk, &map)?;
            if disk.is_inline() {
                let mut copy = KVec::new();
                copy.extend_from_slice(&target, GFP_KERNEL)?;
                symlink = Some(copy);
            }
            InodeType::Symlink(target)
        }
        _ => InodeType::Special(disk.rdev),
    };
    let time = |t: Timestamp| (t.sec, t.nsec);
    let (atime, atime_ns) = time(disk.atime);
    let (mtime, mtime_ns) = time(disk.mtime);
    let (ctime, ctime_ns) = time(disk.ctime);
    let attrs = Attrs {
        mode: disk.mode,
        nlink: disk.nlink,
        uid: disk.uid,
        gid: disk.gid,
        size: disk.size as i64,
        sectors: disk.blocks << (format::BLOCK_SHIFT - 9),
        atime,
        atime_ns,
        mtime,
        mtime_ns,
        ctime,
        ctime_ns,
        generation: disk.generation,
    };
    let user_flags = disk.flags & INODE_USER_FLAGS;
    let params = InodeParams {
        attrs,
        flags: to_inode_flags(user_flags),
        owner: Owner::FromAttrs,
        tables: typ.tables(),
    };
    new.init(
        params,
        InodeInfo::new(InodeInit {
            file_type: disk.file_type(),
            crtime: disk.crtime,
            rdev: disk.rdev,
            symlink,
            inline_data,
            parent: disk.parent,
            user_flags,
            map,
            chain,
            xattr_block: disk.xattr_block,
            // Its last change may be in the running transaction (its
            // earlier in-memory inode is gone): fsync commits that.
            last_tid: sb.data().journal().map_or(0, |j| j.latest_tid()),
            shared: disk.flags & INODE_SHARED != 0,
        }),
    )
}

/// Reads the target of symlink `ino`, whose length [`DiskInode::verify`]
/// checked: inline (checked with the inode too), or in its one data block.
fn read_symlink(sb: &RexSb, ino: u64, disk: &DiskInode, map: &ExtentMap) -> Result<KVec<u8>> {
    let len = disk.size as usize;
    let mut target = KVec::with_capacity(len, GFP_KERNEL)?;
    if disk.is_inline() {
        target.extend_from_slice(&disk.data[..len], GFP_KERNEL)?;
    } else {
        // ExtentMap::load checked that a symlink not inline has it.
        let blkno = written_block(map, 0).ok_or(EINVAL)?;
        let buf = sb.bread(blkno)?;
        let stored = &buf.data()[..len];
        format::check_symlink_target(stored).map_err(|e| {
            corrupted(
                sb,
                format_args!("symlink {ino} block {blkno}: {}", e.reason()),
            )
        })?;
        target.extend_from_slice(stored, GFP_KERNEL)?;
    }
    Ok(target)
}

impl ExportOps for Rexfs {
    /// `ESTALE` when the handle outlived the inode (the number is out of
    /// range, the slot is free, or it holds a later inode).
    fn inode_for_handle(sb: &RexSb, ino: u64, generation: u32) -> Result<ARef<RexInode>> {
        let (block, offset) = sb
            .data()
            .geometry()
            .inode_location(ino)
            .map_err(|_| ESTALE)?;
        // Unlike a directory entry, a handle may name a free slot. A slot
        // that does not decode is left to `iget` to report.
        let free = DiskInode::decode(&sb.bread(block)?.data()[offset..offset + format::INODE_SIZE])
            .is_ok_and(|disk| disk.is_free());
        if free {
            return Err(ESTALE);
        }
        let inode = iget(sb, ino)?;
        if inode.attrs().generation != generation {
            return Err(ESTALE);
        }
        Ok(inode)
    }

    fn parent_dir(dir: &RexInode) -> Result<ARef<RexInode>> {
        iget(dir.super_block(), dir.data().parent())
    }
}

/// The extent map of `inode` with every extent in it: its extent tree is
/// read at the first use.
pub(super) fn extents(inode: &RexInode) -> Result<LoadedMap<'_>> {
    inode.data().map.loaded(inode.super_block(), inode.ino())
}

/// What writing `inode` may change after a change of its extent map `map`
/// that added up to `new_extents` extents: its inode-table block and the
/// blocks that store its extents, rewritten (every one, at worst: a
/// truncate changes them all), grown (allocated: a bitmap block each and
/// the superblock's counts, and the blocks themselves set aside) or shrunk
/// (revoked). A chain grows by a block per [`format::EXTENTS_PER_BLOCK`]
/// extents; a tree by a leaf per half a leaf of extents (a split leaves
/// both halves at least half full), and by a node a level of
/// [`TREE_LEVELS`] as the splits go up.
pub(super) fn write_credits(inode: &RexInode, map: LoadedMap<'_>, new_extents: u32) -> Credits {
    let growth = storage_growth(inode, new_extents);
    let allocations = if new_extents == 0 { 0 } else { growth };
    storage_credits(map.storage_blocks(), growth).and(Credits::allocations(allocations))
}

/// What writing `inode` may change when the caller does not change its
/// extent map, whose changes not stored yet added up to `pending_extents`
/// extents: as [`write_credits`], without reading an unread extent tree
/// (an unread map has no change to store), and without setting blocks
/// aside: the change of the map set aside what storing it needs.
pub(super) fn inode_credits(inode: &RexInode, pending_extents: u32) -> Credits {
    storage_credits(
        inode.data().map.storage_blocks(),
        storage_growth(inode, pending_extents),
    )
}

/// The journal credits of [`write_credits`] for an inode whose extents
/// are stored in `stored` blocks and may grow by `growth`.
fn storage_credits(stored: u32, growth: u32) -> Credits {
    Credits::blocks(1 + stored + 2 * growth)
        .and(Credits::SUPER)
        .and(Credits::revokes(stored))
}

/// The blocks the extent storage of `inode` may grow by with
/// `new_extents` more extents.
fn storage_growth(inode: &RexInode, new_extents: u32) -> u32 {
    let features = inode.super_block().data().feature_incompat();
    if features & FEATURE_INCOMPAT_EXTENT_TREE != 0 {
        let half_leaf = (TreeKind::Extent.leaf_capacity() / 2) as u32;
        new_extents.div_ceil(half_leaf) + TREE_LEVELS
    } else {
        new_extents.div_ceil(format::EXTENTS_PER_BLOCK as u32)
    }
}

/// Levels an extent tree may have in practice: four hold billions of
/// extents (168 to a leaf, 252 to an interior node).
const TREE_LEVELS: u32 = 4;

/// Writes the in-memory inode to its slot in `txn`, and its extents beyond
/// the inode to its extent blocks; sets the space it reports (`i_blocks`).
/// Returns the buffer of its inode-table block.
pub(super) fn write_inode(txn: &Txn<'_>, inode: &RexInode) -> Result<Buffer> {
    let info = inode.data();
    let attrs = inode.attrs();
    let mut disk = DiskInode {
        mode: attrs.mode,
        nlink: attrs.nlink,
        uid: attrs.uid,
        gid: attrs.gid,
        size: attrs.size as u64,
        atime: Timestamp {
            sec: attrs.atime,
            nsec: attrs.atime_ns,
        },
        mtime: Timestamp {
            sec: attrs.mtime,
            nsec: attrs.mtime_ns,
        },
        ctime: Timestamp {
            sec: attrs.ctime,
            nsec: attrs.ctime_ns,
        },
        crtime: info.crtime,
        generation: attrs.generation,
        parent: info.parent(),
        rdev: info.rdev,
        xattr_block: info.xattrs.block_number(),
        flags: info.user_flags() | if info.may_share() { INODE_SHARED } else { 0 },
        ..DiskInode::FREE
    };
    if let Some(target) = &info.symlink {
        disk.flags |= INODE_INLINE;
        disk.data[..target.len()].copy_from_slice(target);
    } else if info.is_inline() {
        // Inline files are never larger than the inode holds: every path
        // that grows one past it converts it first.
        disk.flags |= INODE_INLINE;
        let len = (attrs.size as usize).min(INLINE_DATA_MAX);
        info.inline_data.snapshot(&mut disk.data[..len]);
    } else {
        store_extents(txn, inode, &mut disk)?;
    }
    disk.blocks += u64::from(disk.xattr_block != 0);
    inode.set_bytes(disk.blocks << format::BLOCK_SHIFT);
    let buf = update_inode_slot(txn, inode.ino(), &disk)?;
    if let Some(tid) = txn.tid() {
        info.last_tid.store(tid, Ordering::Release);
    }
    Ok(buf)
}

/// Updates the space the inode reports (`i_blocks`) after its extent map or
/// its extended attributes changed: data, extent and attribute blocks.
pub(super) fn account_blocks(inode: &RexInode) {
    let info = inode.data();
    let xattr_blocks = u64::from(info.xattrs.block_number() != 0);
    inode.set_bytes((info.map.blocks() + xattr_blocks) << format::BLOCK_SHIFT);
}

/// Writes the inode in `txn`, for the operations that change it: see
/// [`super::dir`].
pub(super) fn save(txn: &Txn<'_>, inode: &RexInode) -> Result {
    write_inode(txn, inode).map(drop)
}

/// Fills the extent fields and the data and extent block count of `disk`
/// and, if the map changed since they were last stored, writes the extent
/// blocks: the chain, grown or shrunk to fit, or the tree's changed
/// records.
fn store_extents(txn: &Txn<'_>, inode: &RexInode, disk: &mut DiskInode) -> Result {
    let sb = inode.super_block();
    let tree = sb.data().feature_incompat() & FEATURE_INCOMPAT_EXTENT_TREE != 0;
    inode.data().map.store(|map, generation, chain| -> Result {
        if tree {
            store_tree(txn, inode, map, chain)?;
        } else if chain.stored_generation != generation
            || chain.blocks.len() != map.chain_blocks_needed()
        {
            store_chain(txn, inode, map, chain)?;
            chain.stored_generation = generation;
        }
        for (i, e) in map.iter().take(INODE_EXTENTS).enumerate() {
            e.encode(&mut disk.data[i * format::EXTENT_SIZE..]);
        }
        (disk.extent_count, disk.blocks) = chain.stored_counts(map);
        disk.extent_block = chain.first_block();
        Ok(())
    })
}

/// Frees the extent tree of `inode`, whose extents are all gone, in `txn`
/// (an inode being freed: nothing stores its map again).
pub(super) fn free_extent_tree(txn: &Txn<'_>, inode: &RexInode) -> Result {
    inode.data().map.store(|_, _, chain| {
        let nodes = &mut TreeNodes::extents(
            inode.super_block(),
            inode.ino(),
            Some(txn),
            &mut chain.tree_nodes,
        );
        destroy_tree(nodes, &mut chain.tree_root)
    })
}

/// Frees the extent tree at `*root`, if there is one, through `nodes`.
fn destroy_tree(nodes: &mut TreeNodes<'_, '_>, root: &mut u64) -> Result {
    if *root == 0 {
        return Ok(());
    }
    let tree = BTree {
        kind: TreeKind::Extent,
        owner: nodes.ino(),
        root: *root,
    };
    let destroyed = tree.destroy(nodes);
    nodes.check(destroyed)?;
    *root = 0;
    Ok(())
}

/// Rewrites the chain of extent blocks of `inode` in `txn` with the
/// extents of `map` past the inode's, growing or shrinking it to fit.
fn store_chain(
    txn: &Txn<'_>,
    inode: &RexInode,
    map: &ExtentMap,
    chain: &mut ExtentChain,
) -> Result {
    let sb = inode.super_block();
    let ino = inode.ino();
    let needed = map.chain_blocks_needed();
    let kept = chain.blocks.len().min(needed);
    let mut alloc = sb.data().allocator();
    while chain.blocks.len() < needed {
        let goal = chain.blocks.last().map(|b| b + 1);
        let (blkno, _) = alloc.alloc_blocks(txn, goal, 1)?;
        chain.blocks.push(blkno, GFP_KERNEL)?;
    }
    while chain.blocks.len() > needed {
        if let Some(blkno) = chain.blocks.pop() {
            txn.forget(blkno)?;
            alloc.free_blocks(txn, blkno, 1)?;
        }
    }
    drop(alloc);
    let mut rest = map.iter().skip(INODE_EXTENTS).copied().peekable();
    let mut chunk = KVec::with_capacity(format::EXTENTS_PER_BLOCK, GFP_KERNEL)?;
    for i in 0.. {
        if rest.peek().is_none() {
            break;
        }
        chunk.clear();
        for e in rest.by_ref().take(format::EXTENTS_PER_BLOCK) {
            chunk.push_within_capacity(e).map_err(|_| EINVAL)?;
        }
        let blkno = chain.blocks[i];
        let next = chain.blocks.get(i + 1).copied().unwrap_or(0);
        let encode = |b: &mut [u8]| ExtentBlock::encode(b, blkno, ino, next, &chunk);
        if i < kept {
            txn.modify(&sb.bread(blkno)?, encode)?;
        } else {
            txn.new_block(blkno, encode)?;
        }
    }
    Ok(())
}

/// Brings the extent tree of `inode` up to date with `map` in `txn`: the
/// records of the extents that changed since the last store. A store that
/// fails leaves them marked changed.
fn store_tree(
    txn: &Txn<'_>,
    inode: &RexInode,
    map: &mut ExtentMap,
    chain: &mut ExtentChain,
) -> Result {
    let Some(changed) = map.take_changed() else {
        return Ok(());
    };
    let result = sync_tree(txn, inode, map, chain, changed);
    if result.is_err() {
        map.restore_changed(changed);
    }
    result
}

/// Makes the records of the extent tree of `inode` with keys in `lo..=hi`
/// those of the extents of `map` past the inode's that start there; makes
/// the tree for the first extent past the inode's, destroys it after the
/// last. The tree holds the extents past the inode's: a change at or
/// before the first of them may move extents between the inode and the
/// tree, so it syncs from key 0 to past the first stored one and the first
/// one to store.
fn sync_tree(
    txn: &Txn<'_>,
    inode: &RexInode,
    map: &ExtentMap,
    chain: &mut ExtentChain,
    (lo, hi): (u64, u64),
) -> Result {
    let ino = inode.ino();
    let nodes = &mut TreeNodes::extents(inode.super_block(), ino, Some(txn), &mut chain.tree_nodes);
    let Some(first) = map.iter().nth(INODE_EXTENTS) else {
        return destroy_tree(nodes, &mut chain.tree_root);
    };
    let (tree, lo, hi) = if chain.tree_root == 0 {
        let created = BTree::create(nodes, TreeKind::Extent, ino, first.physical);
        let tree = nodes.check(created)?;
        chain.tree_root = tree.root;
        (tree, 0, u64::MAX)
    } else {
        let tree = BTree {
            kind: TreeKind::Extent,
            owner: ino,
            root: chain.tree_root,
        };
        let first_stored = tree.first_at_or_after(nodes, 0);
        let stored_first = nodes.check(first_stored)?.map(|r| r.key);
        match stored_first {
            Some(key) if lo > key && lo > first.logical => (tree, lo, hi),
            _ => (
                tree,
                0,
                hi.max(first.logical).max(stored_first.unwrap_or(0)),
            ),
        }
    };
    let mut stored = KVVec::<Record>::new();
    let mut full = false;
    let scanned = tree.scan(nodes, lo, |record| {
        if record.key > hi {
            return ControlFlow::Break(());
        }
        if stored.push(*record, GFP_KERNEL).is_err() {
            full = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    nodes.check(scanned)?;
    if full {
        return Err(ENOMEM);
    }
    let mut wanted = map
        .iter_from(lo.max(first.logical))
        .take_while(|e| e.logical <= hi)
        .map(|e| e.to_record())
        .peekable();
    let mut stored = stored.iter().copied().peekable();
    loop {
        let step = match (stored.peek().copied(), wanted.peek().copied()) {
            (None, None) => break,
            (Some(old), Some(new)) if old.key == new.key => {
                stored.next();
                wanted.next();
                if old.value == new.value {
                    continue;
                }
                tree.update(nodes, &new).map(drop)
            }
            (Some(old), Some(new)) if old.key < new.key => {
                stored.next();
                tree.remove(nodes, old.key).map(drop)
            }
            (Some(old), None) => {
                stored.next();
                tree.remove(nodes, old.key).map(drop)
            }
            (_, Some(new)) => {
                wanted.next();
                tree.insert(nodes, &new)
            }
        };
        nodes.check(step)?;
    }
    Ok(())
}
