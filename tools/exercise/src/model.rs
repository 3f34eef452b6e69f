// SPDX-License-Identifier: GPL-2.0
//! The in-memory model of a file: what its contents and size must be; and
//! what a clone, a copy or a dedupe between two files (or two ranges of one)
//! must find and do ([`copy`], [`same`]).

use crate::files::{PerFile, Remap};

/// The expected contents of the file; its length is the file's size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    data: Vec<u8>,
}

impl Model {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The whole contents.
    pub fn contents(&self) -> &[u8] {
        &self.data
    }

    /// The bytes a read of `len` bytes at `offset` must return: clipped at
    /// the end of the file (empty at or past it).
    pub fn expected(&self, offset: u64, len: u64) -> &[u8] {
        let start = offset.min(self.size()) as usize;
        let end = offset.saturating_add(len).min(self.size()) as usize;
        &self.data[start..end]
    }

    /// Sets the size: shrinking drops the tail, growing appends zeros
    /// (`ftruncate`).
    pub fn set_size(&mut self, size: u64) {
        self.data.resize(to_usize(size), 0);
    }

    /// Grows the file to `size` with zeros; no-op if it is already that
    /// large.
    pub fn grow_to(&mut self, size: u64) {
        if size > self.size() {
            self.set_size(size);
        }
    }

    /// Writes `bytes` at `offset`, growing the file (a hole before `offset`
    /// reads as zeros).
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        let start = to_usize(offset);
        self.grow_to(offset + bytes.len() as u64);
        self.data[start..start + bytes.len()].copy_from_slice(bytes);
    }

    /// Zeroes `len` bytes at `offset`, clipped at the end of the file (the
    /// size does not change: a hole punch, or a zero range that keeps the
    /// size).
    pub fn zero(&mut self, offset: u64, len: u64) {
        let start = offset.min(self.size()) as usize;
        let end = offset.saturating_add(len).min(self.size()) as usize;
        self.data[start..end].fill(0);
    }
}

/// What a clone or a `copy_file_range` of `remap` does to the files: the
/// source range, clipped at the source's EOF (a copy stops there; a clone
/// never reaches past it), is stored at the destination offset, which
/// grows the destination if it ends past its EOF (a hole before it reads as
/// zeros). Copying nothing changes nothing. Source and destination may be
/// one file (the ranges then do not overlap). Returns how many bytes were
/// copied.
pub fn copy(models: &mut PerFile<Model>, remap: &Remap) -> u64 {
    let bytes = models[remap.src]
        .expected(remap.src_offset, remap.len)
        .to_vec();
    if !bytes.is_empty() {
        models[remap.dst].write(remap.dst_offset, &bytes);
    }
    bytes.len() as u64
}

/// Whether a dedupe of `remap` must find its two ranges the same
/// (`FILE_DEDUPE_RANGE_SAME`): the same bytes in both. A dedupe changes no
/// byte of either file.
pub fn same(models: &PerFile<Model>, remap: &Remap) -> bool {
    models[remap.src].expected(remap.src_offset, remap.len)
        == models[remap.dst].expected(remap.dst_offset, remap.len)
}

/// `value` as usize; the model lives in memory, so every size fits.
fn to_usize(value: u64) -> usize {
    usize::try_from(value).expect("file size fits in memory")
}

/// Where two byte ranges that should be equal differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Index of the first differing byte.
    pub first: usize,
    /// Index of the last differing byte.
    pub last: usize,
    /// How many bytes differ.
    pub count: usize,
}

/// Compares two ranges of equal length; `None` if they are equal.
pub fn difference(expected: &[u8], actual: &[u8]) -> Option<Difference> {
    assert_eq!(
        expected.len(),
        actual.len(),
        "compare ranges of equal length"
    );
    if expected == actual {
        return None;
    }
    let mut differing = expected
        .iter()
        .zip(actual)
        .enumerate()
        .filter(|(_, (e, a))| e != a)
        .map(|(i, _)| i);
    let first = differing.next()?;
    let (last, count) = differing.fold((first, 1), |(_, n), i| (i, n + 1));
    Some(Difference { first, last, count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileId::{self, Main, Peer};

    fn model_of(bytes: &[u8]) -> Model {
        let mut m = Model::new();
        m.write(0, bytes);
        m
    }

    #[test]
    fn write_past_eof_leaves_a_zero_hole() {
        let mut m = Model::new();
        m.write(4, b"ab");
        assert_eq!(m.contents(), b"\0\0\0\0ab");
        m.write(1, b"xyz");
        assert_eq!(m.contents(), b"\0xyzab");
        assert_eq!(m.size(), 6);
    }

    #[test]
    fn truncate_shrinks_then_grows_with_zeros() {
        let mut m = model_of(b"abcdef");
        m.set_size(2);
        assert_eq!(m.contents(), b"ab");
        m.set_size(5);
        assert_eq!(
            m.contents(),
            b"ab\0\0\0",
            "the dropped tail does not come back"
        );
        m.grow_to(3);
        assert_eq!(m.size(), 5, "grow_to never shrinks");
        m.set_size(0);
        assert_eq!(m.size(), 0);
    }

    #[test]
    fn punch_and_keep_size_zero_stay_inside_the_file() {
        let mut m = model_of(b"abcdef");
        m.zero(1, 2);
        assert_eq!(m.contents(), b"a\0\0def");
        m.zero(4, 100);
        assert_eq!(m.contents(), b"a\0\0d\0\0", "clipped at EOF, size kept");
        m.zero(10, 5);
        assert_eq!(m.size(), 6, "past EOF: nothing");
    }

    #[test]
    fn zero_range_without_keep_size_extends() {
        // What Op::Zero { keep_size: false } and Op::Falloc do to the model.
        let mut m = model_of(b"abcd");
        m.grow_to(2 + 6);
        m.zero(2, 6);
        assert_eq!(m.contents(), b"ab\0\0\0\0\0\0");
    }

    #[test]
    fn expected_reads_are_clipped_at_eof() {
        let m = model_of(b"abcdef");
        assert_eq!(m.expected(2, 3), b"cde");
        assert_eq!(m.expected(4, 10), b"ef");
        assert_eq!(m.expected(6, 1), b"");
        assert_eq!(m.expected(100, 1), b"");
        assert_eq!(m.expected(u64::MAX - 1, 10), b"");
    }

    #[test]
    fn difference_finds_first_last_and_count() {
        assert_eq!(difference(b"abcd", b"abcd"), None);
        assert_eq!(
            difference(b"abcdef", b"aXcdYf"),
            Some(Difference {
                first: 1,
                last: 4,
                count: 2
            })
        );
        assert_eq!(
            difference(b"abc", b"abX"),
            Some(Difference {
                first: 2,
                last: 2,
                count: 1
            })
        );
    }

    fn remap(src: FileId, src_offset: u64, dst: FileId, dst_offset: u64, len: u64) -> Remap {
        Remap {
            src,
            src_offset,
            dst,
            dst_offset,
            len,
        }
    }

    #[test]
    fn copy_between_files_overwrites_and_grows() {
        let mut m = PerFile::new(model_of(b"abcdef"), model_of(b"wxyz"));
        assert_eq!(copy(&mut m, &remap(Main, 1, Peer, 2, 3)), 3);
        assert_eq!(m[Peer].contents(), b"wxbcd", "overwrites, then grows");
        assert_eq!(m[Main].contents(), b"abcdef", "the source is unchanged");
        assert_eq!(copy(&mut m, &remap(Peer, 0, Main, 8, 2)), 2);
        assert_eq!(
            m[Main].contents(),
            b"abcdef\0\0wx",
            "a destination offset past EOF leaves a hole"
        );
    }

    #[test]
    fn copy_stops_at_the_source_eof() {
        let mut m = PerFile::new(model_of(b"abcdef"), Model::new());
        assert_eq!(copy(&mut m, &remap(Main, 4, Peer, 1, 100)), 2);
        assert_eq!(m[Peer].contents(), b"\0ef", "only up to the source's EOF");
        assert_eq!(copy(&mut m, &remap(Main, 6, Peer, 10, 5)), 0);
        assert_eq!(copy(&mut m, &remap(Main, 60, Peer, 10, 5)), 0);
        assert_eq!(m[Peer].size(), 3, "copying nothing does not grow");
    }

    #[test]
    fn copy_within_one_file() {
        let mut m = PerFile::new(model_of(b"abcdefgh"), Model::new());
        assert_eq!(copy(&mut m, &remap(Main, 0, Main, 4, 4)), 4);
        assert_eq!(m[Main].contents(), b"abcdabcd");
        assert_eq!(copy(&mut m, &remap(Main, 5, Main, 9, 3)), 3);
        assert_eq!(m[Main].contents(), b"abcdabcd\0bcd");
        assert_eq!(m[Peer].size(), 0);
    }

    #[test]
    fn dedupe_compares_without_changing() {
        let mut m = PerFile::new(model_of(b"abcdabXd"), model_of(b"xxabcd"));
        assert!(same(&m, &remap(Main, 0, Peer, 2, 4)));
        assert!(same(&m, &remap(Peer, 2, Main, 0, 4)), "either way");
        assert!(!same(&m, &remap(Main, 0, Main, 4, 4)));
        assert!(same(&m, &remap(Main, 0, Main, 4, 2)));
        assert!(same(&m, &remap(Main, 3, Peer, 0, 0)), "nothing is the same");
        m[Main].set_size(16);
        m[Peer].set_size(16);
        assert!(same(&m, &remap(Main, 8, Peer, 8, 8)), "zeros on both sides");
        assert!(!same(&m, &remap(Main, 4, Peer, 8, 4)));
    }
}
