// SPDX-License-Identifier: GPL-2.0
//! Extents, which map file blocks to disk blocks, and the extent blocks that
//! hold those not stored in the inode.

use super::{
    get_u32, get_u64, mode, put_u32, put_u64, BlockHeader, BlockKind, DiskInode, FormatError,
    Geometry, Record, Result, BLOCK_SIZE, DIR_DATA_BLOCKS_MAX, DIR_INDEX_NODES, DIR_INDEX_ROOT,
    HEADER_SIZE, INODE_EXTENTS,
};

/// On-disk size of an [`Extent`].
pub const EXTENT_SIZE: usize = 24;
/// Extent flag: blocks are allocated but read as zeroes (fallocate).
pub const EXTENT_UNWRITTEN: u32 = 1;

/// A run of file blocks mapped to contiguous disk blocks:
/// `logical: u64, physical: u64, len: u32, flags: u32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub logical: u64,
    /// First disk block.
    pub physical: u64,
    /// Number of blocks, at least one.
    pub len: u32,
    /// `EXTENT_*` flags.
    pub flags: u32,
}

impl Extent {
    /// Decodes the extent at the start of `b`.
    pub fn decode(b: &[u8]) -> Self {
        Extent {
            logical: get_u64(b, 0),
            physical: get_u64(b, 8),
            len: get_u32(b, 16),
            flags: get_u32(b, 20),
        }
    }

    /// Encodes the extent into the start of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, self.logical);
        put_u64(b, 8, self.physical);
        put_u32(b, 16, self.len);
        put_u32(b, 20, self.flags);
    }

    /// One past the last file block.
    pub fn logical_end(&self) -> u64 {
        self.logical + u64::from(self.len)
    }

    /// Checks the extent against the filesystem layout. Rules: at least one
    /// block; known flags; file blocks below [`MAX_FILE_BLOCKS`]; disk
    /// blocks inside the data area (so never over metadata).
    pub fn check(&self, geometry: &Geometry) -> Result<()> {
        if self.len == 0 {
            return Err(FormatError::BadField("extent of zero length"));
        }
        if self.flags & !EXTENT_UNWRITTEN != 0 {
            return Err(FormatError::BadField("unknown extent flags"));
        }
        if self
            .logical
            .checked_add(u64::from(self.len))
            .is_none_or(|end| end > MAX_FILE_BLOCKS)
        {
            return Err(FormatError::BadField("extent beyond the maximum file size"));
        }
        if !geometry.is_data_range(self.physical, u64::from(self.len)) {
            return Err(FormatError::BadField("extent outside the data area"));
        }
        Ok(())
    }
}

/// Rule of a directory index's extent (see [`DIR_INDEX_ROOT`]): the root
/// alone at [`DIR_INDEX_ROOT`], any other node at [`DIR_INDEX_NODES`] plus
/// its disk block number.
fn check_dir_index_extent(e: &Extent) -> Result<()> {
    let placed = if e.logical == DIR_INDEX_ROOT {
        e.len == 1
    } else {
        e.logical - DIR_INDEX_NODES == e.physical
    };
    if !placed {
        return Err(FormatError::BadField(
            "directory index block at the wrong file block",
        ));
    }
    Ok(())
}

impl Extent {
    /// The extent as a record of an extent tree
    /// ([`FEATURE_INCOMPAT_EXTENT_TREE`](super::FEATURE_INCOMPAT_EXTENT_TREE)):
    /// keyed by its file block, the value `physical: u64, len: u32, flags: u32`.
    pub fn to_record(self) -> Record {
        let mut value = [0; 16];
        put_u64(&mut value, 0, self.physical);
        put_u32(&mut value, 8, self.len);
        put_u32(&mut value, 12, self.flags);
        Record {
            key: self.logical,
            value,
        }
    }

    /// The extent a record of an extent tree holds (see
    /// [`Extent::to_record`]).
    pub fn from_record(record: &Record) -> Self {
        Extent {
            logical: record.key,
            physical: get_u64(&record.value, 0),
            len: get_u32(&record.value, 8),
            flags: get_u32(&record.value, 12),
        }
    }
}

/// Largest file size in blocks (2^40 blocks = 4 PiB).
pub const MAX_FILE_BLOCKS: u64 = 1 << 40;

/// Extent block layout: header, then `next: u64` (the following extent
/// block, 0 at the end of the chain), `count: u32`, `reserved: u32`, then
/// `count` extents sorted by `logical`, zeroes to the end of the block.
/// Every block of a chain but the last holds [`EXTENTS_PER_BLOCK`] extents,
/// so that an inode's extent count says how long its chain is
/// ([`chain_blocks`]).
pub const EXTENT_BLOCK_NEXT: usize = HEADER_SIZE;
const EXTENT_BLOCK_COUNT: usize = HEADER_SIZE + 8;
const EXTENT_BLOCK_RESERVED: usize = HEADER_SIZE + 12;
const EXTENT_BLOCK_ENTRIES: usize = HEADER_SIZE + 16;
/// Extents per extent block.
pub const EXTENTS_PER_BLOCK: usize = (BLOCK_SIZE - EXTENT_BLOCK_ENTRIES) / EXTENT_SIZE;

/// A decoded view of an extent block.
pub struct ExtentBlock<'a> {
    block: &'a [u8],
    /// Next extent block in the chain, 0 for none.
    pub next: u64,
    /// Number of extents in this block.
    pub count: usize,
}

impl<'a> ExtentBlock<'a> {
    /// Verifies `block` (stored at `blkno`, owned by `ino`) as an extent
    /// block: its header ([`BlockHeader::verify`], and the owner), a count
    /// of 1 to [`EXTENTS_PER_BLOCK`], the reserved field and the bytes past
    /// the extents zero. The extents themselves are checked by
    /// [`ExtentMapVerifier`], the chain by [`ExtentChainWalk`].
    pub fn decode(block: &'a [u8], blkno: u64, ino: u64) -> Result<Self> {
        if BlockHeader::verify(block, BlockKind::Extent, blkno)? != ino {
            return Err(FormatError::BadHeader);
        }
        let count = get_u32(block, EXTENT_BLOCK_COUNT) as usize;
        if count == 0 || count > EXTENTS_PER_BLOCK {
            return Err(FormatError::BadField("bad extent block count"));
        }
        if get_u32(block, EXTENT_BLOCK_RESERVED) != 0 {
            return Err(FormatError::BadField(
                "extent block reserved bytes not zero",
            ));
        }
        let end = EXTENT_BLOCK_ENTRIES + count * EXTENT_SIZE;
        if block[end..].iter().any(|&x| x != 0) {
            return Err(FormatError::BadField("extent block unused slots not zero"));
        }
        Ok(ExtentBlock {
            block,
            next: get_u64(block, EXTENT_BLOCK_NEXT),
            count,
        })
    }

    /// Extent `i` of this block.
    pub fn extent(&self, i: usize) -> Extent {
        Extent::decode(&self.block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..])
    }

    /// Writes an extent block: `extents` (at most [`EXTENTS_PER_BLOCK`]), the
    /// link to `next`, and the sealed header.
    pub fn encode(block: &mut [u8], blkno: u64, ino: u64, next: u64, extents: &[Extent]) {
        block.fill(0);
        put_u64(block, EXTENT_BLOCK_NEXT, next);
        put_u32(block, EXTENT_BLOCK_COUNT, extents.len() as u32);
        for (i, e) in extents.iter().enumerate() {
            e.encode(&mut block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..]);
        }
        BlockHeader {
            kind: BlockKind::Extent,
            blkno,
            owner: ino,
        }
        .seal(block);
    }
}

/// Number of extent blocks in the chain of an inode of `extent_count`
/// extents: those beyond the inode's, [`EXTENTS_PER_BLOCK`] a block.
pub fn chain_blocks(extent_count: u32) -> u64 {
    (extent_count as usize)
        .saturating_sub(INODE_EXTENTS)
        .div_ceil(EXTENTS_PER_BLOCK) as u64
}

/// A walk along the chain of extent blocks of an inode, which checks the
/// chain as it goes: its blocks in the data area, as many as the inode's
/// extent count needs ([`chain_blocks`]) and no more, each full but the
/// last, which holds the rest. A chain that loops is longer than that: the
/// walk reads at most [`chain_blocks`] blocks, whatever the blocks say, and
/// yields no more extents than the extent count (which
/// [`DiskInode::verify_extent_count`] bounds by the data area): a loop
/// costs a reader no more than a real map of that size.
///
/// ```text
/// let mut walk = ExtentChainWalk::new(ino, &inode);
/// while let Some(blkno) = walk.next_block(&geometry)? {
///     let block = read(blkno);
///     let extents = walk.visit(&block)?;
///     // extents.extent(0..extents.count)
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ExtentChainWalk {
    ino: u64,
    next: u64,
    blocks_left: u64,
    extents_left: usize,
}

impl ExtentChainWalk {
    /// The walk of the chain of inode `ino`, read as `inode` (decoded:
    /// its extent count and first extent block agree).
    pub fn new(ino: u64, inode: &DiskInode) -> Self {
        ExtentChainWalk {
            ino,
            next: inode.extent_block,
            blocks_left: chain_blocks(inode.extent_count),
            extents_left: (inode.extent_count as usize).saturating_sub(INODE_EXTENTS),
        }
    }

    /// The block number the walk goes to next, as the inode or the last
    /// block visited says (0: the chain ends there).
    pub fn link(&self) -> u64 {
        self.next
    }

    /// The next extent block to read, `None` past the end of the chain.
    /// Rules: the chain is neither shorter nor longer than the extent count
    /// says, and its blocks are in the data area.
    pub fn next_block(&self, geometry: &Geometry) -> Result<Option<u64>> {
        match (self.next, self.blocks_left) {
            (0, 0) => Ok(None),
            (0, _) => Err(FormatError::BadField(
                "extent chain shorter than its extent count",
            )),
            (_, 0) => Err(FormatError::BadField(
                "extent chain longer than its extent count",
            )),
            (next, _) if !geometry.is_data_range(next, 1) => {
                Err(FormatError::BadField("extent block outside the data area"))
            }
            (next, _) => Ok(Some(next)),
        }
    }

    /// Verifies `block`, the block [`ExtentChainWalk::next_block`] named,
    /// and moves on to the block it links to. Rules: those of
    /// [`ExtentBlock::decode`]; a block before the last is full; the last
    /// holds the extents left.
    pub fn visit<'a>(&mut self, block: &'a [u8]) -> Result<ExtentBlock<'a>> {
        let eb = ExtentBlock::decode(block, self.next, self.ino)?;
        if self.blocks_left == 1 {
            if eb.count != self.extents_left {
                return Err(FormatError::BadField(
                    "extent block count does not match the extent count",
                ));
            }
        } else if eb.count != EXTENTS_PER_BLOCK {
            return Err(FormatError::BadField(
                "extent block not full before the end of its chain",
            ));
        }
        self.blocks_left -= 1;
        self.extents_left -= eb.count;
        self.next = eb.next;
        Ok(eb)
    }
}

/// Checks the extents of an inode, all of them in order (those in the inode,
/// then along its chain), against each other and the inode.
///
/// Rules, besides each extent's own ([`Extent::check`]): no more extents
/// than the extent count, and as many; sorted by file block without
/// overlapping; a directory's size a whole number of blocks, and its blocks
/// written, from file block 0 without a hole up to its size and none past
/// it (with a directory index, [`DIR_INDEX_ROOT`]: holes after block 0,
/// and the index's nodes, the root at [`DIR_INDEX_ROOT`] and every other
/// node at [`DIR_INDEX_NODES`] plus its disk block); a symlink not inline has one
/// written block, at file block 0. (Regular files may have holes and
/// blocks past their size: fallocate with `KEEP_SIZE` leaves unwritten
/// ones there. Other inodes have no extents: [`DiskInode::decode`].)
#[derive(Clone, Copy, Debug)]
pub struct ExtentMapVerifier {
    geometry: Geometry,
    kind: u16,
    inline: bool,
    dir_index: bool,
    size: u64,
    size_blocks: u64,
    count: u64,
    seen: u64,
    end: u64,
    /// End of a directory's last data block.
    dir_data_end: u64,
    data_blocks: u64,
}

impl ExtentMapVerifier {
    /// A verifier of the extents of `inode` (decoded) on a filesystem of
    /// `geometry`, with directory indexes if `dir_index` (feature
    /// [`FEATURE_INCOMPAT_DIR_INDEX`](super::FEATURE_INCOMPAT_DIR_INDEX)).
    pub fn new(inode: &DiskInode, geometry: &Geometry, dir_index: bool) -> Self {
        ExtentMapVerifier {
            geometry: *geometry,
            kind: inode.file_type(),
            inline: inode.is_inline(),
            dir_index,
            size: inode.size,
            size_blocks: inode.size.div_ceil(BLOCK_SIZE as u64),
            count: inode.extent_count.into(),
            seen: 0,
            end: 0,
            dir_data_end: 0,
            data_blocks: 0,
        }
    }

    /// Checks `e`, the next extent. On an error, the verifier has taken
    /// the extent into account as far as it could, so a caller reporting
    /// every problem may go on.
    pub fn push(&mut self, e: &Extent) -> Result<()> {
        let bad = |why| Err(FormatError::BadField(why));
        self.seen += 1;
        if self.seen > self.count {
            return bad("more extents than the extent count");
        }
        e.check(&self.geometry)?;
        let end = self.end;
        self.end = end.max(e.logical_end());
        self.data_blocks += u64::from(e.len);
        if e.logical < end {
            return bad("extents overlap or are out of order");
        }
        let unwritten = e.flags & EXTENT_UNWRITTEN != 0;
        match self.kind {
            mode::S_IFDIR => {
                let index = self.dir_index && e.logical >= DIR_INDEX_ROOT;
                if !index {
                    self.dir_data_end = e.logical_end();
                }
                if unwritten {
                    return bad("unwritten directory block");
                }
                if index {
                    return check_dir_index_extent(e);
                }
                if e.logical > end && !(self.dir_index && end > 0) {
                    return bad("hole in a directory");
                }
                if self.dir_index && e.logical_end() > DIR_DATA_BLOCKS_MAX {
                    return bad("directory data block past the index's reach");
                }
                if e.logical_end() > self.size_blocks {
                    return bad("directory block past its size");
                }
            }
            mode::S_IFLNK => {
                if e.logical != 0 || e.len != 1 || unwritten {
                    return bad("symlink extent is not one written block");
                }
            }
            mode::S_IFREG => {}
            _ => return bad("special file with data"),
        }
        Ok(())
    }

    /// Checks what the extents as a whole must be, after the last one;
    /// returns the number of data blocks they map.
    pub fn finish(&self) -> Result<u64> {
        let bad = |why| Err(FormatError::BadField(why));
        if self.seen != self.count {
            return bad("extent count does not match the extents found");
        }
        if self.kind == mode::S_IFDIR && !self.size.is_multiple_of(BLOCK_SIZE as u64) {
            return bad("directory size not a multiple of the block size");
        }
        if self.kind == mode::S_IFDIR && self.dir_data_end != self.size_blocks {
            return bad("directory size does not match its blocks");
        }
        // More blocks, or others, are the rule of push.
        if self.kind == mode::S_IFLNK && !self.inline && self.data_blocks == 0 {
            return bad("symlink without its block");
        }
        Ok(self.data_blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const INO: u64 = 3;

    fn geometry() -> Geometry {
        Geometry::new(4096, 64, 0).unwrap()
    }

    fn extent(logical: u64, physical: u64, len: u32) -> Extent {
        Extent {
            logical,
            physical,
            len,
            flags: 0,
        }
    }

    fn bad<T>(why: &'static str) -> Result<T> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn extent_block_round_trip() {
        let g = Geometry::new(1024, 64, 0).unwrap();
        let extents = [
            extent(0, g.data_start, 4),
            Extent {
                flags: EXTENT_UNWRITTEN,
                ..extent(10, g.data_start + 8, 1)
            },
        ];
        let mut block = [0u8; BLOCK_SIZE];
        ExtentBlock::encode(&mut block, 100, 3, 0, &extents);
        let eb = ExtentBlock::decode(&block, 100, 3).unwrap();
        assert_eq!((eb.count, eb.next), (2, 0));
        assert_eq!(eb.extent(1), extents[1]);
        for e in extents {
            assert_eq!(e.check(&g), Ok(()));
        }
    }

    #[test]
    fn extent_rule_length() {
        let g = geometry();
        assert_eq!(
            extent(0, g.data_start, 0).check(&g),
            bad("extent of zero length")
        );
    }

    #[test]
    fn extent_rule_flags() {
        let g = geometry();
        let e = Extent {
            flags: 2,
            ..extent(0, g.data_start, 1)
        };
        assert_eq!(e.check(&g), bad("unknown extent flags"));
    }

    #[test]
    fn extent_rule_file_size() {
        let g = geometry();
        for e in [
            extent(MAX_FILE_BLOCKS - 1, g.data_start, 2),
            extent(u64::MAX, g.data_start, 1),
        ] {
            assert_eq!(e.check(&g), bad("extent beyond the maximum file size"));
        }
        assert_eq!(
            extent(MAX_FILE_BLOCKS - 1, g.data_start, 1).check(&g),
            Ok(())
        );
    }

    #[test]
    fn extent_rule_data_area() {
        let g = geometry();
        for e in [
            extent(0, 1, 1),
            extent(0, g.data_start - 1, 2),
            extent(0, g.block_count - 1, 2),
            extent(0, u64::MAX, 1),
        ] {
            assert_eq!(e.check(&g), bad("extent outside the data area"));
        }
        assert_eq!(extent(0, g.block_count - 2, 2).check(&g), Ok(()));
    }

    /// An extent block of `count` extents at `blkno`, changed by `f`,
    /// then resealed.
    fn extent_block(blkno: u64, next: u64, count: usize, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let g = geometry();
        let extents: Vec<Extent> = (0..count as u64)
            .map(|i| extent(i, g.data_start + i, 1))
            .collect();
        let mut block = std::vec![0u8; BLOCK_SIZE];
        ExtentBlock::encode(&mut block, blkno, INO, next, &extents);
        f(&mut block);
        BlockHeader {
            kind: BlockKind::Extent,
            blkno,
            owner: INO,
        }
        .seal(&mut block);
        block
    }

    #[test]
    fn extent_block_rule_header() {
        let block = extent_block(100, 0, 1, |_| {});
        assert!(ExtentBlock::decode(&block, 100, INO).is_ok());
        for (blkno, ino) in [(101, INO), (100, INO + 1)] {
            assert_eq!(
                ExtentBlock::decode(&block, blkno, ino).map(|eb| eb.count),
                Err(FormatError::BadHeader)
            );
        }
    }

    #[test]
    fn extent_block_rule_count() {
        for count in [0, EXTENTS_PER_BLOCK as u32 + 1] {
            let block = extent_block(100, 0, 1, |b| put_u32(b, EXTENT_BLOCK_COUNT, count));
            assert_eq!(
                ExtentBlock::decode(&block, 100, INO).map(|eb| eb.count),
                bad("bad extent block count")
            );
        }
    }

    #[test]
    fn extent_block_rule_reserved() {
        let block = extent_block(100, 0, 1, |b| b[EXTENT_BLOCK_RESERVED] = 1);
        assert_eq!(
            ExtentBlock::decode(&block, 100, INO).map(|eb| eb.count),
            bad("extent block reserved bytes not zero")
        );
    }

    #[test]
    fn extent_block_rule_unused_zero() {
        // The count lowered: the last extent is left past it.
        let block = extent_block(100, 0, 2, |b| put_u32(b, EXTENT_BLOCK_COUNT, 1));
        assert_eq!(
            ExtentBlock::decode(&block, 100, INO).map(|eb| eb.count),
            bad("extent block unused slots not zero")
        );
        let full = extent_block(100, 0, EXTENTS_PER_BLOCK, |b| b[BLOCK_SIZE - 1] = 1);
        assert_eq!(
            ExtentBlock::decode(&full, 100, INO).map(|eb| eb.count),
            bad("extent block unused slots not zero")
        );
    }

    /// An extent-mapped regular file of `count` extents whose chain starts
    /// at `first`.
    fn chained(count: u32, first: u64) -> DiskInode {
        DiskInode {
            mode: mode::S_IFREG | 0o644,
            nlink: 1,
            extent_count: count,
            extent_block: first,
            ..DiskInode::FREE
        }
    }

    /// Walks the chain of `inode` over `blocks` (block number, contents);
    /// returns the blocks visited, or the first error.
    fn walk(inode: &DiskInode, blocks: &[(u64, Vec<u8>)]) -> Result<Vec<u64>> {
        let g = geometry();
        let mut walk = ExtentChainWalk::new(INO, inode);
        let mut visited = Vec::new();
        while let Some(blkno) = walk.next_block(&g)? {
            let block = &blocks.iter().find(|(b, _)| *b == blkno).unwrap().1;
            walk.visit(block)?;
            visited.push(blkno);
        }
        Ok(visited)
    }

    #[test]
    fn extent_chain_valid() {
        assert_eq!(chain_blocks(0), 0);
        assert_eq!(chain_blocks(INODE_EXTENTS as u32), 0);
        assert_eq!(chain_blocks(INODE_EXTENTS as u32 + 1), 1);
        let per = EXTENTS_PER_BLOCK as u32;
        assert_eq!(chain_blocks(INODE_EXTENTS as u32 + per), 1);
        assert_eq!(chain_blocks(INODE_EXTENTS as u32 + per + 1), 2);
        let blocks = [
            (100, extent_block(100, 200, EXTENTS_PER_BLOCK, |_| {})),
            (200, extent_block(200, 0, 3, |_| {})),
        ];
        let inode = chained(INODE_EXTENTS as u32 + per + 3, 100);
        assert_eq!(walk(&inode, &blocks), Ok(std::vec![100, 200]));
        assert_eq!(walk(&chained(2, 0), &[]), Ok(std::vec![]));
    }

    #[test]
    fn extent_chain_rule_not_shorter() {
        let per = EXTENTS_PER_BLOCK as u32;
        let blocks = [(100, extent_block(100, 0, EXTENTS_PER_BLOCK, |_| {}))];
        assert_eq!(
            walk(&chained(INODE_EXTENTS as u32 + per + 1, 100), &blocks),
            bad("extent chain shorter than its extent count")
        );
    }

    #[test]
    fn extent_chain_rule_not_longer() {
        // A loop: the block links to itself.
        let blocks = [(100, extent_block(100, 100, 2, |_| {}))];
        assert_eq!(
            walk(&chained(INODE_EXTENTS as u32 + 2, 100), &blocks),
            bad("extent chain longer than its extent count")
        );
        // A loop of full blocks is cut at the count too.
        let per = EXTENTS_PER_BLOCK as u32;
        let blocks = [(100, extent_block(100, 100, EXTENTS_PER_BLOCK, |_| {}))];
        assert_eq!(
            walk(&chained(INODE_EXTENTS as u32 + 3 * per, 100), &blocks),
            bad("extent chain longer than its extent count")
        );
    }

    #[test]
    fn extent_chain_rule_data_area() {
        let g = geometry();
        for first in [1, g.data_start - 1, g.block_count] {
            assert_eq!(
                walk(&chained(INODE_EXTENTS as u32 + 1, first), &[]),
                bad("extent block outside the data area")
            );
        }
    }

    #[test]
    fn extent_chain_rule_full_blocks() {
        let per = EXTENTS_PER_BLOCK as u32;
        let blocks = [
            (100, extent_block(100, 200, EXTENTS_PER_BLOCK - 1, |_| {})),
            (200, extent_block(200, 0, 4, |_| {})),
        ];
        assert_eq!(
            walk(&chained(INODE_EXTENTS as u32 + per + 3, 100), &blocks),
            bad("extent block not full before the end of its chain")
        );
    }

    #[test]
    fn extent_chain_rule_last_count() {
        let blocks = [(100, extent_block(100, 0, 3, |_| {}))];
        assert_eq!(
            walk(&chained(INODE_EXTENTS as u32 + 2, 100), &blocks),
            bad("extent block count does not match the extent count")
        );
    }

    /// What verifying `extents` as those of `inode` gives: the data block
    /// count, or the first error.
    fn verify_map(inode: &DiskInode, extents: &[Extent]) -> Result<u64> {
        verify_map_with(inode, extents, false)
    }

    /// [`verify_map`] with directory indexes or without.
    fn verify_map_with(inode: &DiskInode, extents: &[Extent], dir_index: bool) -> Result<u64> {
        let mut v = ExtentMapVerifier::new(inode, &geometry(), dir_index);
        for e in extents {
            v.push(e)?;
        }
        v.finish()
    }

    fn with_count(inode: DiskInode, extents: &[Extent]) -> DiskInode {
        DiskInode {
            extent_count: extents.len() as u32,
            ..inode
        }
    }

    fn regular(size: u64) -> DiskInode {
        DiskInode {
            size,
            ..chained(0, 0)
        }
    }

    fn directory(blocks: u64) -> DiskInode {
        DiskInode {
            mode: mode::S_IFDIR | 0o755,
            nlink: 2,
            size: blocks * BLOCK_SIZE as u64,
            parent: 1,
            ..DiskInode::FREE
        }
    }

    fn symlink(size: u64) -> DiskInode {
        DiskInode {
            mode: mode::S_IFLNK | 0o777,
            nlink: 1,
            size,
            ..DiskInode::FREE
        }
    }

    #[test]
    fn extent_map_valid() {
        let d = geometry().data_start;
        // Holes, and unwritten blocks past the end of file.
        let extents = [
            extent(0, d, 2),
            extent(5, d + 10, 1),
            Extent {
                flags: EXTENT_UNWRITTEN,
                ..extent(9, d + 20, 3)
            },
        ];
        assert_eq!(
            verify_map(&with_count(regular(6 * 4096), &extents), &extents),
            Ok(6)
        );
        let extents = [extent(0, d, 1), extent(1, d + 5, 2)];
        assert_eq!(
            verify_map(&with_count(directory(3), &extents), &extents),
            Ok(3)
        );
        let extents = [extent(0, d, 1)];
        assert_eq!(
            verify_map(&with_count(symlink(200), &extents), &extents),
            Ok(1)
        );
        assert_eq!(verify_map(&directory(0), &[]), Ok(0));
    }

    #[test]
    fn extent_map_rule_each_extent() {
        let extents = [extent(0, 1, 1)];
        assert_eq!(
            verify_map(&with_count(regular(4096), &extents), &extents),
            bad("extent outside the data area")
        );
    }

    #[test]
    fn extent_map_rule_count() {
        let d = geometry().data_start;
        let extents = [extent(0, d, 1), extent(1, d + 1, 1)];
        let inode = DiskInode {
            extent_count: 1,
            ..regular(8192)
        };
        assert_eq!(
            verify_map(&inode, &extents),
            bad("more extents than the extent count")
        );
        let inode = DiskInode {
            extent_count: 3,
            ..regular(8192)
        };
        assert_eq!(
            verify_map(&inode, &extents),
            bad("extent count does not match the extents found")
        );
    }

    #[test]
    fn extent_map_rule_sorted() {
        let d = geometry().data_start;
        for extents in [
            [extent(4, d, 1), extent(2, d + 1, 1)],
            [extent(0, d, 3), extent(2, d + 5, 1)],
        ] {
            assert_eq!(
                verify_map(&with_count(regular(8 * 4096), &extents), &extents),
                bad("extents overlap or are out of order")
            );
        }
    }

    #[test]
    fn extent_map_rule_directory_written() {
        let d = geometry().data_start;
        let extents = [Extent {
            flags: EXTENT_UNWRITTEN,
            ..extent(0, d, 1)
        }];
        assert_eq!(
            verify_map(&with_count(directory(1), &extents), &extents),
            bad("unwritten directory block")
        );
    }

    #[test]
    fn extent_map_rule_directory_no_hole() {
        let d = geometry().data_start;
        let extents = [extent(1, d, 1)];
        assert_eq!(
            verify_map(&with_count(directory(2), &extents), &extents),
            bad("hole in a directory")
        );
    }

    #[test]
    fn extent_map_rule_directory_index() {
        let d = geometry().data_start;
        let indexed =
            |extents: &[Extent]| verify_map_with(&with_count(directory(3), extents), extents, true);
        // Holes after block 0, the root and the other nodes in place.
        let extents = [
            extent(0, d, 1),
            extent(2, d + 1, 1),
            extent(DIR_INDEX_ROOT, d + 2, 1),
            extent(DIR_INDEX_NODES + d + 3, d + 3, 2),
        ];
        assert_eq!(indexed(&extents), Ok(5));
        assert_eq!(
            indexed(&extents[1..]),
            bad("hole in a directory"),
            "block 0 is never a hole"
        );
        for misplaced in [
            extent(DIR_INDEX_ROOT, d + 2, 2),
            extent(DIR_INDEX_NODES + d + 4, d + 3, 1),
        ] {
            let extents = [extent(0, d, 3), misplaced];
            assert_eq!(
                indexed(&extents),
                bad("directory index block at the wrong file block")
            );
        }
        let extents = [extent(0, d, 1), extent(DIR_DATA_BLOCKS_MAX, d + 1, 1)];
        let inode = DiskInode {
            size: (DIR_DATA_BLOCKS_MAX + 1) * BLOCK_SIZE as u64,
            ..with_count(directory(1), &extents)
        };
        assert_eq!(
            verify_map_with(&inode, &extents, true),
            bad("directory data block past the index's reach")
        );
        // Without the feature, none of it.
        let extents = [extent(0, d, 1), extent(2, d + 1, 1)];
        assert_eq!(
            verify_map_with(&with_count(directory(3), &extents), &extents, false),
            bad("hole in a directory")
        );
    }

    #[test]
    fn extent_map_rule_directory_within_size() {
        let d = geometry().data_start;
        let extents = [extent(0, d, 2)];
        assert_eq!(
            verify_map(&with_count(directory(1), &extents), &extents),
            bad("directory block past its size")
        );
    }

    #[test]
    fn extent_map_rule_directory_size_whole_blocks() {
        let d = geometry().data_start;
        let extents = [extent(0, d, 1)];
        let inode = DiskInode {
            size: 100,
            ..with_count(directory(1), &extents)
        };
        assert_eq!(
            verify_map(&inode, &extents),
            bad("directory size not a multiple of the block size")
        );
    }

    #[test]
    fn extent_map_rule_directory_size_mapped() {
        let d = geometry().data_start;
        let extents = [extent(0, d, 1)];
        assert_eq!(
            verify_map(&with_count(directory(2), &extents), &extents),
            bad("directory size does not match its blocks")
        );
    }

    #[test]
    fn extent_map_rule_symlink_block() {
        let d = geometry().data_start;
        for e in [
            extent(1, d, 1),
            extent(0, d, 2),
            Extent {
                flags: EXTENT_UNWRITTEN,
                ..extent(0, d, 1)
            },
        ] {
            assert_eq!(
                verify_map(&with_count(symlink(300), &[e]), &[e]),
                bad("symlink extent is not one written block")
            );
        }
    }

    #[test]
    fn extent_map_rule_symlink_has_block() {
        assert_eq!(
            verify_map(&symlink(300), &[]),
            bad("symlink without its block")
        );
    }

    #[test]
    fn extent_map_rule_special_unmapped() {
        let d = geometry().data_start;
        let fifo = DiskInode {
            mode: mode::S_IFIFO,
            nlink: 1,
            extent_count: 1,
            ..DiskInode::FREE
        };
        assert_eq!(
            verify_map(&fifo, &[extent(0, d, 1)]),
            bad("special file with data")
        );
    }
}
