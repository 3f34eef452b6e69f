// SPDX-License-Identifier: GPL-2.0
//! The two files of a run: the one named on the command line, on which
//! every operation works, and its peer (`PATH.peer`), with which clone,
//! dedupe and copy share data ([`FileId`], one value per file in
//! [`PerFile`]), and the arguments of those three operations ([`Remap`]).

use std::fmt;
use std::ops::{Index, IndexMut};
use std::path::{Path, PathBuf};

/// One of the two files of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileId {
    /// The file named on the command line.
    Main,
    /// `PATH.peer` ([`peer_path`]): it changes only by clone and copy.
    Peer,
}

impl FileId {
    /// Both files.
    pub const ALL: [FileId; 2] = [FileId::Main, FileId::Peer];

    /// The file's name in operations and reports.
    pub fn name(self) -> &'static str {
        match self {
            FileId::Main => "main",
            FileId::Peer => "peer",
        }
    }

    /// The other file.
    pub fn other(self) -> Self {
        match self {
            FileId::Main => FileId::Peer,
            FileId::Peer => FileId::Main,
        }
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `T` for each file, indexed by [`FileId`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerFile<T>(pub [T; 2]);

impl<T> PerFile<T> {
    /// `main` for the main file, `peer` for the peer.
    pub fn new(main: T, peer: T) -> Self {
        Self([main, peer])
    }
}

impl<T> Index<FileId> for PerFile<T> {
    type Output = T;
    fn index(&self, id: FileId) -> &T {
        &self.0[id as usize]
    }
}

impl<T> IndexMut<FileId> for PerFile<T> {
    fn index_mut(&mut self, id: FileId) -> &mut T {
        &mut self.0[id as usize]
    }
}

/// The peer of the file at `path`: `path` with `.peer` appended.
pub fn peer_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".peer");
    PathBuf::from(name)
}

/// The arguments of a clone, a dedupe or a copy: `len` bytes of `src` at
/// `src_offset`, and of `dst` at `dst_offset` (the same file or the other).
/// A `len` of 0 does nothing (and, for a clone, `src_offset` is then the
/// source's EOF: a length of 0 asks `FICLONERANGE` for everything from
/// `src_offset` to EOF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remap {
    /// The file read.
    pub src: FileId,
    /// Where in it.
    pub src_offset: u64,
    /// The file written (for a dedupe, compared and shared).
    pub dst: FileId,
    /// Where in it.
    pub dst_offset: u64,
    /// How many bytes.
    pub len: u64,
}

impl Remap {
    /// Nothing to do: 0 bytes from `src_offset` (the EOF of `src`) to
    /// offset 0 of `dst`.
    pub fn nothing(src: FileId, src_offset: u64, dst: FileId) -> Self {
        Self {
            src,
            src_offset,
            dst,
            dst_offset: 0,
            len: 0,
        }
    }

    /// The same ranges with source and destination swapped.
    pub fn reversed(self) -> Self {
        Self {
            src: self.dst,
            src_offset: self.dst_offset,
            dst: self.src,
            dst_offset: self.src_offset,
            len: self.len,
        }
    }
}

impl fmt::Display for Remap {
    /// `main 0x1000+0x2000 -> peer 0x5000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:#x}+{:#x} -> {} {:#x}",
            self.src, self.src_offset, self.len, self.dst, self.dst_offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_file_indexing_and_names() {
        let mut sizes = PerFile::new(1u64, 2);
        sizes[FileId::Peer] += 10;
        assert_eq!((sizes[FileId::Main], sizes[FileId::Peer]), (1, 12));
        assert_eq!(FileId::Main.other(), FileId::Peer);
        assert_eq!(FileId::Peer.other(), FileId::Main);
        assert_eq!(
            peer_path(Path::new("/mnt/exercise-file")),
            PathBuf::from("/mnt/exercise-file.peer")
        );
    }

    #[test]
    fn remap_display_and_reverse() {
        let r = Remap {
            src: FileId::Main,
            src_offset: 0x1000,
            dst: FileId::Peer,
            dst_offset: 0x5000,
            len: 0x2000,
        };
        assert_eq!(r.to_string(), "main 0x1000+0x2000 -> peer 0x5000");
        assert_eq!(
            r.reversed().to_string(),
            "peer 0x5000+0x2000 -> main 0x1000"
        );
        assert_eq!(r.reversed().reversed(), r);
    }
}
