// SPDX-License-Identifier: GPL-2.0
//! Extended attribute blocks.
//!
//! An inode's extended attributes live in one metadata block, the inode's
//! `xattr_block` (0 for none):
//!
//! ```text
//! 0   BlockHeader (BlockKind::Xattr, owner = the inode)
//! 32  count: u32, reserved: u32
//! 40  count entries, packed, sorted by (namespace, name):
//!       namespace: u8, name_len: u8, value_len: u16, name, value,
//!       zero padding to a multiple of 4 bytes
//!     zeroes to the end of the block
//! ```
//!
//! A stored block holds at least one entry: the block is freed with its
//! last attribute. Names are 1 to [`XATTR_NAME_MAX`] bytes, without the
//! namespace prefix (`user.`, `trusted.`); values may be empty. One entry
//! may be as large as the block allows (see [`XATTR_SPACE`]).
//!
//! [`XattrBlock`] is the one view of such a block: [`XattrBlock::decode`]
//! verifies one read from disk, [`XattrBlock::empty`] starts a new one, and
//! the editing methods keep the layout valid, so that the block only needs
//! sealing afterwards.

use super::{
    get_u16, get_u32, put_u16, put_u32, BlockHeader, BlockKind, FormatError, Result, BLOCK_SIZE,
    HEADER_SIZE,
};
use core::cmp::Ordering;

/// Longest attribute name, without its namespace prefix.
pub const XATTR_NAME_MAX: usize = 255;

/// The namespace of an attribute, stored as its code in the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum XattrNamespace {
    /// `user.*`.
    User = 1,
    /// `trusted.*`.
    Trusted = 2,
}

impl XattrNamespace {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(XattrNamespace::User),
            2 => Some(XattrNamespace::Trusted),
            _ => None,
        }
    }
}

const XATTR_COUNT: usize = HEADER_SIZE;
const XATTR_RESERVED: usize = HEADER_SIZE + 4;
const XATTR_ENTRIES: usize = HEADER_SIZE + 8;
const XATTR_ENTRY_HEADER: usize = 4;
const XATTR_ALIGN: usize = 4;

/// Bytes of a block available for entries.
pub const XATTR_SPACE: usize = BLOCK_SIZE - XATTR_ENTRIES;

/// Space an entry with a name of `name_len` bytes and a value of
/// `value_len` bytes takes in a block.
pub const fn xattr_entry_size(name_len: usize, value_len: usize) -> usize {
    (XATTR_ENTRY_HEADER + name_len + value_len).next_multiple_of(XATTR_ALIGN)
}

/// Why an attribute cannot be stored in a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XattrError {
    /// The name is empty, longer than [`XATTR_NAME_MAX`], or holds a NUL.
    BadName,
    /// The entries would not fit in the block.
    NoSpace,
}

/// An attribute of an [`XattrBlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XattrEntry<'a> {
    /// Its namespace.
    pub namespace: XattrNamespace,
    /// Its name, without the namespace prefix.
    pub name: &'a [u8],
    /// Its value.
    pub value: &'a [u8],
    /// Byte offset of the entry in the block.
    offset: usize,
}

impl XattrEntry<'_> {
    fn size(&self) -> usize {
        xattr_entry_size(self.name.len(), self.value.len())
    }

    fn key(&self) -> (XattrNamespace, &[u8]) {
        (self.namespace, self.name)
    }
}

/// Parses the entry at `offset`, which must lie below `end`.
fn parse_entry(block: &[u8], offset: usize, end: usize) -> Result<XattrEntry<'_>> {
    if offset + XATTR_ENTRY_HEADER > end {
        return Err(FormatError::BadField(
            "attribute entry crosses the block end",
        ));
    }
    let (code, name_len) = (block[offset], block[offset + 1] as usize);
    let value_len = get_u16(block, offset + 2) as usize;
    if code == 0 && name_len == 0 {
        // Past the last entry, where the block is zero.
        return Err(FormatError::BadField("bad attribute count"));
    }
    let namespace = XattrNamespace::from_code(code)
        .ok_or(FormatError::BadField("unknown attribute namespace"))?;
    if name_len == 0 {
        return Err(FormatError::BadField("empty attribute name"));
    }
    let name_start = offset + XATTR_ENTRY_HEADER;
    let entry_end = offset + xattr_entry_size(name_len, value_len);
    if entry_end > end {
        return Err(FormatError::BadField(
            "attribute entry crosses the block end",
        ));
    }
    let value_end = name_start + name_len + value_len;
    if block[name_start..name_start + name_len].contains(&0) {
        return Err(FormatError::BadField("NUL in attribute name"));
    }
    if block[value_end..entry_end].iter().any(|&x| x != 0) {
        return Err(FormatError::BadField("attribute entry padding not zero"));
    }
    Ok(XattrEntry {
        namespace,
        name: &block[name_start..name_start + name_len],
        value: &block[name_start + name_len..name_start + name_len + value_len],
        offset,
    })
}

/// An extended attribute block whose layout is valid: a verified block read
/// from disk, or one being edited. `B` is `&[u8]` to read it, `&mut [u8]`
/// to edit it (or any other owner of the block's bytes).
pub struct XattrBlock<B> {
    block: B,
    count: usize,
    /// One past the last entry.
    end: usize,
}

impl<B: AsRef<[u8]>> XattrBlock<B> {
    /// Verifies `block` (stored at `blkno`) as the extended attribute block
    /// of inode `ino`. Rules: the header ([`BlockHeader::verify`]) and
    /// owner; the reserved field zero; a count of at least one, and as many
    /// entries, within the block, with zeroes after the last; each entry of
    /// a known namespace, with a name of 1 to 255 bytes without NUL, and
    /// zero padding; sorted by namespace and name, without duplicates.
    pub fn decode(block: B, blkno: u64, ino: u64) -> Result<Self> {
        let b = block.as_ref();
        if BlockHeader::verify(b, BlockKind::Xattr, blkno)? != ino {
            return Err(FormatError::BadHeader);
        }
        if get_u32(b, XATTR_RESERVED) != 0 {
            return Err(FormatError::BadField(
                "attribute block reserved bytes not zero",
            ));
        }
        let count = get_u32(b, XATTR_COUNT) as usize;
        // Every entry takes at least xattr_entry_size(1, 0) bytes.
        if count == 0 || count > XATTR_SPACE / xattr_entry_size(1, 0) {
            return Err(FormatError::BadField("bad attribute count"));
        }
        let mut offset = XATTR_ENTRIES;
        let mut previous: Option<XattrEntry<'_>> = None;
        for _ in 0..count {
            let entry = parse_entry(b, offset, BLOCK_SIZE)?;
            match previous.map(|p| p.key().cmp(&entry.key())) {
                Some(Ordering::Equal) => {
                    return Err(FormatError::BadField("duplicate attribute name"))
                }
                Some(Ordering::Greater) => {
                    return Err(FormatError::BadField("attributes out of order"))
                }
                _ => {}
            }
            offset += entry.size();
            previous = Some(entry);
        }
        if b[offset..].iter().any(|&x| x != 0) {
            return Err(FormatError::BadField("bad attribute count"));
        }
        Ok(XattrBlock {
            block,
            count,
            end: offset,
        })
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the block holds no attribute (only while it is being made).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The attributes, sorted by namespace and name.
    pub fn entries(&self) -> impl Iterator<Item = XattrEntry<'_>> + '_ {
        let block = self.block.as_ref();
        let end = self.end;
        let mut offset = XATTR_ENTRIES;
        core::iter::from_fn(move || {
            // The layout is valid (type invariant): every entry parses.
            let entry = parse_entry(block, offset, end).ok()?;
            offset += entry.size();
            Some(entry)
        })
    }

    /// The attribute `name` of `namespace`, if there is one.
    pub fn get(&self, namespace: XattrNamespace, name: &[u8]) -> Option<XattrEntry<'_>> {
        self.entries().find(|e| e.key() == (namespace, name))
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> XattrBlock<B> {
    /// Starts a new block in `block`: zeroes it, with no entries. Add at
    /// least one before sealing it.
    pub fn empty(mut block: B) -> Self {
        block.as_mut().fill(0);
        XattrBlock {
            block,
            count: 0,
            end: XATTR_ENTRIES,
        }
    }

    /// Sets attribute `name` of `namespace` to `value`, adding it or
    /// replacing its value. Leaves the block unchanged on error.
    pub fn set(
        &mut self,
        namespace: XattrNamespace,
        name: &[u8],
        value: &[u8],
    ) -> core::result::Result<(), XattrError> {
        if name.is_empty() || name.len() > XATTR_NAME_MAX || name.contains(&0) {
            return Err(XattrError::BadName);
        }
        let old = self.get(namespace, name).map_or(0, |e| e.size());
        if self.end - old + xattr_entry_size(name.len(), value.len()) > BLOCK_SIZE {
            return Err(XattrError::NoSpace);
        }
        self.remove(namespace, name);
        let size = xattr_entry_size(name.len(), value.len());
        // The first entry that sorts after the new one, or the end.
        let at = self
            .entries()
            .find(|e| e.key() > (namespace, name))
            .map_or(self.end, |e| e.offset);
        let end = self.end;
        let b = self.block.as_mut();
        b.copy_within(at..end, at + size);
        let entry = &mut b[at..at + size];
        entry.fill(0);
        entry[0] = namespace as u8;
        entry[1] = name.len() as u8;
        // Fits in 16 bits: the entry fits in the block.
        put_u16(entry, 2, value.len() as u16);
        let name_end = XATTR_ENTRY_HEADER + name.len();
        entry[XATTR_ENTRY_HEADER..name_end].copy_from_slice(name);
        entry[name_end..name_end + value.len()].copy_from_slice(value);
        self.resize(self.count + 1, end + size);
        Ok(())
    }

    /// Removes attribute `name` of `namespace`; returns whether it existed.
    pub fn remove(&mut self, namespace: XattrNamespace, name: &[u8]) -> bool {
        let Some((offset, size)) = self.get(namespace, name).map(|e| (e.offset, e.size())) else {
            return false;
        };
        let end = self.end;
        let b = self.block.as_mut();
        b.copy_within(offset + size..end, offset);
        b[end - size..end].fill(0);
        self.resize(self.count - 1, end - size);
        true
    }

    fn resize(&mut self, count: usize, end: usize) {
        self.count = count;
        self.end = end;
        put_u32(self.block.as_mut(), XATTR_COUNT, count as u32);
    }

    /// Seals the block with its header: stored at `blkno`, owned by inode
    /// `ino`.
    pub fn seal(&mut self, blkno: u64, ino: u64) {
        BlockHeader {
            kind: BlockKind::Xattr,
            blkno,
            owner: ino,
        }
        .seal(self.block.as_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const BLKNO: u64 = 77;
    const INO: u64 = 5;
    const USER: XattrNamespace = XattrNamespace::User;
    const TRUSTED: XattrNamespace = XattrNamespace::Trusted;

    fn names(block: &XattrBlock<&mut [u8]>) -> Vec<(XattrNamespace, Vec<u8>, Vec<u8>)> {
        block
            .entries()
            .map(|e| (e.namespace, e.name.to_vec(), e.value.to_vec()))
            .collect()
    }

    /// A sealed block holding `attrs`.
    fn block_with(attrs: &[(XattrNamespace, &[u8], &[u8])]) -> [u8; BLOCK_SIZE] {
        let mut raw = [0xa5; BLOCK_SIZE];
        let mut block = XattrBlock::empty(&mut raw[..]);
        for &(ns, name, value) in attrs {
            block.set(ns, name, value).unwrap();
        }
        block.seal(BLKNO, INO);
        raw
    }

    #[test]
    fn set_get_remove_round_trip() {
        let mut raw = block_with(&[
            (USER, b"zeta", b"last"),
            (TRUSTED, b"a", b"trusted value"),
            (USER, b"alpha", b""),
            (USER, b"mid", b"12345"),
        ]);
        let block = XattrBlock::decode(&raw[..], BLKNO, INO).unwrap();
        assert_eq!(block.len(), 4);
        assert_eq!(block.get(USER, b"mid").unwrap().value, b"12345");
        assert_eq!(block.get(USER, b"alpha").unwrap().value, b"");
        assert_eq!(block.get(TRUSTED, b"a").unwrap().value, b"trusted value");
        assert!(block.get(USER, b"a").is_none());
        assert!(block.get(TRUSTED, b"mid").is_none());

        let mut block = XattrBlock::decode(&mut raw[..], BLKNO, INO).unwrap();
        let sorted: Vec<(XattrNamespace, Vec<u8>, Vec<u8>)> = [
            (USER, &b"alpha"[..], &b""[..]),
            (USER, b"mid", b"12345"),
            (USER, b"zeta", b"last"),
            (TRUSTED, b"a", b"trusted value"),
        ]
        .iter()
        .map(|&(ns, n, v)| (ns, n.to_vec(), v.to_vec()))
        .collect();
        assert_eq!(names(&block), sorted);

        // Replace with a longer and then a shorter value.
        block.set(USER, b"mid", &[7; 300]).unwrap();
        assert_eq!(block.get(USER, b"mid").unwrap().value, &[7; 300]);
        block.set(USER, b"mid", b"x").unwrap();
        assert_eq!(block.len(), 4);
        assert!(block.remove(USER, b"alpha"));
        assert!(!block.remove(USER, b"alpha"));
        block.seal(BLKNO, INO);
        let block = XattrBlock::decode(&raw[..], BLKNO, INO).unwrap();
        let left: Vec<_> = block.entries().map(|e| (e.name, e.value)).collect();
        assert_eq!(
            left,
            [
                (&b"mid"[..], &b"x"[..]),
                (b"zeta", b"last"),
                (b"a", b"trusted value")
            ]
        );
    }

    #[test]
    fn space_limits() {
        let mut raw = [0u8; BLOCK_SIZE];
        let mut block = XattrBlock::empty(&mut raw[..]);
        // The largest value of a one-byte name fills the block exactly.
        let largest = XATTR_SPACE - XATTR_ENTRY_HEADER - 1;
        assert_eq!(
            block.set(USER, b"v", &[1; XATTR_SPACE]),
            Err(XattrError::NoSpace)
        );
        block.set(USER, b"v", &vec_of(largest + 1)).unwrap_err();
        block.set(USER, b"v", &vec_of(largest)).unwrap();
        assert_eq!(block.set(USER, b"w", b""), Err(XattrError::NoSpace));
        // Replacing counts the space the old value frees.
        block.set(USER, b"v", &vec_of(largest - 12)).unwrap();
        block.set(USER, b"w", b"1234").unwrap(); // 12 bytes: the space freed
        assert_eq!(block.set(USER, b"x", b""), Err(XattrError::NoSpace));
        assert_eq!(block.len(), 2);
        block.seal(BLKNO, INO);
        assert!(XattrBlock::decode(&raw[..], BLKNO, INO).is_ok());

        let mut raw = [0u8; BLOCK_SIZE];
        let mut block = XattrBlock::empty(&mut raw[..]);
        assert_eq!(block.set(USER, b"", b"v"), Err(XattrError::BadName));
        assert_eq!(block.set(USER, b"a\0b", b"v"), Err(XattrError::BadName));
        assert_eq!(
            block.set(USER, &[b'n'; 256], b"v"),
            Err(XattrError::BadName)
        );
        block.set(USER, &[b'n'; XATTR_NAME_MAX], b"v").unwrap();
        // Filling with small entries until the block is full.
        let mut n = 0u32;
        while block
            .set(TRUSTED, std::format!("{n:04}").as_bytes(), b"")
            .is_ok()
        {
            n += 1;
        }
        let used = xattr_entry_size(XATTR_NAME_MAX, 1) + n as usize * xattr_entry_size(4, 0);
        assert!(used <= XATTR_SPACE && used + xattr_entry_size(4, 0) > XATTR_SPACE);
        block.seal(BLKNO, INO);
        assert_eq!(
            XattrBlock::decode(&raw[..], BLKNO, INO).unwrap().len(),
            n as usize + 1
        );
    }

    fn vec_of(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    /// `good` (two user attributes "a" = "1" and "b" = "2") changed by `f`
    /// and resealed: what decoding it gives.
    fn decode_changed(f: impl FnOnce(&mut [u8])) -> Option<FormatError> {
        let mut raw = block_with(&[(USER, b"a", b"1"), (USER, b"b", b"2")]);
        f(&mut raw);
        BlockHeader {
            kind: BlockKind::Xattr,
            blkno: BLKNO,
            owner: INO,
        }
        .seal(&mut raw);
        XattrBlock::decode(&raw[..], BLKNO, INO).err()
    }

    fn bad(why: &'static str) -> Option<FormatError> {
        Some(FormatError::BadField(why))
    }

    /// Offset of the second entry.
    const SECOND: usize = XATTR_ENTRIES + 8;

    #[test]
    fn xattr_rule_reserved_zero() {
        assert_eq!(decode_changed(|_| {}), None);
        assert_eq!(
            decode_changed(|b| b[XATTR_RESERVED + 2] = 1),
            bad("attribute block reserved bytes not zero")
        );
    }

    #[test]
    fn xattr_rule_count() {
        for count in [0, 1, 3, 508, u32::MAX] {
            assert_eq!(
                decode_changed(|b| put_u32(b, XATTR_COUNT, count)),
                bad("bad attribute count"),
                "{count}"
            );
        }
    }

    #[test]
    fn xattr_rule_zero_after_last() {
        assert_eq!(
            decode_changed(|b| b[BLOCK_SIZE - 1] = 1),
            bad("bad attribute count")
        );
    }

    #[test]
    fn xattr_rule_namespace() {
        for code in [0, 3, 255] {
            assert_eq!(
                decode_changed(|b| b[SECOND] = code),
                bad("unknown attribute namespace")
            );
        }
    }

    #[test]
    fn xattr_rule_name_not_empty() {
        assert_eq!(
            decode_changed(|b| b[SECOND + 1] = 0),
            bad("empty attribute name")
        );
    }

    #[test]
    fn xattr_rule_name_characters() {
        assert_eq!(
            decode_changed(|b| b[SECOND + XATTR_ENTRY_HEADER] = 0),
            bad("NUL in attribute name")
        );
    }

    #[test]
    fn xattr_rule_within_block() {
        assert_eq!(
            decode_changed(|b| put_u16(b, SECOND + 2, 5000)),
            bad("attribute entry crosses the block end")
        );
        assert_eq!(
            decode_changed(|b| put_u16(b, SECOND + 2, XATTR_SPACE as u16 - 12)),
            bad("attribute entry crosses the block end")
        );
    }

    #[test]
    fn xattr_rule_padding_zero() {
        // "b" = "2" takes 6 of its 8 bytes.
        assert_eq!(
            decode_changed(|b| b[SECOND + 7] = 1),
            bad("attribute entry padding not zero")
        );
        // A value shortened by one leaves its last byte in the padding.
        assert_eq!(
            decode_changed(|b| put_u16(b, SECOND + 2, 0)),
            bad("attribute entry padding not zero")
        );
    }

    #[test]
    fn xattr_rule_sorted() {
        assert_eq!(
            decode_changed(|b| b[SECOND + XATTR_ENTRY_HEADER] = b'a'),
            bad("duplicate attribute name")
        );
        assert_eq!(
            decode_changed(|b| b[XATTR_ENTRIES + XATTR_ENTRY_HEADER] = b'c'),
            bad("attributes out of order")
        );
        // Namespaces first: trusted sorts after user.
        assert_eq!(
            decode_changed(|b| b[XATTR_ENTRIES] = XattrNamespace::Trusted as u8),
            bad("attributes out of order")
        );
    }

    #[test]
    fn xattr_rule_header() {
        let raw = block_with(&[(USER, b"a", b"1")]);
        for (blkno, ino) in [(BLKNO + 1, INO), (BLKNO, INO + 1)] {
            assert_eq!(
                XattrBlock::decode(&raw[..], blkno, ino).err(),
                Some(FormatError::BadHeader)
            );
        }
    }

    #[test]
    fn corruption_is_reported() {
        let good = block_with(&[(USER, b"a", b"1"), (USER, b"b", b"2")]);
        let decode = |raw: &[u8]| XattrBlock::decode(raw, BLKNO, INO).err();
        let header = BlockHeader {
            kind: BlockKind::Xattr,
            blkno: BLKNO,
            owner: INO,
        };
        let reseal = |raw: &mut [u8]| header.seal(raw);
        assert_eq!(decode(&good), None);
        let bad_header = Some(FormatError::BadHeader);
        assert_eq!(
            XattrBlock::decode(&good[..], BLKNO, INO + 1).err(),
            bad_header
        );
        assert_eq!(
            XattrBlock::decode(&good[..], BLKNO + 1, INO).err(),
            bad_header
        );

        let mut bad = good;
        bad[XATTR_ENTRIES + 4] ^= 1;
        assert_eq!(decode(&bad), Some(FormatError::BadChecksum));

        // Entry 1 ("b") renamed to "a".
        let mut bad = good;
        bad[XATTR_ENTRIES + 8 + 4] = b'a';
        reseal(&mut bad);
        assert_eq!(
            decode(&bad),
            Some(FormatError::BadField("duplicate attribute name"))
        );
        bad[XATTR_ENTRIES + 4] = b'c';
        reseal(&mut bad);
        assert_eq!(
            decode(&bad),
            Some(FormatError::BadField("attributes out of order"))
        );

        for count in [0, 1, 3, 1000] {
            let mut bad = good;
            put_u32(&mut bad, XATTR_COUNT, count);
            reseal(&mut bad);
            assert_eq!(
                decode(&bad),
                Some(FormatError::BadField("bad attribute count")),
                "{count}"
            );
        }

        let mut bad = good;
        bad[XATTR_ENTRIES] = 3;
        reseal(&mut bad);
        assert_eq!(
            decode(&bad),
            Some(FormatError::BadField("unknown attribute namespace"))
        );

        let mut bad = good;
        bad[XATTR_ENTRIES + 1] = 0;
        reseal(&mut bad);
        assert_eq!(
            decode(&bad),
            Some(FormatError::BadField("empty attribute name"))
        );

        let mut bad = good;
        put_u16(&mut bad, XATTR_ENTRIES + 8 + 2, 5000);
        reseal(&mut bad);
        assert_eq!(
            decode(&bad),
            Some(FormatError::BadField(
                "attribute entry crosses the block end"
            ))
        );
    }
}
