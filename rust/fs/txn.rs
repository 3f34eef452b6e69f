// SPDX-License-Identifier: GPL-2.0

//! Metadata changes ([`Txn`]): through a jbd2 handle when the filesystem
//! has a journal, so that each operation reaches the disk whole or not at
//! all; written in place through the buffer cache when it has none.
//!
//! Every change of a metadata block (bitmap, inode table, extent, directory
//! and attribute blocks, the superblock's counters) happens inside a `Txn`
//! started before the filesystem's locks are taken (see [`super::lock`]),
//! with [`Credits`] for the worst case of the operation.

use super::RexSb;
use crate::format::{self, Geometry};
use crate::vfs::{Buffer, CommitSeal, Handle};
use kernel::prelude::*;

/// The metadata blocks an operation may change and the metadata blocks it
/// may free, which a journal reserves room for when it starts, and the
/// metadata blocks it may allocate, which the allocator sets aside.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Credits {
    blocks: u32,
    revokes: u32,
    allocations: u32,
}

impl Credits {
    /// No metadata block.
    pub(super) const NONE: Credits = Credits::blocks(0);

    /// Changes of the superblock (its free counts, the orphan list head,
    /// its state).
    pub(super) const SUPER: Credits = Credits::blocks(1);

    /// `n` metadata blocks changed.
    pub(super) const fn blocks(n: u32) -> Self {
        Credits {
            blocks: n,
            revokes: 0,
            allocations: 0,
        }
    }

    /// `n` metadata blocks freed (their revoke records).
    pub(super) const fn revokes(n: u32) -> Self {
        Credits {
            blocks: 0,
            revokes: n,
            allocations: 0,
        }
    }

    /// `n` metadata blocks allocated (see [`Txn::start`]).
    pub(super) const fn allocations(n: u32) -> Self {
        Credits {
            blocks: 0,
            revokes: 0,
            allocations: n,
        }
    }

    /// Both `self` and `other`.
    pub(super) const fn and(self, other: Credits) -> Self {
        Credits {
            blocks: self.blocks.saturating_add(other.blocks),
            revokes: self.revokes.saturating_add(other.revokes),
            allocations: self.allocations.saturating_add(other.allocations),
        }
    }

    /// `self`, `n` times.
    pub(super) const fn times(self, n: u32) -> Self {
        Credits {
            blocks: self.blocks.saturating_mul(n),
            revokes: self.revokes.saturating_mul(n),
            allocations: self.allocations.saturating_mul(n),
        }
    }

    /// Allocating or freeing `runs` runs of blocks: a bitmap block each
    /// (a run of the allocator lies in one; a freed extent may span more,
    /// never more than the bitmap has) and the superblock's counts.
    pub(super) fn bitmap_runs(geometry: &Geometry, runs: u64, blocks: u64) -> Self {
        let per_block = format::BITS_PER_BITMAP_BLOCK;
        let touched = runs
            .saturating_add(blocks / per_block)
            .min(geometry.bitmap_blocks);
        Credits::blocks(touched as u32).and(Credits::SUPER)
    }
}

/// Seals the blocks changed by [`Txn::modify_sealed`] in the journal.
static COMMIT_SEAL: CommitSeal = CommitSeal::new(format::set_block_checksum);

/// A metadata change in progress; ended by [`Txn::stop`] (or on drop).
pub(crate) struct Txn<'a> {
    sb: &'a RexSb,
    handle: Option<Handle<'a>>,
    /// The change set blocks aside, to give back when it ends.
    reserved: bool,
}

impl<'a> Txn<'a> {
    /// Starts a change of `sb` that needs at most `credits`: a jbd2 handle
    /// (or the task's running one, joined) if `sb` has a journal. Fails
    /// with `ENOSPC` if the journal could never hold it, with `EIO` once the
    /// filesystem is shut down. Sets aside the metadata blocks it may
    /// allocate ([`super::alloc::Allocator::reserve`]), unless the task is
    /// inside a change already.
    ///
    /// The first change after damage was found (see
    /// [`super::errors::corrupted`]) also writes the superblock's flag.
    pub(super) fn start(sb: &'a RexSb, credits: Credits) -> Result<Self> {
        let sbi = sb.data();
        sbi.alive()?;
        let write_errors = sbi.errors.unwritten();
        let credits = if write_errors {
            credits.and(Credits::SUPER)
        } else {
            credits
        };
        let handle = match sbi.journal() {
            Some(journal) => {
                if credits.blocks > journal.max_credits()? {
                    pr_warn!(
                        "{}: an operation needs {} journal blocks, more than a transaction holds\n",
                        sb.id(),
                        credits.blocks
                    );
                    return Err(ENOSPC);
                }
                Some(journal.start(credits.blocks, credits.revokes)?)
            }
            None => None,
        };
        let mut txn = Txn {
            sb,
            handle,
            reserved: false,
        };
        if credits.allocations > 0 {
            txn.reserved = sbi.allocator().reserve(sb, credits.allocations.into())?;
        }
        // A joined handle has only the credits its first start asked for.
        let nested = txn.handle.as_ref().is_some_and(Handle::is_nested);
        if write_errors && !nested && sbi.errors.claim_write() {
            sbi.write_errors(sb, &txn)?;
        }
        Ok(txn)
    }

    /// The filesystem changed.
    pub(super) fn sb(&self) -> &'a RexSb {
        self.sb
    }

    /// The journal transaction the change belongs to, if journaled.
    pub(super) fn tid(&self) -> Option<u32> {
        self.handle.as_ref().map(Handle::tid)
    }

    /// Changes metadata block `buf` (read from disk) with `f`.
    pub(super) fn modify<R>(&self, buf: &Buffer, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        match &self.handle {
            Some(handle) => handle.modify(buf, f),
            None => Ok(buf.modify(f)),
        }
    }

    /// Changes metadata block `buf`, a block with a [`format::BlockHeader`]
    /// that the caller checked since it was read, with `f`, which writes
    /// the header ([`format::BlockHeader::write`]) but not the checksum:
    /// the block is sealed at once without a journal, and as its
    /// transaction commits with one ([`CommitSeal`]), once however often
    /// the transaction changes it. Its cached copy stays unsealed until
    /// then, so nothing may verify it again: it was checked (the buffer's
    /// verified flag, which only a read from disk clears).
    pub(super) fn modify_sealed<R>(
        &self,
        buf: &Buffer,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R> {
        buf.set_verified();
        match &self.handle {
            Some(handle) => handle.modify_sealed(buf, &COMMIT_SEAL, f),
            None => Ok(buf.modify(|b| {
                let r = f(b);
                format::set_block_checksum(b);
                r
            })),
        }
    }

    /// Fills block `blkno`, just allocated for metadata, with `f` from
    /// zeroes.
    pub(super) fn new_block<R>(&self, blkno: u64, f: impl FnOnce(&mut [u8]) -> R) -> Result<R> {
        match &self.handle {
            Some(handle) => handle.new_block(self.sb, blkno, f),
            None => Ok(self.sb.new_block(blkno)?.modify(f)),
        }
    }

    /// Metadata block `blkno` is being freed: its cached buffer must never
    /// be written over the block's next owner, nor an older journaled copy
    /// replayed over it.
    pub(super) fn forget(&self, blkno: u64) -> Result {
        match &self.handle {
            Some(handle) => handle.revoke(self.sb, blkno),
            None => {
                self.sb.forget_block(blkno);
                Ok(())
            }
        }
    }

    /// Ends the change after an allocation in it failed with `ENOSPC`; if
    /// blocks freed by uncommitted transactions wait for their commit, and
    /// the task held no handle before this one (a commit waits for every
    /// handle), waits for it: returns whether the allocation may be tried
    /// again.
    pub(super) fn stop_for_busy(self) -> Result<bool> {
        let sb = self.sb;
        let nested = self.is_nested();
        self.stop()?;
        if nested {
            return Ok(false);
        }
        commit_busy(sb)
    }

    /// Whether the task held a handle before this change started: then it
    /// must not wait for a commit, which waits for every handle.
    pub(super) fn is_nested(&self) -> bool {
        self.handle.as_ref().is_some_and(Handle::is_nested)
    }

    /// Ends the change, reporting a journal error (an abort).
    pub(super) fn stop(mut self) -> Result {
        self.handle.take().map_or(Ok(()), Handle::stop)
    }
}

impl Drop for Txn<'_> {
    fn drop(&mut self) {
        if self.reserved {
            self.sb.data().allocator().end_reservation();
        }
    }
}

/// After an allocation failed with `ENOSPC`, by a task that holds no
/// handle: if blocks freed by uncommitted transactions wait for their
/// commit, waits for it. Returns whether the allocation may be tried again.
pub(super) fn commit_busy(sb: &RexSb) -> Result<bool> {
    let Some(journal) = sb.data().journal() else {
        return Ok(false);
    };
    if !sb.data().allocator().has_busy() {
        return Ok(false);
    }
    journal.commit(true)?;
    sb.data().probes.busy_commit_waits.inc();
    Ok(true)
}
