// SPDX-License-Identifier: GPL-2.0

//! Slots of the inode table: reading an on-disk inode, writing one, and the
//! orphan list link each slot holds.

use super::txn::Txn;
use super::{corrupted, RexSb};
use crate::format::{self, DiskInode};
use crate::vfs::Buffer;
use kernel::prelude::*;

/// Inode-table blocks read ahead of one read from disk, as ext4's
/// `inode_readahead_blks`: a lookup of a name in a large directory rarely
/// finds its inode's block cached, and its neighbours' likely next.
const INODE_READAHEAD_BLOCKS: u64 = 31;

/// The inode-table block of inode `ino` and the inode's offset in it.
fn slot(sb: &RexSb, ino: u64) -> Result<(Buffer, usize)> {
    let g = sb.data().geometry();
    let (blkno, offset) = g
        .inode_location(ino)
        .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?;
    let table_end = g.inode_table_start + g.inode_table_blocks;
    let ahead = INODE_READAHEAD_BLOCKS.min(table_end - blkno - 1);
    Ok((sb.bread_ahead(blkno, ahead as u32)?, offset))
}

/// Reads inode `ino` of the inode table, to make an in-memory inode of it:
/// it must be in use, and pass the checks of every slot
/// ([`DiskInode::decode`]), those of an inode in use
/// ([`DiskInode::verify`]), which bound what reading it allocates, and
/// those of the superblock's features ([`DiskInode::check_features`]).
pub(super) fn read_disk_inode(sb: &RexSb, ino: u64) -> Result<DiskInode> {
    let fail = |why: &str| corrupted(sb, format_args!("inode {ino}: {why}"));
    let (buf, offset) = slot(sb, ino)?;
    let disk = DiskInode::decode(&buf.data()[offset..offset + format::INODE_SIZE])
        .map_err(|e| fail(e.reason()))?;
    if disk.is_free() {
        return Err(fail("reference to a free inode"));
    }
    disk.verify(sb.data().geometry())
        .map_err(|e| fail(e.reason()))?;
    disk.check_features(sb.data().feature_incompat())
        .map_err(|e| fail(e.reason()))?;
    Ok(disk)
}

/// Writes `inode`, orphan list link included, into the slot of `ino`.
pub(super) fn write_inode_slot(txn: &Txn<'_>, ino: u64, inode: &DiskInode) -> Result {
    let (buf, offset) = slot(txn.sb(), ino)?;
    txn.modify(&buf, |b| {
        inode.encode(&mut b[offset..offset + format::INODE_SIZE])
    })
}

/// Writes the in-memory state of inode `ino`, `inode`, into its slot,
/// keeping the slot's orphan list link (which the orphan list changes, not
/// the in-memory inode); returns the buffer of its inode-table block.
pub(super) fn update_inode_slot(txn: &Txn<'_>, ino: u64, inode: &DiskInode) -> Result<Buffer> {
    let (buf, offset) = slot(txn.sb(), ino)?;
    txn.modify(&buf, |b| {
        let slot = &mut b[offset..offset + format::INODE_SIZE];
        let inode = DiskInode {
            next_orphan: DiskInode::next_orphan_of(slot),
            ..*inode
        };
        inode.encode(slot);
    })?;
    Ok(buf)
}

/// Sets the orphan list link of inode `ino` to `next`.
pub(super) fn set_next_orphan(txn: &Txn<'_>, ino: u64, next: u64) -> Result {
    let sb = txn.sb();
    let next = u32::try_from(next).map_err(|_| EINVAL)?;
    let (buf, offset) = slot(sb, ino)?;
    let decoded = txn.modify(&buf, |b| {
        let slot = &mut b[offset..offset + format::INODE_SIZE];
        DiskInode::decode(slot).map(|inode| {
            DiskInode {
                next_orphan: next,
                ..inode
            }
            .encode(slot)
        })
    })?;
    decoded.map_err(|e| corrupted(sb, format_args!("orphan {ino}: {}", e.reason())))
}
