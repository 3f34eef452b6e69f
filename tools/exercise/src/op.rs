// SPDX-License-Identifier: GPL-2.0
//! The operations: their kinds and weights ([`OpKind`], [`Mix`]), how each
//! is drawn at random ([`OpKind::generate`]), what it does to the file
//! ([`Op::apply`]) and what it must have done ([`Op::apply_model`]).

use std::fmt;

use crate::model::Model;
use crate::rng::Rng;
use crate::sys::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE};
use crate::target::{StepError, Target, MAX_DIRECT_LEN};

/// The longest range of one operation, in bytes.
pub const MAX_LEN: u64 = 64 << 10;
/// The alignment of direct I/O offsets and lengths.
pub const DIRECT_ALIGN: u64 = 4096;

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
}

impl OpKind {
    /// Every kind, in the order of the summary's counts.
    pub const ALL: [OpKind; 13] = [
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
            OpKind::Fsync | OpKind::Fdatasync | OpKind::Invalidate => 1,
        }
    }

    /// The kind's index in [`OpKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// An operation of this kind with random arguments, for a file of
    /// `size` bytes that may grow up to `max_size` (at least
    /// [`DIRECT_ALIGN`]).
    pub fn generate(self, rng: &mut Rng, size: u64, max_size: u64) -> Op {
        let (offset, len) = match self {
            OpKind::MapRead => in_file_range(rng, size),
            OpKind::DirectWrite | OpKind::DirectRead => {
                direct_range(rng, size, max_size, self == OpKind::DirectWrite)
            }
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
        }
    }
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
        }
    }

    /// The byte range the operation works on, if it has one.
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

    /// Whether the operation may change the file's contents or size.
    pub fn changes_data(&self) -> bool {
        self.payload_len().is_some()
            || matches!(
                self,
                Op::Truncate { .. } | Op::Punch { .. } | Op::Zero { .. } | Op::Falloc { .. }
            )
    }

    /// Performs the operation on the file; `data` is its payload (empty if
    /// it stores none). A reading operation returns what it saw.
    pub fn apply(&self, target: &mut Target, data: &[u8]) -> Result<Option<Observed>, StepError> {
        match *self {
            Op::Write { offset, .. } => target.pwrite(offset, data)?,
            Op::Read { offset, len } => {
                return Ok(Some(Observed::read(
                    offset,
                    len,
                    target.pread(offset, len as usize)?,
                )))
            }
            Op::MapWrite { offset, len, sync } => {
                if offset + len > target.size()? {
                    target.truncate(offset + len)?;
                }
                target.map_write(offset, data, sync)?;
            }
            Op::MapRead { offset, len } => return map_read(target, offset, len).map(Some),
            Op::Truncate { size } => target.truncate(size)?,
            Op::Fsync => target.fsync()?,
            Op::Fdatasync => target.fdatasync()?,
            Op::Invalidate => target.invalidate()?,
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
                return Ok(Some(Observed::read(
                    offset,
                    len,
                    target.direct_read(offset, len as usize)?,
                )));
            }
        }
        Ok(None)
    }

    /// Does to the model what the operation must have done to the file;
    /// `data` is its payload (empty if it stores none).
    pub fn apply_model(&self, model: &mut Model, data: &[u8]) {
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
            Op::Read { .. }
            | Op::MapRead { .. }
            | Op::DirectRead { .. }
            | Op::Fsync
            | Op::Fdatasync
            | Op::Invalidate => {}
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
            let op = kind.generate(&mut rng, size, max);
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
                assert!((1..=MAX_LEN).contains(&len) && offset + len <= max, "{op}");
            }
        }
    }

    #[test]
    fn model_semantics_of_each_op() {
        let mut m = Model::new();
        Op::Write { offset: 2, len: 3 }.apply_model(&mut m, b"abc");
        assert_eq!(m.contents(), b"\0\0abc");
        Op::Falloc {
            offset: 0,
            len: 10,
            keep_size: true,
        }
        .apply_model(&mut m, &[]);
        assert_eq!(m.size(), 5, "falloc KEEP_SIZE changes nothing");
        Op::Falloc {
            offset: 4,
            len: 3,
            keep_size: false,
        }
        .apply_model(&mut m, &[]);
        assert_eq!(m.contents(), b"\0\0abc\0\0", "falloc grows with zeros");
        Op::Punch {
            offset: 3,
            len: 100,
        }
        .apply_model(&mut m, &[]);
        assert_eq!(m.contents(), b"\0\0a\0\0\0\0", "punch keeps the size");
        Op::MapWrite {
            offset: 0,
            len: 2,
            sync: false,
        }
        .apply_model(&mut m, b"xy");
        Op::Zero {
            offset: 1,
            len: 9,
            keep_size: true,
        }
        .apply_model(&mut m, &[]);
        assert_eq!(m.contents(), b"x\0\0\0\0\0\0");
        Op::DirectWrite { offset: 6, len: 2 }.apply_model(&mut m, b"pq");
        Op::Zero {
            offset: 7,
            len: 3,
            keep_size: false,
        }
        .apply_model(&mut m, &[]);
        assert_eq!(
            m.contents(),
            b"x\0\0\0\0\0p\0\0\0",
            "zero without KEEP_SIZE grows"
        );
        Op::Truncate { size: 1 }.apply_model(&mut m, &[]);
        Op::Truncate { size: 3 }.apply_model(&mut m, &[]);
        assert_eq!(m.contents(), b"x\0\0");
        let before = m.clone();
        for op in [
            Op::Read { offset: 0, len: 9 },
            Op::MapRead { offset: 0, len: 1 },
            Op::Fsync,
            Op::Invalidate,
        ] {
            op.apply_model(&mut m, &[]);
            assert!(!op.changes_data());
        }
        assert_eq!(m, before);
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
