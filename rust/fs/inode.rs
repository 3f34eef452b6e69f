// SPDX-License-Identifier: GPL-2.0

//! Reading inodes from the inode table.

use super::extent_map::ExtentMap;
use super::{corrupted, Rexfs, RexInode};
use crate::format::{self, mode, DiskInode};
use crate::vfs::{InodeParams, InodeType, SuperBlock, Timespec};
use kernel::{prelude::*, sync::aref::ARef};

/// The rexfs data of an in-memory inode.
pub(crate) struct InodeInfo {
    file_type: u16,
    /// Directories: the parent directory's inode number.
    pub(super) parent: u64,
    pub(super) extents: ExtentMap,
}

impl InodeInfo {
    /// Whether the inode is a directory.
    pub(super) fn is_dir(&self) -> bool {
        self.file_type == mode::S_IFDIR
    }
}

/// Returns inode `ino`, reading it from disk if it is not cached.
pub(super) fn iget(sb: &SuperBlock<Rexfs>, ino: u64) -> Result<ARef<RexInode>> {
    let new = match sb.get_or_create_inode(ino)? {
        Ok(cached) => return Ok(cached),
        Err(new) => new,
    };
    let disk = read_disk_inode(sb, new.ino())?;
    let typ = match disk.file_type() {
        mode::S_IFDIR if !disk.is_inline() => InodeType::Dir,
        mode::S_IFDIR => return Err(corrupted(sb, format_args!("inode {ino}: inline directory"))),
        other => {
            pr_err!("{}: inode {ino}: file type {other:o} not supported yet\n", sb.id());
            return Err(EOPNOTSUPP);
        }
    };
    let extents = ExtentMap::load(sb, ino, &disk)?;
    let time = |t: format::Timestamp| Timespec { sec: t.sec, nsec: t.nsec };
    Ok(new.init(InodeParams {
        typ,
        mode: disk.mode,
        nlink: disk.nlink,
        uid: disk.uid,
        gid: disk.gid,
        size: disk.size as i64,
        sectors: disk.blocks << (format::BLOCK_SHIFT - 9),
        atime: time(disk.atime),
        mtime: time(disk.mtime),
        ctime: time(disk.ctime),
        generation: disk.generation,
        data: InodeInfo { file_type: disk.file_type(), parent: disk.parent, extents },
    }))
}

/// Reads and checks inode `ino` of the inode table.
fn read_disk_inode(sb: &SuperBlock<Rexfs>, ino: u64) -> Result<DiskInode> {
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
