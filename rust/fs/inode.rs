// SPDX-License-Identifier: GPL-2.0

//! Inodes: reading them from the inode table, creating, writing and
//! freeing them.

use super::extent_map::{ExtentMap, FreedRuns};
use super::xattr::{self, Xattrs};
use super::{corrupted, RexInode, RexSb};
use crate::format::{
    self, file_type, mode, DiskInode, Extent, ExtentBlock, Timestamp, INODE_APPEND, INODE_EXTENTS,
    INODE_IMMUTABLE, INODE_INLINE, INODE_NOATIME, INODE_NODUMP, INODE_SYNC, INODE_USER_FLAGS,
    INLINE_DATA_MAX,
};
use crate::vfs::{
    self, fs_flags, Attrs, Buffer, Idmap, InlineData, InodeParams, InodeType, NewInodeKind,
    NoFsScope, Owner,
};
use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{aref::ARef, Mutex},
};

const _: () = assert!(INLINE_DATA_MAX <= InlineData::CAPACITY);

/// The rexfs data of an in-memory inode.
#[pin_data]
pub(crate) struct InodeInfo {
    file_type: u16,
    crtime: Timestamp,
    rdev: u32,
    /// Symlinks: the target, when stored in the inode.
    inline: Option<KVec<u8>>,
    /// Regular files: the data while the extent map says it is inline.
    pub(super) inline_data: InlineData,
    /// Directories: the parent directory's inode number.
    parent: AtomicU64,
    /// The `chattr` flags ([`INODE_USER_FLAGS`]); changed under `i_rwsem`.
    user_flags: AtomicU16,
    /// The extent map. See the lock order in [`super`].
    #[pin]
    map: Mutex<ExtentMap>,
    /// Generation of `map`: bumped before every change, under the lock.
    generation: AtomicU64,
    /// The extended attribute block. See the lock order in [`super`].
    #[pin]
    pub(super) xattrs: Xattrs,
}

impl InodeInfo {
    /// Whether the inode is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.file_type == mode::S_IFDIR
    }

    /// Whether the inode's data blocks are metadata, written through the
    /// device's buffer cache: a directory's blocks, a long symlink's target.
    fn data_is_metadata(&self) -> bool {
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
    fn user_flags(&self) -> u16 {
        self.user_flags.load(Ordering::Relaxed)
    }

    /// Regular files: whether the data is stored in the inode.
    pub(super) fn is_inline(&self) -> bool {
        self.map.lock().inline
    }

    /// The current generation of the extent map, read without the lock.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Reads the extent map under its lock; `f` also gets the generation
    /// the map has while locked, to put into mappings as their cookie.
    pub(super) fn read_map<R>(&self, f: impl FnOnce(&ExtentMap, u64) -> R) -> R {
        let map = self.map.lock();
        f(&map, self.generation.load(Ordering::Relaxed))
    }

    /// Changes the extent map: bumps the generation, then runs `f` under the
    /// lock with the new generation. Every change of the map goes through
    /// here, so no mapping made before the change passes `iomap_valid` or
    /// the writeback check afterwards.
    pub(super) fn change_map<R>(&self, f: impl FnOnce(&mut ExtentMap, u64) -> R) -> R {
        let _nofs = NoFsScope::enter();
        let mut map = self.map.lock();
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        f(&mut map, generation)
    }
}

/// Returns inode `ino`, reading it from disk if it is not cached.
pub(super) fn iget(sb: &RexSb, ino: u64) -> Result<ARef<RexInode>> {
    let new = match sb.get_or_create_inode(ino)? {
        Ok(cached) => return Ok(cached),
        Err(new) => new,
    };
    let disk = read_disk_inode(sb, ino)?;
    let fail = |why: &str| corrupted(sb, format_args!("inode {ino}: {why}"));
    let mut map = ExtentMap::load(sb, ino, &disk)?;
    if disk.xattr_block != 0 && !sb.data().geometry().is_data_range(disk.xattr_block, 1) {
        return Err(fail("xattr block outside the data area"));
    }
    let mut inline = None;
    let mut inline_data = &[][..];
    let typ = match disk.file_type() {
        mode::S_IFDIR if disk.is_inline() => return Err(fail("inline directory")),
        mode::S_IFDIR => InodeType::Dir,
        mode::S_IFREG => {
            if disk.is_inline() {
                // DiskInode::decode checked that the size fits.
                map.inline = true;
                inline_data = &disk.data[..disk.size as usize];
            }
            InodeType::File
        }
        mode::S_IFLNK => {
            let target = read_symlink(sb, ino, &disk, &map)?;
            if disk.is_inline() {
                let mut copy = KVec::new();
                copy.extend_from_slice(&target, GFP_KERNEL)?;
                inline = Some(copy);
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
    new.init(
        InodeParams { typ, attrs, flags: to_fs_flags(user_flags), owner: Owner::FromAttrs },
        try_pin_init!(InodeInfo {
            file_type: disk.file_type(),
            crtime: disk.crtime,
            rdev: disk.rdev,
            inline,
            inline_data: InlineData::new(inline_data),
            parent: AtomicU64::new(disk.parent),
            user_flags: AtomicU16::new(user_flags),
            map <- new_mutex!(map),
            generation: AtomicU64::new(0),
            xattrs <- Xattrs::new(disk.xattr_block),
        }? Error),
    )
}

/// Returns inode `ino` for a file handle of `generation`: `ESTALE` when the
/// handle outlived the inode (the number is out of range, the slot is free,
/// or it holds a later inode).
pub(super) fn iget_for_handle(sb: &RexSb, ino: u64, generation: u32) -> Result<ARef<RexInode>> {
    let (block, offset) = sb.data().geometry().inode_location(ino).map_err(|_| ESTALE)?;
    // Unlike a directory entry, a handle may name a free slot. A slot that
    // does not decode is left to `iget` to report.
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

/// Reads the target of symlink `ino`: inline, or in its one data block.
fn read_symlink(sb: &RexSb, ino: u64, disk: &DiskInode, map: &ExtentMap) -> Result<KVec<u8>> {
    let len = disk.size as usize;
    if len == 0 || len >= format::BLOCK_SIZE {
        return Err(corrupted(sb, format_args!("symlink {ino}: bad length {len}")));
    }
    let mut target = KVec::with_capacity(len, GFP_KERNEL)?;
    if disk.is_inline() {
        target.extend_from_slice(&disk.data[..len], GFP_KERNEL)?;
    } else {
        let Some(blkno) = super::extent_map::written_block(map, 0) else {
            return Err(corrupted(sb, format_args!("symlink {ino}: no data block")));
        };
        let buf = sb.bread(blkno)?;
        target.extend_from_slice(&buf.data()[..len], GFP_KERNEL)?;
    }
    if target.contains(&0) {
        return Err(corrupted(sb, format_args!("symlink {ino}: NUL in target")));
    }
    Ok(target)
}

/// Reads and checks inode `ino` of the inode table.
fn read_disk_inode(sb: &RexSb, ino: u64) -> Result<DiskInode> {
    let fail = |why: &str| corrupted(sb, format_args!("inode {ino}: {why}"));
    let (block, offset) = sb.data().geometry().inode_location(ino).map_err(|e| fail(e.reason()))?;
    let buf = sb.bread(block)?;
    let disk = DiskInode::decode(&buf.data()[offset..offset + format::INODE_SIZE])
        .map_err(|e| fail(e.reason()))?;
    if disk.is_free() {
        return Err(fail("reference to a free inode"));
    }
    Ok(disk)
}

/// Writes `inode` into the inode-table slot of `ino`; returns the buffer of
/// its inode-table block.
pub(super) fn write_inode_slot(sb: &RexSb, ino: u64, inode: &DiskInode) -> Result<Buffer> {
    let (blkno, offset) = sb
        .data()
        .geometry()
        .inode_location(ino)
        .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?;
    let buf = sb.bread(blkno)?;
    buf.modify(|b| inode.encode(&mut b[offset..offset + format::INODE_SIZE]));
    Ok(buf)
}

/// Creates a new inode of `kind` for directory `dir`: allocates its slot
/// and, for long symlinks, its data block. The caller links it into `dir`
/// (or, for `O_TMPFILE`, the VFS drops its link); if that fails, clearing
/// its links frees it with its last reference.
pub(super) fn create(
    dir: &RexInode,
    kind: NewInodeKind<'_>,
    mode: u16,
    idmap: Idmap<'_>,
) -> Result<ARef<RexInode>> {
    let sb = dir.super_block();
    let sbi = sb.data();
    let (now_sec, now_nsec) = vfs::now();
    let now = Timestamp { sec: now_sec, nsec: now_nsec };
    let (typ, size, nlink) = match kind {
        NewInodeKind::File => (InodeType::File, 0, 1),
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
    let ino = {
        let _nofs = NoFsScope::enter();
        sbi.alloc.lock().alloc_inode(sb, &provisional)?
    };

    let mut map = ExtentMap::new();
    // New files keep their data inline until it outgrows the inode.
    map.inline = matches!(typ, InodeType::File);
    let mut inline = None;
    if let InodeType::Symlink(target) = &typ {
        if target.len() <= INLINE_DATA_MAX {
            let mut copy = KVec::with_capacity(target.len(), GFP_KERNEL)?;
            copy.extend_from_slice(target, GFP_KERNEL)?;
            inline = Some(copy);
        } else if let Err(e) = write_symlink_block(sb, target, &mut map) {
            free_slot(sb, ino);
            return Err(e);
        }
    }
    let rdev = if let InodeType::Special(rdev) = typ { rdev } else { 0 };
    // A new generation tells the file handles of the slot's earlier
    // inodes from this one's.
    let attrs = Attrs { mode, nlink, size, generation: vfs::random_u32(), ..Attrs::default() };
    let new = match sb.get_or_create_inode(ino) {
        Ok(Err(new)) => new,
        Ok(Ok(_)) => return Err(corrupted(sb, format_args!("inode {ino}: allocated while in use"))),
        Err(e) => {
            free_slot(sb, ino);
            return Err(e);
        }
    };
    let inode = new.init(
        InodeParams { typ, attrs, flags: 0, owner: Owner::Inherit(idmap, dir) },
        try_pin_init!(InodeInfo {
            file_type: mode & mode::S_IFMT,
            crtime: now,
            rdev,
            inline,
            inline_data: InlineData::new(&[]),
            parent: AtomicU64::new(dir.ino()),
            user_flags: AtomicU16::new(0),
            map <- new_mutex!(map),
            generation: AtomicU64::new(0),
            xattrs <- Xattrs::new(0),
        }? Error),
    )?;
    account_blocks(&inode);
    if let Err(e) = save(&inode) {
        inode.clear_nlink();
        return Err(e);
    }
    Ok(inode)
}

/// Stores a long symlink target in a new data block mapped at file block 0.
fn write_symlink_block(sb: &RexSb, target: &[u8], map: &mut ExtentMap) -> Result {
    let (blkno, _) = {
        let _nofs = NoFsScope::enter();
        sb.data().alloc.lock().alloc_blocks(sb, None, 1)?
    };
    let buf = sb.new_block(blkno)?;
    buf.modify(|b| b[..target.len()].copy_from_slice(target));
    map.insert(Extent { logical: 0, physical: blkno, len: 1, flags: 0 })
}

/// Gives back the slot of an inode whose creation failed.
fn free_slot(sb: &RexSb, ino: u64) {
    let _nofs = NoFsScope::enter();
    if let Err(e) = sb.data().alloc.lock().free_inode(sb, ino) {
        pr_err!("{}: inode {ino}: freeing after a failed create: {:?}\n", sb.id(), e);
    }
}

/// Writes the in-memory inode to its slot, and its extents beyond the inode
/// to its extent blocks; sets the space it reports (`i_blocks`).
pub(super) fn write_inode(inode: &RexInode, sync: bool) -> Result {
    let sb = inode.super_block();
    let info = inode.data();
    let attrs = inode.attrs();
    let mut disk = DiskInode {
        mode: attrs.mode,
        nlink: attrs.nlink,
        uid: attrs.uid,
        gid: attrs.gid,
        size: attrs.size as u64,
        atime: Timestamp { sec: attrs.atime, nsec: attrs.atime_ns },
        mtime: Timestamp { sec: attrs.mtime, nsec: attrs.mtime_ns },
        ctime: Timestamp { sec: attrs.ctime, nsec: attrs.ctime_ns },
        crtime: info.crtime,
        generation: attrs.generation,
        parent: info.parent(),
        rdev: info.rdev,
        xattr_block: info.xattrs.block_number(),
        flags: info.user_flags(),
        ..DiskInode::FREE
    };
    if let Some(target) = &info.inline {
        disk.flags |= INODE_INLINE;
        disk.data[..target.len()].copy_from_slice(target);
    } else if info.is_inline() {
        // Inline files are never larger than the inode holds: every path
        // that grows one past it converts it first.
        disk.flags |= INODE_INLINE;
        let len = (attrs.size as usize).min(INLINE_DATA_MAX);
        info.inline_data.snapshot(&mut disk.data[..len]);
    } else {
        store_extents(inode, &mut disk)?;
    }
    disk.blocks += u64::from(disk.xattr_block != 0);
    inode.set_bytes(disk.blocks << format::BLOCK_SHIFT);
    let buf = write_inode_slot(sb, inode.ino(), &disk)?;
    if sync {
        buf.sync()?;
    }
    Ok(())
}

/// Updates the space the inode reports (`i_blocks`) after its extent map or
/// its extended attributes changed: data, extent and attribute blocks.
pub(super) fn account_blocks(inode: &RexInode) {
    let info = inode.data();
    let blocks = info.read_map(|map, _| map_blocks(map)) + info.xattrs.blocks();
    inode.set_bytes(blocks << format::BLOCK_SHIFT);
}

/// Blocks the extent map takes: data and extent blocks.
fn map_blocks(map: &ExtentMap) -> u64 {
    map.data_blocks() + map.chain.len() as u64
}

/// Writes the inode into its inode-table buffer now (without waiting for
/// the disk), for namespace operations: see [`super::dir`].
pub(super) fn save(inode: &RexInode) -> Result {
    write_inode(inode, false)
}

/// Fills the extent fields and the data and extent block count of `disk`
/// and writes the extent blocks, growing or shrinking the chain to fit.
fn store_extents(inode: &RexInode, disk: &mut DiskInode) -> Result {
    let sb = inode.super_block();
    let ino = inode.ino();
    let _nofs = NoFsScope::enter();
    // Reading, not changing, the map: the generation stays as it is.
    let map = &mut *inode.data().map.lock();
    let needed = map.chain_blocks_needed();
    if map.dirty || map.chain.len() != needed {
        let mut alloc = sb.data().alloc.lock();
        while map.chain.len() < needed {
            let goal = map.chain.last().map(|b| b + 1);
            let (blkno, _) = alloc.alloc_blocks(sb, goal, 1)?;
            map.chain.push(blkno, GFP_KERNEL)?;
        }
        while map.chain.len() > needed {
            if let Some(blkno) = map.chain.pop() {
                sb.forget_block(blkno);
                alloc.free_blocks(sb, blkno, 1)?;
            }
        }
        drop(alloc);
        let rest = map.extents().get(INODE_EXTENTS..).unwrap_or(&[]);
        for (i, chunk) in rest.chunks(format::EXTENTS_PER_BLOCK).enumerate() {
            let blkno = map.chain[i];
            let next = map.chain.get(i + 1).copied().unwrap_or(0);
            sb.new_block(blkno)?.modify(|b| ExtentBlock::encode(b, blkno, ino, next, chunk));
        }
        map.dirty = false;
    }
    let extents = map.extents();
    for (i, e) in extents.iter().take(INODE_EXTENTS).enumerate() {
        e.encode(&mut disk.data[i * format::EXTENT_SIZE..]);
    }
    disk.extent_count = extents.len() as u32;
    disk.extent_block = map.chain.first().copied().unwrap_or(0);
    disk.blocks = map_blocks(map);
    Ok(())
}

/// Frees blocks `runs` of the allocator.
pub(super) fn free_runs(sb: &RexSb, runs: &FreedRuns) -> Result {
    let _nofs = NoFsScope::enter();
    let mut alloc = sb.data().alloc.lock();
    runs.iter().try_for_each(|&(start, len)| alloc.free_blocks(sb, start, len))
}

/// The inode is going away; if it has no links left, frees its blocks and
/// its slot.
pub(super) fn evict(inode: &RexInode) {
    let sb = inode.super_block();
    if inode.nlink() != 0 || sb.is_read_only() {
        return;
    }
    // The last close of an unlinked file may come while the filesystem is
    // frozen: wait for the thaw to free it.
    let _freeze = sb.start_internal_write();
    let result = (|| -> Result {
        let mut freed = FreedRuns::new();
        let chain = inode.data().change_map(|map, _| -> Result<KVec<u64>> {
            map.remove(0, u64::MAX, &mut freed)?;
            Ok(core::mem::take(&mut map.chain))
        })?;
        for blkno in chain.iter() {
            freed.push((*blkno, 1), GFP_KERNEL)?;
        }
        // Extent blocks, and the blocks of a directory or a symlink, are
        // metadata in the device's buffer cache: drop their buffers, dirty
        // or not, so that none is written over the blocks' next owner.
        let metadata = if inode.data().data_is_metadata() {
            &freed[..]
        } else {
            &freed[freed.len() - chain.len()..]
        };
        for &(start, len) in metadata {
            (start..start + len).for_each(|blkno| sb.forget_block(blkno));
        }
        free_runs(sb, &freed)?;
        xattr::evict(inode)?;
        let _nofs = NoFsScope::enter();
        sb.data().alloc.lock().free_inode(sb, inode.ino())
    })();
    if let Err(e) = result {
        pr_err!("{}: inode {}: freeing failed: {:?}\n", sb.id(), inode.ino(), e);
    }
}

/// The `chattr` flags: on disk, and as `FS_*_FL`.
const USER_FLAGS: [(u16, u32); 5] = [
    (INODE_IMMUTABLE, fs_flags::IMMUTABLE),
    (INODE_APPEND, fs_flags::APPEND),
    (INODE_SYNC, fs_flags::SYNC),
    (INODE_NOATIME, fs_flags::NOATIME),
    (INODE_NODUMP, fs_flags::NODUMP),
];

/// The `FS_*_FL` flags of the on-disk flags `disk`.
fn to_fs_flags(disk: u16) -> u32 {
    USER_FLAGS.iter().filter(|&&(d, _)| disk & d != 0).fold(0, |acc, &(_, f)| acc | f)
}

/// The `chattr` flags of `inode`, as `FS_*_FL`.
pub(super) fn flags(inode: &RexInode) -> u32 {
    to_fs_flags(inode.data().user_flags())
}

/// Sets the `chattr` flags of `inode` to `flags` (`FS_*_FL`), which must
/// all be ones rexfs has (`EOPNOTSUPP`), and its change time. The VFS holds
/// `i_rwsem` and has checked the caller's right to change them.
pub(super) fn set_flags(inode: &RexInode, flags: u32) -> Result {
    let known = USER_FLAGS.iter().fold(0, |acc, &(_, f)| acc | f);
    if flags & !known != 0 {
        return Err(EOPNOTSUPP);
    }
    let disk = USER_FLAGS.iter().filter(|&&(_, f)| flags & f != 0).fold(0, |acc, &(d, _)| acc | d);
    inode.data().user_flags.store(disk, Ordering::Relaxed);
    inode.touch(false);
    save(inode)
}

/// The `DT_*` type of `inode` for directory entries.
pub(super) fn dirent_type(inode: &RexInode) -> u8 {
    file_type::from_mode(inode.attrs().mode)
}
