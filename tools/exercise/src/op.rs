// SPDX-License-Identifier: GPL-2.0
//! The operations: their kinds and weights ([`OpKind`], [`Mix`]), how each
//! is drawn at random ([`OpKind::generate`]), what it does to the files
//! ([`Op::apply`]) and what it must have done ([`Op::apply_model`]).
//!
//! Every operation works on the main file but clone, dedupe and copy,
//! which go from one file to the other (either way) or between two ranges
//! of one file (see [`crate::files`]).

use std::fmt;

use crate::files::{FileId, PerFile, Remap};
use crate::model::Model;
use crate::rng::Rng;
use crate::sys::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE};
use crate::target::{StepError, Target, MAX_DIRECT_LEN};

/// The longest range of one operation, in bytes.
pub const MAX_LEN: u64 = 64 << 10;
/// The alignment of direct I/O offsets and lengths.
pub const DIRECT_ALIGN: u64 = 4096;
/// The block size clone and dedupe assume: their offsets, and their
/// lengths but one that ends at EOF, are multiples of it (the VFS checks
/// them against the filesystem's block size: 4096 on rexfs).
pub const REMAP_ALIGN: u64 = 4096;

/// What an operation is, without its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `pwrite`.
    Write,
    /// `pread`, compared with the model.
    Read,
    /// A store through a shared mapping, sometimes `msync`ed.
    MapWrite,
    /// A load through a mapping, compared with the model.
    MapRead,
    /// `ftruncate`.
    Truncate,
    /// `fsync`.
    Fsync,
    /// `fdatasync`.
    Fdatasync,
    /// `fdatasync` and `posix_fadvise(DONTNEED)`: later reads come from disk.
    Invalidate,
    /// `fallocate(PUNCH_HOLE | KEEP_SIZE)`.
    Punch,
    /// `fallocate(ZERO_RANGE)`, sometimes with `KEEP_SIZE`.
    Zero,
    /// `fallocate` mode 0 or `KEEP_SIZE`.
    Falloc,
    /// `pwrite` with `O_DIRECT`.
    DirectWrite,
    /// `pread` with `O_DIRECT`, compared with the model.
    DirectRead,
    /// `FICLONERANGE`: shares a range of one file with the other, or with
    /// another range of itself.
    Clone,
    /// `FIDEDUPERANGE` of two ranges: its status (same or differ) is
    /// compared with the model.
    Dedupe,
    /// `copy_file_range` from one file to the other, or within one; the
    /// bytes copied are compared with the model.
    CopyRange,
}

impl OpKind {
    /// Every kind, in the order of the summary's counts.
    pub const ALL: [OpKind; 16] = [
        OpKind::Write,
        OpKind::Read,
        OpKind::MapWrite,
        OpKind::MapRead,
        OpKind::Truncate,
        OpKind::Fsync,
        OpKind::Fdatasync,
        OpKind::Invalidate,
        OpKind::Punch,
        OpKind::Zero,
        OpKind::Falloc,
        OpKind::DirectWrite,
        OpKind::DirectRead,
        OpKind::Clone,
        OpKind::Dedupe,
        OpKind::CopyRange,
    ];
    /// The number of kinds.
    pub const COUNT: usize = Self::ALL.len();

    /// The kind's name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Write => "write",
            OpKind::Read => "read",
            OpKind::MapWrite => "mapwrite",
            OpKind::MapRead => "mapread",
            OpKind::Truncate => "truncate",
            OpKind::Fsync => "fsync",
            OpKind::Fdatasync => "fdatasync",
            OpKind::Invalidate => "invalidate",
            OpKind::Punch => "punch",
            OpKind::Zero => "zero",
            OpKind::Falloc => "falloc",
            OpKind::DirectWrite => "dwrite",
            OpKind::DirectRead => "dread",
            OpKind::Clone => "clone",
            OpKind::Dedupe => "dedupe",
            OpKind::CopyRange => "copyrange",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// How often the kind is drawn, relative to the others, by default.
    pub fn default_weight(self) -> u32 {
        match self {
            OpKind::Write => 12,
            OpKind::MapWrite => 8,
            OpKind::Read | OpKind::MapRead => 6,
            OpKind::Truncate => 4,
            OpKind::Punch
            | OpKind::Zero
            | OpKind::Falloc
            | OpKind::DirectWrite
            | OpKind::DirectRead => 3,
            OpKind::Clone | OpKind::Dedupe | OpKind::CopyRange => 2,
            OpKind::Fsync | OpKind::Fdatasync | OpKind::Invalidate => 1,
        }
    }

    /// The kind's index in [`OpKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// An operation of this kind with random arguments, for files as
    /// `shape` describes them.
    pub fn generate(self, rng: &mut Rng, shape: &Shape) -> Op {
        let (size, max_size) = (shape.sizes[FileId::Main], shape.max_size);
        let (offset, len) = match self {
            OpKind::MapRead => in_file_range(rng, size),
            OpKind::DirectWrite | OpKind::DirectRead => {
                direct_range(rng, size, max_size, self == OpKind::DirectWrite)
            }
            OpKind::Clone | OpKind::Dedupe | OpKind::CopyRange => (0, 0),
            _ => range(rng, size, max_size),
        };
        match self {
            OpKind::Write => Op::Write { offset, len },
            OpKind::Read => Op::Read { offset, len },
            OpKind::MapWrite => Op::MapWrite {
                offset,
                len,
                sync: rng.one_in(4),
            },
            OpKind::MapRead => Op::MapRead { offset, len },
            OpKind::Truncate => Op::Truncate {
                size: new_size(rng, size, max_size),
            },
            OpKind::Fsync => Op::Fsync,
            OpKind::Fdatasync => Op::Fdatasync,
            OpKind::Invalidate => Op::Invalidate,
            OpKind::Punch => Op::Punch { offset, len },
            OpKind::Zero => Op::Zero {
                offset,
                len,
                keep_size: rng.one_in(2),
            },
            OpKind::Falloc => Op::Falloc {
                offset,
                len,
                keep_size: rng.one_in(2),
            },
            OpKind::DirectWrite => Op::DirectWrite { offset, len },
            OpKind::DirectRead => Op::DirectRead { offset, len },
            OpKind::Clone => Op::CloneRange(clone_args(rng, shape)),
            OpKind::Dedupe => Op::DedupeRange(dedupe_args(rng, shape)),
            OpKind::CopyRange => Op::CopyRange(copy_args(rng, shape)),
        }
    }
}

/// What the generator knows of the files when it draws an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Each file's size.
    pub sizes: PerFile<u64>,
    /// The largest size a file may reach (at least [`DIRECT_ALIGN`]).
    pub max_size: u64,
    /// The last clone or copy, as done (a copy's length is what it
    /// copied): its two ranges hold the same bytes unless something wrote
    /// over one since, so a dedupe often tries them.
    pub last_copy: Option<Remap>,
}

/// Rounds `x` down to 512 or 4096 bytes half of the time, so that both
/// aligned and unaligned offsets and sizes come up.
fn align(rng: &mut Rng, x: u64) -> u64 {
    match rng.below(4) {
        0 => x & !511,
        1 => x & !4095,
        _ => x,
    }
}

/// A position within [`MAX_LEN`] of `size`, on either side.
fn near(rng: &mut Rng, size: u64) -> u64 {
    (size + rng.below(2 * MAX_LEN)).saturating_sub(MAX_LEN)
}

/// An offset below `max`: mostly inside the file, sometimes around its
/// end, sometimes anywhere (past EOF, which leaves a hole).
fn offset(rng: &mut Rng, size: u64, max: u64) -> u64 {
    let raw = match rng.below(8) {
        0..=4 if size > 0 => rng.below(size),
        5 => near(rng, size),
        _ => rng.below(max),
    };
    align(rng, raw).min(max - 1)
}

/// A length in `1..=MAX_LEN`: small, whole pages, or anything.
fn length(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.between(1, 512),
        1 => DIRECT_ALIGN * rng.between(1, MAX_LEN / DIRECT_ALIGN),
        _ => rng.between(1, MAX_LEN),
    }
}

/// A non-empty range ending at or below `max`.
fn range(rng: &mut Rng, size: u64, max: u64) -> (u64, u64) {
    let offset = offset(rng, size, max);
    (offset, length(rng).min(max - offset))
}

/// A non-empty range inside the file; `(0, 0)` if it is empty.
fn in_file_range(rng: &mut Rng, size: u64) -> (u64, u64) {
    if size == 0 {
        return (0, 0);
    }
    let raw = rng.below(size);
    let offset = align(rng, raw);
    (offset, length(rng).min(size - offset))
}

/// A new size up to `max`: around the current one, smaller, or anything.
fn new_size(rng: &mut Rng, size: u64, max: u64) -> u64 {
    let raw = match rng.below(4) {
        0 => near(rng, size),
        1 => rng.below(size + 1),
        _ => rng.below(max + 1),
    };
    align(rng, raw).min(max)
}

/// A [`DIRECT_ALIGN`]-aligned range of up to [`MAX_DIRECT_LEN`] bytes:
/// below `max` for a write, up to the block after EOF for a read.
fn direct_range(rng: &mut Rng, size: u64, max: u64, write: bool) -> (u64, u64) {
    let max_blocks = max / DIRECT_ALIGN;
    let blocks = if write {
        max_blocks
    } else {
        size.div_ceil(DIRECT_ALIGN) + 1
    };
    let offset = DIRECT_ALIGN * rng.below(blocks);
    let len = DIRECT_ALIGN * rng.between(1, MAX_DIRECT_LEN as u64 / DIRECT_ALIGN);
    (
        offset,
        if write {
            len.min(max_blocks * DIRECT_ALIGN - offset)
        } else {
            len
        },
    )
}

/// The source and destination files of a clone, dedupe or copy: a source
/// with data if either file has some; the other file as destination two
/// times in three, the source itself (another range of it) otherwise.
fn remap_files(rng: &mut Rng, sizes: &PerFile<u64>) -> (FileId, FileId) {
    let mut src = if rng.one_in(2) {
        FileId::Main
    } else {
        FileId::Peer
    };
    if sizes[src] == 0 {
        src = src.other();
    }
    let dst = if rng.one_in(3) { src } else { src.other() };
    (src, dst)
}

/// A range from a block boundary to the end of a file of `size` bytes
/// (`size > 0`), at most [`MAX_LEN`] long.
fn eof_range(rng: &mut Rng, size: u64) -> (u64, u64) {
    let first = size.saturating_sub(MAX_LEN).div_ceil(REMAP_ALIGN);
    let last = (size - 1) / REMAP_ALIGN;
    let offset = REMAP_ALIGN * rng.between(first, last);
    (offset, size - offset)
}

/// A range of whole blocks inside a file of `size` bytes (at least one
/// block), at most [`MAX_LEN`] long.
fn block_range(rng: &mut Rng, size: u64) -> (u64, u64) {
    let blocks = size / REMAP_ALIGN;
    let start = rng.below(blocks);
    let count = rng.between(1, (blocks - start).min(MAX_LEN / REMAP_ALIGN));
    (REMAP_ALIGN * start, REMAP_ALIGN * count)
}

/// The number nearest to `x` in the inclusive ranges `ranges` (those whose
/// start is past their end are empty); `None` if all are empty.
fn nearest(x: u64, ranges: &[(u64, u64)]) -> Option<u64> {
    ranges
        .iter()
        .filter(|(lo, hi)| lo <= hi)
        .map(|&(lo, hi)| x.clamp(lo, hi))
        .min_by_key(|&y| y.abs_diff(x))
}

/// A clone the VFS takes whole (`generic_remap_checks`,
/// `generic_remap_check_len`): block-aligned offsets; whole blocks inside
/// the source, or a range from a block boundary to the source's EOF whose
/// partial last block, if any, lands at or past the destination's EOF;
/// ending by the size limit; in one file, ranges apart (a partial EOF block
/// counted whole). If the destination drawn has no room, the other file;
/// then whole blocks only. Nothing if the source is empty or nothing fits.
fn clone_args(rng: &mut Rng, shape: &Shape) -> Remap {
    let (src, dst) = remap_files(rng, &shape.sizes);
    let size = shape.sizes[src];
    if size == 0 {
        return Remap::nothing(src, size, dst);
    }
    let (src_offset, len) = if size < REMAP_ALIGN || rng.one_in(3) {
        eof_range(rng, size)
    } else {
        block_range(rng, size)
    };
    let whole = len - len % REMAP_ALIGN;
    let lens = std::iter::once(len).chain((whole != len && whole > 0).then_some(whole));
    for len in lens {
        for dst in [dst, dst.other()] {
            if let Some(dst_offset) = clone_dest(rng, shape, src, src_offset, dst, len) {
                return Remap {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    len,
                };
            }
        }
    }
    Remap::nothing(src, size, dst)
}

/// Where in `dst` a clone of `len` bytes at `src_offset` of `src` may land
/// (see [`clone_args`]): the allowed block nearest to a random offset
/// drawn like [`offset`]'s (mostly inside the file, sometimes around its
/// end, sometimes anywhere); `None` if no block is allowed.
fn clone_dest(
    rng: &mut Rng,
    shape: &Shape,
    src: FileId,
    src_offset: u64,
    dst: FileId,
    len: u64,
) -> Option<u64> {
    let size = shape.sizes[dst];
    let last = shape.max_size.checked_sub(len)? / REMAP_ALIGN;
    // A partial EOF block may not land inside the destination.
    let first = if len.is_multiple_of(REMAP_ALIGN) {
        0
    } else {
        size.saturating_sub(len).div_ceil(REMAP_ALIGN)
    };
    let mut allowed = Vec::with_capacity(2);
    if src == dst {
        let (start, blocks) = (src_offset / REMAP_ALIGN, len.div_ceil(REMAP_ALIGN));
        if let Some(end) = start.checked_sub(blocks) {
            allowed.push((first, end.min(last)));
        }
        allowed.push((first.max(start + blocks), last));
    } else {
        allowed.push((first, last));
    }
    let want = offset(rng, size, shape.max_size) / REMAP_ALIGN;
    nearest(want, &allowed).map(|block| REMAP_ALIGN * block)
}

/// A dedupe the VFS takes whole: both ranges inside their files,
/// block-aligned offsets, whole blocks or (two files) ranges that both end
/// at their file's EOF, the only way to dedupe a partial block; in one
/// file, ranges apart. Half of the time, if some is left that fits, the
/// ranges of the last clone or copy ([`dedupe_of`]), either way round:
/// those hold the same bytes unless something wrote over one since.
/// Nothing if no range fits.
fn dedupe_args(rng: &mut Rng, shape: &Shape) -> Remap {
    let last = shape.last_copy.filter(|_| rng.one_in(2));
    if let Some(remap) = last.and_then(|last| dedupe_of(last, &shape.sizes)) {
        return if rng.one_in(2) {
            remap.reversed()
        } else {
            remap
        };
    }
    let (src, mut dst) = remap_files(rng, &shape.sizes);
    if shape.sizes[dst] < REMAP_ALIGN {
        dst = src;
    }
    let (size, dst_size) = (shape.sizes[src], shape.sizes[dst]);
    let (blocks, dst_blocks) = (size / REMAP_ALIGN, dst_size / REMAP_ALIGN);
    let max_blocks = MAX_LEN / REMAP_ALIGN;
    let tail = size % REMAP_ALIGN;
    if src != dst && tail != 0 && dst_size % REMAP_ALIGN == tail && rng.one_in(3) {
        // Both ranges end at EOF, in a partial block of the same length.
        let count = rng.below(blocks.min(dst_blocks).min(max_blocks - 1) + 1);
        let len = tail + REMAP_ALIGN * count;
        return Remap {
            src,
            src_offset: size - len,
            dst,
            dst_offset: dst_size - len,
            len,
        };
    }
    let (src_block, dst_block, count) = if src != dst && blocks > 0 && dst_blocks > 0 {
        let (i, j) = (rng.below(blocks), rng.below(dst_blocks));
        (i, j, (blocks - i).min(dst_blocks - j).min(max_blocks))
    } else if src == dst && blocks >= 2 {
        // Two blocks of one file, the range from each no longer than the
        // distance between them.
        let i = rng.below(blocks);
        let j = (i + rng.between(1, blocks - 1)) % blocks;
        let (first, second) = (i.min(j), i.max(j));
        (i, j, (second - first).min(blocks - second).min(max_blocks))
    } else {
        return Remap::nothing(src, size, dst);
    };
    Remap {
        src,
        src_offset: REMAP_ALIGN * src_block,
        dst,
        dst_offset: REMAP_ALIGN * dst_block,
        len: REMAP_ALIGN * rng.between(1, count),
    }
}

/// The part of `last`, the ranges of a clone or copy, that a dedupe can
/// take now: from the first block boundary of both (their offsets must
/// be equal modulo the block size), whole blocks, or up to both EOFs (two
/// files), inside both files; `None` if nothing is left.
fn dedupe_of(last: Remap, sizes: &PerFile<u64>) -> Option<Remap> {
    if last.src_offset % REMAP_ALIGN != last.dst_offset % REMAP_ALIGN {
        return None;
    }
    let skip = (REMAP_ALIGN - last.src_offset % REMAP_ALIGN) % REMAP_ALIGN;
    let mut remap = Remap {
        src_offset: last.src_offset + skip,
        dst_offset: last.dst_offset + skip,
        len: last.len.checked_sub(skip)?,
        ..last
    };
    let (size, dst_size) = (sizes[remap.src], sizes[remap.dst]);
    let src_end = remap.src_offset + remap.len;
    let dst_end = remap.dst_offset + remap.len;
    if remap.src == remap.dst || src_end != size || dst_end != dst_size {
        remap.len -= remap.len % REMAP_ALIGN;
    }
    (remap.len > 0
        && remap.src_offset + remap.len <= size
        && remap.dst_offset + remap.len <= dst_size)
        .then_some(remap)
}

/// A `copy_file_range`: offsets anywhere and any length, the destination
/// range ending by the size limit. From the other file, the source range
/// may reach past EOF (the copy stops there; nothing if it starts at or
/// past it). In one file, the source range lies inside the file (the
/// calls after one that grew the file past the source's old EOF would copy
/// more) and the ranges do not overlap (the length cut to the distance
/// between them); the other file is the destination if no such range is
/// left.
fn copy_args(rng: &mut Rng, shape: &Shape) -> Remap {
    let (src, mut dst) = remap_files(rng, &shape.sizes);
    let max = shape.max_size;
    let src_offset = offset(rng, shape.sizes[src], max);
    let dst_offset = offset(rng, shape.sizes[dst], max);
    let mut len = length(rng).min(max - dst_offset);
    if src == dst {
        let inside = len.min(shape.sizes[src].saturating_sub(src_offset));
        let gap = src_offset.abs_diff(dst_offset);
        match inside.min(gap) {
            0 => dst = dst.other(),
            fits => len = fits,
        }
    }
    Remap {
        src,
        src_offset,
        dst,
        dst_offset,
        len,
    }
}

/// One operation with its arguments. Writing operations store the bytes
/// passed to [`Op::apply`] and [`Op::apply_model`], [`Op::payload_len`] long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `pwrite` of `len` bytes at `offset`.
    Write {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// `pread` of up to `len` bytes at `offset`.
    Read {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// A store through a mapping, after extending the file with `ftruncate`
    /// if the range ends past EOF; `msync(MS_SYNC)` if `sync`.
    MapWrite {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// Whether to `msync` before unmapping.
        sync: bool,
    },
    /// A load through a mapping of a range inside the file (nothing if
    /// `len` is 0: the file was empty).
    MapRead {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// `ftruncate` to `size`.
    Truncate {
        /// The new size.
        size: u64,
    },
    /// `fsync`.
    Fsync,
    /// `fdatasync`.
    Fdatasync,
    /// `fdatasync`, then drop the file's cached pages.
    Invalidate,
    /// Punch a hole, keeping the size.
    Punch {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// Zero a range, extending the file unless `keep_size`.
    Zero {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// `FALLOC_FL_KEEP_SIZE`.
        keep_size: bool,
    },
    /// Preallocate a range, extending the file unless `keep_size`.
    Falloc {
        /// Where.
        offset: u64,
        /// How many bytes.
        len: u64,
        /// `FALLOC_FL_KEEP_SIZE`.
        keep_size: bool,
    },
    /// `O_DIRECT` `pwrite`.
    DirectWrite {
        /// Where (aligned).
        offset: u64,
        /// How many bytes (aligned).
        len: u64,
    },
    /// `O_DIRECT` `pread`.
    DirectRead {
        /// Where (aligned).
        offset: u64,
        /// How many bytes (aligned).
        len: u64,
    },
    /// `FICLONERANGE`.
    CloneRange(Remap),
    /// `FIDEDUPERANGE`.
    DedupeRange(Remap),
    /// `copy_file_range`, call after call until done or at the source's
    /// EOF.
    CopyRange(Remap),
}

/// What a reading operation saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Where it read.
    pub offset: u64,
    /// How many bytes it asked for.
    pub len: u64,
    /// What it got: `len` bytes, fewer at EOF.
    pub bytes: Vec<u8>,
    /// Through a mapping: the bytes from EOF to the end of its page, which
    /// must be zeros.
    pub past_eof: Vec<u8>,
}

impl Observed {
    /// What a plain read returned.
    fn read(offset: u64, len: u64, bytes: Vec<u8>) -> Self {
        Self {
            offset,
            len,
            bytes,
            past_eof: Vec::new(),
        }
    }
}

/// What an operation reported that the model predicts, to be checked
/// before the model applies the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// What a read saw.
    Read(Observed),
    /// How many bytes a copy copied in all: short only at the source's EOF.
    Copied(u64),
    /// Whether a dedupe found its two ranges the same.
    Deduped(bool),
}

/// `FALLOC_FL_KEEP_SIZE` if `keep_size`.
fn keep(keep_size: bool) -> i32 {
    if keep_size {
        FALLOC_FL_KEEP_SIZE
    } else {
        0
    }
}

impl Op {
    /// The operation's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Write { .. } => OpKind::Write,
            Op::Read { .. } => OpKind::Read,
            Op::MapWrite { .. } => OpKind::MapWrite,
            Op::MapRead { .. } => OpKind::MapRead,
            Op::Truncate { .. } => OpKind::Truncate,
            Op::Fsync => OpKind::Fsync,
            Op::Fdatasync => OpKind::Fdatasync,
            Op::Invalidate => OpKind::Invalidate,
            Op::Punch { .. } => OpKind::Punch,
            Op::Zero { .. } => OpKind::Zero,
            Op::Falloc { .. } => OpKind::Falloc,
            Op::DirectWrite { .. } => OpKind::DirectWrite,
            Op::DirectRead { .. } => OpKind::DirectRead,
            Op::CloneRange(_) => OpKind::Clone,
            Op::DedupeRange(_) => OpKind::Dedupe,
            Op::CopyRange(_) => OpKind::CopyRange,
        }
    }

    /// For a clone, dedupe or copy: its files and ranges.
    pub fn remap(&self) -> Option<&Remap> {
        match self {
            Op::CloneRange(remap) | Op::DedupeRange(remap) | Op::CopyRange(remap) => Some(remap),
            _ => None,
        }
    }

    /// The file the operation works on: the main file, or the destination
    /// of a clone, dedupe or copy.
    pub fn file(&self) -> FileId {
        self.remap().map_or(FileId::Main, |remap| remap.dst)
    }

    /// Whether the operation succeeding shows that the filesystem supports
    /// its kind: not a clone, dedupe or copy of nothing, which the VFS may
    /// finish without asking the filesystem.
    pub fn proves_support(&self) -> bool {
        self.remap().is_none_or(|remap| remap.len > 0)
    }

    /// The byte range the operation works on in its [`Op::file`], if it
    /// has one (for a clone, dedupe or copy: the destination's).
    pub fn range(&self) -> Option<(u64, u64)> {
        match *self {
            Op::Write { offset, len }
            | Op::Read { offset, len }
            | Op::MapWrite { offset, len, .. }
            | Op::MapRead { offset, len }
            | Op::Punch { offset, len }
            | Op::Zero { offset, len, .. }
            | Op::Falloc { offset, len, .. }
            | Op::DirectWrite { offset, len }
            | Op::DirectRead { offset, len } => Some((offset, len)),
            Op::CloneRange(remap) | Op::DedupeRange(remap) | Op::CopyRange(remap) => {
                Some((remap.dst_offset, remap.len))
            }
            Op::Truncate { .. } | Op::Fsync | Op::Fdatasync | Op::Invalidate => None,
        }
    }

    /// For an operation that stores data: how many bytes.
    pub fn payload_len(&self) -> Option<u64> {
        match *self {
            Op::Write { len, .. } | Op::MapWrite { len, .. } | Op::DirectWrite { len, .. } => {
                Some(len)
            }
            _ => None,
        }
    }

    /// Whether the operation may change the contents or size of its
    /// [`Op::file`].
    pub fn changes_data(&self) -> bool {
        self.payload_len().is_some()
            || matches!(
                self,
                Op::Truncate { .. }
                    | Op::Punch { .. }
                    | Op::Zero { .. }
                    | Op::Falloc { .. }
                    | Op::CloneRange(_)
                    | Op::CopyRange(_)
            )
    }

    /// Performs the operation on the files; `data` is its payload (empty if
    /// it stores none). A reading operation returns what it saw, a copy how
    /// much it copied, a dedupe what it found.
    pub fn apply(
        &self,
        targets: &mut PerFile<Target>,
        data: &[u8],
    ) -> Result<Option<Outcome>, StepError> {
        let target = &mut targets[FileId::Main];
        match *self {
            Op::Write { offset, .. } => target.pwrite(offset, data)?,
            Op::Read { offset, len } => {
                return Ok(Some(Outcome::Read(Observed::read(
                    offset,
                    len,
                    target.pread(offset, len as usize)?,
                ))))
            }
            Op::MapWrite { offset, len, sync } => {
                if offset + len > target.size()? {
                    target.truncate(offset + len)?;
                }
                target.map_write(offset, data, sync)?;
            }
            Op::MapRead { offset, len } => {
                return map_read(target, offset, len).map(|seen| Some(Outcome::Read(seen)))
            }
            Op::Truncate { size } => target.truncate(size)?,
            Op::Fsync => target.fsync()?,
            Op::Fdatasync => target.fdatasync()?,
            // Both files: the peer's blocks are read back from the disk too.
            Op::Invalidate => {
                for id in FileId::ALL {
                    targets[id].invalidate()?;
                }
            }
            Op::Punch { offset, len } => {
                target.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len)?
            }
            Op::Zero {
                offset,
                len,
                keep_size,
            } => target.fallocate(FALLOC_FL_ZERO_RANGE | keep(keep_size), offset, len)?,
            Op::Falloc {
                offset,
                len,
                keep_size,
            } => target.fallocate(keep(keep_size), offset, len)?,
            Op::DirectWrite { offset, .. } => target.direct_write(offset, data)?,
            Op::DirectRead { offset, len } => {
                return Ok(Some(Outcome::Read(Observed::read(
                    offset,
                    len,
                    target.direct_read(offset, len as usize)?,
                ))));
            }
            Op::CloneRange(r) => {
                targets[r.dst].clone_range(r.dst_offset, &targets[r.src], r.src_offset, r.len)?
            }
            Op::DedupeRange(r) => {
                let same = targets[r.dst].dedupe_range(
                    r.dst_offset,
                    &targets[r.src],
                    r.src_offset,
                    r.len,
                )?;
                return Ok(Some(Outcome::Deduped(same)));
            }
            Op::CopyRange(r) => {
                let copied = targets[r.dst].copy_range(
                    r.dst_offset,
                    &targets[r.src],
                    r.src_offset,
                    r.len,
                )?;
                return Ok(Some(Outcome::Copied(copied)));
            }
        }
        Ok(None)
    }

    /// Does to the models what the operation must have done to the files;
    /// `data` is its payload (empty if it stores none).
    pub fn apply_model(&self, models: &mut PerFile<Model>, data: &[u8]) {
        let model = &mut models[FileId::Main];
        match *self {
            Op::Write { offset, .. }
            | Op::MapWrite { offset, .. }
            | Op::DirectWrite { offset, .. } => model.write(offset, data),
            Op::Truncate { size } => model.set_size(size),
            Op::Punch { offset, len }
            | Op::Zero {
                offset,
                len,
                keep_size: true,
            } => model.zero(offset, len),
            Op::Zero {
                offset,
                len,
                keep_size: false,
            } => {
                model.grow_to(offset + len);
                model.zero(offset, len);
            }
            Op::Falloc {
                offset,
                len,
                keep_size,
            } => {
                if !keep_size {
                    model.grow_to(offset + len);
                }
            }
            Op::CloneRange(remap) | Op::CopyRange(remap) => {
                crate::model::copy(models, &remap);
            }
            // A dedupe shares blocks that hold the same bytes: it changes none.
            Op::Read { .. }
            | Op::MapRead { .. }
            | Op::DirectRead { .. }
            | Op::Fsync
            | Op::Fdatasync
            | Op::Invalidate
            | Op::DedupeRange(_) => {}
        }
    }
}

/// [`Op::MapRead`]: maps only what lies inside the file as `fstat` sees it
/// (touching a page past EOF would raise `SIGBUS`), so a file shorter than
/// the model shows up as a short read.
fn map_read(target: &Target, offset: u64, len: u64) -> Result<Observed, StepError> {
    let size = target.size()?;
    let inside = len.min(size.saturating_sub(offset));
    if inside == 0 {
        return Ok(Observed::read(offset, len, Vec::new()));
    }
    let (bytes, past_eof) = target.map_read(offset, inside, size)?;
    Ok(Observed {
        offset,
        len,
        bytes,
        past_eof,
    })
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind().name())?;
        if let Some(remap) = self.remap() {
            return write!(f, " {remap}");
        }
        if let Some((offset, len)) = self.range() {
            write!(f, " {offset:#x}+{len:#x}")?;
        }
        match *self {
            Op::Truncate { size } => write!(f, " {size:#x}"),
            Op::MapWrite { sync: true, .. } => write!(f, " msync"),
            Op::Zero {
                keep_size: true, ..
            }
            | Op::Falloc {
                keep_size: true, ..
            } => write!(f, " keep_size"),
            _ => Ok(()),
        }
    }
}

/// The kinds to draw and their weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; OpKind::COUNT],
}

impl Default for Mix {
    /// Every kind, with its default weight.
    fn default() -> Self {
        Self {
            weights: OpKind::ALL.map(OpKind::default_weight),
        }
    }
}

impl Mix {
    /// No kind at all.
    pub fn empty() -> Self {
        Self {
            weights: [0; OpKind::COUNT],
        }
    }

    /// Sets `kind`'s weight (0 disables it).
    pub fn set(&mut self, kind: OpKind, weight: u32) {
        self.weights[kind.index()] = weight;
    }

    /// Whether `kind` can be drawn.
    pub fn enabled(&self, kind: OpKind) -> bool {
        self.weights[kind.index()] > 0
    }

    /// A random kind by weight; `None` if every kind is disabled.
    pub fn pick(&self, rng: &mut Rng) -> Option<OpKind> {
        let total: u64 = self.weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return None;
        }
        let mut r = rng.below(total);
        for kind in OpKind::ALL {
            let w = u64::from(self.weights[kind.index()]);
            if r < w {
                return Some(kind);
            }
            r -= w;
        }
        unreachable!("r < total")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileId::{Main, Peer};

    /// A shape with these sizes and no last copy.
    fn shape(main: u64, peer: u64, max_size: u64) -> Shape {
        Shape {
            sizes: PerFile::new(main, peer),
            max_size,
            last_copy: None,
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in OpKind::ALL {
            assert_eq!(OpKind::from_name(kind.name()), Some(kind));
            assert_eq!(OpKind::ALL[kind.index()], kind);
        }
        assert_eq!(OpKind::from_name("bogus"), None);
    }

    #[test]
    fn generated_ranges_stay_within_limits() {
        let mut rng = Rng::new(3);
        let max = 1 << 20;
        for i in 0..20_000u64 {
            let size = (i * 7919) % (max + 1);
            let kind = OpKind::ALL[(i % OpKind::COUNT as u64) as usize];
            let op = kind.generate(&mut rng, &shape(size, (i * 104_729) % (max + 1), max));
            assert_eq!(op.kind(), kind);
            match op {
                Op::Truncate { size } => assert!(size <= max),
                Op::MapRead { offset, len } => {
                    assert!(offset + len <= size && (len > 0 || size == 0), "{op}")
                }
                Op::DirectWrite { offset, len } | Op::DirectRead { offset, len } => {
                    assert!(
                        offset % DIRECT_ALIGN == 0 && len % DIRECT_ALIGN == 0 && len > 0,
                        "{op}"
                    );
                    assert!(len <= MAX_DIRECT_LEN as u64, "{op}");
                    if kind == OpKind::DirectWrite {
                        assert!(offset + len <= max, "{op}");
                    }
                }
                _ => {}
            }
            if let (Some((offset, len)), true) = (op.range(), op.changes_data()) {
                assert!(len <= MAX_LEN && offset + len <= max, "{op}");
                assert!(len > 0 || op.remap().is_some(), "{op}");
            }
        }
    }

    /// Why the VFS would not take `op` whole on files of `sizes`, the size
    /// limit `max` (`generic_remap_checks` and `generic_remap_check_len`
    /// for a clone or dedupe, `generic_copy_file_checks` for a copy): it
    /// would fail with `EINVAL` or do less than asked.
    fn vfs_refusal(op: &Op, sizes: &PerFile<u64>, max: u64) -> Option<&'static str> {
        let r = *op.remap().expect("a clone, dedupe or copy");
        let (size_in, size_out) = (sizes[r.src], sizes[r.dst]);
        let (end_in, end_out) = (r.src_offset + r.len, r.dst_offset + r.len);
        let overlap = |count: u64| {
            r.src == r.dst
                && r.dst_offset + count > r.src_offset
                && r.dst_offset < r.src_offset + count
        };
        if r.len == 0 {
            // A clone of length 0 clones up to EOF: nothing only from EOF.
            let clone = matches!(op, Op::CloneRange(_));
            return (clone && r.src_offset != size_in).then_some("clone of 0 bytes not from EOF");
        }
        if end_out > max || r.len > MAX_LEN {
            return Some("too long");
        }
        if let Op::CopyRange(_) = op {
            if r.src == r.dst && end_in > size_in {
                // The calls after one that grew the file would copy more.
                return Some("copy within one file from past EOF");
            }
            let count = r.len.min(size_in.saturating_sub(r.src_offset));
            return overlap(count).then_some("copy within one file overlaps");
        }
        let dedupe = matches!(op, Op::DedupeRange(_));
        if !r.src_offset.is_multiple_of(REMAP_ALIGN) || !r.dst_offset.is_multiple_of(REMAP_ALIGN) {
            return Some("unaligned offset");
        }
        if dedupe && (end_in > size_in || end_out > size_out) {
            return Some("dedupe past EOF");
        }
        if end_in > size_in {
            return Some("source range past EOF");
        }
        let bcount = if end_in == size_in && (!dedupe || end_out == size_out) {
            size_in.next_multiple_of(REMAP_ALIGN) - r.src_offset
        } else if !r.len.is_multiple_of(REMAP_ALIGN) {
            return Some("unaligned length short of EOF");
        } else {
            r.len
        };
        if overlap(bcount) {
            return Some("ranges of one file overlap");
        }
        if !r.len.is_multiple_of(REMAP_ALIGN) && end_out < size_out {
            return Some("partial EOF block into the middle of the destination");
        }
        None
    }

    #[test]
    fn clone_dedupe_and_copy_are_what_the_vfs_takes_whole() {
        let mut rng = Rng::new(17);
        let mut last_copy = None;
        let mut done = [0u32; 3];
        let mut something = [0u32; 3];
        for i in 0..30_000u32 {
            let max = [4096, 5000, 1 << 20, 8 << 20][(i % 4) as usize];
            let mut size = || match rng.below(5) {
                0 => 0,
                1 => rng.below(REMAP_ALIGN),
                2 => REMAP_ALIGN * rng.below(max / REMAP_ALIGN + 1),
                3 => max - rng.below(REMAP_ALIGN.min(max)),
                _ => rng.below(max + 1),
            };
            let shape = Shape {
                sizes: PerFile::new(size(), size()),
                max_size: max,
                last_copy,
            };
            let which = (i % 3) as usize;
            let kind = [OpKind::Clone, OpKind::Dedupe, OpKind::CopyRange][which];
            let op = kind.generate(&mut rng, &shape);
            assert_eq!(op.kind(), kind);
            if let Some(why) = vfs_refusal(&op, &shape.sizes, max) {
                panic!("{op} on sizes {:?}, max {max:#x}: {why}", shape.sizes);
            }
            let remap = *op.remap().unwrap();
            done[which] += 1;
            if kind == OpKind::Dedupe && shape.sizes.0.iter().all(|&s| s >= 2 * REMAP_ALIGN) {
                assert!(remap.len > 0, "{op} on sizes {:?}", shape.sizes);
            }
            if remap.len > 0 {
                something[which] += 1;
                if kind != OpKind::Dedupe {
                    last_copy = Some(remap);
                }
            }
        }
        // Small files and size limits leave no room for many of them.
        for (&some, &all) in something.iter().zip(&done) {
            assert!(some > all / 10, "{something:?} of {done:?}");
        }
    }

    #[test]
    fn dedupe_often_tries_the_last_copy() {
        let mut rng = Rng::new(23);
        let last = Remap {
            src: Main,
            src_offset: 0x1000,
            dst: Peer,
            dst_offset: 0x3000,
            len: 0x2000,
        };
        let shape = Shape {
            last_copy: Some(last),
            ..shape(0x10000, 0x10000, 1 << 20)
        };
        let tried = (0..1000)
            .filter(|_| {
                let op = OpKind::Dedupe.generate(&mut rng, &shape);
                let remap = *op.remap().unwrap();
                remap == last || remap == last.reversed()
            })
            .count();
        assert!((400..600).contains(&tried), "{tried} of 1000");
        // An unaligned copy: its block-aligned part.
        let copy = Remap {
            src_offset: 0x1100,
            dst_offset: 0x3100,
            len: 0x2000,
            ..last
        };
        assert_eq!(
            dedupe_of(copy, &shape.sizes),
            Some(Remap {
                src_offset: 0x2000,
                dst_offset: 0x4000,
                len: 0x1000,
                ..last
            })
        );
        let skewed = Remap {
            dst_offset: 0x3200,
            ..copy
        };
        assert_eq!(dedupe_of(skewed, &shape.sizes), None);
        // Ranges ending at both EOFs keep their partial block.
        let eofs = Remap {
            src_offset: 0x1000,
            dst_offset: 0x3000,
            len: 0x1234,
            ..last
        };
        assert_eq!(dedupe_of(eofs, &PerFile::new(0x2234, 0x4234)), Some(eofs));
        assert_eq!(
            dedupe_of(eofs, &PerFile::new(0x2234, 0x5000)).map(|r| r.len),
            Some(0x1000)
        );
        assert_eq!(dedupe_of(eofs, &PerFile::new(0x1800, 0x5000)), None);
    }

    #[test]
    fn model_semantics_of_each_op() {
        let mut models = PerFile::<Model>::default();
        Op::Write { offset: 2, len: 3 }.apply_model(&mut models, b"abc");
        assert_eq!(models[Main].contents(), b"\0\0abc");
        Op::Falloc {
            offset: 0,
            len: 10,
            keep_size: true,
        }
        .apply_model(&mut models, &[]);
        assert_eq!(models[Main].size(), 5, "falloc KEEP_SIZE changes nothing");
        Op::Falloc {
            offset: 4,
            len: 3,
            keep_size: false,
        }
        .apply_model(&mut models, &[]);
        assert_eq!(
            models[Main].contents(),
            b"\0\0abc\0\0",
            "falloc grows with zeros"
        );
        Op::Punch {
            offset: 3,
            len: 100,
        }
        .apply_model(&mut models, &[]);
        assert_eq!(
            models[Main].contents(),
            b"\0\0a\0\0\0\0",
            "punch keeps the size"
        );
        Op::MapWrite {
            offset: 0,
            len: 2,
            sync: false,
        }
        .apply_model(&mut models, b"xy");
        Op::Zero {
            offset: 1,
            len: 9,
            keep_size: true,
        }
        .apply_model(&mut models, &[]);
        assert_eq!(models[Main].contents(), b"x\0\0\0\0\0\0");
        Op::DirectWrite { offset: 6, len: 2 }.apply_model(&mut models, b"pq");
        Op::Zero {
            offset: 7,
            len: 3,
            keep_size: false,
        }
        .apply_model(&mut models, &[]);
        assert_eq!(
            models[Main].contents(),
            b"x\0\0\0\0\0p\0\0\0",
            "zero without KEEP_SIZE grows"
        );
        Op::Truncate { size: 1 }.apply_model(&mut models, &[]);
        Op::Truncate { size: 3 }.apply_model(&mut models, &[]);
        assert_eq!(models[Main].contents(), b"x\0\0");
        let before = models.clone();
        for op in [
            Op::Read { offset: 0, len: 9 },
            Op::MapRead { offset: 0, len: 1 },
            Op::Fsync,
            Op::Invalidate,
        ] {
            op.apply_model(&mut models, &[]);
            assert!(!op.changes_data());
        }
        assert_eq!(models, before);
        let remap = Remap {
            src: Main,
            src_offset: 0,
            dst: Peer,
            dst_offset: 2,
            len: 2,
        };
        Op::DedupeRange(remap).apply_model(&mut models, &[]);
        assert!(!Op::DedupeRange(remap).changes_data());
        assert_eq!(models, before, "a dedupe changes nothing");
        Op::CloneRange(remap).apply_model(&mut models, &[]);
        assert_eq!(models[Peer].contents(), b"\0\0x\0", "clone grows the peer");
        Op::CopyRange(Remap { len: 10, ..remap }.reversed()).apply_model(&mut models, &[]);
        assert_eq!(
            models[Main].contents(),
            b"x\0\0",
            "copy stops at the source's EOF, the main file keeps its size"
        );
        assert_eq!(models[Peer].contents(), b"\0\0x\0");
    }

    #[test]
    fn display_names_the_arguments() {
        assert_eq!(
            Op::Write {
                offset: 0x1000,
                len: 0x10
            }
            .to_string(),
            "write 0x1000+0x10"
        );
        assert_eq!(
            Op::MapWrite {
                offset: 1,
                len: 2,
                sync: true
            }
            .to_string(),
            "mapwrite 0x1+0x2 msync"
        );
        assert_eq!(
            Op::Zero {
                offset: 1,
                len: 2,
                keep_size: true
            }
            .to_string(),
            "zero 0x1+0x2 keep_size"
        );
        assert_eq!(Op::Truncate { size: 0x20 }.to_string(), "truncate 0x20");
        assert_eq!(Op::Fdatasync.to_string(), "fdatasync");
        let remap = Remap {
            src: Peer,
            src_offset: 0x1000,
            dst: Main,
            dst_offset: 0,
            len: 0x234,
        };
        assert_eq!(
            Op::CopyRange(remap).to_string(),
            "copyrange peer 0x1000+0x234 -> main 0x0"
        );
        assert_eq!(
            Op::DedupeRange(remap).to_string(),
            "dedupe peer 0x1000+0x234 -> main 0x0"
        );
        assert_eq!(Op::CloneRange(remap).file(), Main);
        assert_eq!(Op::CloneRange(remap.reversed()).file(), Peer);
        assert_eq!(Op::CloneRange(remap).range(), Some((0, 0x234)));
        assert!(!Op::CloneRange(Remap { len: 0, ..remap }).proves_support());
        assert!(Op::CloneRange(remap).proves_support() && Op::Fsync.proves_support());
    }

    #[test]
    fn mix_draws_only_enabled_kinds_by_weight() {
        let mut mix = Mix::empty();
        let mut rng = Rng::new(5);
        assert_eq!(mix.pick(&mut rng), None);
        mix.set(OpKind::Write, 3);
        mix.set(OpKind::Fsync, 1);
        let writes = (0..4000)
            .filter(|_| mix.pick(&mut rng) == Some(OpKind::Write))
            .count();
        assert!((2800..3200).contains(&writes), "{writes} writes of 4000");
        mix.set(OpKind::Write, 0);
        assert!(!mix.enabled(OpKind::Write));
        assert!((0..100).all(|_| mix.pick(&mut rng) == Some(OpKind::Fsync)));
        assert!(OpKind::ALL.iter().all(|&k| Mix::default().enabled(k)));
    }
}
