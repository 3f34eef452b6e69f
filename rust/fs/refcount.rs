// SPDX-License-Identifier: GPL-2.0

//! Reference counts of shared blocks, in the refcount table, and the
//! copy-on-write staging blocks: methods of the [`Allocator`], under its
//! lock, as every change of which blocks are in use.
//!
//! A block's entry is 0 while at most one extent maps it (the bitmap says
//! whether it is free), the number of extents that map it once a clone
//! shares it, and [`REFCOUNT_STAGING`] while it is a staging block:
//! allocated for a copy-on-write write, mapped by no extent until that
//! write completes, and freed by the next mount if a crash comes first.

use super::alloc::Allocator;
use super::extent_map::FreedRuns;
use super::txn::{Credits, Txn};
use super::{corrupted, RexInode, RexSb};
use crate::format::{self, Geometry, REFCOUNTS_PER_BLOCK, REFCOUNT_MAX, REFCOUNT_STAGING};
use kernel::prelude::*;

/// What changing the counts of `runs` runs of `blocks` blocks in all may
/// change: the table blocks (a run may straddle two).
pub(super) fn refcount_credits(geometry: &Geometry, runs: u64, blocks: u64) -> Credits {
    let touched = runs
        .saturating_mul(2)
        .saturating_add(blocks / REFCOUNTS_PER_BLOCK as u64)
        .min(geometry.refcount_blocks);
    Credits::blocks(touched as u32)
}

/// What giving back `runs` runs of `blocks` blocks of `inode` (its data or
/// its staging blocks) may change in the table: nothing for an inode that
/// never shared a block.
pub(super) fn release_credits(inode: &RexInode, runs: u64, blocks: u64) -> Credits {
    if !inode.data().may_share() {
        return Credits::NONE;
    }
    refcount_credits(inode.super_block().data().geometry(), runs, blocks)
}

/// A change of the entries of a run of blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CountChange {
    /// One more extent maps the blocks (a clone).
    Share,
    /// One extent less maps them: freed if it was the last.
    Release,
    /// Newly allocated blocks become staging blocks.
    Stage,
    /// Staging blocks become an extent's.
    Unstage,
}

/// Why a change cannot be made.
enum Refused {
    /// The entry contradicts the change: damage.
    Damaged(&'static str),
    /// A count would pass [`REFCOUNT_MAX`].
    Overflow,
}

impl CountChange {
    /// The entry after the change of `old`, and whether the block is freed.
    fn apply(self, old: u32) -> core::result::Result<(u32, bool), Refused> {
        use CountChange::*;
        match (self, old) {
            (_, 1) => Err(Refused::Damaged("reference count 1")),
            (Stage, 0) => Ok((REFCOUNT_STAGING, false)),
            (Stage, _) => Err(Refused::Damaged("staging a block in use")),
            (Unstage, REFCOUNT_STAGING) => Ok((0, false)),
            (Unstage, _) => Err(Refused::Damaged("not a staging block")),
            (_, REFCOUNT_STAGING) => Err(Refused::Damaged("an extent maps a staging block")),
            (Share, 0) => Ok((2, false)),
            (Share, REFCOUNT_MAX) => Err(Refused::Overflow),
            (Share, n) => Ok((n + 1, false)),
            (Release, 0) => Ok((0, true)),
            (Release, 2) => Ok((0, false)),
            (Release, n) => Ok((n - 1, false)),
        }
    }
}

impl Allocator {
    /// Whether block `start` is shared, and for how many blocks from it, up
    /// to `len`, that stays so.
    pub(super) fn shared_run(&self, sb: &RexSb, start: u64, len: u64) -> Result<(bool, u64)> {
        let geometry = self.disk().geometry;
        let mut shared = None;
        let mut block = start;
        while block < start + len {
            let (table_block, index) = format::refcount_location(&geometry, block);
            let n = ((start + len - block) as usize).min(REFCOUNTS_PER_BLOCK - index);
            let buf = sb.bread(table_block)?;
            for i in index..index + n {
                let count = format::refcount_get(buf.data(), i);
                let is_shared = count >= 2 && count != REFCOUNT_STAGING;
                match shared {
                    None => shared = Some(is_shared),
                    Some(s) if s != is_shared => {
                        return Ok((s, block + (i - index) as u64 - start));
                    }
                    Some(_) => {}
                }
            }
            block += n as u64;
        }
        Ok((shared.unwrap_or(false), len))
    }

    /// One more extent maps blocks `start..start + len` (a clone): `EMLINK`
    /// if a count would overflow, the table unchanged.
    pub(super) fn share(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        self.change_counts(txn, start, len, CountChange::Share)
    }

    /// One extent less maps blocks `start..start + len`: those it mapped
    /// alone are freed.
    pub(super) fn release(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        self.change_counts(txn, start, len, CountChange::Release)
    }

    /// Blocks `start..start + len`, just allocated, become staging blocks.
    pub(super) fn stage(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        self.change_counts(txn, start, len, CountChange::Stage)
    }

    /// Staging blocks `start..start + len` become an extent's.
    pub(super) fn unstage(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        self.change_counts(txn, start, len, CountChange::Unstage)
    }

    /// Staging blocks `start..start + len` go unused: freed.
    pub(super) fn free_staging(&mut self, txn: &Txn<'_>, start: u64, len: u64) -> Result {
        self.unstage(txn, start, len)?;
        self.free_blocks(txn, start, len)
    }

    /// Applies `change` to the entries of blocks `start..start + len`,
    /// checking every entry before it changes any, so that a refused change
    /// leaves the table as it was; frees the blocks a release leaves
    /// unmapped.
    fn change_counts(
        &mut self,
        txn: &Txn<'_>,
        start: u64,
        len: u64,
        change: CountChange,
    ) -> Result {
        let sb = txn.sb();
        let geometry = self.disk().geometry;
        if !geometry.is_data_range(start, len) || geometry.refcount_blocks == 0 {
            return Err(corrupted(
                sb,
                format_args!("reference counts of blocks {start}+{len}: not shareable"),
            ));
        }
        let table_runs = |f: &mut dyn FnMut(u64, u64, usize, usize) -> Result| -> Result {
            let mut block = start;
            while block < start + len {
                let (table_block, index) = format::refcount_location(&geometry, block);
                let n = ((start + len - block) as usize).min(REFCOUNTS_PER_BLOCK - index);
                f(block, table_block, index, n)?;
                block += n as u64;
            }
            Ok(())
        };
        table_runs(&mut |block, table_block, index, n| {
            let buf = sb.bread(table_block)?;
            for i in index..index + n {
                match change.apply(format::refcount_get(buf.data(), i)) {
                    Ok(_) => {}
                    Err(Refused::Overflow) => return Err(EMLINK),
                    Err(Refused::Damaged(why)) => {
                        let at = block + (i - index) as u64;
                        return Err(corrupted(sb, format_args!("block {at}: {why}")));
                    }
                }
            }
            Ok(())
        })?;
        let mut freed = FreedRuns::new();
        table_runs(&mut |block, table_block, index, n| {
            let buf = sb.bread(table_block)?;
            txn.modify(&buf, |b| -> Result {
                for i in index..index + n {
                    // Checked above, under the same allocator lock.
                    let (count, free) = change
                        .apply(format::refcount_get(b, i))
                        .map_err(|_| EINVAL)?;
                    format::refcount_set(b, i, count);
                    if free {
                        let at = block + (i - index) as u64;
                        match freed.last_mut() {
                            Some((s, l)) if *s + *l == at => *l += 1,
                            _ => freed.push((at, 1), GFP_KERNEL)?,
                        }
                    }
                }
                format::seal_refcount_block(b, table_block);
                Ok(())
            })?
        })?;
        freed
            .iter()
            .try_for_each(|&(s, l)| self.free_blocks(txn, s, l))
    }

    /// Frees the staging blocks a crash left (each table block's in a
    /// transaction of its own), checking every table block; returns how
    /// many. Runs at mount, after the journal's recovery.
    pub(super) fn reclaim_staging(sb: &RexSb) -> Result<u64> {
        let geometry = *sb.data().geometry();
        let mut reclaimed = 0;
        for t in 0..geometry.refcount_blocks {
            let table_block = geometry.refcount_start + t;
            let buf = sb.bread(table_block)?;
            format::verify_refcount_block(buf.data(), table_block, &geometry).map_err(|e| {
                corrupted(
                    sb,
                    format_args!("refcount block {table_block}: {}", e.reason()),
                )
            })?;
            let first = t * REFCOUNTS_PER_BLOCK as u64;
            let staging = (0..REFCOUNTS_PER_BLOCK)
                .filter(|&i| format::refcount_get(buf.data(), i) == REFCOUNT_STAGING)
                .count() as u64;
            if staging == 0 {
                continue;
            }
            let credits = Credits::blocks(1).and(Credits::bitmap_runs(&geometry, staging, 0));
            let txn = Txn::start(sb, credits)?;
            {
                let mut alloc = sb.data().allocator();
                for i in 0..REFCOUNTS_PER_BLOCK {
                    if format::refcount_get(buf.data(), i) == REFCOUNT_STAGING {
                        alloc.free_staging(&txn, first + i as u64, 1)?;
                    }
                }
            }
            txn.stop()?;
            reclaimed += staging;
        }
        Ok(reclaimed)
    }
}
