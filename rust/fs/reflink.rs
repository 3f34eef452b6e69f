// SPDX-License-Identifier: GPL-2.0

//! Shared blocks: cloning and deduplicating ranges (`remap_file_range`),
//! and copy-on-write of every write into a shared block.
//!
//! A clone makes the destination's extents map the source's blocks and
//! counts the references in the refcount table ([`super::refcount`]); both
//! inodes are marked [`INODE_SHARED`](crate::format::INODE_SHARED) in the
//! same transaction. A write into a shared block of such an inode
//! (buffered, through a mapping, direct, or zeroing) gets staging blocks of
//! its own, kept in the inode's copy-on-write map: `iomap_begin` returns
//! them with `IOMAP_F_SHARED` and the shared extent as the source mapping,
//! from which iomap reads what the write does not cover; writeback writes
//! the folio into them, and the completion of that writeback (or of the
//! direct write) puts them in place of the shared blocks and drops a
//! reference on those ([`finish_cow`]). Every change of the copy-on-write
//! map bumps the extent-map generation, so a mapping made before a remap, a
//! copy-on-write allocation or its completion is stale for `iomap_valid`
//! and for writeback.

use super::extent_map::{ExtentMap, FreedRuns};
use super::ialloc::{free_credits, free_staged, release_runs};
use super::inode::{account_blocks, extents, inode_credits, write_credits, InodeInfo};
use super::iomap::{block_of, bytes, convert_inline, map_block};
use super::lock::LoadedMap;
use super::refcount::refcount_credits;
use super::txn::{Credits, Txn};
use super::{RexInode, RexSb};
use crate::format::{self, Extent, FEATURE_INCOMPAT_REFLINK, REFCOUNTS_PER_BLOCK};
use crate::vfs::{IomapFlag, IomapFlags, MapKind, Mapped, Mapping, RemapFlag, RemapRequest};
use kernel::prelude::*;

const BLOCK_SHIFT: u32 = format::BLOCK_SHIFT;

/// Extents one transaction of a remap or of a copy-on-write completion
/// moves at most, each of at most [`PIECE_BLOCKS`] blocks: what the
/// journal reserves for one stays small.
const BATCH_EXTENTS: u32 = 8;

/// Blocks of one extent moved by one step (those of 8 refcount-table
/// blocks).
const PIECE_BLOCKS: u64 = 8 * REFCOUNTS_PER_BLOCK as u64;

/// What a write at file block `first` meets in an inode that may share
/// blocks, where the data mapping is `data` (blocks, written or not).
enum CowLookup {
    /// The file's own blocks, for `blocks` blocks: written in place.
    InPlace { blocks: u64 },
    /// A staging extent: written there.
    Staged(Mapped),
    /// Shared blocks without staging blocks, for `blocks` blocks.
    Shared { blocks: u64 },
}

/// The mapping of file block `first` to staging block `physical`, for
/// `blocks` blocks, made under extent-map `generation`.
fn staging_mapping(first: u64, physical: u64, blocks: u64, generation: u64) -> Mapping {
    Mapping {
        offset: bytes(first) as i64,
        length: bytes(blocks),
        kind: MapKind::Mapped,
        addr: bytes(physical),
        new: false,
        shared: true,
        cookie: generation,
    }
}

/// A write through staging `iomap` of the data mapped by `data` (from the
/// same offset), which iomap reads what the write does not cover from.
fn copy_on_write(iomap: Mapping, data: &Mapping) -> Mapped {
    Mapped {
        iomap,
        srcmap: Some(Mapping {
            length: iomap.length,
            ..*data
        }),
    }
}

/// Looks up what a write of blocks `first..end` meets: a staging extent in
/// `cow` at `first`, else whether `data`'s blocks are shared, and for how
/// far (never past the next staging extent, `data` or `end`).
fn lookup(
    sb: &RexSb,
    data: &Mapping,
    cow: &ExtentMap,
    first: u64,
    end: u64,
    generation: u64,
) -> Result<CowLookup> {
    let data_end = first + (data.length >> BLOCK_SHIFT);
    if let Some(c) = cow.lookup(first) {
        let blocks = c.logical_end().min(data_end) - first;
        let iomap = staging_mapping(first, c.physical + (first - c.logical), blocks, generation);
        return Ok(CowLookup::Staged(copy_on_write(iomap, data)));
    }
    let limit = data_end.min(end).min(cow.next_mapped(first));
    let physical = data.addr >> BLOCK_SHIFT;
    let (shared, blocks) = sb
        .data()
        .allocator()
        .shared_run(sb, physical, limit - first)?;
    Ok(if shared {
        CowLookup::Shared { blocks }
    } else {
        CowLookup::InPlace { blocks }
    })
}

/// Staging blocks one allocation takes at most: their entries lie in two
/// table blocks at most (a larger write allocates again for the rest).
const STAGING_RUN_MAX: u64 = REFCOUNTS_PER_BLOCK as u64;

/// Blocks staged at once around a write into shared blocks, as XFS's
/// copy-on-write extent size hint (32 blocks by default): writes that
/// follow nearby find theirs staged next to each other, so small random
/// writes into a shared file leave it in few extents (generic/301).
const STAGING_CHUNK: u64 = 32;

/// What allocating staging blocks may change: two runs of at most
/// [`STAGING_RUN_MAX`] blocks (a bitmap block and two table blocks each),
/// the superblock.
pub(super) fn cow_alloc_credits(sb: &RexSb) -> Credits {
    let geometry = sb.data().geometry();
    Credits::bitmap_runs(geometry, 2, 0).and(refcount_credits(geometry, 2, 0))
}

/// The file blocks to stage for a write at `first` into `blocks` shared
/// blocks of `map`: widened to the aligned [`STAGING_CHUNK`]s around them,
/// over blocks of the same extent that are shared and not staged yet.
fn staging_chunk(
    sb: &RexSb,
    map: &ExtentMap,
    cow: &ExtentMap,
    first: u64,
    blocks: u64,
) -> Result<(u64, u64)> {
    let end = first + blocks;
    let Some(e) = map.lookup(first).copied() else {
        return Ok((first, end));
    };
    let physical = |logical: u64| e.physical + (logical - e.logical);
    let alloc = sb.data().allocator();
    let staged_before = cow.last_ending_by(first).map_or(0, |c| c.logical_end());
    let mut start = (first - first % STAGING_CHUNK)
        .max(e.logical)
        .max(staged_before);
    if start < first {
        let (shared, run) = alloc.shared_run(sb, physical(start), first - start)?;
        if !shared || run < first - start {
            start = first;
        }
    }
    let limit = end
        .next_multiple_of(STAGING_CHUNK)
        .min(e.logical_end())
        .min(cow.next_mapped(end));
    if end < limit {
        if let (true, run) = alloc.shared_run(sb, physical(end), limit - end)? {
            return Ok((start, end + run));
        }
    }
    Ok((start, end))
}

/// For a write of bytes `pos..pos + len` (file blocks `first..end`) of
/// `inode`, which may share blocks: the mapping to write, which is
/// a staging extent (allocated here if need be) with the shared data as
/// its source when the block is shared or already has staging blocks, and
/// the file's own blocks otherwise, trimmed to where that changes. `None`
/// if the block is no longer mapped (the caller maps it as a hole).
pub(super) fn cow_for_write(
    inode: &RexInode,
    pos: i64,
    len: i64,
    flags: IomapFlags,
) -> Result<Option<Mapped>> {
    let (first, end) = (block_of(pos), block_of(pos + len - 1) + 1);
    let sb = inode.super_block();
    let info = inode.data();
    let probes = &sb.data().probes;
    // Looked at without a handle first: most writes of a file that shares
    // blocks are not to shared ones.
    let map = extents(inode)?;
    let found = map.read_with_cow(|map, cow, generation| {
        let data = map_block(info, map, first, generation);
        if !matches!(data.kind, MapKind::Mapped | MapKind::Unwritten) {
            return Ok(None);
        }
        lookup(sb, &data, cow, first, end, generation).map(|found| Some((data, found)))
    })?;
    let Some((mut data, found)) = found else {
        return Ok(None);
    };
    match found {
        CowLookup::InPlace { blocks } => {
            data.length = bytes(blocks);
            return Ok(Some(data.into()));
        }
        CowLookup::Staged(_) | CowLookup::Shared { .. } => {}
    }
    if flags.contains(IomapFlag::Dax) {
        // DAX writes in place: no copy-on-write for DAX files.
        return Err(EOPNOTSUPP);
    }
    let aligned = |v: i64| v & ((1 << BLOCK_SHIFT) - 1) == 0;
    if flags.contains(IomapFlag::Direct) && !(aligned(pos) && aligned(pos + len)) {
        // iomap zeroes around a direct write that does not fill its blocks,
        // where a staging block needs the shared data: the write goes
        // through the page cache instead (`ENOTBLK`), as in XFS.
        return Err(ENOTBLK);
    }
    if let CowLookup::Staged(mapped) = found {
        return Ok(Some(mapped));
    }
    loop {
        let txn = Txn::start(sb, cow_alloc_credits(sb))?;
        let result = map.change_with_cow(|map, cow, generation| -> Result<Option<Mapped>> {
            let mut data = map_block(info, map, first, generation);
            if !matches!(data.kind, MapKind::Mapped | MapKind::Unwritten) {
                return Ok(None);
            }
            let blocks = match lookup(sb, &data, cow, first, end, generation)? {
                CowLookup::InPlace { blocks } => {
                    data.length = bytes(blocks);
                    return Ok(Some(data.into()));
                }
                CowLookup::Staged(mapped) => return Ok(Some(mapped)),
                CowLookup::Shared { blocks } => blocks,
            };
            let (mut start, end) = staging_chunk(sb, map, cow, first, blocks)?;
            let mut alloc = sb.data().allocator();
            loop {
                let want = (end - start).min(STAGING_RUN_MAX);
                let (physical, count) = alloc.alloc_data_blocks(&txn, cow.goal_for(start), want)?;
                alloc.stage(&txn, physical, count)?;
                cow.insert(Extent {
                    logical: start,
                    physical,
                    len: count as u32,
                    flags: 0,
                })?;
                probes.cow_allocated.add(count);
                if start + count > first {
                    let skipped = first - start;
                    let iomap =
                        staging_mapping(first, physical + skipped, count - skipped, generation);
                    return Ok(Some(copy_on_write(iomap, &data)));
                }
                // A short run, all before the write: the rest from the
                // write on (a second run at most, within the credits).
                start = first;
            }
        });
        match result {
            Err(e) if e == ENOSPC => {
                if !txn.stop_for_busy()? {
                    return Err(ENOSPC);
                }
            }
            Err(e) => return Err(e),
            Ok(mapped) => {
                txn.stop()?;
                return Ok(mapped);
            }
        }
    }
}

/// Marks `mapping` (of an inode that may share blocks, for FIEMAP) shared
/// if its first block is, trimmed to where that changes.
pub(super) fn report_shared(sb: &RexSb, mapping: &mut Mapping) -> Result {
    if !matches!(mapping.kind, MapKind::Mapped | MapKind::Unwritten) {
        return Ok(());
    }
    let (shared, blocks) = sb.data().allocator().shared_run(
        sb,
        mapping.addr >> BLOCK_SHIFT,
        mapping.length >> BLOCK_SHIFT,
    )?;
    mapping.shared = shared;
    mapping.length = bytes(blocks);
    Ok(())
}

/// The mapping writeback writes file block `block` of `inode`, which may
/// share blocks, through: its staging extent if it has one (the write
/// completes by [`finish_cow`]), else its data mapping, short of the next
/// staging extent and of shared blocks. A dirty folio over a shared block
/// without a staging block is a bug: `EIO`.
pub(super) fn writeback_mapping(inode: &RexInode, info: &InodeInfo, block: u64) -> Result<Mapping> {
    let sb = inode.super_block();
    let mut mapping = extents(inode)?.read_with_cow(|map, cow, generation| {
        if let Some(c) = cow.lookup(block) {
            let physical = c.physical + (block - c.logical);
            return staging_mapping(block, physical, c.logical_end() - block, generation);
        }
        let mut data = map_block(info, map, block, generation);
        let next_cow = cow.next_mapped(block);
        if next_cow != u64::MAX {
            data.length = data.length.min(bytes(next_cow - block));
        }
        data
    });
    if mapping.kind == MapKind::Mapped && !mapping.shared {
        report_shared(sb, &mut mapping)?;
        if mapping.shared {
            pr_err!(
                "{}: inode {}: writeback of shared block {} without a staging block\n",
                sb.id(),
                inode.ino(),
                mapping.addr >> BLOCK_SHIFT
            );
            return Err(EIO);
        }
    }
    Ok(mapping)
}

/// What one step of [`finish_cow`] or of a remap may change: the inode
/// with up to 3 extents more per extent moved, the bitmap and the table
/// for the blocks given back, the table for the blocks shared or unstaged.
fn move_credits(inode: &RexInode, map: LoadedMap<'_>) -> Credits {
    let sb = inode.super_block();
    let geometry = sb.data().geometry();
    let runs = u64::from(BATCH_EXTENTS);
    write_credits(inode, map, 3 * BATCH_EXTENTS)
        .and(free_credits(sb, 2 * runs, 2 * runs * PIECE_BLOCKS))
        .and(refcount_credits(
            geometry,
            4 * runs,
            4 * runs * PIECE_BLOCKS,
        ))
}

/// A write into the staging blocks of file bytes `offset..offset + size`
/// of `inode` completed (writeback, or a direct write): puts them in place
/// of the shared blocks, which lose a reference, [`BATCH_EXTENTS`] extents
/// per transaction (each step whole after a crash: the table marks staging
/// blocks until the step that maps them). Runs in task context, no folio
/// locked.
pub(super) fn finish_cow(inode: &RexInode, offset: i64, size: u64) -> Result {
    let sb = inode.super_block();
    sb.data().probes.delay(|p| &p.delay_cow_finish);
    let map = extents(inode)?;
    let start = block_of(offset);
    let end = block_of(offset + size as i64 + (1 << BLOCK_SHIFT) - 1);
    let mut next = start;
    while next < end {
        let txn = Txn::start(sb, move_credits(inode, map))?;
        let mut replaced = FreedRuns::new();
        let mut staged = FreedRuns::new();
        next = map.change_with_cow(|map, cow, _| -> Result<u64> {
            let mut pos = next;
            let mut moved = 0;
            while pos < end && moved < BATCH_EXTENTS {
                let Some(c) = cow.lookup(pos).copied() else {
                    pos = cow.next_mapped(pos).min(end);
                    continue;
                };
                let piece_end = c.logical_end().min(end).min(pos + PIECE_BLOCKS);
                let physical = c.physical + (pos - c.logical);
                cow.remove(pos, piece_end, &mut FreedRuns::new())?;
                map.remove(pos, piece_end, &mut replaced)?;
                map.insert(Extent {
                    logical: pos,
                    physical,
                    len: (piece_end - pos) as u32,
                    flags: 0,
                })?;
                staged.push((physical, piece_end - pos), GFP_KERNEL)?;
                pos = piece_end;
                moved += 1;
            }
            Ok(pos)
        })?;
        {
            let mut alloc = sb.data().allocator();
            for &(physical, len) in staged.iter() {
                alloc.unstage(&txn, physical, len)?;
            }
        }
        release_runs(&txn, inode, &replaced)?;
        sb.data()
            .probes
            .cow_remapped
            .add(staged.iter().map(|&(_, len)| len).sum());
        account_blocks(inode);
        inode.mark_dirty();
        txn.stop()?;
    }
    Ok(())
}

/// `remap_file_range`: clones (or, with [`RemapFlag::Dedupe`], dedupes)
/// `request`'s range under the locks of both files (see `vfs/remap.rs` and
/// [`super::lock`]); returns the bytes remapped.
pub(super) fn remap(request: &RemapRequest<'_, super::Rexfs>) -> Result<i64> {
    let (src, dst) = (request.src.inode(), request.dst.inode());
    let sb = src.super_block();
    sb.data().alive()?;
    if sb.data().feature_incompat() & FEATURE_INCOMPAT_REFLINK == 0 {
        return Err(EOPNOTSUPP);
    }
    let dedupe = request.flags.contains(RemapFlag::Dedupe);
    let probes = &sb.data().probes;
    let guard = if dedupe && probes.unsafe_remap_source_unlocked.is_on() {
        request.lock_destination_only()
    } else {
        request.lock()
    };
    if src.is_dax() || dst.is_dax() {
        return Err(EOPNOTSUPP);
    }
    if dst.is_append_only() {
        return Err(EPERM);
    }
    let len = match guard.prepare(request) {
        Err(e) if e == EBADE => {
            probes.dedupes_differ.inc();
            return Err(e);
        }
        result => result?,
    };
    if len == 0 {
        return Ok(0);
    }
    if dedupe {
        // Between the compare and the remap.
        probes.delay(|p| &p.delay_dedupe);
    }
    if let Some(src_invalidate) = guard.src_invalidate() {
        convert_inline(src, src_invalidate)?;
    }
    convert_inline(dst, guard.dst_invalidate())?;
    let block_size = 1i64 << BLOCK_SHIFT;
    let dst_end = (request.pos_out + len + block_size - 1) & !(block_size - 1);
    guard.drop_dst_pages(request.pos_out, dst_end - 1)?;
    let src_first = block_of(request.pos_in);
    let dst_first = block_of(request.pos_out);
    let count = block_of(request.pos_in + len + block_size - 1) - src_first;
    let mut done = 0;
    while done < count {
        done += remap_step(src, src_first + done, dst, dst_first + done, count - done)?;
    }
    // The remap may have grown the destination: its size covers what it
    // got (the last block in part, when the source's EOF ends it).
    let new_size = request.pos_out + len;
    if new_size > dst.size() {
        let txn = Txn::start(sb, inode_credits(dst, 0))?;
        dst.set_size(new_size);
        dst.mark_dirty();
        txn.stop()?;
    }
    if dedupe {
        probes.dedupes_same.inc();
    } else {
        probes.clones.inc();
    }
    Ok(len)
}

/// One transaction of a remap: maps source blocks `src_first..` onto
/// destination blocks `dst_first..` (up to `left` blocks, at most
/// [`BATCH_EXTENTS`] extents of at most [`PIECE_BLOCKS`] blocks), giving
/// back what the destination mapped there and adding a reference to each
/// source block; holes of the source become holes. Returns the blocks
/// done.
fn remap_step(
    src: &RexInode,
    src_first: u64,
    dst: &RexInode,
    dst_first: u64,
    left: u64,
) -> Result<u64> {
    let sb = src.super_block();
    let mut pieces = KVec::<Extent>::new();
    // The source's extents over the range, shifted to the destination.
    let src_map = extents(src)?;
    let dst_map = extents(dst)?;
    let done = src_map.read(|map, _| -> Result<u64> {
        let end = src_first + left;
        let mut pos = src_first;
        while pos < end && pieces.len() < BATCH_EXTENTS as usize {
            match map.lookup(pos) {
                Some(e) => {
                    let piece_end = e.logical_end().min(end).min(pos + PIECE_BLOCKS);
                    pieces.push(
                        Extent {
                            logical: dst_first + (pos - src_first),
                            physical: e.physical + (pos - e.logical),
                            len: (piece_end - pos) as u32,
                            flags: e.flags,
                        },
                        GFP_KERNEL,
                    )?;
                    pos = piece_end;
                }
                None => pos = map.next_mapped(pos).min(end),
            }
        }
        Ok(pos - src_first)
    })?;
    let credits = move_credits(dst, dst_map).and(write_credits(src, src_map, 0));
    let txn = Txn::start(sb, credits)?;
    {
        let mut alloc = sb.data().allocator();
        for piece in pieces.iter() {
            alloc.share(&txn, piece.physical, u64::from(piece.len))?;
        }
    }
    let mut replaced = FreedRuns::new();
    let mut staged = FreedRuns::new();
    dst_map.change_with_cow(|map, cow, _| -> Result {
        let (start, end) = (dst_first, dst_first + done);
        map.remove(start, end, &mut replaced)?;
        cow.remove(start, end, &mut staged)?;
        pieces.iter().try_for_each(|piece| map.insert(*piece))
    })?;
    release_runs(&txn, dst, &replaced)?;
    free_staged(&txn, &staged)?;
    for inode in [src, dst] {
        if !inode.data().may_share() {
            inode.data().set_shared();
        }
        account_blocks(inode);
        inode.mark_dirty();
    }
    // Cached mappings of the source (writeback's) must see its blocks
    // shared now.
    src_map.change(|_, _| ());
    txn.stop()?;
    Ok(done)
}
