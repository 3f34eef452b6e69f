// SPDX-License-Identifier: GPL-2.0
//! Directory blocks and the entries they hold.

use super::{
    get_u16, get_u64, mode, put_u16, put_u64, BlockHeader, BlockKind, FormatError, Result,
    BLOCK_SIZE, HEADER_SIZE,
};

/// Longest file name in a directory entry.
pub const MAX_NAME_LEN: usize = 255;

/// Directory entry file types, as `DT_*` in `<dirent.h>`.
pub mod file_type {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// FIFO.
    pub const FIFO: u8 = 1;
    /// Character device.
    pub const CHR: u8 = 2;
    /// Directory.
    pub const DIR: u8 = 4;
    /// Block device.
    pub const BLK: u8 = 6;
    /// Regular file.
    pub const REG: u8 = 8;
    /// Symbolic link.
    pub const LNK: u8 = 10;
    /// Socket.
    pub const SOCK: u8 = 12;

    /// The `DT_*` value matching the type bits of an inode mode.
    pub fn from_mode(mode: u16) -> u8 {
        (((mode & super::mode::S_IFMT) >> 12) & 0xf) as u8
    }
}

/// Directory entry header: `ino: u64, rec_len: u16, name_len: u8, file_type: u8`,
/// followed by the name. `rec_len` covers the name and padding to the next
/// entry and is a multiple of [`DIRENT_ALIGN`]; the entries of a block cover
/// it exactly. An entry with `ino == 0` is free space.
pub const DIRENT_HEADER: usize = 12;
/// Alignment of directory entries.
pub const DIRENT_ALIGN: usize = 8;

/// Space a directory entry with a name of `name_len` bytes needs.
pub const fn dirent_size(name_len: usize) -> usize {
    (DIRENT_HEADER + name_len).next_multiple_of(DIRENT_ALIGN)
}

/// A directory entry inside a directory block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Byte offset of the entry in its block.
    pub offset: usize,
    /// Inode number, 0 for a free slot.
    pub ino: u64,
    /// Bytes this entry spans, including free space after it.
    pub rec_len: usize,
    /// `file_type::*` of the inode.
    pub file_type: u8,
    /// The name, 1 to [`MAX_NAME_LEN`] bytes (empty for free slots).
    pub name: &'a [u8],
}

/// Iterator over the entries of a verified directory block.
pub struct DirEntries<'a> {
    block: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = Result<DirEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= BLOCK_SIZE {
            return None;
        }
        let entry = parse_dirent(self.block, self.offset);
        self.offset = match entry {
            Ok(e) => self.offset + e.rec_len,
            Err(_) => BLOCK_SIZE,
        };
        Some(entry)
    }
}

fn parse_dirent(block: &[u8], offset: usize) -> Result<DirEntry<'_>> {
    if offset + DIRENT_HEADER > BLOCK_SIZE {
        return Err(FormatError::BadField(
            "directory entry crosses the block end",
        ));
    }
    let ino = get_u64(block, offset);
    let rec_len = get_u16(block, offset + 8) as usize;
    let name_len = block[offset + 10] as usize;
    let file_type = block[offset + 11];
    if rec_len < DIRENT_HEADER
        || !rec_len.is_multiple_of(DIRENT_ALIGN)
        || offset + rec_len > BLOCK_SIZE
    {
        return Err(FormatError::BadField("bad directory entry length"));
    }
    if ino != 0 && (name_len == 0 || dirent_size(name_len) > rec_len) {
        return Err(FormatError::BadField("bad directory entry name length"));
    }
    let name_len = if ino == 0 { 0 } else { name_len };
    let name = &block[offset + DIRENT_HEADER..offset + DIRENT_HEADER + name_len];
    if name.iter().any(|&c| c == b'/' || c == 0) || name == b"." || name == b".." {
        return Err(FormatError::BadField("bad name in directory entry"));
    }
    Ok(DirEntry {
        offset,
        ino,
        rec_len,
        file_type,
        name,
    })
}

/// Verifies `block` (stored at `blkno`, owned by directory `ino`) as a
/// directory block and returns an iterator over its entries. The iterator
/// yields an error and stops at the first malformed entry.
pub fn dir_entries(block: &[u8], blkno: u64, ino: u64) -> Result<DirEntries<'_>> {
    if BlockHeader::verify(block, BlockKind::Directory, blkno)? != ino {
        return Err(FormatError::BadHeader);
    }
    Ok(DirEntries {
        block,
        offset: HEADER_SIZE,
    })
}

/// Initialises `block` as an empty directory block: one free entry spanning
/// the whole payload. The caller seals it.
pub fn init_dir_block(block: &mut [u8]) {
    block.fill(0);
    put_u16(block, HEADER_SIZE + 8, (BLOCK_SIZE - HEADER_SIZE) as u16);
}

/// Writes an entry header and name at `offset` of a directory block.
pub fn write_dirent(
    block: &mut [u8],
    offset: usize,
    ino: u64,
    rec_len: usize,
    ftype: u8,
    name: &[u8],
) {
    put_u64(block, offset, ino);
    put_u16(block, offset + 8, rec_len as u16);
    block[offset + 10] = name.len() as u8;
    block[offset + 11] = ftype;
    block[offset + DIRENT_HEADER..offset + DIRENT_HEADER + name.len()].copy_from_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_block_entries() {
        let mut block = [0u8; BLOCK_SIZE];
        init_dir_block(&mut block);
        let first = dirent_size(3);
        write_dirent(&mut block, HEADER_SIZE, 5, first, file_type::REG, b"abc");
        let rest = BLOCK_SIZE - HEADER_SIZE - first;
        write_dirent(
            &mut block,
            HEADER_SIZE + first,
            6,
            rest,
            file_type::DIR,
            b"subdir",
        );
        BlockHeader {
            kind: BlockKind::Directory,
            blkno: 9,
            owner: 1,
        }
        .seal(&mut block);
        let entries: std::vec::Vec<_> = dir_entries(&block, 9, 1)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].ino, entries[0].name), (5, &b"abc"[..]));
        assert_eq!((entries[1].ino, entries[1].name), (6, &b"subdir"[..]));
        assert_eq!(
            dir_entries(&block, 10, 1).err(),
            Some(FormatError::BadHeader)
        );
        assert_eq!(
            dir_entries(&block, 9, 2).err(),
            Some(FormatError::BadHeader)
        );

        // A rec_len that runs off the block is reported, not followed.
        block[HEADER_SIZE + 8] = 0xff;
        block[HEADER_SIZE + 9] = 0x7f;
        BlockHeader {
            kind: BlockKind::Directory,
            blkno: 9,
            owner: 1,
        }
        .seal(&mut block);
        let mut it = dir_entries(&block, 9, 1).unwrap();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn file_type_from_mode() {
        assert_eq!(file_type::from_mode(mode::S_IFDIR | 0o755), file_type::DIR);
        assert_eq!(file_type::from_mode(mode::S_IFREG), file_type::REG);
        assert_eq!(file_type::from_mode(mode::S_IFLNK), file_type::LNK);
    }
}
