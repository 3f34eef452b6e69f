// SPDX-License-Identifier: GPL-2.0

//! Page faults on mappings of regular files ([`VmOps`]): the write fault
//! into an inline file, which needs `i_rwsem` above the fault lock and so
//! retries where it may, and `page_mkwrite`.

use super::inode::extents;
use super::iomap::{allocate_credits, convert_inline};
use super::reflink::cow_alloc_credits;
use super::txn::{commit_busy, Credits, Txn};
use super::{RexSb, Rexfs};
use crate::format::{self, BLOCK_SHIFT};
use crate::vfs::{Fault, FaultRetry, VmFaultResult, VmOps};
use kernel::prelude::*;

/// Extents a write fault may allocate: one per block of the largest folio
/// (a PMD, 2 MiB), in free space fragmented at worst.
const FAULT_EXTENTS: u32 = 512;

impl VmOps for Rexfs {
    /// A write through a shared mapping of an inline file must first move
    /// the data into a block, which takes `i_rwsem`, above the fault lock:
    /// drop the fault lock and ask for a retry when the fault may; return a
    /// retry at once when it may only do that (`RETRY_NOWAIT`); convert
    /// under the fault lock, without `i_rwsem`, when it may not retry at all
    /// (get_user_pages without a `locked` pointer: `/proc/PID/mem`, ptrace).
    fn fault(fault: Fault<'_, Rexfs>) -> VmFaultResult {
        let inode = fault.inode();
        if let Err(e) = inode.super_block().data().alive() {
            return VmFaultResult::error(e);
        }
        if inode.is_dax() {
            return dax_fault(&fault, 0, fault.is_shared_write());
        }
        if !fault.is_shared_write() || !inode.data().is_inline() {
            return fault.filemap_fault();
        }
        // Not converted: the write fails, as in `page_mkwrite`.
        if inode.is_immutable() {
            return VmFaultResult::error(EPERM);
        }
        let probes = &inode.super_block().data().probes;
        match fault.retry() {
            FaultRetry::DropLock => {
                probes.inline_fault_retry.inc();
                let file = fault.release_lock();
                let inode = file.inode();
                let sb = inode.super_block();
                sb.data().probes.delay(|p| &p.delay_write_fault);
                let _freeze = sb.start_write();
                let _lock = inode.lock();
                // A failure shows in the retried fault, which may not drop
                // its lock and converts under it.
                if let Err(e) = convert_inline(inode, &inode.invalidate_lock()) {
                    pr_debug!(
                        "rexfs: inode {}: converting inline data: {e:?}\n",
                        inode.ino()
                    );
                }
                VmFaultResult::RETRY
            }
            FaultRetry::NoWait => {
                probes.inline_fault_nowait.inc();
                VmFaultResult::RETRY
            }
            FaultRetry::None => {
                probes.inline_fault_no_retry.inc();
                probes.delay(|p| &p.delay_write_fault);
                let converted = {
                    let _freeze = inode.super_block().start_pagefault();
                    convert_inline(inode, &inode.invalidate_lock())
                };
                match converted {
                    Ok(()) => fault.filemap_fault(),
                    Err(e) => VmFaultResult::error(e),
                }
            }
        }
    }

    /// Allocates the folio's blocks and dirties it, serialised against
    /// truncation by `invalidate_lock` (shared). A fault that continues an
    /// extent preallocates unwritten blocks past its folio, inside EOF
    /// (`iomap::fault_alloc_end`), so that the faults of a sequential run
    /// of stores mostly find their blocks allocated and start no handle.
    ///
    /// The page of an inline file can only have been mapped read-only (by
    /// a read fault); it is unmapped instead, so that the write faults
    /// again through [`VmOps::fault`], which sees the fault's real flags
    /// (`page_mkwrite` does not) and converts the file.
    fn page_mkwrite(fault: &Fault<'_, Rexfs>) -> VmFaultResult {
        let inode = fault.inode();
        if let Err(e) = inode.super_block().data().alive() {
            return VmFaultResult::error(e);
        }
        // A shared writable mapping made before the file became immutable:
        // the write fails with `SIGBUS`, as in ext4.
        if inode.is_immutable() {
            return VmFaultResult::error(EPERM);
        }
        if inode.is_dax() {
            return dax_fault(fault, 0, true);
        }
        let probes = &inode.super_block().data().probes;
        if inode.data().is_inline() && !probes.unsafe_skip_inline_mkwrite_unmap.is_on() {
            probes.inline_mkwrite_unmap.inc();
            fault.unmap_page();
            return VmFaultResult::NOPAGE;
        }
        let sb = inode.super_block();
        let _freeze = sb.start_pagefault();
        fault.update_time();
        let _invalidate = inode.invalidate_lock_shared();
        let map = match extents(inode) {
            Ok(map) => map,
            Err(e) => return VmFaultResult::error(e),
        };
        // A folio whose blocks are all allocated needs no handle: they stay
        // allocated under `invalidate_lock`, since only punch, collapse and
        // truncate free blocks and they take it exclusively. The whole folio
        // counts, past EOF too: a write may move EOF meanwhile.
        // A file that may share blocks may need staging blocks for them.
        let allocated = !inode.data().may_share()
            && fault.folio_range().is_some_and(|(pos, len)| {
                let first = pos >> BLOCK_SHIFT;
                let end = (pos + len).div_ceil(format::BLOCK_SIZE as u64);
                map.read(|map, _| map.is_allocated(first, end))
            });
        if allocated {
            probes.mkwrite_allocated.inc();
            return fault.iomap_mkwrite();
        }
        // Started before `iomap_mkwrite` locks the folio (the handle ranks
        // above the folio lock): `iomap_begin` joins it to allocate.
        // Or staging blocks for shared ones ([`cow_alloc_credits`]).
        let credits = allocate_credits(inode, map, FAULT_EXTENTS).and(cow_alloc_credits(sb));
        allocating_fault(sb, credits, |txn| {
            let result = fault.iomap_mkwrite();
            match txn.stop() {
                Ok(()) => result,
                Err(e) => VmFaultResult::error(e),
            }
        })
    }

    /// PMD faults of DAX files; everything else falls back to pages.
    fn huge_fault(fault: &Fault<'_, Rexfs>, order: u32) -> VmFaultResult {
        if !fault.inode().is_dax() {
            return VmFaultResult::FALLBACK;
        }
        dax_fault(fault, order, fault.is_shared_write())
    }
}

/// A fault of a DAX file, of a page (`order` 0) or a PMD, under
/// `invalidate_lock` shared: truncate, punch and zero range take it
/// exclusively and break the layout first, so no fault maps blocks they
/// free. A read of a hole maps the zero page; a write allocates zeroed,
/// written blocks in a handle started before `dax_iomap_fault` takes the
/// DAX entry lock (the handle ranks above it, as above the folio lock)
/// and ended before a `MAP_SYNC` fault syncs. fs/dax.c's entry lock
/// orders a read fault that maps the zero page and a write fault that
/// allocates the same page: whichever comes second sees the first's
/// entry, and a write replaces the zero page and unmaps it.
fn dax_fault(fault: &Fault<'_, Rexfs>, order: u32, write: bool) -> VmFaultResult {
    let inode = fault.inode();
    let sb = inode.super_block();
    if let Err(e) = sb.data().alive() {
        return VmFaultResult::error(e);
    }
    let probes = &sb.data().probes;
    if order == 0 {
        probes.dax_pte_faults.inc();
    } else {
        probes.dax_pmd_faults.inc();
    }
    let result = if write {
        let _freeze = sb.start_pagefault();
        fault.update_time();
        let _invalidate = inode.invalidate_lock_shared();
        let map = match extents(inode) {
            Ok(map) => map,
            Err(e) => return VmFaultResult::error(e),
        };
        let new_extents = if order == 0 { 3 } else { FAULT_EXTENTS };
        allocating_fault(sb, allocate_credits(inode, map, new_extents), |txn| {
            fault.dax_fault(order, || txn.stop())
        })
    } else {
        let _invalidate = inode.invalidate_lock_shared();
        fault.dax_fault(order, || Ok(()))
    };
    if order > 0 && result.is_fallback() {
        probes.dax_pmd_fallbacks.inc();
    }
    result
}

/// Runs `fault_in`, a write fault that may allocate in the handle it is
/// given and ends. Blocks freed by transactions not yet committed cannot
/// be allocated, and a fault that finds only those fails with `ENOSPC`
/// (`SIGBUS`): then, as `ext4_page_mkwrite` does, commit them and fault
/// once more, unless the task held a handle already (the commit would
/// wait for it). Nothing in a handle waits for the fault's locks (no
/// handle is held across a user copy that may fault), so the commit does
/// not wait for this fault.
fn allocating_fault(
    sb: &RexSb,
    credits: Credits,
    fault_in: impl Fn(Txn<'_>) -> VmFaultResult,
) -> VmFaultResult {
    let mut retried = false;
    loop {
        let txn = match Txn::start(sb, credits) {
            Ok(txn) => txn,
            Err(e) => return VmFaultResult::error(e),
        };
        let nested = txn.is_nested();
        let result = fault_in(txn);
        if retried || nested || !result.is_sigbus() {
            return result;
        }
        match commit_busy(sb) {
            Ok(true) => sb.data().probes.fault_busy_retry.inc(),
            _ => return result,
        }
        retried = true;
    }
}
