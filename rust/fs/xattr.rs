// SPDX-License-Identifier: GPL-2.0

//! Extended attributes (`user.*` and `trusted.*`), all of an inode's in one
//! block (see [`format::XattrBlock`]).
//!
//! The block is allocated with the first attribute and freed with the last
//! one, or with the inode. Its users hold the inode's [`XattrLock`]: the
//! VFS runs get and list without `i_rwsem`, so the lock is what keeps them
//! from seeing a half-changed block, or a block that was just freed. See
//! the lock order in [`super::lock`].
//!
//! [`XattrLock`]: super::lock::XattrLock
//!
//! Limits: names of 1 to [`format::XATTR_NAME_MAX`] bytes (without the
//! prefix; `ERANGE` beyond, as ext4), and as many attributes and as large
//! values as fit in the block (`ENOSPC` beyond, as ext2 and ext4).

use super::inode::{account_blocks, inode_credits};
use super::txn::{Credits, Txn};
use super::{corrupted, RexInode, Rexfs};
use crate::format::{self, XattrBlock, XattrError};
use crate::vfs::{XattrList, XattrNamespace, XattrOps, XattrSetFlags};
use kernel::prelude::*;

/// The on-disk code of `namespace`.
fn on_disk(namespace: XattrNamespace) -> format::XattrNamespace {
    match namespace {
        XattrNamespace::User => format::XattrNamespace::User,
        XattrNamespace::Trusted => format::XattrNamespace::Trusted,
    }
}

/// The namespace of the on-disk code `namespace`.
fn from_disk(namespace: format::XattrNamespace) -> XattrNamespace {
    match namespace {
        format::XattrNamespace::User => XattrNamespace::User,
        format::XattrNamespace::Trusted => XattrNamespace::Trusted,
    }
}

/// Fails with `ERANGE`, as ext4, for a name longer than an entry holds
/// (the VFS already limits names with their prefix to 255 bytes).
fn check_name(name: &[u8]) -> Result {
    if name.len() > format::XATTR_NAME_MAX {
        return Err(ERANGE);
    }
    Ok(())
}

/// The error of a damaged attribute block `blkno` of `inode`.
fn damaged(inode: &RexInode, blkno: u64, e: format::FormatError) -> Error {
    let ino = inode.ino();
    corrupted(
        inode.super_block(),
        format_args!("inode {ino}: xattr block {blkno}: {}", e.reason()),
    )
}

/// Calls `f` with the verified attribute block of `inode`, under the lock;
/// `None` if it has none.
fn read_block<R>(inode: &RexInode, f: impl FnOnce(&XattrBlock<&[u8]>) -> R) -> Result<Option<R>> {
    inode.super_block().data().alive()?;
    let xattrs = inode.data().xattrs.lock();
    let blkno = xattrs.block();
    if blkno == 0 {
        return Ok(None);
    }
    let buf = inode.super_block().bread(blkno)?;
    let block =
        XattrBlock::decode(buf.data(), blkno, inode.ino()).map_err(|e| damaged(inode, blkno, e))?;
    Ok(Some(f(&block)))
}

/// What [`change`] did to an existing attribute block.
enum Outcome {
    /// The block holds the new set of attributes.
    Stored,
    /// The last attribute is to be removed: the block is to be freed.
    LastRemoved,
}

impl XattrOps for Rexfs {
    /// `getxattr`: calls `read` with the value of attribute `name`.
    fn get_xattr<R>(
        inode: &RexInode,
        namespace: XattrNamespace,
        name: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R> {
        check_name(name)?;
        read_block(inode, |block| {
            block.get(on_disk(namespace), name).map(|e| read(e.value))
        })?
        .flatten()
        .ok_or(ENODATA)
    }

    /// `listxattr`: adds every attribute to `list`.
    fn list_xattrs(inode: &RexInode, list: &mut XattrList<'_>) -> Result {
        read_block(inode, |block| {
            block
                .entries()
                .try_for_each(|e| list.add(from_disk(e.namespace), e.name))
        })?
        .unwrap_or(Ok(()))
    }

    /// `setxattr` and `removexattr` (`value` `None`), under `i_rwsem`.
    fn set_xattr(
        inode: &RexInode,
        namespace: XattrNamespace,
        name: &[u8],
        value: Option<&[u8]>,
        flags: XattrSetFlags,
    ) -> Result {
        check_name(name)?;
        let sb = inode.super_block();
        let ino = inode.ino();
        let namespace = on_disk(namespace);
        let txn = Txn::start(sb, SET_CREDITS.and(inode_credits(inode, 0)))?;
        let mut xattrs = inode.data().xattrs.lock();
        let blkno = xattrs.block();
        if blkno == 0 {
            // No attributes yet: nothing to replace or remove.
            let value = match value {
                Some(value) if !flags.replace => value,
                _ => return Err(ENODATA),
            };
            // Fail before allocating if it cannot fit.
            if format::xattr_entry_size(name.len(), value.len()) > format::XATTR_SPACE {
                return Err(ENOSPC);
            }
            let (blkno, _) = sb.data().allocator().alloc_blocks(&txn, None, 1)?;
            let stored = txn
                .new_block(blkno, |b| {
                    let mut block = XattrBlock::empty(b);
                    block.set(namespace, name, value).map_err(store_error)?;
                    block.seal(blkno, ino);
                    Ok(())
                })
                .and_then(|stored| stored);
            if let Err(e) = stored {
                free_block(&txn, blkno)?;
                return Err(e);
            }
            xattrs.set_block(blkno);
        } else {
            let buf = sb.bread(blkno)?;
            let outcome = txn.modify(&buf, |b| {
                change(b, blkno, ino, namespace, name, value, flags)
            })?;
            let outcome = outcome.map_err(|e| match e {
                Failure::Damaged(e) => damaged(inode, blkno, e),
                Failure::Refused(e) => e,
            })?;
            if let Outcome::LastRemoved = outcome {
                drop(buf);
                free_block(&txn, blkno)?;
                xattrs.set_block(0);
            }
        }
        drop(xattrs);
        account_blocks(inode);
        inode.touch(false);
        inode.mark_dirty();
        txn.stop()
    }
}

/// Why [`change`] left a block as it was.
enum Failure {
    /// The block does not verify.
    Damaged(format::FormatError),
    /// The change is not allowed or does not fit.
    Refused(Error),
}

/// Verifies the attribute block `b` of inode `ino` and sets or removes
/// attribute `name` in it as `flags` allow, resealing it; removing the last
/// attribute is left to the caller, which frees the block instead.
fn change(
    b: &mut [u8],
    blkno: u64,
    ino: u64,
    namespace: format::XattrNamespace,
    name: &[u8],
    value: Option<&[u8]>,
    flags: XattrSetFlags,
) -> Result<Outcome, Failure> {
    let mut block = XattrBlock::decode(b, blkno, ino).map_err(Failure::Damaged)?;
    let exists = block.get(namespace, name).is_some();
    if flags.create && exists {
        return Err(Failure::Refused(EEXIST));
    }
    if (flags.replace || value.is_none()) && !exists {
        return Err(Failure::Refused(ENODATA));
    }
    match value {
        None if block.len() == 1 => return Ok(Outcome::LastRemoved),
        None => {
            block.remove(namespace, name);
        }
        Some(value) => block
            .set(namespace, name, value)
            .map_err(|e| Failure::Refused(store_error(e)))?,
    }
    block.seal(blkno, ino);
    Ok(Outcome::Stored)
}

/// The error of an attribute the block cannot store.
fn store_error(e: XattrError) -> Error {
    match e {
        XattrError::BadName => ERANGE,
        XattrError::NoSpace => ENOSPC,
    }
}

/// What setting an attribute may change besides the inode: the attribute
/// block, allocated or freed (a bitmap block, the superblock, a revoke).
const SET_CREDITS: Credits = Credits::blocks(2)
    .and(Credits::SUPER)
    .and(Credits::revokes(1));

/// Frees attribute block `blkno` in `txn`, forgetting its cached buffer
/// first; under the [`XattrLock`](super::lock::XattrLock).
fn free_block(txn: &Txn<'_>, blkno: u64) -> Result {
    txn.forget(blkno)?;
    txn.sb().data().allocator().free_blocks(txn, blkno, 1)
}

/// Frees the attribute block of `inode`, which is being freed, in `txn`.
pub(super) fn evict(txn: &Txn<'_>, inode: &RexInode) -> Result {
    let mut xattrs = inode.data().xattrs.lock();
    let blkno = xattrs.block();
    if blkno != 0 {
        free_block(txn, blkno)?;
        xattrs.set_block(0);
    }
    Ok(())
}
