// SPDX-License-Identifier: GPL-2.0

//! Mapping and allocating the blocks of regular files for iomap
//! ([`IomapOps`]) and writeback ([`WritebackOps`]), and moving inline data
//! into a block.
//!
//! Every mapping handed to iomap carries the extent-map generation it was
//! made under as its cookie; `iomap_valid` and `writeback_map` reject a
//! mapping whose cookie is not the current generation.
//!
//! A new file keeps its data in the inode (`IOMAP_INLINE`) until something
//! needs a block: see [`convert_inline`] and the lock order in
//! [`super::lock`].

use super::dax::zero_for_dax_write;
use super::extent_map::ExtentMap;
use super::ialloc::{free_credits, unmap_range};
use super::inode::{account_blocks, extents, write_credits, InodeInfo};
use super::lock::LoadedMap;
use super::refcount::release_credits;
use super::reflink;
use super::txn::{Credits, Txn};
use super::{RexInode, RexSb, Rexfs};
use crate::format::{self, Extent, EXTENT_UNWRITTEN};
use crate::vfs::{
    self, DaxDevice, DioWriteFlag, DioWriteFlags, InvalidateGuard, IoendQueue, IomapFlag,
    IomapFlags, IomapOps, LockMode, MapKind, Mapped, Mapping, WritebackCache, WritebackOps,
};
use kernel::prelude::*;

const BLOCK_SHIFT: u32 = format::BLOCK_SHIFT;

/// The file block that holds byte `pos`.
pub(super) fn block_of(pos: i64) -> u64 {
    (pos as u64) >> BLOCK_SHIFT
}

/// Bytes in `blocks` blocks.
pub(super) fn bytes(blocks: u64) -> u64 {
    blocks << BLOCK_SHIFT
}

/// The mapping of file block `first` in `map` of `info`: the extent that
/// contains it, or the hole up to the next extent; for an inline file, the
/// inline data in block 0 and a hole after it.
pub(super) fn map_block(info: &InodeInfo, map: &ExtentMap, first: u64, cookie: u64) -> Mapping {
    if map.inline {
        let (kind, length) = match first {
            0 => (MapKind::Inline(info.inline_data.ptr()), bytes(1)),
            _ => (MapKind::Hole, bytes(format::MAX_FILE_BLOCKS - first)),
        };
        return Mapping {
            offset: bytes(first) as i64,
            length,
            kind,
            addr: 0,
            new: false,
            shared: false,
            cookie,
        };
    }
    match map.lookup(first) {
        Some(e) => Mapping {
            offset: bytes(first) as i64,
            length: bytes(e.logical_end() - first),
            kind: if e.flags & EXTENT_UNWRITTEN != 0 {
                MapKind::Unwritten
            } else {
                MapKind::Mapped
            },
            addr: bytes(e.physical + (first - e.logical)),
            new: false,
            shared: false,
            cookie,
        },
        None => {
            let next = map.next_mapped(first).min(format::MAX_FILE_BLOCKS);
            Mapping {
                offset: bytes(first) as i64,
                length: bytes(next - first),
                kind: MapKind::Hole,
                addr: 0,
                new: false,
                shared: false,
                cookie,
            }
        }
    }
}

/// What allocating up to `extents` extents of `inode` may change: bitmap
/// blocks, the superblock, and the inode with its extent blocks.
pub(super) fn allocate_credits(inode: &RexInode, map: LoadedMap<'_>, extents: u32) -> Credits {
    let geometry = inode.super_block().data().geometry();
    Credits::bitmap_runs(geometry, u64::from(extents), 0).and(write_credits(inode, map, extents))
}

/// Allocates up to `want` blocks in `txn` for the hole at file block
/// `first` of `map` and inserts them as one extent with `flags`; returns its
/// physical start and length.
pub(super) fn allocate_extent(
    txn: &Txn<'_>,
    map: &mut ExtentMap,
    first: u64,
    want: u64,
    flags: u32,
) -> Result<(u64, u64)> {
    let goal = map.goal_for(first);
    let (physical, count) = txn
        .sb()
        .data()
        .allocator()
        .alloc_data_blocks(txn, goal, want)?;
    insert_allocated(txn, map, first, physical, count, flags)
}

/// Inserts blocks `physical..physical + count`, just allocated in `txn`, as
/// the extent of file block `first` with `flags`, or frees them if that
/// fails; returns them.
fn insert_allocated(
    txn: &Txn<'_>,
    map: &mut ExtentMap,
    first: u64,
    physical: u64,
    count: u64,
    flags: u32,
) -> Result<(u64, u64)> {
    let extent = Extent {
        logical: first,
        physical,
        len: count as u32,
        flags,
    };
    if let Err(e) = map.insert(extent) {
        txn.sb()
            .data()
            .allocator()
            .free_blocks(txn, physical, count)?;
        return Err(e);
    }
    Ok((physical, count))
}

/// Frees blocks `start..end` of `inode`, which a write allocated (as one
/// extent) and did not use.
fn give_back(inode: &RexInode, start: u64, end: u64) -> Result {
    if start >= end {
        return Ok(());
    }
    let sb = inode.super_block();
    free_range(inode, start, end, free_credits(sb, 1, end - start))
}

/// Unmaps file blocks `start..end` of `inode` and gives back their blocks
/// ([`unmap_range`]), in one transaction that reserves `free` for the
/// bitmap and the superblock.
pub(super) fn free_range(inode: &RexInode, start: u64, end: u64, free: Credits) -> Result {
    let credits = free
        .and(release_credits(inode, u64::MAX, end - start))
        .and(write_credits(inode, extents(inode)?, 1));
    let txn = Txn::start(inode.super_block(), credits)?;
    unmap_range(&txn, inode, start, end)?;
    inode.mark_dirty();
    txn.stop()
}

/// Before the file grows from `old_size` to `new_size`: zeroes the rest of
/// its last block (in the page cache, or in place with DAX), and makes the
/// written blocks past that block read as zeroes (unwritten), so that none
/// of their old data shows inside the new size. Such blocks are left only
/// by a write that failed after its blocks reached the disk (its size
/// update did not), and iomap would not zero them: it leaves folios wholly
/// past EOF alone, since writeback would not write them. The caller holds
/// `i_rwsem` and `invalidate_lock` exclusively.
pub(super) fn zero_past_eof(inode: &RexInode, old_size: i64, new_size: i64) -> Result {
    let eof_block_end = bytes(block_of(old_size + (1 << BLOCK_SHIFT) - 1)) as i64;
    let zero_end = new_size.min(eof_block_end);
    if zero_end > old_size {
        inode.zero_range(old_size, zero_end - old_size)?;
    }
    let first = block_of(eof_block_end);
    let map = extents(inode)?;
    if new_size <= eof_block_end || !map.read(|map, _| map.has_written(first, u64::MAX)) {
        return Ok(());
    }
    let txn = Txn::start(inode.super_block(), write_credits(inode, map, 2))?;
    map.change(|map, _| map.mark_unwritten(first, u64::MAX))?;
    inode.mark_dirty();
    txn.stop()
}

/// Blocks an allocating write fault preallocates past its folio at most
/// (8 MiB).
const FAULT_PREALLOC_MAX: u64 = 2048;

/// Where an allocating write fault stops allocating, in the hole at file
/// block `first` of `map` that reaches `hole_end`, its folio needing the
/// blocks up to `end` (at most `hole_end`). A fault that continues the
/// extent just before the hole (a sequential store) preallocates past its
/// folio as many blocks as that extent has, so that a sequential run
/// doubles (XFS sizes its speculative preallocation by the previous extent
/// too), at most [`FAULT_PREALLOC_MAX`] and `spare`, and never past the
/// hole or EOF (block `eof`): inside EOF the blocks are unwritten, read as
/// zeroes, and the faults of the folios over them find them allocated and
/// start no transaction. A store away from any extent allocates its folio
/// only.
fn fault_alloc_end(
    map: &ExtentMap,
    first: u64,
    end: u64,
    hole_end: u64,
    eof: u64,
    spare: u64,
) -> u64 {
    let Some(prev) = first.checked_sub(1).and_then(|block| map.lookup(block)) else {
        return end;
    };
    let extra = u64::from(prev.len).min(FAULT_PREALLOC_MAX).min(spare);
    end.max((end + extra).min(hole_end).min(eof))
}

/// Blocks in a PMD (2 MiB), which DAX maps with one page-table entry when
/// the file offset and the disk address are both multiples of it.
const PMD_BLOCKS: u64 = 512;

/// For a DAX file: allocates a PMD of blocks at a PMD boundary of the disk
/// for the hole at file block `first` (a PMD boundary, with `want` a PMD or
/// more) and inserts it as one unwritten extent; `None` if the request is
/// not such, or no such run is free.
fn allocate_pmd_extent(
    txn: &Txn<'_>,
    map: &mut ExtentMap,
    first: u64,
    want: u64,
) -> Result<Option<(u64, u64)>> {
    if first % PMD_BLOCKS != 0 || want < PMD_BLOCKS {
        return Ok(None);
    }
    let alloc = || txn.sb().data().allocator();
    let goal = map.goal_for(first);
    let Some((physical, count)) =
        alloc().alloc_aligned_data_blocks(txn, goal, PMD_BLOCKS, PMD_BLOCKS)?
    else {
        return Ok(None);
    };
    insert_allocated(txn, map, first, physical, count, EXTENT_UNWRITTEN).map(Some)
}

impl IomapOps for Rexfs {
    /// Maps `pos..pos + len`; for writes, allocates blocks for a hole at
    /// `pos` (as far as the hole and the request reach; a write fault may
    /// preallocate further: `fault_alloc_end`), unwritten: they read as
    /// zeroes until the data reaches them and are converted when its write
    /// completes (writeback or direct I/O), so that neither a reader nor a
    /// crash sees the blocks' old contents. The page cache zeroes what a
    /// buffered write does not cover.
    ///
    /// In a file that may share blocks, a write into shared blocks goes to
    /// staging blocks ([`reflink::cow_for_write`]), and FIEMAP reports
    /// shared blocks.
    fn iomap_begin(inode: &RexInode, pos: i64, len: i64, flags: IomapFlags) -> Result<Mapped> {
        let sbi = inode.super_block().data();
        sbi.alive()?;
        let probes = &sbi.probes;
        probes.iomap_begin.inc();
        let first = block_of(pos);
        let end = block_of(pos + len - 1) + 1;
        let info = inode.data();
        let map = extents(inode)?;
        let mut mapping = map.read(|map, generation| map_block(info, map, first, generation));
        // A DAX write stores straight into the blocks: unwritten ones are
        // zeroed and made written first.
        let dax_write = flags.contains(IomapFlag::Dax) && flags.contains(IomapFlag::Write);
        // An asynchronous direct write that may not wait takes written,
        // unshared blocks covering the whole request, or nothing: anything
        // else (allocation, conversion, copy-on-write) needs completion
        // work, which runs in the writer's task under its locks.
        if flags.contains(IomapFlag::OverwriteOnly) {
            let written = mapping.kind == MapKind::Mapped
                || mapping.kind == MapKind::Unwritten && probes.unsafe_overwrite_unwritten.is_on();
            let covers = mapping.offset + mapping.length as i64 >= pos + len;
            if !written || !covers || info.may_share() {
                return Err(EAGAIN);
            }
        }
        if info.may_share() {
            if dax_write {
                // No copy-on-write in place on the DAX device.
                return Err(EOPNOTSUPP);
            }
            // Zeroing (`IOMAP_ZERO` alone) writes into the page cache too.
            if flags.contains(IomapFlag::Write) || flags.contains(IomapFlag::Zero) {
                match reflink::cow_for_write(inode, pos, len, flags)? {
                    Some(mapped) if mapped.iomap.shared => return Ok(mapped),
                    Some(mapped) => mapping = mapped.iomap,
                    None => {}
                }
            } else if flags.contains(IomapFlag::Report) {
                reflink::report_shared(inode.super_block(), &mut mapping)?;
            }
        }
        let needs_blocks = |kind| {
            kind == MapKind::Hole && flags.contains(IomapFlag::Write)
                || kind == MapKind::Unwritten && dax_write
        };
        if needs_blocks(mapping.kind) {
            if dax_write && flags.contains(IomapFlag::Fault) {
                // An allocating DAX write fault, between finding no data
                // and allocating, under the DAX entry lock.
                probes.delay(|p| &p.delay_dax_alloc);
            }
            mapping = loop {
                // Under a folio lock (page_mkwrite) or a DAX entry lock (a
                // DAX write fault) this joins the handle the fault started
                // before it took that lock.
                // A DAX write may split an unwritten extent in three.
                let new_extents = if dax_write { 3 } else { 1 };
                let credits = allocate_credits(inode, map, new_extents);
                let txn = Txn::start(inode.super_block(), credits)?;
                // The map may have changed since we looked, so look again
                // under the lock that every change holds.
                let allocated = map.change(|map, generation| -> Result<Mapping> {
                    let mut current = map_block(info, map, first, generation);
                    if !needs_blocks(current.kind) {
                        return Ok(current);
                    }
                    if current.kind == MapKind::Hole {
                        if map.inline {
                            // Writes past the inline data convert the file first.
                            return Err(EIO);
                        }
                        let hole_end = first + (current.length >> BLOCK_SHIFT);
                        let mut alloc_end = end.min(hole_end);
                        if flags.contains(IomapFlag::Fault) && !flags.contains(IomapFlag::Dax) {
                            // Preallocation leaves 15/16 of the free blocks.
                            let spare = txn.sb().data().allocator().available_blocks() / 16;
                            let eof = block_of(inode.size() + (1 << BLOCK_SHIFT) - 1);
                            alloc_end =
                                fault_alloc_end(map, first, alloc_end, hole_end, eof, spare);
                        }
                        let want = alloc_end - first;
                        let pmd = if dax_write {
                            allocate_pmd_extent(&txn, map, first, want)?
                        } else {
                            None
                        };
                        let (physical, count) = match pmd {
                            Some(allocated) => allocated,
                            None => allocate_extent(&txn, map, first, want, EXTENT_UNWRITTEN)?,
                        };
                        if first + count > end {
                            probes.fault_prealloc.inc();
                        }
                        current = Mapping {
                            offset: bytes(first) as i64,
                            length: bytes(count),
                            kind: MapKind::Unwritten,
                            addr: bytes(physical),
                            new: true,
                            shared: false,
                            cookie: generation,
                        };
                    }
                    if dax_write {
                        let dax_end = end.min(first + (current.length >> BLOCK_SHIFT));
                        zero_for_dax_write(txn.sb(), map, first, dax_end)?;
                        current.kind = MapKind::Mapped;
                        current.length = bytes(dax_end - first);
                        // `IOMAP_F_NEW`: a DAX write then unmaps the zero
                        // page that read faults mapped over the hole or
                        // unwritten blocks (it waits for a fault mapping
                        // one now); without it readers keep seeing zeroes.
                        current.new = !probes.unsafe_skip_dax_new.is_on();
                    }
                    Ok(current)
                });
                match allocated {
                    Err(e) if e == ENOSPC => {
                        if !txn.stop_for_busy()? {
                            return Err(ENOSPC);
                        }
                    }
                    Err(e) => return Err(e),
                    Ok(mapping) => {
                        account_blocks(inode);
                        inode.mark_dirty();
                        txn.stop()?;
                        break mapping;
                    }
                }
            };
        }
        if flags.contains(IomapFlag::Dax) && flags.contains(IomapFlag::Fault) {
            if !flags.contains(IomapFlag::Write) && mapping.kind != MapKind::Mapped {
                probes.dax_hole_faults.inc();
                // The window between finding no data and mapping the zero
                // page, under the DAX entry lock.
                probes.delay(|p| &p.delay_dax_hole);
            } else if mapping.new {
                probes.dax_alloc_faults.inc();
            }
        }
        if flags.contains(IomapFlag::Direct) {
            probes.delay(|p| &p.delay_dio_map);
        }
        Ok(mapping.into())
    }

    fn dax_device(sb: &RexSb) -> Option<&DaxDevice> {
        sb.data().dax.device()
    }

    /// Gives back the blocks a write allocated but did not use (a short
    /// write, or none at all after a stale mapping).
    fn iomap_end(
        inode: &RexInode,
        pos: i64,
        _len: i64,
        written: i64,
        flags: IomapFlags,
        mapping: &Mapping,
    ) -> Result {
        if !flags.contains(IomapFlag::Write) || !mapping.new {
            return Ok(());
        }
        let start = block_of(pos + written + (1 << BLOCK_SHIFT) - 1);
        let end = block_of(mapping.offset) + (mapping.length >> BLOCK_SHIFT);
        // A write fault keeps all it allocated, under `invalidate_lock`: its
        // folio's blocks and those preallocated past it inside EOF.
        if start >= end || flags.contains(IomapFlag::Fault) {
            return Ok(());
        }
        let eof = block_of(inode.size() + (1 << BLOCK_SHIFT) - 1);
        // A DAX fault may have mapped the blocks of a DAX write, which are
        // written from the start: only those past EOF go back.
        if flags.contains(IomapFlag::Dax) {
            return give_back(inode, start.max(eof), end);
        }
        // A write fault may have dirtied a folio over blocks this write
        // allocated and did not reach (`iomap_begin` maps them for it as any
        // allocated block): then only the blocks past EOF, where no fault
        // reaches, go back. `invalidate_lock` holds off faults meanwhile, and
        // keeps allocated what `page_mkwrite` found allocated.
        let probes = &inode.super_block().data().probes;
        let checked = !probes.unsafe_skip_giveback_check.is_on();
        let _invalidate = checked.then(|| inode.invalidate_lock());
        if checked && inode.range_has_writeback(bytes(start) as i64, bytes(end) as i64 - 1) {
            probes.giveback_kept.inc();
            return give_back(inode, start.max(eof), end);
        }
        give_back(inode, start, end)
    }

    /// Called with the folio locked: a mapping is valid while the extent
    /// map has the generation it was made under.
    fn iomap_valid(inode: &RexInode, mapping: &Mapping) -> bool {
        let probes = &inode.super_block().data().probes;
        probes.delay(|p| &p.delay_iomap_valid);
        let generation = inode.data().map.generation();
        if mapping.cookie == generation || probes.unsafe_skip_iomap_valid.is_on() {
            return true;
        }
        probes.iomap_stale.inc();
        if mapping.shared {
            probes.cow_mappings_stale.inc();
        }
        vfs::trace_iomap_stale(
            inode.ino(),
            mapping.offset,
            mapping.length,
            mapping.cookie,
            generation,
        );
        false
    }

    /// A direct write completed: its staging blocks replace the shared
    /// ones ([`reflink::finish_cow`]); its unwritten blocks hold data now,
    /// and the file grows to its end, in one transaction.
    fn dio_write_end(inode: &RexInode, offset: i64, size: u64, covered: DioWriteFlags) -> Result {
        if covered.contains(DioWriteFlag::Cow) {
            reflink::finish_cow(inode, offset, size)?;
        }
        let txn = Txn::start(
            inode.super_block(),
            write_credits(inode, extents(inode)?, 2),
        )?;
        if covered.contains(DioWriteFlag::Unwritten) {
            Rexfs::convert_unwritten(inode, offset, size)?;
        }
        let end = offset + size as i64;
        if end > inode.size() {
            inode.set_size(end);
            inode.mark_dirty();
        }
        txn.stop()
    }
}

impl WritebackOps for Rexfs {
    /// The cached mapping is reused while it covers `pos` and the extent
    /// map has not changed since it was made; the folio lock writeback
    /// holds keeps buffered writes and truncation of this folio out, and
    /// every change of the map bumps the generation first.
    fn writeback_map(inode: &RexInode, cache: &mut WritebackCache, pos: i64) -> Result {
        let sbi = inode.super_block().data();
        sbi.alive()?;
        let probes = &sbi.probes;
        let info = inode.data();
        if let Some(cached) = cache.mapping.filter(|m| m.covers(pos)) {
            let generation = info.map.generation();
            if cached.cookie == generation || probes.unsafe_skip_wb_revalidate.is_on() {
                probes.wb_map_reused.inc();
                return Ok(());
            }
            probes.wb_map_refetched.inc();
            if cached.shared {
                probes.cow_mappings_stale.inc();
            }
            vfs::trace_wb_refetch(inode.ino(), pos, cached.cookie, generation);
        }
        let mapping = if info.may_share() {
            reflink::writeback_mapping(inode, info, block_of(pos))?
        } else {
            extents(inode)?.read(|map, generation| map_block(info, map, block_of(pos), generation))
        };
        if matches!(mapping.kind, MapKind::Inline(_)) {
            // Inline data is written with the inode; its folio is never
            // dirty unless a write fault made it writable without
            // converting.
            return Err(EIO);
        }
        cache.mapping = Some(mapping);
        probes.delay(|p| &p.delay_wb_map);
        Ok(())
    }

    /// Writeback of unwritten blocks completed: they hold data now. Logged
    /// in a transaction of its own (on the completion queue, no folio locked).
    fn convert_unwritten(inode: &RexInode, offset: i64, size: u64) -> Result {
        let start = block_of(offset);
        let end = block_of(offset + size as i64 + (1 << BLOCK_SHIFT) - 1);
        let map = extents(inode)?;
        let txn = Txn::start(inode.super_block(), write_credits(inode, map, 2))?;
        map.change(|map, _| map.mark_written(start, end))?;
        inode.mark_dirty();
        txn.stop()
    }

    /// Writeback into staging blocks completed: [`reflink::finish_cow`].
    fn complete_cow(inode: &RexInode, offset: i64, size: u64) -> Result {
        reflink::finish_cow(inode, offset, size)
    }

    fn complete_cow_after_writeback(inode: &RexInode) -> bool {
        let probes = &inode.super_block().data().probes;
        probes.unsafe_cow_remap_after_writeback.is_on()
    }

    fn ioend_queue(sb: &RexSb) -> &IoendQueue {
        &sb.data().ioend_queue
    }
}

/// Moves the data of an inline file into a block (an empty file needs
/// none): folio 0, read in from the inode if it is not cached, gets an
/// unwritten block and is dirtied; writeback writes it and converts the
/// extent. The caller holds `invalidate_lock` exclusively (no fault,
/// truncate or fallocate runs); a buffered write holding an inline mapping
/// finds it stale, the generation having moved, and maps again.
pub(super) fn convert_inline(inode: &RexInode, invalidate: &InvalidateGuard<'_, Rexfs>) -> Result {
    debug_assert_eq!(invalidate.mode(), LockMode::Exclusive);
    let info = inode.data();
    if !info.is_inline() {
        return Ok(());
    }
    // The handle ranks above the folio lock.
    let map = extents(inode)?;
    let txn = Txn::start(inode.super_block(), allocate_credits(inode, map, 1))?;
    if inode.size() == 0 {
        map.change(|map, _| map.inline = false);
    } else {
        let folio = inode.lock_first_folio()?;
        map.change(|map, _| -> Result {
            if map.inline {
                allocate_extent(&txn, map, 0, 1, EXTENT_UNWRITTEN)?;
                map.inline = false;
            }
            Ok(())
        })?;
        folio.mark_dirty();
        drop(folio);
        account_blocks(inode);
    }
    inode.mark_dirty();
    txn.stop()
}

#[kunit_tests(rexfs_iomap)]
mod tests {
    use super::*;

    #[test]
    fn fault_preallocation() -> Result {
        let mut map = ExtentMap::new();
        map.insert(Extent {
            logical: 0,
            physical: 100,
            len: 8,
            flags: EXTENT_UNWRITTEN,
        })?;
        // The folio of blocks 8..12 continues an extent of 8: 8 more.
        assert_eq!(fault_alloc_end(&map, 8, 12, 1000, 1000, 1000), 20);
        // Bounded by the hole, EOF and the spare blocks.
        assert_eq!(fault_alloc_end(&map, 8, 12, 15, 1000, 1000), 15);
        assert_eq!(fault_alloc_end(&map, 8, 12, 1000, 14, 1000), 14);
        assert_eq!(fault_alloc_end(&map, 8, 12, 1000, 1000, 2), 14);
        // Never short of the folio, even across EOF.
        assert_eq!(fault_alloc_end(&map, 8, 12, 1000, 10, 1000), 12);
        // Away from any extent: the folio only.
        assert_eq!(fault_alloc_end(&map, 9, 12, 1000, 1000, 1000), 12);
        assert_eq!(
            fault_alloc_end(&ExtentMap::new(), 0, 4, 1000, 1000, 1000),
            4
        );
        // At most FAULT_PREALLOC_MAX past the folio.
        let mut map = ExtentMap::new();
        map.insert(Extent {
            logical: 0,
            physical: 100,
            len: 4096,
            flags: 0,
        })?;
        let (far, end) = (u64::MAX / 2, 4096 + 4);
        assert_eq!(
            fault_alloc_end(&map, 4096, end, far, far, far),
            end + FAULT_PREALLOC_MAX
        );
        Ok(())
    }
}
