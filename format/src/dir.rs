// SPDX-License-Identifier: GPL-2.0
//! Directory blocks and the entries they hold.

use super::{
    check_linked_fields, get_u16, get_u64, mode, put_u16, put_u64, BlockHeader, BlockKind,
    FormatError, Result, BLOCK_SIZE, HEADER_SIZE, ROOT_INO,
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

    /// Whether `dt` is the type of a used directory entry: one of the
    /// above but [`UNKNOWN`].
    pub fn is_known(dt: u8) -> bool {
        matches!(dt, FIFO | CHR | DIR | BLK | REG | LNK | SOCK)
    }
}

/// Directory entry header: `ino: u64, rec_len: u16, name_len: u8, file_type: u8`,
/// followed by the name. `rec_len` covers the name and padding to the next
/// entry and is a multiple of [`DIRENT_ALIGN`]; the entries of a block cover
/// it exactly. An entry with `ino == 0` is free space, with `name_len` and
/// `file_type` 0. The bytes of an entry after its name (after its header
/// for a free entry), up to the next entry, are zero: [`write_dirent`]
/// zeroes them. ("." and ".." are not stored: the module makes them up.)
///
/// Checked when a block is read ([`DirBlock::verify`]): the layout (each
/// entry's `rec_len` aligned, at least its header and name, inside the
/// block) and each entry ([`DirEntry::check`]). The zero bytes after the
/// names are checked by fsck only ([`DirEntry::check_slack`]): a module
/// older than that rule left old bytes there, which nothing reads.
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
    /// `name_len` as stored (a free slot's name is empty whatever it says).
    name_len: u8,
    /// The bytes after the name (after the header of a free slot) up to
    /// the next entry.
    slack: &'a [u8],
}

impl DirEntry<'_> {
    /// The bytes of `rec_len` beyond the entry's own (all of a free
    /// slot's): the longest new entry that could go there.
    pub fn room(&self) -> usize {
        let used = if self.ino == 0 {
            0
        } else {
            dirent_size(self.name.len())
        };
        self.rec_len - used
    }

    /// Checks the fields of the entry, found in the block of directory
    /// `dir` of a filesystem of `inode_count` inodes: a free slot has no
    /// name and no type; a used entry passes
    /// [`DirEntry::check_name_and_type`] and
    /// [`DirEntry::check_inode_number`].
    pub fn check(&self, dir: u64, inode_count: u64) -> Result<()> {
        if self.ino == 0 {
            if self.name_len != 0 || self.file_type != 0 {
                return Err(FormatError::BadField(
                    "free directory entry with a name or type",
                ));
            }
            return Ok(());
        }
        self.check_name_and_type()?;
        self.check_inode_number(dir, inode_count)
    }

    /// Rules of a used entry's name and type: a name of at least one byte,
    /// without `/` or NUL, neither `.` nor `..`; a known file type
    /// ([`file_type::is_known`]).
    pub fn check_name_and_type(&self) -> Result<()> {
        let bad = |why| Err(FormatError::BadField(why));
        if self.name.is_empty() {
            return bad("directory entry with an empty name");
        }
        if self.name.iter().any(|&c| c == b'/' || c == 0) {
            return bad("'/' or NUL in a directory entry name");
        }
        if self.name == b"." || self.name == b".." {
            return bad("'.' or '..' stored in a directory");
        }
        if !file_type::is_known(self.file_type) {
            return bad("unknown directory entry file type");
        }
        Ok(())
    }

    /// Rules of a used entry's inode number, in directory `dir` of a
    /// filesystem of `inode_count` inodes: in range, neither the root
    /// directory's (which no entry names) nor the directory's own.
    pub fn check_inode_number(&self, dir: u64, inode_count: u64) -> Result<()> {
        let bad = |why| Err(FormatError::BadField(why));
        if self.ino > inode_count {
            return bad("directory entry inode number out of range");
        }
        if self.ino == ROOT_INO {
            return bad("directory entry names the root directory");
        }
        if self.ino == dir {
            return bad("directory entry names its own directory");
        }
        Ok(())
    }

    /// Checks that the bytes after the entry's name, up to the next entry,
    /// are zero (fsck's rule: see [`DIRENT_HEADER`]). A name whose
    /// `name_len` shrank leaves the rest of it there.
    pub fn check_slack(&self) -> Result<()> {
        if self.slack.iter().any(|&x| x != 0) {
            return Err(FormatError::BadField(
                "stale bytes after a directory entry's name",
            ));
        }
        Ok(())
    }
}

/// Checks the inode that a used directory entry of type `entry_type`
/// names, given the inode's `mode` and link count `nlink` (0 and 0 for a
/// free slot): in use, linked ([`DiskInode::check_linked`]), and of the
/// entry's type. For the caller that has both in hand: the module when it
/// reads an inode it looked up, fsck.
///
/// [`DiskInode::check_linked`]: super::DiskInode::check_linked
pub fn check_entry_target(entry_type: u8, mode: u16, nlink: u32) -> Result<()> {
    check_linked_fields(mode, nlink)?;
    check_entry_type(entry_type, mode)
}

/// Rule: a used directory entry's type is that of the inode it names, of
/// `mode`.
pub fn check_entry_type(entry_type: u8, mode: u16) -> Result<()> {
    if entry_type != file_type::from_mode(mode) {
        return Err(FormatError::BadField(
            "directory entry type does not match the inode",
        ));
    }
    Ok(())
}

/// Iterator over the entries of a directory block, in order. Each entry's
/// layout is checked (`rec_len` aligned, at least its header and name,
/// inside the block); the iterator yields an error at the first entry that
/// breaks it and stops there.
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
            // At least dirent_size(0) > 0: the walk always moves on.
            Ok(e) => self.offset + e.rec_len,
            Err(_) => BLOCK_SIZE,
        };
        Some(entry)
    }
}

/// Parses the entry at `offset` of `block`, checking its layout.
fn parse_dirent(block: &[u8], offset: usize) -> Result<DirEntry<'_>> {
    let bad = |why| Err(FormatError::BadField(why));
    if offset + DIRENT_HEADER > BLOCK_SIZE || block.len() < BLOCK_SIZE {
        return bad("directory entry crosses the block end");
    }
    let ino = get_u64(block, offset);
    let rec_len = get_u16(block, offset + 8) as usize;
    let name_len = block[offset + 10];
    let file_type = block[offset + 11];
    if !rec_len.is_multiple_of(DIRENT_ALIGN) {
        return bad("directory entry length not aligned");
    }
    if rec_len < dirent_size(0) {
        return bad("directory entry too short");
    }
    if offset + rec_len > BLOCK_SIZE {
        return bad("directory entry runs past the block end");
    }
    let used_len = if ino == 0 { 0 } else { usize::from(name_len) };
    if dirent_size(used_len) > rec_len {
        return bad("directory entry shorter than its name");
    }
    let name_end = offset + DIRENT_HEADER + used_len;
    Ok(DirEntry {
        offset,
        ino,
        rec_len,
        file_type,
        name: &block[offset + DIRENT_HEADER..name_end],
        name_len,
        slack: &block[name_end..offset + rec_len],
    })
}

/// Checks that `block` is a sealed directory block stored at `blkno` and
/// owned by directory `dir` (see [`BlockHeader::verify`]), and returns its
/// entries, whose layout the iterator checks as it goes, not their fields
/// ([`DirEntry::check`]): for fsck, which reports each entry's damage and
/// goes on. The module reads blocks through [`DirBlock::verify`].
pub fn dir_block_entries(block: &[u8], blkno: u64, dir: u64) -> Result<DirEntries<'_>> {
    if BlockHeader::verify(block, BlockKind::Directory, blkno)? != dir {
        return Err(FormatError::BadHeader);
    }
    Ok(DirEntries {
        block,
        offset: HEADER_SIZE,
    })
}

/// A directory block verified whole: header, and every entry's layout and
/// fields. Nothing in it is used before all of it is checked, so that a
/// reader never acts on the first entries of a block it then rejects (a
/// `readdir` that had emitted them would start again from them, forever).
#[derive(Clone, Copy, Debug)]
pub struct DirBlock<'a> {
    block: &'a [u8],
}

impl<'a> DirBlock<'a> {
    /// Verifies `block`, stored at `blkno`, as a block of directory `dir`
    /// of a filesystem of `inode_count` inodes: [`dir_block_entries`]'s
    /// header and layout rules, and [`DirEntry::check`] on each entry.
    pub fn verify(block: &'a [u8], blkno: u64, dir: u64, inode_count: u64) -> Result<Self> {
        for entry in dir_block_entries(block, blkno, dir)? {
            entry?.check(dir, inode_count)?;
        }
        Ok(DirBlock { block })
    }

    /// `block`, stored at `blkno`, as a block of directory `dir` that
    /// passed [`DirBlock::verify`] since it was read from disk (the module
    /// keeps a flag on its buffer): only the header's identity is checked
    /// again ([`BlockHeader::identify`]), against a stale pointer to it.
    pub fn trusted(block: &'a [u8], blkno: u64, dir: u64) -> Result<Self> {
        if BlockHeader::identify(block, BlockKind::Directory, blkno)? != dir {
            return Err(FormatError::BadHeader);
        }
        Ok(DirBlock { block })
    }

    /// The longest new entry the block could take ([`block_room`]).
    pub fn room(&self) -> usize {
        block_room(self.block)
    }

    /// The entries, used and free, in order.
    pub fn entries(&self) -> impl Iterator<Item = DirEntry<'a>> {
        // Verified: every entry parses.
        DirEntries {
            block: self.block,
            offset: HEADER_SIZE,
        }
        .map_while(|entry| entry.ok())
    }
}

/// Verifies `block` (stored at `blkno`, owned by directory `ino`) as a
/// directory block and returns an iterator over its entries.
///
/// The whole block is verified first ([`DirBlock::verify`], with inode
/// numbers only bounded by 2^32 - 1): the iterator then yields no error. A
/// caller that knows the inode count should call [`DirBlock::verify`].
pub fn dir_entries(block: &[u8], blkno: u64, ino: u64) -> Result<DirEntries<'_>> {
    DirBlock::verify(block, blkno, ino, u32::MAX.into())?;
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

/// Writes an entry header and name at `offset` of a directory block, and
/// zeroes the rest of its `rec_len` bytes (see [`DIRENT_HEADER`]).
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
    let name_end = offset + DIRENT_HEADER + name.len();
    block[offset + DIRENT_HEADER..name_end].copy_from_slice(name);
    let end = (offset + rec_len).clamp(name_end, block.len());
    block[name_end..end].fill(0);
}

/// Zeroes the bytes after each entry's name in a directory block, as far
/// as its layout is valid (fsck's repair of [`DirEntry::check_slack`]).
/// The caller seals the block.
pub fn clear_dir_slack(block: &mut [u8]) {
    let mut offset = HEADER_SIZE;
    while offset < BLOCK_SIZE {
        let Ok(e) = parse_dirent(block, offset) else {
            break;
        };
        let (start, next) = (offset + DIRENT_HEADER + e.name.len(), offset + e.rec_len);
        block[start..next].fill(0);
        offset = next;
    }
}

/// Hashed directory index (feature
/// [`FEATURE_INCOMPAT_DIR_INDEX`](super::FEATURE_INCOMPAT_DIR_INDEX)), as
/// XFS's node directories: a directory of more than one data block has a
/// [`TreeKind::DirIndex`](super::TreeKind::DirIndex) B+tree of keys
/// without values, two kinds of them:
///
/// - a name key, [`name_key`], for each used entry: the entry's name hash
///   ([`dir_hash`]) and its address (block index and offset). A lookup
///   reads the keys of the name's hash and the data blocks they point to:
///   O(log N) block reads in a directory of N entries;
/// - a free-space key, [`free_key`], for each data block with room for an
///   entry: the longest run an entry could take there and the block index.
///   A create takes the first key at or after the room it needs: O(log N).
///
/// The data blocks keep the layout of every directory (entries that never
/// move, so a `readdir` position, the entry's byte address, stays valid
/// across inserts and deletes) at file blocks below
/// [`DIR_DATA_BLOCKS_MAX`]; a data block left without entries is freed (a
/// hole: `readdir` skips it). The tree's nodes are blocks of the directory
/// too, mapped in its extents: the root, which never moves, at file block
/// [`DIR_INDEX_ROOT`], every other node at [`DIR_INDEX_NODES`] plus its
/// disk block number (unique, and found without a search). A directory of
/// one data block has no index: small directories stay one block.
pub const DIR_INDEX_ROOT: u64 = 1 << 32;
/// File block of a directory index node other than the root: this plus
/// the node's disk block number. See [`DIR_INDEX_ROOT`].
pub const DIR_INDEX_NODES: u64 = DIR_INDEX_ROOT + 1;
/// Data blocks an indexed directory may have: an entry's address
/// (`index * BLOCK_SIZE + offset`, a multiple of [`DIRENT_ALIGN`]) divided
/// by the alignment fits the 32 bits of a name key.
pub const DIR_DATA_BLOCKS_MAX: u64 = 1 << 23;
/// Top bit of a free-space key; name keys have it clear.
const FREE_KEY_BIT: u64 = 1 << 63;

/// The 31-bit hash of a name in a directory index: CRC-32C, top bit
/// dropped (name keys keep the key's top bit clear).
pub fn dir_hash(name: &[u8]) -> u32 {
    super::crc32c(name) >> 1
}

/// The name key of the entry `name` at byte `offset` of data block
/// `index`: `hash << 32 | address / DIRENT_ALIGN`.
pub fn name_key(name: &[u8], index: u64, offset: usize) -> u64 {
    name_key_first(dir_hash(name)) | ((index * BLOCK_SIZE as u64 + offset as u64) >> 3)
}

/// The smallest name key of `hash`: the names of a hash are the keys from
/// here up to the next hash's.
pub fn name_key_first(hash: u32) -> u64 {
    u64::from(hash) << 32
}

/// The hash of a name key, or `None` for a free-space key.
pub fn name_key_hash(key: u64) -> Option<u32> {
    (key & FREE_KEY_BIT == 0).then_some((key >> 32) as u32)
}

/// The entry address a name key points to: data block index and byte
/// offset.
pub fn name_key_address(key: u64) -> (u64, usize) {
    let address = (key & 0xffff_ffff) << 3;
    (
        address / BLOCK_SIZE as u64,
        (address % BLOCK_SIZE as u64) as usize,
    )
}

/// The free-space key of data block `index`, whose longest run for a new
/// entry is `room` bytes: `1 << 63 | room << 32 | index`.
pub fn free_key(room: usize, index: u64) -> u64 {
    FREE_KEY_BIT | (room as u64) << 32 | index
}

/// The smallest free-space key of a block with at least `room` bytes for a
/// new entry.
pub fn free_key_first(room: usize) -> u64 {
    free_key(room, 0)
}

/// The room and data block index of a free-space key, or `None` for a
/// name key.
pub fn free_key_parts(key: u64) -> Option<(usize, u64)> {
    (key & FREE_KEY_BIT != 0).then_some((((key >> 32) & 0x7fff_ffff) as usize, key & 0xffff_ffff))
}

/// The longest new entry a directory block could take: the most that any
/// entry's `rec_len` holds beyond its own name (a free slot, all of it);
/// an empty block has `BLOCK_SIZE - HEADER_SIZE`. For a block just
/// written or verified: the walk stops at the first entry that does not
/// parse. A block with less than [`dirent_size`]`(1)` of room gets no
/// free-space key.
pub fn block_room(block: &[u8]) -> usize {
    DirEntries {
        block,
        offset: HEADER_SIZE,
    }
    .map_while(|entry| entry.ok())
    .map(|e| e.room())
    .max()
    .unwrap_or(0)
}

/// The room of a directory block without entries.
pub const EMPTY_BLOCK_ROOM: usize = BLOCK_SIZE - HEADER_SIZE;

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const BLKNO: u64 = 9;
    const DIR: u64 = 2;
    const INODES: u64 = 100;

    fn seal(block: &mut [u8]) {
        BlockHeader {
            kind: BlockKind::Directory,
            blkno: BLKNO,
            owner: DIR,
        }
        .seal(block);
    }

    /// A sealed block of directory `DIR` holding `entries` (inode, type,
    /// name), the last one spanning the rest of the block.
    fn block_with(entries: &[(u64, u8, &[u8])]) -> [u8; BLOCK_SIZE] {
        let mut block = [0u8; BLOCK_SIZE];
        init_dir_block(&mut block);
        let mut offset = HEADER_SIZE;
        for (i, &(ino, ftype, name)) in entries.iter().enumerate() {
            let rec_len = if i + 1 == entries.len() {
                BLOCK_SIZE - offset
            } else {
                dirent_size(name.len())
            };
            write_dirent(&mut block, offset, ino, rec_len, ftype, name);
            offset += rec_len;
        }
        seal(&mut block);
        block
    }

    /// The usual block: "abc" (5) and "subdir" (6).
    fn good() -> [u8; BLOCK_SIZE] {
        block_with(&[(5, file_type::REG, b"abc"), (6, file_type::DIR, b"subdir")])
    }

    /// Offset of the second entry of `good()`.
    const SECOND: usize = HEADER_SIZE + dirent_size(3);

    /// `good()` with `f` applied and the block resealed.
    fn changed(f: impl FnOnce(&mut [u8])) -> [u8; BLOCK_SIZE] {
        let mut block = good();
        f(&mut block);
        seal(&mut block);
        block
    }

    fn verify(block: &[u8]) -> Result<()> {
        DirBlock::verify(block, BLKNO, DIR, INODES).map(drop)
    }

    fn bad(why: &'static str) -> Result<()> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn directory_block_entries() {
        let block = good();
        let entries: Vec<_> = DirBlock::verify(&block, BLKNO, DIR, INODES)
            .unwrap()
            .entries()
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].ino, entries[0].name), (5, &b"abc"[..]));
        assert_eq!((entries[1].ino, entries[1].name), (6, &b"subdir"[..]));
        assert_eq!(entries[1].offset, SECOND);
        let legacy: Vec<_> = dir_entries(&block, BLKNO, DIR)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(legacy, entries);
        for e in &entries {
            assert_eq!(e.check_slack(), Ok(()));
        }
        // A free entry first, and an empty block.
        assert_eq!(
            verify(&block_with(&[(0, 0, b""), (7, file_type::LNK, b"l")])),
            Ok(())
        );
        let mut empty = [0u8; BLOCK_SIZE];
        init_dir_block(&mut empty);
        seal(&mut empty);
        assert_eq!(verify(&empty), Ok(()));
    }

    #[test]
    fn dir_rule_header() {
        let block = good();
        assert_eq!(
            DirBlock::verify(&block, BLKNO + 1, DIR, INODES).map(drop),
            Err(FormatError::BadHeader)
        );
        // Owned by another directory.
        assert_eq!(
            DirBlock::verify(&block, BLKNO, DIR + 1, INODES).map(drop),
            Err(FormatError::BadHeader)
        );
        let mut bad_crc = block;
        bad_crc[100] ^= 1;
        assert_eq!(verify(&bad_crc), Err(FormatError::BadChecksum));
    }

    #[test]
    fn dir_rule_entry_header_inside_block() {
        assert_eq!(
            parse_dirent(&good(), BLOCK_SIZE - 8).map(drop),
            bad("directory entry crosses the block end")
        );
    }

    #[test]
    fn dir_rule_rec_len_aligned() {
        let block = changed(|b| put_u16(b, HEADER_SIZE + 8, dirent_size(3) as u16 + 4));
        assert_eq!(verify(&block), bad("directory entry length not aligned"));
    }

    #[test]
    fn dir_rule_rec_len_minimum() {
        // rec_len 0 would not move a walk on.
        let block = changed(|b| put_u16(b, HEADER_SIZE + 8, 0));
        assert_eq!(verify(&block), bad("directory entry too short"));
        let block = changed(|b| put_u16(b, HEADER_SIZE + 8, 8));
        assert_eq!(verify(&block), bad("directory entry too short"));
    }

    #[test]
    fn dir_rule_rec_len_inside_block() {
        let block = changed(|b| put_u16(b, SECOND + 8, (BLOCK_SIZE - SECOND) as u16 + 8));
        assert_eq!(
            verify(&block),
            bad("directory entry runs past the block end")
        );
        // Reported, not followed.
        let mut it = dir_block_entries(&block, BLKNO, DIR).unwrap();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn dir_rule_rec_len_holds_name() {
        // name_len past the entry's rec_len.
        let block = changed(|b| b[HEADER_SIZE + 10] = 5);
        assert_eq!(verify(&block), bad("directory entry shorter than its name"));
    }

    #[test]
    fn dir_rule_name_not_empty() {
        // Issue 20: name_len 1 -> 0 made a tree walk loop forever. The
        // whole block is rejected before any of its entries is used.
        let block = changed(|b| b[HEADER_SIZE + 10] = 0);
        assert_eq!(verify(&block), bad("directory entry with an empty name"));
        assert_eq!(
            dir_entries(&block, BLKNO, DIR).err(),
            Some(FormatError::BadField("directory entry with an empty name"))
        );
        let block = changed(|b| b[SECOND + 10] = 0);
        assert!(dir_entries(&block, BLKNO, DIR).is_err());
    }

    #[test]
    fn dir_rule_name_characters() {
        for c in [b'/', 0] {
            let block = changed(|b| b[HEADER_SIZE + DIRENT_HEADER + 1] = c);
            assert_eq!(verify(&block), bad("'/' or NUL in a directory entry name"));
        }
    }

    #[test]
    fn dir_rule_no_dot_entries() {
        for name in [&b"."[..], b".."] {
            let block = block_with(&[(5, file_type::DIR, name)]);
            assert_eq!(verify(&block), bad("'.' or '..' stored in a directory"));
        }
    }

    #[test]
    fn dir_rule_file_type_known() {
        for ftype in [file_type::UNKNOWN, 3, 14, 255] {
            let block = changed(|b| b[HEADER_SIZE + 11] = ftype);
            assert_eq!(verify(&block), bad("unknown directory entry file type"));
        }
    }

    #[test]
    fn dir_rule_inode_in_range() {
        let block = changed(|b| put_u64(b, HEADER_SIZE, INODES + 1));
        assert_eq!(
            verify(&block),
            bad("directory entry inode number out of range")
        );
        // dir_entries knows no inode count: only 2^32 - 1 bounds it.
        assert!(dir_entries(&block, BLKNO, DIR).is_ok());
        let block = changed(|b| put_u64(b, HEADER_SIZE, 1 << 32));
        assert!(dir_entries(&block, BLKNO, DIR).is_err());
    }

    #[test]
    fn dir_rule_not_the_root() {
        let block = changed(|b| put_u64(b, SECOND, ROOT_INO));
        assert_eq!(
            verify(&block),
            bad("directory entry names the root directory")
        );
    }

    #[test]
    fn dir_rule_not_itself() {
        let block = changed(|b| put_u64(b, SECOND, DIR));
        assert_eq!(
            verify(&block),
            bad("directory entry names its own directory")
        );
    }

    #[test]
    fn dir_rule_free_entry_blank() {
        let block = block_with(&[(0, 0, b""), (7, file_type::LNK, b"l")]);
        for (at, value) in [(HEADER_SIZE + 10, 3), (HEADER_SIZE + 11, file_type::REG)] {
            let mut bad_block = block;
            bad_block[at] = value;
            seal(&mut bad_block);
            assert_eq!(
                verify(&bad_block),
                bad("free directory entry with a name or type")
            );
        }
    }

    #[test]
    fn dir_rule_slack_zero() {
        // Issue 20: name_len 4 -> 1 ("abc" -> "a") leaves "bc" after it.
        let block = changed(|b| b[HEADER_SIZE + 10] = 1);
        let entries: Vec<_> = DirBlock::verify(&block, BLKNO, DIR, INODES)
            .unwrap()
            .entries()
            .collect();
        assert_eq!(entries[0].name, b"a");
        assert_eq!(
            entries[0].check_slack(),
            bad("stale bytes after a directory entry's name")
        );
        assert_eq!(entries[1].check_slack(), Ok(()));
        // Old bytes in a free slot too.
        let block = changed(|b| b[SECOND + DIRENT_HEADER + 20] = 1);
        let last = DirBlock::verify(&block, BLKNO, DIR, INODES)
            .unwrap()
            .entries()
            .last()
            .unwrap();
        assert_eq!(
            last.check_slack(),
            bad("stale bytes after a directory entry's name")
        );
        // The repair.
        let mut fixed = block;
        clear_dir_slack(&mut fixed);
        seal(&mut fixed);
        for e in DirBlock::verify(&fixed, BLKNO, DIR, INODES)
            .unwrap()
            .entries()
        {
            assert_eq!(e.check_slack(), Ok(()));
        }
    }

    #[test]
    fn write_dirent_zeroes_the_rest() {
        let mut block = [0xa5u8; BLOCK_SIZE];
        init_dir_block(&mut block);
        block[HEADER_SIZE..].fill(0xa5);
        write_dirent(&mut block, HEADER_SIZE, 0, BLOCK_SIZE - HEADER_SIZE, 0, b"");
        write_dirent(
            &mut block,
            HEADER_SIZE,
            5,
            64,
            file_type::REG,
            b"longer-name",
        );
        write_dirent(&mut block, HEADER_SIZE, 5, 64, file_type::REG, b"x");
        write_dirent(
            &mut block,
            HEADER_SIZE + 64,
            0,
            BLOCK_SIZE - HEADER_SIZE - 64,
            0,
            b"",
        );
        seal(&mut block);
        let entries: Vec<_> = DirBlock::verify(&block, BLKNO, DIR, INODES)
            .unwrap()
            .entries()
            .collect();
        assert_eq!(entries.len(), 2);
        for e in entries {
            assert_eq!(e.check_slack(), Ok(()));
        }
    }

    #[test]
    fn dir_rule_entry_target() {
        let reg = mode::S_IFREG | 0o644;
        assert_eq!(check_entry_target(file_type::REG, reg, 1), Ok(()));
        assert_eq!(
            check_entry_target(file_type::DIR, reg, 1),
            bad("directory entry type does not match the inode")
        );
        assert_eq!(
            check_entry_target(file_type::REG, reg, 0),
            bad("directory entry names an inode with no links")
        );
        assert_eq!(
            check_entry_target(file_type::REG, 0, 0),
            bad("directory entry names a free inode")
        );
    }

    #[test]
    fn file_type_from_mode() {
        assert_eq!(file_type::from_mode(mode::S_IFDIR | 0o755), file_type::DIR);
        assert_eq!(file_type::from_mode(mode::S_IFREG), file_type::REG);
        assert_eq!(file_type::from_mode(mode::S_IFLNK), file_type::LNK);
        for m in [
            mode::S_IFDIR,
            mode::S_IFREG,
            mode::S_IFLNK,
            mode::S_IFCHR,
            mode::S_IFBLK,
            mode::S_IFIFO,
            mode::S_IFSOCK,
        ] {
            assert!(file_type::is_known(file_type::from_mode(m)));
        }
    }
}
