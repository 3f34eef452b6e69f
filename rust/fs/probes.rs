// SPDX-License-Identifier: GPL-2.0

//! What each mount shows in debugfs (`/sys/kernel/debug/rexfs/<dev>/`):
//! counters of the paths that ran, and, in debug builds, the delay knobs
//! and protection switches of the race tests ([`Probes`]).

use crate::vfs::{Counter, DebugFile, DelayKnob, UnsafeSwitch};
use kernel::prelude::*;

/// What `/sys/kernel/debug/rexfs/<dev>/` shows of one mount: event counters
/// that prove which path ran, and (debug builds) the race-injection knobs.
#[derive(Default)]
pub(crate) struct Probes {
    /// `iomap_begin` calls.
    pub(super) iomap_begin: Counter,
    /// Mappings `iomap_valid` found stale.
    pub(super) iomap_stale: Counter,
    /// Writeback reused its cached mapping.
    pub(super) wb_map_reused: Counter,
    /// Writeback found its cached mapping stale and looked it up again.
    pub(super) wb_map_refetched: Counter,
    /// Direct I/O stopped at a user page it could not touch without
    /// faulting, faulted the rest in and went on.
    pub(super) dio_retry: Counter,
    /// Direct I/O made no progress even after faulting in and finished the
    /// request through the page cache.
    pub(super) dio_fallback: Counter,
    /// Asynchronous direct writes that only overwrote written blocks inside
    /// EOF and returned once their I/O was submitted.
    pub(super) dio_overwrite_queued: Counter,
    /// Asynchronous direct writes inside EOF that were not pure overwrites
    /// (holes, unwritten or shared blocks), so waited for their I/O.
    pub(super) dio_async_waited: Counter,
    /// Write faults into a shared mapping of an inline file that dropped
    /// the fault lock, converted the file and asked for a retry.
    pub(super) inline_fault_retry: Counter,
    /// Such faults that could only ask for a retry
    /// (`FAULT_FLAG_RETRY_NOWAIT`).
    pub(super) inline_fault_nowait: Counter,
    /// Such faults that allowed no retry and converted the file under the
    /// fault lock.
    pub(super) inline_fault_no_retry: Counter,
    /// Writes to a read-only mapped page of an inline file that
    /// `page_mkwrite` unmapped, sending them through `->fault`.
    pub(super) inline_mkwrite_unmap: Counter,
    /// Write faults on folios whose blocks were all allocated, which
    /// `page_mkwrite` dirtied without starting a handle.
    pub(super) mkwrite_allocated: Counter,
    /// Allocating write faults that found only blocks waiting for a
    /// commit, committed and tried again.
    pub(super) fault_busy_retry: Counter,
    /// Allocations (of any kind) that found only blocks waiting for a
    /// commit, waited for it and tried again.
    pub(super) busy_commit_waits: Counter,
    /// Allocating write faults that preallocated unwritten blocks past
    /// their folio.
    pub(super) fault_prealloc: Counter,
    /// Short writes that kept the blocks they did not reach, a write fault
    /// having dirtied a folio over them.
    pub(super) giveback_kept: Counter,
    /// DAX faults of a page.
    pub(super) dax_pte_faults: Counter,
    /// DAX faults of a PMD.
    pub(super) dax_pmd_faults: Counter,
    /// DAX PMD faults that fell back to pages.
    pub(super) dax_pmd_fallbacks: Counter,
    /// DAX read faults that found no written block, so mapped the zero
    /// page.
    pub(super) dax_hole_faults: Counter,
    /// DAX write faults that allocated blocks.
    pub(super) dax_alloc_faults: Counter,
    /// Clones (`FICLONE`, `FICLONERANGE`, `copy_file_range`) that shared
    /// blocks.
    pub(super) clones: Counter,
    /// Dedupes whose ranges held the same data, and were shared.
    pub(super) dedupes_same: Counter,
    /// Dedupes whose ranges differed, and were left alone.
    pub(super) dedupes_differ: Counter,
    /// Staging blocks allocated for writes into shared blocks.
    pub(super) cow_allocated: Counter,
    /// Staging blocks put in place of shared blocks when their write
    /// completed.
    pub(super) cow_remapped: Counter,
    /// Mappings onto staging blocks that `iomap_valid` or writeback found
    /// stale (also counted in `iomap_stale` or `wb_map_refetched`).
    pub(super) cow_mappings_stale: Counter,
    /// Extent trees read at their inode's first use of its extent map.
    pub(super) extent_tree_reads: Counter,
    /// Delay knobs that fired.
    pub(super) delays_injected: Counter,

    /// Sleep in `iomap_valid` before it samples the generation.
    pub(super) delay_iomap_valid: DelayKnob,
    /// Sleep in writeback after looking up (and caching) a mapping.
    pub(super) delay_wb_map: DelayKnob,
    /// Sleep in a write fault into an inline file before it converts the
    /// file (after dropping the fault lock, when it may).
    pub(super) delay_write_fault: DelayKnob,
    /// Sleep in `iomap_begin` of direct I/O, between mapping and submission.
    pub(super) delay_dio_map: DelayKnob,
    /// Sleep in fallocate between dropping the page cache of the range and
    /// changing its extents.
    pub(super) delay_fallocate: DelayKnob,

    /// Sleep in a DAX read fault that found no data, before it maps the
    /// zero page.
    pub(super) delay_dax_hole: DelayKnob,
    /// Sleep in an allocating DAX write fault before it allocates.
    pub(super) delay_dax_alloc: DelayKnob,
    /// Delay between a dedupe's compare and its remap, both files locked.
    pub(super) delay_dedupe: DelayKnob,
    /// Sleep in the completion of a write into staging blocks (writeback
    /// or direct) before it puts them in place.
    pub(super) delay_cow_finish: DelayKnob,

    /// `iomap_valid` accepts every mapping.
    pub(super) unsafe_skip_iomap_valid: UnsafeSwitch,
    /// Writeback reuses its cached mapping whatever the generation.
    pub(super) unsafe_skip_wb_revalidate: UnsafeSwitch,
    /// fallocate does not take `invalidate_lock`, so faults run beside it.
    pub(super) unsafe_skip_fallocate_invalidate_lock: UnsafeSwitch,
    /// Direct I/O returns what the no-fault pass moved: no fault-in retry,
    /// no buffered fallback.
    pub(super) unsafe_skip_dio_fallback: UnsafeSwitch,
    /// An asynchronous direct write takes unwritten blocks for written ones
    /// and does not wait: nothing converts them, and the data reads back as
    /// zeroes.
    pub(super) unsafe_overwrite_unwritten: UnsafeSwitch,
    /// `page_mkwrite` makes a read-only page of an inline file writable
    /// as it is, without a conversion: the data is lost on writeback.
    pub(super) unsafe_skip_inline_mkwrite_unmap: UnsafeSwitch,
    /// A short write gives back every block it did not reach, without
    /// `invalidate_lock` and whatever a fault dirtied over them.
    pub(super) unsafe_skip_giveback_check: UnsafeSwitch,
    /// DAX writes into holes and unwritten blocks do not say the blocks are
    /// new, so the zero page read faults mapped there stays mapped.
    pub(super) unsafe_skip_dax_new: UnsafeSwitch,
    /// Punch, zero range and truncate of a DAX file free the blocks first
    /// and break the layout after: a page pinned for DMA (a direct I/O
    /// whose buffer maps the file) is freed, and may be reused, while the
    /// I/O is in flight; only then is it waited for and unmapped.
    pub(super) unsafe_late_dax_break_layout: UnsafeSwitch,
    /// A dedupe locks only the destination, not the source: a write to
    /// the source between the compare and the remap changes the data the
    /// destination is then linked to.
    pub(super) unsafe_remap_source_unlocked: UnsafeSwitch,
    /// Writeback into staging blocks ends its folios' writeback before it
    /// puts the blocks in place: fsync returns before the remap, which a
    /// crash then loses.
    pub(super) unsafe_cow_remap_after_writeback: UnsafeSwitch,
    /// Operations set no blocks aside for their extents, and file data may
    /// take free blocks as long as the busy ones make up the metadata
    /// reserve: storing the extents an allocation added can then find only
    /// busy blocks, and `dirty_inode` logs its failure.
    pub(super) unsafe_skip_metadata_reservation: UnsafeSwitch,
}

impl Probes {
    /// Fires `knob` (sleeps if it is armed) and counts it.
    pub(super) fn delay(&self, knob: fn(&Self) -> &DelayKnob) {
        if knob(self).fire() {
            self.delays_injected.inc();
        }
    }

    /// The debugfs files.
    pub(super) const FILES: [(&'static CStr, DebugFile<Self>); 51] = [
        (c"iomap_begin", DebugFile::Counter(|p| &p.iomap_begin)),
        (c"iomap_stale", DebugFile::Counter(|p| &p.iomap_stale)),
        (c"wb_map_reused", DebugFile::Counter(|p| &p.wb_map_reused)),
        (
            c"wb_map_refetched",
            DebugFile::Counter(|p| &p.wb_map_refetched),
        ),
        (c"dio_retry", DebugFile::Counter(|p| &p.dio_retry)),
        (c"dio_fallback", DebugFile::Counter(|p| &p.dio_fallback)),
        (
            c"dio_overwrite_queued",
            DebugFile::Counter(|p| &p.dio_overwrite_queued),
        ),
        (
            c"dio_async_waited",
            DebugFile::Counter(|p| &p.dio_async_waited),
        ),
        (
            c"inline_fault_retry",
            DebugFile::Counter(|p| &p.inline_fault_retry),
        ),
        (
            c"inline_fault_nowait",
            DebugFile::Counter(|p| &p.inline_fault_nowait),
        ),
        (
            c"inline_fault_no_retry",
            DebugFile::Counter(|p| &p.inline_fault_no_retry),
        ),
        (
            c"inline_mkwrite_unmap",
            DebugFile::Counter(|p| &p.inline_mkwrite_unmap),
        ),
        (
            c"mkwrite_allocated",
            DebugFile::Counter(|p| &p.mkwrite_allocated),
        ),
        (
            c"fault_busy_retry",
            DebugFile::Counter(|p| &p.fault_busy_retry),
        ),
        (
            c"busy_commit_waits",
            DebugFile::Counter(|p| &p.busy_commit_waits),
        ),
        (c"fault_prealloc", DebugFile::Counter(|p| &p.fault_prealloc)),
        (c"giveback_kept", DebugFile::Counter(|p| &p.giveback_kept)),
        (c"dax_pte_faults", DebugFile::Counter(|p| &p.dax_pte_faults)),
        (c"dax_pmd_faults", DebugFile::Counter(|p| &p.dax_pmd_faults)),
        (
            c"dax_pmd_fallbacks",
            DebugFile::Counter(|p| &p.dax_pmd_fallbacks),
        ),
        (
            c"dax_hole_faults",
            DebugFile::Counter(|p| &p.dax_hole_faults),
        ),
        (
            c"dax_alloc_faults",
            DebugFile::Counter(|p| &p.dax_alloc_faults),
        ),
        (c"clones", DebugFile::Counter(|p| &p.clones)),
        (c"dedupes_same", DebugFile::Counter(|p| &p.dedupes_same)),
        (c"dedupes_differ", DebugFile::Counter(|p| &p.dedupes_differ)),
        (c"cow_allocated", DebugFile::Counter(|p| &p.cow_allocated)),
        (c"cow_remapped", DebugFile::Counter(|p| &p.cow_remapped)),
        (
            c"cow_mappings_stale",
            DebugFile::Counter(|p| &p.cow_mappings_stale),
        ),
        (
            c"extent_tree_reads",
            DebugFile::Counter(|p| &p.extent_tree_reads),
        ),
        (
            c"delays_injected",
            DebugFile::Counter(|p| &p.delays_injected),
        ),
        (
            c"delay_iomap_valid_ms",
            DebugFile::Delay(|p| &p.delay_iomap_valid),
        ),
        (c"delay_wb_map_ms", DebugFile::Delay(|p| &p.delay_wb_map)),
        (
            c"delay_write_fault_ms",
            DebugFile::Delay(|p| &p.delay_write_fault),
        ),
        (c"delay_dio_map_ms", DebugFile::Delay(|p| &p.delay_dio_map)),
        (
            c"delay_fallocate_ms",
            DebugFile::Delay(|p| &p.delay_fallocate),
        ),
        (
            c"delay_dax_hole_ms",
            DebugFile::Delay(|p| &p.delay_dax_hole),
        ),
        (
            c"delay_dax_alloc_ms",
            DebugFile::Delay(|p| &p.delay_dax_alloc),
        ),
        (c"delay_dedupe_ms", DebugFile::Delay(|p| &p.delay_dedupe)),
        (
            c"delay_cow_finish_ms",
            DebugFile::Delay(|p| &p.delay_cow_finish),
        ),
        (
            c"unsafe_skip_iomap_valid",
            DebugFile::Switch(|p| &p.unsafe_skip_iomap_valid),
        ),
        (
            c"unsafe_skip_wb_revalidate",
            DebugFile::Switch(|p| &p.unsafe_skip_wb_revalidate),
        ),
        (
            c"unsafe_skip_fallocate_invalidate_lock",
            DebugFile::Switch(|p| &p.unsafe_skip_fallocate_invalidate_lock),
        ),
        (
            c"unsafe_skip_dio_fallback",
            DebugFile::Switch(|p| &p.unsafe_skip_dio_fallback),
        ),
        (
            c"unsafe_overwrite_unwritten",
            DebugFile::Switch(|p| &p.unsafe_overwrite_unwritten),
        ),
        (
            c"unsafe_skip_inline_mkwrite_unmap",
            DebugFile::Switch(|p| &p.unsafe_skip_inline_mkwrite_unmap),
        ),
        (
            c"unsafe_skip_giveback_check",
            DebugFile::Switch(|p| &p.unsafe_skip_giveback_check),
        ),
        (
            c"unsafe_skip_dax_new",
            DebugFile::Switch(|p| &p.unsafe_skip_dax_new),
        ),
        (
            c"unsafe_late_dax_break_layout",
            DebugFile::Switch(|p| &p.unsafe_late_dax_break_layout),
        ),
        (
            c"unsafe_remap_source_unlocked",
            DebugFile::Switch(|p| &p.unsafe_remap_source_unlocked),
        ),
        (
            c"unsafe_cow_remap_after_writeback",
            DebugFile::Switch(|p| &p.unsafe_cow_remap_after_writeback),
        ),
        (
            c"unsafe_skip_metadata_reservation",
            DebugFile::Switch(|p| &p.unsafe_skip_metadata_reservation),
        ),
    ];
}
