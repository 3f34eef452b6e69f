// SPDX-License-Identifier: GPL-2.0

//! Slots of the inode table: reading an on-disk inode, writing one.

use super::{corrupted, RexSb};
use crate::format::{self, DiskInode};
use crate::vfs::Buffer;
use kernel::prelude::*;

/// Reads and checks inode `ino` of the inode table.
pub(super) fn read_disk_inode(sb: &RexSb, ino: u64) -> Result<DiskInode> {
    let fail = |why: &str| corrupted(sb, format_args!("inode {ino}: {why}"));
    let (block, offset) = sb
        .data()
        .geometry()
        .inode_location(ino)
        .map_err(|e| fail(e.reason()))?;
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
