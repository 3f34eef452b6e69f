// SPDX-License-Identifier: GPL-2.0
//! B+trees of records sorted by a `u64` key, one node a block: the maps that
//! outgrow an inode, a file's extents ([`TreeKind::Extent`]) and a
//! directory's index ([`TreeKind::DirIndex`]).
//!
//! # Nodes
//!
//! A node is one block: a [`BlockHeader`] of kind [`BlockKind::BtreeNode`]
//! whose owner is the inode the tree belongs to, then the node header:
//!
//! ```text
//! 32  tree: u8       the TreeKind
//! 33  level: u8      0 for a leaf, its children's level + 1 otherwise
//! 34  count: u16     records in the node
//! 36  reserved: u32  zero
//! 40  key_lo: u64    the keys the node covers, key_lo <= key < key_hi
//! 48  key_hi: u64
//! 56  records        sorted strictly ascending by key, zeroes after the last
//! ```
//!
//! A leaf record is `key: u64` and the tree's value
//! ([`TreeKind::value_size`] bytes, which the caller encodes); an interior
//! record is `key: u64, child: u64`, where `key` is the child's `key_lo`:
//! record 0's key is the node's own `key_lo`, and child `i` covers
//! `[key_i, key_i+1)`, the last child up to the node's `key_hi`. The root
//! covers `[0, u64::MAX)`, so no key is `u64::MAX`. A tree is at most
//! [`MAX_DEPTH`] levels deep.
//!
//! The root block never moves while its tree exists (the inode points to
//! it, as ext4's extent tree root lives in the inode): a full root moves
//! its records into two new children and becomes an interior node one
//! level up, and an interior root left with one child takes that child's
//! records and frees it.
//!
//! # Changes
//!
//! Inserting into a full node splits it in the middle, except at the right
//! end of the tree, where the full node keeps its records and the new one
//! starts with the inserted record alone (as XFS splits for increasing
//! keys): a tree filled in ascending order, as a file written by
//! appending, has full nodes. The new nodes of an insert are all allocated
//! before the tree changes, so that running out of space leaves it as it
//! was.
//!
//! Removing a record from a node that is not the root:
//!
//! - a node left empty is freed and its parent loses its record; a sibling
//!   under the same parent takes over its range (the left one, or the
//!   right one for child 0), its nodes down to the leaves widened on that
//!   side;
//! - a node left with fewer than a quarter of its capacity is merged with
//!   its left (or else its right) sibling under the same parent when both
//!   fit in one node: the left one takes the records of the right one,
//!   which is freed, and the parent loses its record.
//!
//! Every node that changes is read, and checked, before the first one
//! changes, so that a corrupted tree is found before a removal changes it.
//! An insert or a removal writes O(depth) nodes ([`NodeStore::modify`]),
//! only those whose contents change.
//!
//! # Checks
//!
//! The code reads every node through [`NodeStore::read`], whose store
//! checks the block header ([`verify_node_header`]), then checks the node
//! against what its parent says, in O(count): the tree kind; the level (the
//! root's below [`MAX_DEPTH`], a child's its parent's minus one, which also
//! ends a descent through a cycle); the reserved bytes zero; `key_lo` and
//! `key_hi` those its parent gives it; at most the capacity of records and,
//! but in a leaf root, at least one; the keys inside the node's range and
//! strictly ascending, an interior node's first key its `key_lo`; the bytes
//! after the last record zero. So a walk of a corrupted tree ends with a
//! [`FormatError`], and [`BTree::check`] walks a whole tree for fsck.
//!
//! Nothing here allocates or recurses: paths are arrays of [`MAX_DEPTH`]
//! nodes.

use core::ops::ControlFlow;

use super::{
    get_u16, get_u32, get_u64, put_u16, put_u64, BlockHeader, BlockKind, FormatError, Result,
    BLOCK_SIZE, HEADER_SIZE,
};

const NODE_TREE: usize = HEADER_SIZE;
const NODE_LEVEL: usize = HEADER_SIZE + 1;
const NODE_COUNT: usize = HEADER_SIZE + 2;
const NODE_RESERVED: usize = HEADER_SIZE + 4;
const NODE_KEY_LO: usize = HEADER_SIZE + 8;
const NODE_KEY_HI: usize = HEADER_SIZE + 16;
/// Offset of a node's first record: the end of the block header and the
/// node header.
pub const NODE_HEADER_END: usize = HEADER_SIZE + 24;

/// Bytes of a key.
const KEY_SIZE: usize = 8;
/// Bytes of an interior record: `key: u64, child: u64`.
const INTERIOR_RECORD_SIZE: usize = 16;
/// Bytes of the largest leaf record.
const MAX_RECORD_SIZE: usize = KEY_SIZE + MAX_VALUE_SIZE;

/// Bytes of the largest value of a leaf record, the size of
/// [`Record::value`].
pub const MAX_VALUE_SIZE: usize = 16;
/// Records of an interior node: 252.
pub const INTERIOR_CAPACITY: usize = (BLOCK_SIZE - NODE_HEADER_END) / INTERIOR_RECORD_SIZE;
/// Most levels of a tree: its root's level is below it.
pub const MAX_DEPTH: usize = 8;

/// What a tree maps, stored in each of its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TreeKind {
    /// A file's extents: the key is the first file block, the value
    /// `physical: u64, len: u32, flags: u32`, encoded by the caller.
    Extent = 1,
    /// A directory's index: keys only, which the directory code gives
    /// their meaning.
    DirIndex = 2,
}

impl TreeKind {
    /// Bytes of the value of a leaf record: 16 for extents, 0 for a
    /// directory index.
    pub const fn value_size(self) -> usize {
        match self {
            TreeKind::Extent => 16,
            TreeKind::DirIndex => 0,
        }
    }

    /// Records of a leaf: 168 for extents, 505 for a directory index.
    pub const fn leaf_capacity(self) -> usize {
        (BLOCK_SIZE - NODE_HEADER_END) / (KEY_SIZE + self.value_size())
    }
}

/// A leaf record: a key and its value, whose first
/// [`TreeKind::value_size`] bytes are stored (the rest is zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The key, below `u64::MAX`.
    pub key: u64,
    /// The value.
    pub value: [u8; MAX_VALUE_SIZE],
}

impl Record {
    /// The record of `key` with a zero value (all of a directory index's).
    pub const fn from_key(key: u64) -> Self {
        Record {
            key,
            value: [0; MAX_VALUE_SIZE],
        }
    }
}

/// What [`BTree::check`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Nodes, the root included.
    pub nodes: u64,
    /// Leaf records.
    pub records: u64,
    /// Levels: the root's level + 1.
    pub depth: u8,
}

/// The blocks of trees, as their user holds them: the module over its
/// journal and buffer cache, the tools over an image file.
///
/// The tree holds at most a few nodes a level at once (a path of
/// [`MAX_DEPTH`] nodes and the siblings it changes), never changes a node
/// inside the closure that changes another one, and never reads the bytes
/// of a node inside the closure that changes it.
pub trait NodeStore {
    /// A block held in memory (a buffer in the module).
    type Node;
    /// The caller's error, built from a [`FormatError`] when the tree finds
    /// corruption.
    type Error: From<FormatError>;
    /// The bytes of a held block ([`BLOCK_SIZE`] long).
    fn bytes(node: &Self::Node) -> &[u8];
    /// Reads block `blkno`, which must be a sealed node of `owner` (the
    /// store checks the block header with [`verify_node_header`] and may
    /// cache that it did).
    fn read(&mut self, blkno: u64, owner: u64) -> core::result::Result<Self::Node, Self::Error>;
    /// Changes block `blkno`, held as `node`, with `f` (journaled in the
    /// module). `f` leaves the node's header written; the store then seals
    /// the block ([`set_block_checksum`]: at once, or in the module's
    /// journal as the change commits).
    fn modify(
        &mut self,
        blkno: u64,
        node: &Self::Node,
        f: impl FnOnce(&mut [u8]),
    ) -> core::result::Result<(), Self::Error>;
    /// A new block near `goal`, to be written whole by `modify` before
    /// anything reads it.
    fn alloc(&mut self, goal: u64) -> core::result::Result<(u64, Self::Node), Self::Error>;
    /// Frees block `blkno`, which no node points to any more (the tree has
    /// dropped the node it held of it).
    fn free(&mut self, blkno: u64) -> core::result::Result<(), Self::Error>;
    /// Whether `node` passed the tree's checks of its records since the
    /// store read it from disk ([`NodeStore::set_checked`]; the module
    /// keeps a flag on the buffer): then a read checks only the node's
    /// place in the tree, O(1), not its records, O(count). The tree writes
    /// only nodes that pass those checks.
    fn is_checked(_node: &Self::Node) -> bool {
        false
    }
    /// Records that `node` passed the tree's checks of its records.
    fn set_checked(_node: &Self::Node) {}
}

/// Checks the header of `block`, read from block `blkno` as a node of a
/// tree of inode `owner`: [`BlockHeader::verify`] with
/// [`BlockKind::BtreeNode`] (kind, number, checksum, reserved bytes), and
/// the owner ([`FormatError::BadHeader`]). What [`NodeStore::read`] checks;
/// the tree checks the rest of the node.
pub fn verify_node_header(block: &[u8], blkno: u64, owner: u64) -> Result<()> {
    if BlockHeader::verify(block, BlockKind::BtreeNode, blkno)? != owner {
        return Err(FormatError::BadHeader);
    }
    Ok(())
}

/// A tree: its kind, the inode that owns its nodes, and its root block,
/// which stays where it is until [`BTree::destroy`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BTree {
    /// What the tree maps.
    pub kind: TreeKind,
    /// The inode that owns the tree's nodes.
    pub owner: u64,
    /// The root node's block.
    pub root: u64,
}

// Node bytes.

fn node_level(b: &[u8]) -> u8 {
    b[NODE_LEVEL]
}

fn node_count(b: &[u8]) -> usize {
    usize::from(get_u16(b, NODE_COUNT))
}

fn set_count(b: &mut [u8], count: usize) {
    // At most a capacity, 505.
    put_u16(b, NODE_COUNT, count as u16);
}

fn node_key_lo(b: &[u8]) -> u64 {
    get_u64(b, NODE_KEY_LO)
}

fn node_key_hi(b: &[u8]) -> u64 {
    get_u64(b, NODE_KEY_HI)
}

/// Bytes of a record of a node at `level` of a tree of `kind`.
fn record_size(kind: TreeKind, level: u8) -> usize {
    if level == 0 {
        KEY_SIZE + kind.value_size()
    } else {
        INTERIOR_RECORD_SIZE
    }
}

/// Records of a node at `level` of a tree of `kind`.
fn capacity(kind: TreeKind, level: u8) -> usize {
    if level == 0 {
        kind.leaf_capacity()
    } else {
        INTERIOR_CAPACITY
    }
}

/// Offset of record `i` of a node of records of `size` bytes.
fn record_offset(size: usize, i: usize) -> usize {
    NODE_HEADER_END + i * size
}

fn record_key(b: &[u8], size: usize, i: usize) -> u64 {
    get_u64(b, record_offset(size, i))
}

/// The child of record `i` of an interior node.
fn child_at(b: &[u8], i: usize) -> u64 {
    get_u64(b, record_offset(INTERIOR_RECORD_SIZE, i) + KEY_SIZE)
}

/// The range of child `i` of an interior node of `count` records.
fn child_range(b: &[u8], count: usize, i: usize) -> (u64, u64) {
    let hi = if i + 1 < count {
        record_key(b, INTERIOR_RECORD_SIZE, i + 1)
    } else {
        node_key_hi(b)
    };
    (record_key(b, INTERIOR_RECORD_SIZE, i), hi)
}

/// The first of `count` records whose key is at least `key` (`count` if
/// none is).
fn lower_bound(b: &[u8], size: usize, count: usize, key: u64) -> usize {
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if record_key(b, size, mid) < key {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The first of `count` records whose key is above `key`.
fn upper_bound(b: &[u8], size: usize, count: usize, key: u64) -> usize {
    match key.checked_add(1) {
        Some(next) => lower_bound(b, size, count, next),
        None => count,
    }
}

/// The child of an interior node of `count` records whose range holds
/// `key`, inside the node's range.
fn child_index(b: &[u8], count: usize, key: u64) -> usize {
    upper_bound(b, INTERIOR_RECORD_SIZE, count, key).saturating_sub(1)
}

/// Leaf record `i` of a tree of `kind`.
fn leaf_record(b: &[u8], kind: TreeKind, i: usize) -> Record {
    let at = record_offset(KEY_SIZE + kind.value_size(), i);
    let mut rec = Record::from_key(get_u64(b, at));
    let value = &b[at + KEY_SIZE..at + KEY_SIZE + kind.value_size()];
    rec.value[..value.len()].copy_from_slice(value);
    rec
}

/// Zeroes `b` and writes the node header of an empty node (the block
/// header is the caller's).
fn init_node(b: &mut [u8], kind: TreeKind, level: u8, lo: u64, hi: u64) {
    b.fill(0);
    b[NODE_TREE] = kind as u8;
    b[NODE_LEVEL] = level;
    put_u64(b, NODE_KEY_LO, lo);
    put_u64(b, NODE_KEY_HI, hi);
}

/// Writes the header of node `blkno` of `owner` into `b`; the store seals
/// it after the change ([`NodeStore::modify`]).
fn write_node_header(b: &mut [u8], blkno: u64, owner: u64) {
    BlockHeader {
        kind: BlockKind::BtreeNode,
        blkno,
        owner,
    }
    .write(b);
}

/// Inserts `item` (a record of `item.len()` bytes) at `pos` among the
/// `count` records of `b`, which has room for it.
fn insert_record(b: &mut [u8], count: usize, pos: usize, item: &[u8]) {
    let size = item.len();
    b.copy_within(
        record_offset(size, pos)..record_offset(size, count),
        record_offset(size, pos + 1),
    );
    b[record_offset(size, pos)..record_offset(size, pos + 1)].copy_from_slice(item);
    set_count(b, count + 1);
}

/// Removes record `r` of the `count` records of `size` bytes of `b`. The
/// first record of an interior node keeps the node's `key_lo` as its key.
fn remove_record(b: &mut [u8], size: usize, count: usize, r: usize, interior: bool) {
    b.copy_within(
        record_offset(size, r + 1)..record_offset(size, count),
        record_offset(size, r),
    );
    b[record_offset(size, count - 1)..record_offset(size, count)].fill(0);
    set_count(b, count - 1);
    if interior && r == 0 && count > 1 {
        let lo = node_key_lo(b);
        put_u64(b, record_offset(size, 0), lo);
    }
}

/// Copies the `count` records of `size` bytes of `src`, but record `skip`,
/// to `dst` from its record `at`; returns how many it copied.
fn append_records(
    dst: &mut [u8],
    at: usize,
    src: &[u8],
    size: usize,
    count: usize,
    skip: Option<usize>,
) -> usize {
    let mut to = record_offset(size, at);
    let mut copy = |from: usize, end: usize| {
        if from < end {
            let len = (end - from) * size;
            dst[to..to + len]
                .copy_from_slice(&src[record_offset(size, from)..record_offset(size, end)]);
            to += len;
        }
    };
    match skip {
        Some(r) => {
            copy(0, r);
            copy(r + 1, count);
        }
        None => copy(0, count),
    }
    count - usize::from(skip.is_some())
}

/// The records of a node split with an insertion: the `count` records of
/// `src` with `item` inserted at `pos`.
struct Spliced<'a> {
    src: &'a [u8],
    item: &'a [u8],
    pos: usize,
}

impl Spliced<'_> {
    /// The key of record `i`.
    fn key(&self, i: usize) -> u64 {
        let size = self.item.len();
        match i.cmp(&self.pos) {
            core::cmp::Ordering::Less => record_key(self.src, size, i),
            core::cmp::Ordering::Equal => get_u64(self.item, 0),
            core::cmp::Ordering::Greater => record_key(self.src, size, i - 1),
        }
    }

    /// Copies records `from..to` to `dst` from its record 0.
    fn copy(&self, dst: &mut [u8], from: usize, to: usize) {
        let size = self.item.len();
        let mut at = NODE_HEADER_END;
        // Those before the item are the source's, those after it the
        // source's from one back.
        let (start, end) = (from.min(self.pos), to.min(self.pos));
        if start < end {
            let len = (end - start) * size;
            dst[at..at + len]
                .copy_from_slice(&self.src[record_offset(size, start)..record_offset(size, end)]);
            at += len;
        }
        if (from..to).contains(&self.pos) {
            dst[at..at + size].copy_from_slice(self.item);
            at += size;
        }
        let start = from.max(self.pos + 1);
        if start < to {
            let len = (to - start) * size;
            dst[at..at + len].copy_from_slice(
                &self.src[record_offset(size, start - 1)..record_offset(size, to - 1)],
            );
        }
    }
}

/// Checks a node, whose block header its store checked, as a node of a
/// tree of `kind` whose parent says it is at `level` (`None` for the root:
/// any level below [`MAX_DEPTH`]) and covers `[lo, hi)`: its place
/// ([`check_place`]) and its records.
fn check_node(b: &[u8], kind: TreeKind, level: Option<u8>, lo: u64, hi: u64) -> Result<()> {
    check_place(b, kind, level, lo, hi)?;
    let node_lvl = node_level(b);
    let count = node_count(b);
    let size = record_size(kind, node_lvl);
    let mut prev = None;
    for i in 0..count {
        let key = record_key(b, size, i);
        if key < lo || key >= hi {
            return Err(FormatError::BadField("btree key outside its node's range"));
        }
        if prev.is_some_and(|prev| prev >= key) {
            return Err(FormatError::BadField("btree keys out of order"));
        }
        prev = Some(key);
    }
    if node_lvl > 0 && record_key(b, size, 0) != lo {
        return Err(FormatError::BadField(
            "btree interior node's first key is not its low key",
        ));
    }
    if b[record_offset(size, count)..].iter().any(|&x| x != 0) {
        return Err(FormatError::BadField("btree node unused bytes not zero"));
    }
    Ok(())
}

/// The O(1) part of [`check_node`], for a node whose records passed it
/// before ([`NodeStore::is_checked`]): the tree kind, the level, the
/// reserved bytes, the range its parent gives it, and a count that the
/// node holds (and that is not 0 but in a leaf root).
fn check_place(b: &[u8], kind: TreeKind, level: Option<u8>, lo: u64, hi: u64) -> Result<()> {
    if b.len() != BLOCK_SIZE {
        return Err(FormatError::BadField("short block"));
    }
    if b[NODE_TREE] != kind as u8 {
        return Err(FormatError::BadField("btree node of another tree"));
    }
    let node_lvl = node_level(b);
    match level {
        None if usize::from(node_lvl) >= MAX_DEPTH => {
            return Err(FormatError::BadField("btree deeper than its maximum"));
        }
        Some(expected) if node_lvl != expected => {
            return Err(FormatError::BadField("btree node at the wrong level"));
        }
        _ => {}
    }
    if get_u32(b, NODE_RESERVED) != 0 {
        return Err(FormatError::BadField("btree node reserved bytes not zero"));
    }
    if node_key_lo(b) != lo || node_key_hi(b) != hi {
        return Err(FormatError::BadField(
            "btree node range does not match its parent",
        ));
    }
    let count = node_count(b);
    if count > capacity(kind, node_lvl) {
        return Err(FormatError::BadField("btree node count above capacity"));
    }
    if count == 0 && (level.is_some() || node_lvl > 0) {
        return Err(FormatError::BadField("empty btree node"));
    }
    Ok(())
}

/// The error of a node missing from a path: a bug, not corruption.
const LOST_NODE: FormatError = FormatError::BadField("btree path lost a node");

/// The nodes from the root down to a leaf.
struct Path<N> {
    /// `blkno[d]`: the block of the node at depth `d` (0 for the root).
    blkno: [u64; MAX_DEPTH],
    /// `index[d]`: which child of node `d` the path goes through.
    index: [usize; MAX_DEPTH],
    node: [Option<N>; MAX_DEPTH],
    /// Nodes on the path: the leaf is node `len - 1`, and the root's level
    /// `len - 1`.
    len: usize,
}

impl<N> Path<N> {
    fn new() -> Self {
        Path {
            blkno: [0; MAX_DEPTH],
            index: [0; MAX_DEPTH],
            node: core::array::from_fn(|_| None),
            len: 0,
        }
    }

    /// The node at depth `d`.
    fn node(&self, d: usize) -> Result<&N> {
        self.node.get(d).and_then(Option::as_ref).ok_or(LOST_NODE)
    }

    /// Takes the node at depth `d` out of the path.
    fn take(&mut self, d: usize) -> Result<N> {
        self.node.get_mut(d).and_then(Option::take).ok_or(LOST_NODE)
    }
}

/// What a removal does to a node below the root, which lost a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The node keeps its other records.
    Remove,
    /// The node is left empty and freed; it was its parent's only child.
    Free,
    /// The node is left empty and freed; its left sibling takes its range.
    AbsorbLeft,
    /// The node is left empty and freed; its right sibling takes its range.
    AbsorbRight,
    /// The node's other records move into its left sibling; it is freed.
    MergeLeft,
    /// The right sibling's records move into the node; the sibling is freed.
    MergeRight,
}

impl BTree {
    /// Makes a tree of `kind` owned by inode `owner`: allocates its root
    /// near `goal` and writes it, an empty leaf.
    pub fn create<S: NodeStore>(
        store: &mut S,
        kind: TreeKind,
        owner: u64,
        goal: u64,
    ) -> core::result::Result<BTree, S::Error> {
        let (root, node) = store.alloc(goal)?;
        store.modify(root, &node, |b| {
            init_node(b, kind, 0, 0, u64::MAX);
            write_node_header(b, root, owner);
        })?;
        Ok(BTree { kind, owner, root })
    }

    /// Reads node `blkno` and checks it as a node at `level` (`None` for
    /// the root) covering `[lo, hi)`.
    fn read_node<S: NodeStore>(
        &self,
        store: &mut S,
        blkno: u64,
        level: Option<u8>,
        lo: u64,
        hi: u64,
    ) -> core::result::Result<S::Node, S::Error> {
        let node = store.read(blkno, self.owner)?;
        if S::is_checked(&node) {
            check_place(S::bytes(&node), self.kind, level, lo, hi)?;
        } else {
            check_node(S::bytes(&node), self.kind, level, lo, hi)?;
            S::set_checked(&node);
        }
        Ok(node)
    }

    /// Reads the nodes from the root down to the leaf whose range holds
    /// `key` (below `u64::MAX`) into `path`.
    fn descend<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
        path: &mut Path<S::Node>,
    ) -> core::result::Result<(), S::Error> {
        let (mut blkno, mut lo, mut hi, mut level) = (self.root, 0, u64::MAX, None);
        for d in 0..MAX_DEPTH {
            let node = self.read_node(store, blkno, level, lo, hi)?;
            let b = S::bytes(&node);
            let node_lvl = node_level(b);
            path.blkno[d] = blkno;
            path.len = d + 1;
            if node_lvl > 0 {
                let count = node_count(b);
                let i = child_index(b, count, key);
                path.index[d] = i;
                blkno = child_at(b, i);
                (lo, hi) = child_range(b, count, i);
                level = Some(node_lvl - 1);
            }
            path.node[d] = Some(node);
            if node_lvl == 0 {
                return Ok(());
            }
        }
        // The levels decrease from below MAX_DEPTH: not reached.
        Err(FormatError::BadField("btree deeper than its maximum").into())
    }

    /// The leaf whose range holds `key` (below `u64::MAX`).
    fn leaf<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
    ) -> core::result::Result<S::Node, S::Error> {
        let mut path = Path::new();
        self.descend(store, key, &mut path)?;
        Ok(path.take(path.len - 1)?)
    }

    /// The record of `key`, if the tree has it.
    pub fn get<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
    ) -> core::result::Result<Option<Record>, S::Error> {
        if key == u64::MAX {
            return Ok(None);
        }
        let leaf = self.leaf(store, key)?;
        let b = S::bytes(&leaf);
        let (size, count) = (record_size(self.kind, 0), node_count(b));
        let i = lower_bound(b, size, count, key);
        Ok((i < count && record_key(b, size, i) == key).then(|| leaf_record(b, self.kind, i)))
    }

    /// The record with the greatest key at most `key`, if any.
    pub fn find_le<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
    ) -> core::result::Result<Option<Record>, S::Error> {
        let size = record_size(self.kind, 0);
        let mut key = key.min(u64::MAX - 1);
        // A leaf whose records are all above `key` follows the one that has
        // the answer, if any: look again from before its range. Each pass
        // lowers `key`; the second finds a record, as leaves other than the
        // root are not empty.
        loop {
            let leaf = self.leaf(store, key)?;
            let b = S::bytes(&leaf);
            let i = upper_bound(b, size, node_count(b), key);
            if i > 0 {
                return Ok(Some(leaf_record(b, self.kind, i - 1)));
            }
            match node_key_lo(b).checked_sub(1) {
                Some(before) => key = before,
                None => return Ok(None),
            }
        }
    }

    /// Calls `f` with the records whose key is at least `from`, in
    /// ascending order, until it breaks. There are no sibling pointers:
    /// after a leaf, the next is found from the root again, with the
    /// leaf's `key_hi`.
    pub fn scan<S: NodeStore>(
        &self,
        store: &mut S,
        from: u64,
        mut f: impl FnMut(&Record) -> ControlFlow<()>,
    ) -> core::result::Result<(), S::Error> {
        let size = record_size(self.kind, 0);
        let mut from = from;
        // Each leaf's key_hi is above `from`, which is inside its range.
        while from < u64::MAX {
            let leaf = self.leaf(store, from)?;
            let b = S::bytes(&leaf);
            let count = node_count(b);
            for i in lower_bound(b, size, count, from)..count {
                if f(&leaf_record(b, self.kind, i)).is_break() {
                    return Ok(());
                }
            }
            from = node_key_hi(b);
        }
        Ok(())
    }

    /// The record with the smallest key at least `key`, if any.
    pub fn first_at_or_after<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
    ) -> core::result::Result<Option<Record>, S::Error> {
        let mut found = None;
        self.scan(store, key, |rec| {
            found = Some(*rec);
            ControlFlow::Break(())
        })?;
        Ok(found)
    }

    /// Levels of the tree: its root's level + 1.
    pub fn depth<S: NodeStore>(&self, store: &mut S) -> core::result::Result<u8, S::Error> {
        let root = self.read_node(store, self.root, None, 0, u64::MAX)?;
        Ok(node_level(S::bytes(&root)) + 1)
    }

    /// Inserts `rec`, whose key must not be in the tree already, nor be
    /// `u64::MAX`. Full nodes split (see the module documentation); the
    /// new nodes are allocated near the nodes they split from, all before
    /// the tree changes.
    pub fn insert<S: NodeStore>(
        &self,
        store: &mut S,
        rec: &Record,
    ) -> core::result::Result<(), S::Error> {
        if rec.key == u64::MAX {
            return Err(FormatError::BadField("key u64::MAX in a tree").into());
        }
        let mut path = Path::new();
        self.descend(store, rec.key, &mut path)?;
        let leaf = path.len - 1;
        let size = record_size(self.kind, 0);
        let mut pos = {
            let b = S::bytes(path.node(leaf)?);
            let count = node_count(b);
            let pos = lower_bound(b, size, count, rec.key);
            if pos < count && record_key(b, size, pos) == rec.key {
                return Err(FormatError::BadField("duplicate key in a tree").into());
            }
            pos
        };

        // The nodes that split: the full ones from the leaf up. A root
        // that splits needs two new nodes, and a level of its own.
        let mut first_split = path.len;
        for d in (0..path.len).rev() {
            let level = (leaf - d) as u8;
            if node_count(S::bytes(path.node(d)?)) < capacity(self.kind, level) {
                break;
            }
            first_split = d;
        }
        if first_split == 0 && path.len >= MAX_DEPTH {
            return Err(FormatError::BadField("btree at its maximum depth").into());
        }
        // fresh[d]: the new node of the split of node d; fresh[MAX_DEPTH]:
        // the second new node of a split root. Each near the node it
        // splits from.
        let mut fresh: [Option<(u64, S::Node)>; MAX_DEPTH + 1] = core::array::from_fn(|_| None);
        let mut goals = [None; MAX_DEPTH + 1];
        for (goal, &blkno) in goals[first_split..path.len]
            .iter_mut()
            .zip(&path.blkno[first_split..path.len])
        {
            *goal = Some(blkno);
        }
        if first_split == 0 {
            goals[MAX_DEPTH] = Some(self.root);
        }
        for (d, goal) in goals.into_iter().enumerate() {
            let Some(goal) = goal else { continue };
            match store.alloc(goal) {
                Ok(new) => fresh[d] = Some(new),
                Err(err) => {
                    for (blkno, node) in fresh.iter_mut().filter_map(Option::take) {
                        drop(node);
                        // Never written: nothing to undo if this fails.
                        let _ = store.free(blkno);
                    }
                    return Err(err);
                }
            }
        }

        let mut item = [0u8; MAX_RECORD_SIZE];
        put_u64(&mut item, 0, rec.key);
        item[KEY_SIZE..size].copy_from_slice(&rec.value[..self.kind.value_size()]);
        let mut item_size = size;
        let mut d = leaf;
        loop {
            let level = (leaf - d) as u8;
            let blkno = path.blkno[d];
            let node = path.node(d)?;
            let b = S::bytes(node);
            let count = node_count(b);
            let cur = &item[..item_size];
            if count < capacity(self.kind, level) {
                store.modify(blkno, node, |m| {
                    insert_record(m, count, pos, cur);
                    write_node_header(m, blkno, self.owner);
                })?;
                return Ok(());
            }
            // Split the node's records and the item: in the middle, but
            // for an item appended at the right end of the tree, which
            // goes into the new node alone.
            let (lo, hi) = (node_key_lo(b), node_key_hi(b));
            let all = count + 1;
            let split = if pos == count && hi == u64::MAX {
                count
            } else {
                all / 2
            };
            let spliced = Spliced {
                src: b,
                item: cur,
                pos,
            };
            let sep = spliced.key(split);
            let (right, right_node) = fresh[d].take().ok_or(LOST_NODE)?;
            let owner = self.owner;
            let kind = self.kind;
            let fill = |m: &mut [u8], blkno: u64, from: usize, to: usize, lo: u64, hi: u64| {
                init_node(m, kind, level, lo, hi);
                spliced.copy(m, from, to);
                set_count(m, to - from);
                write_node_header(m, blkno, owner);
            };
            store.modify(right, &right_node, |m| fill(m, right, split, all, sep, hi))?;
            if d == 0 {
                // The root keeps its block, one level up, over two new
                // nodes that take its records.
                let (left, left_node) = fresh[MAX_DEPTH].take().ok_or(LOST_NODE)?;
                store.modify(left, &left_node, |m| fill(m, left, 0, split, lo, sep))?;
                store.modify(blkno, node, |m| {
                    init_node(m, kind, level + 1, lo, hi);
                    let mut rec = [0u8; INTERIOR_RECORD_SIZE];
                    for (i, (key, child)) in [(lo, left), (sep, right)].into_iter().enumerate() {
                        put_u64(&mut rec, 0, key);
                        put_u64(&mut rec, KEY_SIZE, child);
                        insert_record(m, i, i, &rec);
                    }
                    write_node_header(m, blkno, owner);
                })?;
                return Ok(());
            }
            store.modify(blkno, node, |m| {
                let size = cur.len();
                if pos < split {
                    m.copy_within(
                        record_offset(size, pos)..record_offset(size, split - 1),
                        record_offset(size, pos + 1),
                    );
                    m[record_offset(size, pos)..record_offset(size, pos + 1)].copy_from_slice(cur);
                }
                m[record_offset(size, split)..].fill(0);
                set_count(m, split);
                put_u64(m, NODE_KEY_HI, sep);
                write_node_header(m, blkno, owner);
            })?;
            // The parent gets the new node, after the split one.
            let mut parent_item = [0u8; MAX_RECORD_SIZE];
            put_u64(&mut parent_item, 0, sep);
            put_u64(&mut parent_item, KEY_SIZE, right);
            item = parent_item;
            item_size = INTERIOR_RECORD_SIZE;
            d -= 1;
            pos = path.index[d] + 1;
        }
    }

    /// Replaces the value of the record of `rec.key` with `rec.value`, in
    /// its leaf; false if the tree has no record of that key.
    pub fn update<S: NodeStore>(
        &self,
        store: &mut S,
        rec: &Record,
    ) -> core::result::Result<bool, S::Error> {
        if rec.key == u64::MAX {
            return Ok(false);
        }
        let mut path = Path::new();
        self.descend(store, rec.key, &mut path)?;
        let (blkno, leaf) = (path.blkno[path.len - 1], path.take(path.len - 1)?);
        let b = S::bytes(&leaf);
        let (size, count) = (record_size(self.kind, 0), node_count(b));
        let i = lower_bound(b, size, count, rec.key);
        if i == count || record_key(b, size, i) != rec.key {
            return Ok(false);
        }
        let at = record_offset(size, i) + KEY_SIZE;
        let value = &rec.value[..self.kind.value_size()];
        if b[at..at + value.len()] != *value {
            store.modify(blkno, &leaf, |m| {
                m[at..at + value.len()].copy_from_slice(value);
                write_node_header(m, blkno, self.owner);
            })?;
        }
        Ok(true)
    }

    /// Replaces the record of `old_key` with `rec` (another key, not in the
    /// tree, nor `u64::MAX`): in one change of the leaf when `rec.key`
    /// falls in that leaf's range (a directory block's free-space key as
    /// its room changes), as [`BTree::insert`] then [`BTree::remove`]
    /// otherwise. False, changing nothing, if the tree has no record of
    /// `old_key`.
    pub fn rekey<S: NodeStore>(
        &self,
        store: &mut S,
        old_key: u64,
        rec: &Record,
    ) -> core::result::Result<bool, S::Error> {
        if old_key == u64::MAX {
            return Ok(false);
        }
        if rec.key == u64::MAX {
            return Err(FormatError::BadField("key u64::MAX in a tree").into());
        }
        let mut path = Path::new();
        self.descend(store, old_key, &mut path)?;
        let (blkno, leaf) = (path.blkno[path.len - 1], path.take(path.len - 1)?);
        let b = S::bytes(&leaf);
        let (size, count) = (record_size(self.kind, 0), node_count(b));
        let r = lower_bound(b, size, count, old_key);
        if r == count || record_key(b, size, r) != old_key {
            return Ok(false);
        }
        let at = lower_bound(b, size, count, rec.key);
        if at < count && record_key(b, size, at) == rec.key {
            return Err(FormatError::BadField("duplicate key in a tree").into());
        }
        if rec.key < node_key_lo(b) || rec.key >= node_key_hi(b) {
            drop(leaf);
            drop(path);
            // Insert first: one that fails (a duplicate, no space) leaves
            // the tree as it was.
            self.insert(store, rec)?;
            self.remove(store, old_key)?;
            return Ok(true);
        }
        let mut item = [0u8; MAX_RECORD_SIZE];
        put_u64(&mut item, 0, rec.key);
        item[KEY_SIZE..size].copy_from_slice(&rec.value[..self.kind.value_size()]);
        // Where the record goes once the old one is out.
        let pos = if at > r { at - 1 } else { at };
        store.modify(blkno, &leaf, |m| {
            remove_record(m, size, count, r, false);
            insert_record(m, count - 1, pos, &item[..size]);
            write_node_header(m, blkno, self.owner);
        })?;
        Ok(true)
    }

    /// Removes the record of `key`; false if the tree has none. Nodes left
    /// empty are freed, nodes left small merged, and the root collapses
    /// (see the module documentation).
    pub fn remove<S: NodeStore>(
        &self,
        store: &mut S,
        key: u64,
    ) -> core::result::Result<bool, S::Error> {
        if key == u64::MAX {
            return Ok(false);
        }
        let mut path = Path::new();
        self.descend(store, key, &mut path)?;
        let leaf = path.len - 1;
        let mut r = {
            let b = S::bytes(path.node(leaf)?);
            let (size, count) = (record_size(self.kind, 0), node_count(b));
            let r = lower_bound(b, size, count, key);
            if r == count || record_key(b, size, r) != key {
                return Ok(false);
            }
            r
        };

        // Decide what happens to each node from the leaf up, reading (and
        // checking) the nodes that change: removed[d] is the record node d
        // loses, sibling[d] the sibling its step changes.
        let mut steps = [Step::Remove; MAX_DEPTH];
        let mut removed = [0usize; MAX_DEPTH];
        let mut sibling: [Option<(u64, S::Node)>; MAX_DEPTH] = core::array::from_fn(|_| None);
        let mut d = leaf;
        while d > 0 {
            removed[d] = r;
            let level = (leaf - d) as u8;
            let cap = capacity(self.kind, level);
            // The node holds record r.
            let left = node_count(S::bytes(path.node(d)?)) - 1;
            let parent = S::bytes(path.node(d - 1)?);
            let (parent_count, i) = (node_count(parent), path.index[d - 1]);
            let read_child = |store: &mut S, c: usize| {
                let (lo, hi) = child_range(parent, parent_count, c);
                let blkno = child_at(parent, c);
                Ok::<_, S::Error>((blkno, self.read_node(store, blkno, Some(level), lo, hi)?))
            };
            let step = if left == 0 && parent_count == 1 {
                Step::Free
            } else if left == 0 {
                let (c, step) = if i > 0 {
                    (i - 1, Step::AbsorbLeft)
                } else {
                    (1, Step::AbsorbRight)
                };
                let (blkno, node) = read_child(store, c)?;
                self.widen(store, blkno, &node, level, step == Step::AbsorbRight, None)?;
                sibling[d] = Some((blkno, node));
                step
            } else if left < cap / 4 {
                let mut step = Step::Remove;
                if i > 0 {
                    let (blkno, node) = read_child(store, i - 1)?;
                    if node_count(S::bytes(&node)) + left <= cap {
                        sibling[d] = Some((blkno, node));
                        step = Step::MergeLeft;
                    }
                }
                if step == Step::Remove && i + 1 < parent_count {
                    let (blkno, node) = read_child(store, i + 1)?;
                    if node_count(S::bytes(&node)) + left <= cap {
                        sibling[d] = Some((blkno, node));
                        step = Step::MergeRight;
                    }
                }
                step
            } else {
                Step::Remove
            };
            steps[d] = step;
            match step {
                Step::Remove => break,
                Step::MergeRight => r = i + 1,
                _ => r = i,
            }
            d -= 1;
        }
        removed[d] = r;
        let top = d;

        // Then change them, from the leaf up.
        for d in (top..path.len).rev() {
            let level = (leaf - d) as u8;
            let (size, interior) = (record_size(self.kind, level), level > 0);
            let blkno = path.blkno[d];
            let node = path.take(d)?;
            let b = S::bytes(&node);
            let (count, r) = (node_count(b), removed[d]);
            if d == 0 {
                return self.remove_from_root(store, node, r).map(|()| true);
            }
            let owner = self.owner;
            match steps[d] {
                Step::Remove => {
                    store.modify(blkno, &node, |m| {
                        remove_record(m, size, count, r, interior);
                        write_node_header(m, blkno, owner);
                    })?;
                }
                Step::Free => {
                    drop(node);
                    store.free(blkno)?;
                }
                step @ (Step::AbsorbLeft | Step::AbsorbRight) => {
                    let (sib, sib_node) = sibling[d].take().ok_or(LOST_NODE)?;
                    let (low, key) = if step == Step::AbsorbRight {
                        (true, node_key_lo(b))
                    } else {
                        (false, node_key_hi(b))
                    };
                    drop(node);
                    self.widen(store, sib, &sib_node, level, low, Some(key))?;
                    drop(sib_node);
                    store.free(blkno)?;
                }
                Step::MergeLeft => {
                    let (sib, sib_node) = sibling[d].take().ok_or(LOST_NODE)?;
                    let at = node_count(S::bytes(&sib_node));
                    store.modify(sib, &sib_node, |m| {
                        let added = append_records(m, at, b, size, count, Some(r));
                        if interior && r == 0 {
                            // The node's first child took its range.
                            put_u64(m, record_offset(size, at), node_key_lo(b));
                        }
                        set_count(m, at + added);
                        put_u64(m, NODE_KEY_HI, node_key_hi(b));
                        write_node_header(m, sib, owner);
                    })?;
                    drop(node);
                    store.free(blkno)?;
                }
                Step::MergeRight => {
                    let (sib, sib_node) = sibling[d].take().ok_or(LOST_NODE)?;
                    let sb = S::bytes(&sib_node);
                    store.modify(blkno, &node, |m| {
                        remove_record(m, size, count, r, interior);
                        let sib_count = node_count(sb);
                        append_records(m, count - 1, sb, size, sib_count, None);
                        set_count(m, count - 1 + sib_count);
                        put_u64(m, NODE_KEY_HI, node_key_hi(sb));
                        write_node_header(m, blkno, owner);
                    })?;
                    drop(sib_node);
                    store.free(sib)?;
                }
            }
        }
        Ok(true)
    }

    /// Removes record `r` of the root, held as `root`: an interior root
    /// left with one child takes that child's records, and one left with
    /// none (its only child was freed) becomes an empty leaf.
    fn remove_from_root<S: NodeStore>(
        &self,
        store: &mut S,
        root: S::Node,
        r: usize,
    ) -> core::result::Result<(), S::Error> {
        let (blkno, owner, kind) = (self.root, self.owner, self.kind);
        let b = S::bytes(&root);
        let (level, count) = (node_level(b), node_count(b));
        let (lo, hi) = (node_key_lo(b), node_key_hi(b));
        if level == 0 || count > 2 {
            return store.modify(blkno, &root, |m| {
                remove_record(m, record_size(kind, level), count, r, level > 0);
                write_node_header(m, blkno, owner);
            });
        }
        if count == 1 {
            return store.modify(blkno, &root, |m| {
                init_node(m, kind, 0, lo, hi);
                write_node_header(m, blkno, owner);
            });
        }
        // The remaining child now covers the root's range; while it is an
        // interior node of one child, so does that child.
        let mut chain = [0u64; MAX_DEPTH];
        let mut len = 0;
        let mut child = child_at(b, 1 - r);
        let mut level = level;
        loop {
            level -= 1;
            let node = self.read_node(store, child, Some(level), lo, hi)?;
            chain[len] = child;
            len += 1;
            let cb = S::bytes(&node);
            if level > 0 && node_count(cb) == 1 {
                child = child_at(cb, 0);
                continue;
            }
            store.modify(blkno, &root, |m| {
                m[NODE_TREE..].copy_from_slice(&cb[NODE_TREE..]);
                write_node_header(m, blkno, owner);
            })?;
            break;
        }
        drop(root);
        for &child in &chain[..len] {
            store.free(child)?;
        }
        Ok(())
    }

    /// Widens the range of node `blkno` at `level`, held as `node`, and of
    /// its nodes down to a leaf on that side: its `key_lo` to `key` if
    /// `low`, else its `key_hi`, through its first or last children. With
    /// `key` `None`, only reads and checks those nodes.
    fn widen<S: NodeStore>(
        &self,
        store: &mut S,
        blkno: u64,
        node: &S::Node,
        level: u8,
        low: bool,
        key: Option<u64>,
    ) -> core::result::Result<(), S::Error> {
        let (mut blkno, mut level) = (blkno, level);
        let mut held: Option<S::Node> = None;
        loop {
            let node = held.as_ref().unwrap_or(node);
            let b = S::bytes(node);
            let count = node_count(b);
            // Not empty: below the root.
            let next = (level > 0).then(|| {
                let i = if low { 0 } else { count - 1 };
                (child_at(b, i), child_range(b, count, i))
            });
            if let Some(key) = key {
                let owner = self.owner;
                store.modify(blkno, node, |m| {
                    if low {
                        put_u64(m, NODE_KEY_LO, key);
                        if level > 0 {
                            put_u64(m, record_offset(INTERIOR_RECORD_SIZE, 0), key);
                        }
                    } else {
                        put_u64(m, NODE_KEY_HI, key);
                    }
                    write_node_header(m, blkno, owner);
                })?;
            }
            let Some((child, (lo, hi))) = next else {
                return Ok(());
            };
            level -= 1;
            held = Some(self.read_node(store, child, Some(level), lo, hi)?);
            blkno = child;
        }
    }

    /// Walks the whole tree depth first, checking every node: calls `pre`
    /// with each node before its children, `post` after them; returns the
    /// root's level.
    fn walk<S: NodeStore>(
        &self,
        store: &mut S,
        mut pre: impl FnMut(u64, &[u8]),
        mut post: impl FnMut(&mut S, u64) -> core::result::Result<(), S::Error>,
    ) -> core::result::Result<u8, S::Error> {
        let mut nodes: [Option<S::Node>; MAX_DEPTH] = core::array::from_fn(|_| None);
        let mut blknos = [0u64; MAX_DEPTH];
        let mut next = [0usize; MAX_DEPTH];
        let root = self.read_node(store, self.root, None, 0, u64::MAX)?;
        let root_level = node_level(S::bytes(&root));
        pre(self.root, S::bytes(&root));
        nodes[0] = Some(root);
        blknos[0] = self.root;
        let (mut d, mut level) = (0, root_level);
        loop {
            let b = S::bytes(nodes[d].as_ref().ok_or(LOST_NODE)?);
            let count = node_count(b);
            if level > 0 && next[d] < count {
                let i = next[d];
                next[d] += 1;
                let (child, (lo, hi)) = (child_at(b, i), child_range(b, count, i));
                let node = self.read_node(store, child, Some(level - 1), lo, hi)?;
                pre(child, S::bytes(&node));
                d += 1;
                level -= 1;
                nodes[d] = Some(node);
                blknos[d] = child;
                next[d] = 0;
                continue;
            }
            nodes[d] = None;
            post(store, blknos[d])?;
            if d == 0 {
                return Ok(root_level);
            }
            d -= 1;
            level += 1;
        }
    }

    /// Checks the whole tree, for fsck: every node as a descent does (see
    /// the module documentation), which makes every leaf a level 0 node at
    /// the same depth and every node but the root non-empty. Calls
    /// `visit(blkno, level, None)` with each node, depth first, and
    /// `visit(blkno, 0, Some(record))` with each record of a leaf after
    /// the leaf: the caller finds there a block used twice (by a cycle, or
    /// by another structure too).
    pub fn check<S: NodeStore>(
        &self,
        store: &mut S,
        mut visit: impl FnMut(u64, u8, Option<&Record>),
    ) -> core::result::Result<TreeStats, S::Error> {
        let mut stats = TreeStats::default();
        let kind = self.kind;
        let depth = self.walk(
            store,
            |blkno, b| {
                let level = node_level(b);
                stats.nodes += 1;
                visit(blkno, level, None);
                if level == 0 {
                    let count = node_count(b);
                    stats.records += count as u64;
                    for i in 0..count {
                        visit(blkno, 0, Some(&leaf_record(b, kind, i)));
                    }
                }
            },
            |_, _| Ok(()),
        )? + 1;
        stats.depth = depth;
        Ok(stats)
    }

    /// Frees every node of the tree, the root last, checking each before
    /// freeing its children.
    pub fn destroy<S: NodeStore>(self, store: &mut S) -> core::result::Result<(), S::Error> {
        self.walk(store, |_, _| {}, |store, blkno| store.free(blkno))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crc32c_without_field, set_block_checksum};
    use std::boxed::Box;
    use std::collections::btree_map::Entry;
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::vec::Vec;

    /// The inode owning the trees of the tests.
    const OWNER: u64 = 12;

    /// Tree nodes in memory. A node held is a copy of its block, which
    /// `modify` checks is still the block's contents: the tree never
    /// changes a node through a stale copy. As the module's buffers, a
    /// block has its header verified when first read, not after the tree
    /// changed it: [`checked`] verifies every block, which checks that
    /// `modify` left them sealed.
    #[derive(Clone, Default)]
    struct MemStore {
        blocks: HashMap<u64, Box<[u8; BLOCK_SIZE]>>,
        verified: HashSet<u64>,
        /// The last block number allocated.
        last: u64,
        modifies: u64,
        allocs: u64,
        frees: u64,
        /// Allocations that may still succeed, if limited.
        alloc_limit: Option<u64>,
        /// The goal of each allocation.
        goals: Vec<u64>,
    }

    impl NodeStore for MemStore {
        type Node = Box<[u8; BLOCK_SIZE]>;
        type Error = FormatError;

        fn bytes(node: &Self::Node) -> &[u8] {
            &node[..]
        }

        fn read(&mut self, blkno: u64, owner: u64) -> Result<Self::Node> {
            let block = self
                .blocks
                .get(&blkno)
                .ok_or(FormatError::BadField("read of a free block"))?;
            if !self.verified.contains(&blkno) {
                verify_node_header(&block[..], blkno, owner)?;
                self.verified.insert(blkno);
            } else if get_u64(&block[..], 8) != blkno || get_u64(&block[..], 16) != owner {
                return Err(FormatError::BadHeader);
            }
            Ok(block.clone())
        }

        fn modify(
            &mut self,
            blkno: u64,
            node: &Self::Node,
            f: impl FnOnce(&mut [u8]),
        ) -> Result<()> {
            let block = self.blocks.get_mut(&blkno).expect("modify of a free block");
            assert!(
                node[..] == block[..],
                "block {blkno} modified through a stale copy"
            );
            f(&mut block[..]);
            set_block_checksum(&mut block[..]);
            self.modifies += 1;
            Ok(())
        }

        fn alloc(&mut self, goal: u64) -> Result<(u64, Self::Node)> {
            if let Some(left) = &mut self.alloc_limit {
                if *left == 0 {
                    return Err(FormatError::BadField("no space left"));
                }
                *left -= 1;
            }
            self.last += 1;
            self.allocs += 1;
            self.goals.push(goal);
            // Garbage: the tree writes a new node whole.
            let block = Box::new([0xa5; BLOCK_SIZE]);
            self.blocks.insert(self.last, block.clone());
            self.verified.insert(self.last);
            Ok((self.last, block))
        }

        fn free(&mut self, blkno: u64) -> Result<()> {
            assert!(
                self.blocks.remove(&blkno).is_some(),
                "double free of {blkno}"
            );
            self.verified.remove(&blkno);
            self.frees += 1;
            Ok(())
        }
    }

    impl MemStore {
        fn new() -> Self {
            MemStore {
                last: 1000,
                ..Default::default()
            }
        }

        /// Changes block `blkno` with `f`, leaving its checksum as it was.
        fn damage(&mut self, blkno: u64, f: impl FnOnce(&mut [u8])) {
            f(&mut self.blocks.get_mut(&blkno).unwrap()[..]);
            self.verified.remove(&blkno);
        }

        /// Changes block `blkno` with `f`, then recomputes its checksum
        /// (leaving the rest of its header as `f` left it).
        fn corrupt(&mut self, blkno: u64, f: impl FnOnce(&mut [u8])) {
            self.damage(blkno, |block| {
                f(block);
                let crc = crc32c_without_field(block, 4);
                block[4..8].copy_from_slice(&crc.to_le_bytes());
            });
        }

        /// Puts `block` at `blkno`.
        fn put(&mut self, blkno: u64, block: Box<[u8; BLOCK_SIZE]>) {
            self.blocks.insert(blkno, block);
            self.verified.remove(&blkno);
        }

        fn block(&self, blkno: u64) -> &[u8] {
            &self.blocks[&blkno][..]
        }
    }

    /// xorshift64*, seeded.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// The record of `key` in an extent tree, with a value made from it.
    fn extent_record(key: u64) -> Record {
        let mut value = [0; MAX_VALUE_SIZE];
        put_u64(&mut value, 0, key.wrapping_mul(7) + 1);
        put_u64(&mut value, 8, !key);
        Record { key, value }
    }

    fn new_tree(store: &mut MemStore, kind: TreeKind) -> BTree {
        BTree::create(store, kind, OWNER, 0).unwrap()
    }

    /// Every record of the tree, by a scan from 0.
    fn all_records(store: &mut MemStore, tree: &BTree) -> Vec<Record> {
        let mut records = Vec::new();
        tree.scan(store, 0, |rec| {
            records.push(*rec);
            ControlFlow::Continue(())
        })
        .unwrap();
        records
    }

    /// check() of the tree, which must pass, with its nodes visited once
    /// each and its records in order.
    fn checked(store: &mut MemStore, tree: &BTree) -> TreeStats {
        let mut nodes = HashSet::new();
        let mut last_key = None;
        let stats = tree
            .check(store, |blkno, level, rec| match rec {
                None => assert!(nodes.insert(blkno), "node {blkno} visited twice"),
                Some(rec) => {
                    assert_eq!(level, 0);
                    assert!(nodes.contains(&blkno));
                    assert!(last_key < Some(rec.key), "records out of order");
                    last_key = Some(rec.key);
                }
            })
            .unwrap();
        assert_eq!(stats.nodes, nodes.len() as u64);
        // Every block of the store is a sealed node of the tree.
        assert_eq!(stats.nodes, store.blocks.len() as u64);
        for (&blkno, block) in &store.blocks {
            assert_eq!(verify_node_header(&block[..], blkno, OWNER), Ok(()));
        }
        assert_eq!(stats.depth, tree.depth(store).unwrap());
        stats
    }

    /// The leaves of a tree, left to right, with their ranges.
    fn leaves(store: &mut MemStore, tree: &BTree) -> Vec<(u64, u64, u64)> {
        let mut blknos = Vec::new();
        tree.check(store, |blkno, level, rec| {
            if level == 0 && rec.is_none() {
                blknos.push(blkno);
            }
        })
        .unwrap();
        blknos
            .into_iter()
            .map(|blkno| {
                let b = store.block(blkno);
                (blkno, node_key_lo(b), node_key_hi(b))
            })
            .collect()
    }

    fn bad<T>(why: &'static str) -> Result<T> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn node_layout() {
        assert_eq!(NODE_HEADER_END, 56);
        assert_eq!(TreeKind::Extent.leaf_capacity(), 168);
        assert_eq!(TreeKind::DirIndex.leaf_capacity(), 505);
        assert_eq!(INTERIOR_CAPACITY, 252);
        assert_eq!(BlockKind::BtreeNode as u32, u32::from_be_bytes(*b"RXBT"));
        let mut store = MemStore::new();
        let tree = BTree::create(&mut store, TreeKind::Extent, OWNER, 7).unwrap();
        assert_eq!(store.goals, [7]);
        let b = store.block(tree.root);
        assert_eq!(verify_node_header(b, tree.root, OWNER), Ok(()));
        assert_eq!(
            verify_node_header(b, tree.root, OWNER + 1),
            Err(FormatError::BadHeader)
        );
        assert_eq!(b[32..40], [1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(get_u64(b, 40), 0);
        assert_eq!(get_u64(b, 48), u64::MAX);
        assert!(b[56..].iter().all(|&x| x == 0));
        assert_eq!(tree.depth(&mut store), Ok(1));
        assert_eq!(tree.get(&mut store, 5), Ok(None));
        assert_eq!(tree.find_le(&mut store, u64::MAX), Ok(None));
        assert_eq!(tree.first_at_or_after(&mut store, 0), Ok(None));

        // A record: key, then the value, little endian.
        tree.insert(&mut store, &extent_record(3)).unwrap();
        let b = store.block(tree.root);
        assert_eq!(get_u16(b, 34), 1);
        assert_eq!(get_u64(b, 56), 3);
        assert_eq!(b[64..80], extent_record(3).value);
        assert!(b[80..].iter().all(|&x| x == 0));
        assert_eq!(tree.get(&mut store, 3), Ok(Some(extent_record(3))));
    }

    #[test]
    fn split() {
        for kind in [TreeKind::Extent, TreeKind::DirIndex] {
            let n = kind.leaf_capacity() as u64 + 1;
            let mut store = MemStore::new();
            let tree = new_tree(&mut store, kind);
            // In a scattered order: the root splits in the middle.
            let keys: Vec<u64> = (0..n).map(|i| (i * 97) % n * 10).collect();
            for &key in &keys {
                let rec = match kind {
                    TreeKind::Extent => extent_record(key),
                    TreeKind::DirIndex => Record::from_key(key),
                };
                tree.insert(&mut store, &rec).unwrap();
            }
            assert_eq!(tree.depth(&mut store), Ok(2));
            let stats = checked(&mut store, &tree);
            assert_eq!(
                stats,
                TreeStats {
                    nodes: 3,
                    records: n,
                    depth: 2
                }
            );
            for &key in &keys {
                assert_eq!(tree.get(&mut store, key).unwrap().map(|r| r.key), Some(key));
                assert_eq!(tree.get(&mut store, key + 1), Ok(None));
            }
            let leaves = leaves(&mut store, &tree);
            let counts: Vec<usize> = leaves
                .iter()
                .map(|&(b, _, _)| node_count(store.block(b)))
                .collect();
            assert_eq!(counts, [n as usize / 2, n as usize - n as usize / 2]);
            // The root kept its block, one level up; its new children were
            // allocated near it.
            assert_eq!(node_level(store.block(tree.root)), 1);
            assert_eq!(leaves[0].1, 0);
            assert_eq!(leaves[0].2, leaves[1].1);
            assert_eq!(leaves[1].2, u64::MAX);
            assert_eq!(store.goals[1..], [tree.root, tree.root]);
        }
    }

    #[test]
    fn ascending_inserts_fill_nodes() {
        let kind = TreeKind::DirIndex;
        let n = 130_000u64;
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, kind);
        for key in 0..n {
            tree.insert(&mut store, &Record::from_key(key * 3)).unwrap();
        }
        let stats = checked(&mut store, &tree);
        assert_eq!(stats.depth, 3);
        assert_eq!(stats.records, n);
        let leaf_cap = kind.leaf_capacity() as u64;
        let leaves = n.div_ceil(leaf_cap);
        let level1 = leaves.div_ceil(INTERIOR_CAPACITY as u64);
        assert_eq!(stats.nodes, leaves + level1 + 1);
        // Every node but the last of its level is full.
        let mut by_level: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
        tree.check(&mut store.clone(), |blkno, level, rec| {
            if rec.is_none() {
                let b = store.block(blkno);
                by_level.entry(level).or_default().push(node_count(b));
            }
        })
        .unwrap();
        for (level, counts) in &by_level {
            if *level == 2 {
                continue;
            }
            let cap = capacity(kind, *level);
            let (last, full) = counts.split_last().unwrap();
            assert!(full.iter().all(|&c| c == cap), "level {level}: {counts:?}");
            assert!(*last >= 1);
        }
        assert_eq!(by_level[&2], [level1 as usize]);
        for key in [0, 3, 3 * (n - 1), 3 * (n / 2)] {
            assert_eq!(tree.get(&mut store, key), Ok(Some(Record::from_key(key))));
            assert_eq!(tree.get(&mut store, key + 1), Ok(None));
        }
    }

    /// Random inserts, updates and removes against a model: the tree
    /// checked every 1,000 operations, and its lookups compared with the
    /// model's after each one.
    #[test]
    fn random_against_model() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, TreeKind::Extent);
        let mut model: BTreeMap<u64, Record> = BTreeMap::new();
        let keys = 4_000;
        let mut max_depth = 0;
        for op in 0..20_000u64 {
            // Inserts first, removes after: the tree grows, then shrinks.
            let insert_share = if op < 8_000 { 75 } else { 20 };
            let key = rng.below(keys) * 5;
            let roll = rng.below(100);
            if roll < insert_share {
                let mut rec = extent_record(key);
                rec.value[15] = rng.next() as u8;
                let inserted = tree.insert(&mut store, &rec);
                match model.entry(key) {
                    Entry::Occupied(_) => assert_eq!(inserted, bad("duplicate key in a tree")),
                    Entry::Vacant(slot) => {
                        assert_eq!(inserted, Ok(()));
                        slot.insert(rec);
                    }
                }
            } else if roll < insert_share + 10 {
                let mut rec = extent_record(key);
                rec.value[0] = rng.next() as u8;
                let updated = tree.update(&mut store, &rec).unwrap();
                assert_eq!(updated, model.contains_key(&key));
                if updated {
                    model.insert(key, rec);
                }
            } else if roll < insert_share + 20 {
                // Near (most often in the same leaf) or anywhere.
                let new_key = if rng.below(2) == 0 {
                    key + 1 + rng.below(40)
                } else {
                    rng.below(keys * 5)
                };
                if new_key == key {
                    continue;
                }
                let mut rec = extent_record(new_key);
                rec.value[1] = rng.next() as u8;
                let rekeyed = tree.rekey(&mut store, key, &rec);
                if !model.contains_key(&key) {
                    assert_eq!(rekeyed, Ok(false));
                } else if model.contains_key(&new_key) {
                    assert_eq!(rekeyed, bad("duplicate key in a tree"));
                } else {
                    assert_eq!(rekeyed, Ok(true));
                    model.remove(&key);
                    model.insert(new_key, rec);
                }
            } else {
                let removed = tree.remove(&mut store, key).unwrap();
                assert_eq!(removed, model.remove(&key).is_some());
            }

            let probe = rng.below(keys * 5 + 10);
            assert_eq!(
                tree.get(&mut store, probe).unwrap(),
                model.get(&probe).copied()
            );
            assert_eq!(
                tree.find_le(&mut store, probe).unwrap(),
                model.range(..=probe).next_back().map(|(_, r)| *r)
            );
            assert_eq!(
                tree.first_at_or_after(&mut store, probe).unwrap(),
                model.range(probe..).next().map(|(_, r)| *r)
            );
            let mut scanned = Vec::new();
            tree.scan(&mut store, probe, |rec| {
                scanned.push(*rec);
                if scanned.len() == 300 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            let expected: Vec<Record> = model.range(probe..).take(300).map(|(_, r)| *r).collect();
            assert_eq!(scanned, expected);

            if op % 1000 == 999 {
                let stats = checked(&mut store, &tree);
                assert_eq!(stats.records, model.len() as u64);
                max_depth = max_depth.max(stats.depth);
                let all: Vec<Record> = model.values().copied().collect();
                assert_eq!(all_records(&mut store, &tree), all);
            }
        }
        assert!(max_depth >= 2);
        assert!(store.frees > 0, "no node was ever freed");
    }

    /// A tree of `n` extent records with keys `0, 2, 4...`, inserted in
    /// ascending order: of depth 3 for n above 168 * 252.
    fn ascending_extent_tree(n: u64) -> (MemStore, BTree) {
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, TreeKind::Extent);
        for i in 0..n {
            tree.insert(&mut store, &extent_record(i * 2)).unwrap();
        }
        (store, tree)
    }

    #[test]
    fn remove_down_to_empty() {
        let n = 43_000u64;
        let (store, tree) = ascending_extent_tree(n);
        let nodes = store.blocks.len() as u64;
        /// The `i`th key of `n` to remove.
        type Order = fn(u64, u64) -> u64;
        let orders: [(&str, Order); 3] = [
            ("ascending", |i, _| i),
            ("descending", |i, n| n - 1 - i),
            ("scattered", |i, n| (i * 7919) % n),
        ];
        for (name, order) in orders {
            let mut store = store.clone();
            assert_eq!(tree.depth(&mut store), Ok(3));
            for i in 0..n {
                let key = order(i, n) * 2;
                assert_eq!(tree.remove(&mut store, key), Ok(true), "{name}: key {key}");
                if i % 5000 == 0 {
                    assert_eq!(tree.remove(&mut store, key), Ok(false));
                    let stats = checked(&mut store, &tree);
                    assert_eq!(stats.records, n - i - 1, "{name}");
                }
            }
            // The root, an empty leaf again, and nothing else.
            assert_eq!(store.blocks.len(), 1, "{name}");
            let stats = checked(&mut store, &tree);
            assert_eq!(
                stats,
                TreeStats {
                    nodes: 1,
                    records: 0,
                    depth: 1
                }
            );
            let b = store.block(tree.root);
            assert_eq!((node_level(b), node_count(b)), (0, 0));
            assert_eq!(store.frees, nodes - 1, "{name}");
            // And it grows again.
            tree.insert(&mut store, &extent_record(5)).unwrap();
            assert_eq!(all_records(&mut store, &tree), [extent_record(5)]);
        }
    }

    #[test]
    fn merge() {
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, TreeKind::Extent);
        let n = 4000u64;
        for i in 0..n {
            tree.insert(&mut store, &extent_record((i * 2731) % n))
                .unwrap();
        }
        let before = checked(&mut store, &tree);
        let leaves_before = leaves(&mut store, &tree).len();
        // Scattered inserts leave leaves half full or more: remove all but
        // one key in ten, which leaves none empty but every one small.
        let frees = store.frees;
        for key in (0..n).filter(|k| k % 10 != 0) {
            assert_eq!(tree.remove(&mut store, key), Ok(true));
        }
        let after = checked(&mut store, &tree);
        assert_eq!(after.records, n / 10);
        let freed = store.frees - frees;
        assert_eq!(freed, before.nodes - after.nodes);
        let leaves_after = leaves(&mut store, &tree);
        assert!(
            leaves_after.len() * 4 <= leaves_before,
            "{} leaves of {leaves_before} left",
            leaves_after.len()
        );
        // No two neighbours that would fit in one node are left both small.
        let cap = TreeKind::Extent.leaf_capacity();
        for pair in leaves_after.windows(2) {
            let (a, b) = (
                node_count(store.block(pair[0].0)),
                node_count(store.block(pair[1].0)),
            );
            assert!(a + b > cap || (a >= cap / 4 && b >= cap / 4), "{a} + {b}");
        }
        let expected: Vec<Record> = (0..n).step_by(10).map(extent_record).collect();
        assert_eq!(all_records(&mut store, &tree), expected);
    }

    #[test]
    fn update_in_place() {
        let (mut store, tree) = ascending_extent_tree(1000);
        let mut rec = extent_record(500);
        rec.value = [9; MAX_VALUE_SIZE];
        let modifies = store.modifies;
        assert_eq!(tree.update(&mut store, &rec), Ok(true));
        assert_eq!(store.modifies, modifies + 1);
        assert_eq!(tree.get(&mut store, 500), Ok(Some(rec)));
        // The same value again: nothing to write.
        assert_eq!(tree.update(&mut store, &rec), Ok(true));
        assert_eq!(store.modifies, modifies + 1);
        for key in [501, 2000, u64::MAX] {
            assert_eq!(tree.update(&mut store, &extent_record(key)), Ok(false));
        }
        assert_eq!(store.modifies, modifies + 1);
        assert_eq!(tree.get(&mut store, 498), Ok(Some(extent_record(498))));
        checked(&mut store, &tree);
    }

    #[test]
    fn duplicate_key_refused() {
        let (mut store, tree) = ascending_extent_tree(1000);
        let blocks = store.blocks.clone();
        let mut rec = extent_record(600);
        rec.value = [1; MAX_VALUE_SIZE];
        assert_eq!(
            tree.insert(&mut store, &rec),
            bad("duplicate key in a tree")
        );
        assert_eq!(
            tree.insert(&mut store, &Record::from_key(u64::MAX)),
            bad("key u64::MAX in a tree")
        );
        assert!(store.blocks == blocks);
        assert_eq!(tree.get(&mut store, 600), Ok(Some(extent_record(600))));
        assert_eq!(tree.get(&mut store, u64::MAX), Ok(None));
        assert_eq!(tree.remove(&mut store, u64::MAX), Ok(false));
        assert_eq!(
            tree.find_le(&mut store, u64::MAX),
            Ok(Some(extent_record(1998)))
        );
    }

    #[test]
    fn modify_count_per_insert() {
        let mut rng = Rng(42);
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, TreeKind::Extent);
        let mut most = 0;
        for _ in 0..60_000 {
            let key = rng.below(1 << 40);
            let depth = u64::from(tree.depth(&mut store).unwrap());
            let (modifies, allocs) = (store.modifies, store.allocs);
            if tree.insert(&mut store, &extent_record(key)).is_err() {
                continue;
            }
            let written = store.modifies - modifies;
            assert!(
                written <= 2 * depth + 2,
                "{written} writes at depth {depth}"
            );
            // Each new node is written once, near the node it split from.
            let new = store.allocs - allocs;
            assert!(written > new);
            for &goal in &store.goals[store.goals.len() - new as usize..] {
                assert!(store.blocks.contains_key(&goal));
            }
            most = most.max(written);
        }
        assert_eq!(tree.depth(&mut store), Ok(3));
        assert!(most >= 5);
        // Removes too write O(depth) nodes.
        let keys: Vec<u64> = all_records(&mut store, &tree)
            .iter()
            .map(|r| r.key)
            .collect();
        for key in keys.into_iter().step_by(3) {
            let modifies = store.modifies;
            assert_eq!(tree.remove(&mut store, key), Ok(true));
            assert!(store.modifies - modifies <= 2 * 3 + 2);
        }
        checked(&mut store, &tree);
    }

    #[test]
    fn alloc_failure_leaves_the_tree() {
        let (mut store, tree) = ascending_extent_tree(168 * 252);
        assert_eq!(tree.depth(&mut store), Ok(2));
        // The next key splits a leaf and the root: three new nodes.
        for limit in 0..3 {
            store.alloc_limit = Some(limit);
            let blocks = store.blocks.clone();
            assert_eq!(
                tree.insert(&mut store, &extent_record(1 << 20)),
                bad("no space left")
            );
            assert!(store.blocks == blocks, "{limit} allocations");
        }
        store.alloc_limit = Some(3);
        tree.insert(&mut store, &extent_record(1 << 20)).unwrap();
        assert_eq!(tree.depth(&mut store), Ok(3));
        checked(&mut store, &tree);
    }

    #[test]
    fn destroy_frees_every_node() {
        let (mut store, tree) = ascending_extent_tree(43_000);
        let nodes = checked(&mut store, &tree).nodes;
        let frees = store.frees;
        tree.destroy(&mut store).unwrap();
        assert!(store.blocks.is_empty());
        assert_eq!(store.frees - frees, nodes);
    }

    /// Writes a sealed node at `blkno`: `level`, `[lo, hi)`, `records`
    /// (keys, and children for an interior node).
    fn write_node(
        store: &mut MemStore,
        blkno: u64,
        level: u8,
        lo: u64,
        hi: u64,
        records: &[(u64, u64)],
    ) {
        let mut block = Box::new([0u8; BLOCK_SIZE]);
        init_node(&mut block[..], TreeKind::DirIndex, level, lo, hi);
        let size = record_size(TreeKind::DirIndex, level);
        for (i, &(key, child)) in records.iter().enumerate() {
            put_u64(&mut block[..], record_offset(size, i), key);
            if level > 0 {
                put_u64(&mut block[..], record_offset(size, i) + KEY_SIZE, child);
            }
        }
        set_count(&mut block[..], records.len());
        write_node_header(&mut block[..], blkno, OWNER);
        set_block_checksum(&mut block[..]);
        store.put(blkno, block);
    }

    #[test]
    fn maximum_depth() {
        // A path of full nodes from a root at level MAX_DEPTH - 1 down to
        // a full leaf: the root would split past the maximum depth. The
        // children off the path are never read.
        let mut store = MemStore::new();
        let root = 1;
        let (mut lo, hi) = (0, u64::MAX);
        for level in (0..MAX_DEPTH as u8).rev() {
            let blkno = u64::from(MAX_DEPTH as u8 - level);
            let cap = capacity(TreeKind::DirIndex, level) as u64;
            let mut records: Vec<(u64, u64)> = (0..cap).map(|i| (lo + i, 999)).collect();
            write_node(&mut store, blkno, level, lo, hi, &{
                // The path goes through the last child.
                records[cap as usize - 1].1 = blkno + 1;
                records
            });
            lo += cap - 1;
        }
        let tree = BTree {
            kind: TreeKind::DirIndex,
            owner: OWNER,
            root,
        };
        assert_eq!(tree.depth(&mut store), Ok(MAX_DEPTH as u8));
        let first = 251 * 7;
        assert_eq!(
            tree.get(&mut store, first),
            Ok(Some(Record::from_key(first)))
        );
        let blocks = store.blocks.clone();
        assert_eq!(
            tree.insert(&mut store, &Record::from_key(first + 505)),
            bad("btree at its maximum depth")
        );
        assert!(store.blocks == blocks);
        assert_eq!(store.allocs, 0);
        // A root past the maximum is corruption.
        store.corrupt(root, |b| b[NODE_LEVEL] = MAX_DEPTH as u8);
        assert_eq!(
            tree.get(&mut store, first),
            bad("btree deeper than its maximum")
        );
    }

    /// A tree of depth 2 for the corruption tests: 1,000 extent records,
    /// keys `0, 10, 20...`, in six leaves; and its third leaf, with its
    /// range.
    fn corruptible() -> (MemStore, BTree, (u64, u64, u64)) {
        let mut store = MemStore::new();
        let tree = new_tree(&mut store, TreeKind::Extent);
        for i in 0..1000 {
            tree.insert(&mut store, &extent_record(i * 10)).unwrap();
        }
        let leaves = leaves(&mut store, &tree);
        assert_eq!(leaves.len(), 6);
        (store, tree, leaves[2])
    }

    /// Runs every operation on `tree` near `key`: each must fail with
    /// `expected` (when given), and none but destroy may change the
    /// store. (Destroy frees the nodes it checked before it finds the bad
    /// one, so it may fail otherwise: reading a node it freed.)
    fn assert_all_fail(
        store: &mut MemStore,
        tree: &BTree,
        key: u64,
        expected: Option<FormatError>,
        case: &str,
    ) {
        let blocks = store.blocks.clone();
        let failed = |what: &str, err: Option<FormatError>| {
            let err = err.unwrap_or_else(|| panic!("{case}: {what} did not fail"));
            if let Some(expected) = expected {
                assert_eq!(err, expected, "{case}: {what}");
            }
        };
        failed("get", tree.get(store, key).err());
        failed("get of an absent key", tree.get(store, key + 1).err());
        failed("find_le", tree.find_le(store, key + 1).err());
        failed(
            "first_at_or_after",
            tree.first_at_or_after(store, key).err(),
        );
        failed(
            "scan",
            tree.scan(store, 0, |_| ControlFlow::Continue(())).err(),
        );
        failed("insert", tree.insert(store, &extent_record(key + 1)).err());
        failed("update", tree.update(store, &extent_record(key)).err());
        failed("remove", tree.remove(store, key).err());
        failed("remove of an absent key", tree.remove(store, key + 1).err());
        failed("check", tree.check(store, |_, _, _| {}).err());
        assert!(store.blocks == blocks, "{case}: the store changed");
        assert!(tree.destroy(store).is_err(), "{case}: destroy did not fail");
    }

    #[test]
    fn corrupted_trees() {
        type Corruption = fn(&mut MemStore, &BTree, (u64, u64, u64));
        let cases: [(&str, Corruption, Option<FormatError>); 19] = [
            (
                "bad crc",
                |s, _, (leaf, _, _)| s.damage(leaf, |b| b[100] ^= 1),
                Some(FormatError::BadChecksum),
            ),
            (
                "wrong owner",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| write_node_header(b, leaf, OWNER + 1)),
                Some(FormatError::BadHeader),
            ),
            (
                "another block's header",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| write_node_header(b, leaf + 1, OWNER)),
                Some(FormatError::BadHeader),
            ),
            (
                "wrong tree kind",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| b[NODE_TREE] = TreeKind::DirIndex as u8),
                Some(FormatError::BadField("btree node of another tree")),
            ),
            (
                "root level too high",
                |s, t, _| s.corrupt(t.root, |b| b[NODE_LEVEL] = MAX_DEPTH as u8),
                Some(FormatError::BadField("btree deeper than its maximum")),
            ),
            (
                "root level not its children's + 1",
                |s, t, _| s.corrupt(t.root, |b| b[NODE_LEVEL] = 2),
                Some(FormatError::BadField("btree node at the wrong level")),
            ),
            (
                "leaf level not its parent's - 1",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| b[NODE_LEVEL] = 1),
                Some(FormatError::BadField("btree node at the wrong level")),
            ),
            (
                "count above capacity",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| set_count(b, 169)),
                Some(FormatError::BadField("btree node count above capacity")),
            ),
            (
                "count above capacity at the root",
                |s, t, _| s.corrupt(t.root, |b| set_count(b, u16::MAX.into())),
                Some(FormatError::BadField("btree node count above capacity")),
            ),
            (
                "empty leaf below the root",
                |s, _, (leaf, _, _)| {
                    s.corrupt(leaf, |b| {
                        b[NODE_HEADER_END..].fill(0);
                        set_count(b, 0);
                    })
                },
                Some(FormatError::BadField("empty btree node")),
            ),
            (
                "keys out of order",
                |s, _, (leaf, _, _)| {
                    s.corrupt(leaf, |b| {
                        let (k0, k1) = (record_key(b, 24, 3), record_key(b, 24, 4));
                        put_u64(b, record_offset(24, 3), k1);
                        put_u64(b, record_offset(24, 4), k0);
                    })
                },
                Some(FormatError::BadField("btree keys out of order")),
            ),
            (
                "key outside the node's range",
                |s, _, (leaf, _, hi)| {
                    s.corrupt(leaf, |b| {
                        let last = node_count(b) - 1;
                        put_u64(b, record_offset(24, last), hi);
                    })
                },
                Some(FormatError::BadField("btree key outside its node's range")),
            ),
            (
                "child's key_lo not its parent's key",
                |s, t, (_, lo, _)| {
                    s.corrupt(t.root, |b| put_u64(b, record_offset(16, 2), lo - 5));
                },
                Some(FormatError::BadField(
                    "btree node range does not match its parent",
                )),
            ),
            (
                "leaf's own range changed",
                |s, _, (leaf, lo, _)| s.corrupt(leaf, |b| put_u64(b, NODE_KEY_LO, lo + 1)),
                Some(FormatError::BadField(
                    "btree node range does not match its parent",
                )),
            ),
            (
                "interior node's first key not its key_lo",
                |s, t, _| s.corrupt(t.root, |b| put_u64(b, record_offset(16, 0), 5)),
                Some(FormatError::BadField(
                    "btree interior node's first key is not its low key",
                )),
            ),
            (
                "cycle: a child is the root",
                |s, t, _| {
                    let root = t.root;
                    s.corrupt(root, |b| put_u64(b, record_offset(16, 2) + 8, root))
                },
                Some(FormatError::BadField("btree node at the wrong level")),
            ),
            (
                "a child is its sibling",
                |s, t, _| {
                    s.corrupt(t.root, |b| {
                        let sibling = child_at(b, 1);
                        put_u64(b, record_offset(16, 2) + 8, sibling);
                    })
                },
                Some(FormatError::BadField(
                    "btree node range does not match its parent",
                )),
            ),
            (
                "nonzero reserved bytes",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| b[NODE_RESERVED + 3] = 1),
                Some(FormatError::BadField("btree node reserved bytes not zero")),
            ),
            (
                "garbage after the last record",
                |s, _, (leaf, _, _)| s.corrupt(leaf, |b| b[BLOCK_SIZE - 1] = 1),
                Some(FormatError::BadField("btree node unused bytes not zero")),
            ),
        ];
        for (case, corrupt, expected) in cases {
            let (mut store, tree, leaf) = corruptible();
            corrupt(&mut store, &tree, leaf);
            assert_all_fail(&mut store, &tree, leaf.1, expected, case);
        }
    }

    /// Children pointing anywhere: a free block, the superblock, a block
    /// of another tree.
    #[test]
    fn corrupted_child_pointers() {
        let (mut other_store, _, _) = corruptible();
        for target in [0, 1, 999_999] {
            let (mut store, tree, leaf) = corruptible();
            store.corrupt(tree.root, |b| put_u64(b, record_offset(16, 2) + 8, target));
            assert_all_fail(&mut store, &tree, leaf.1, None, "child pointer");
        }
        // Another inode's node at the same place.
        let (mut store, tree, leaf) = corruptible();
        let theirs = other_store.blocks.remove(&leaf.0).unwrap();
        store.put(leaf.0, theirs);
        store.corrupt(leaf.0, |b| write_node_header(b, leaf.0, OWNER + 1));
        assert_all_fail(
            &mut store,
            &tree,
            leaf.1,
            Some(FormatError::BadHeader),
            "another inode's node",
        );
    }

    /// A removal that would merge with a corrupted sibling fails before it
    /// changes anything.
    #[test]
    fn remove_checks_siblings_first() {
        let (mut store, tree, (leaf, lo, hi)) = corruptible();
        let keys: Vec<u64> = (lo..hi).step_by(10).collect();
        let cap = TreeKind::Extent.leaf_capacity();
        // Down to a quarter of the capacity: the next removal merges.
        let keep = cap / 4;
        for &key in &keys[keep..] {
            assert_eq!(tree.remove(&mut store, key), Ok(true));
        }
        assert_eq!(node_count(store.block(leaf)), keep);
        let left = leaves(&mut store, &tree)[1].0;
        store.corrupt(left, |b| b[NODE_RESERVED] = 1);
        let blocks = store.blocks.clone();
        assert_eq!(
            tree.remove(&mut store, keys[0]),
            bad("btree node reserved bytes not zero")
        );
        assert!(store.blocks == blocks);
        // So does one that leaves a node empty, whose sibling takes its
        // range: the neighbours are full, and never merge with it.
        let (mut store, tree, (leaf, lo, hi)) = corruptible();
        let keys: Vec<u64> = (lo..hi).step_by(10).collect();
        for &key in &keys[1..] {
            assert_eq!(tree.remove(&mut store, key), Ok(true));
        }
        assert_eq!(node_count(store.block(leaf)), 1);
        let left = leaves(&mut store, &tree)[1].0;
        assert_eq!(node_count(store.block(left)), cap);
        store.corrupt(left, |b| b[BLOCK_SIZE - 1] = 1);
        let blocks = store.blocks.clone();
        assert_eq!(
            tree.remove(&mut store, keys[0]),
            bad("btree node unused bytes not zero")
        );
        assert!(store.blocks == blocks);
    }

    /// A directory index tree of depth 3 written directly: under its
    /// root, level 1 nodes of `leaves[i]` leaves each, every leaf holding
    /// one key, `10 * j` for leaf `j`; and those keys.
    fn crafted(leaves: &[usize]) -> (MemStore, BTree, Vec<u64>) {
        let mut store = MemStore::new();
        let root = 1;
        let total: usize = leaves.iter().sum();
        let keys: Vec<u64> = (0..total as u64).map(|j| j * 10).collect();
        let leaf_lo = |j: usize| if j == 0 { 0 } else { keys[j] };
        let leaf_hi = |j: usize| keys.get(j + 1).copied().unwrap_or(u64::MAX);
        let mut next = root + 1;
        let mut first = 0;
        let mut root_records = Vec::new();
        for &count in leaves {
            let node = next;
            next += 1;
            let mut records = Vec::new();
            for (j, &key) in keys.iter().enumerate().skip(first).take(count) {
                write_node(&mut store, next, 0, leaf_lo(j), leaf_hi(j), &[(key, 0)]);
                records.push((leaf_lo(j), next));
                next += 1;
            }
            let (lo, hi) = (leaf_lo(first), leaf_hi(first + count - 1));
            write_node(&mut store, node, 1, lo, hi, &records);
            root_records.push((lo, node));
            first += count;
        }
        write_node(&mut store, root, 2, 0, u64::MAX, &root_records);
        let tree = BTree {
            kind: TreeKind::DirIndex,
            owner: OWNER,
            root,
        };
        assert_eq!(checked(&mut store, &tree).records, total as u64);
        (store, tree, keys)
    }

    /// Interior nodes left empty: their siblings, too full to merge with
    /// them, take their ranges down to the leaves, on either side; then
    /// the root collapses.
    #[test]
    fn interior_node_emptied() {
        // The first node's keys, then the last node's.
        for (leaves, first) in [([2, 252], true), ([252, 2], false)] {
            let (mut store, tree, keys) = crafted(&leaves);
            let gone = if first { &keys[..2] } else { &keys[252..] };
            for &key in gone {
                assert_eq!(tree.remove(&mut store, key), Ok(true));
                checked(&mut store, &tree);
            }
            // The other node became the root, which kept its block.
            let stats = checked(&mut store, &tree);
            assert_eq!(
                stats,
                TreeStats {
                    nodes: 253,
                    records: 252,
                    depth: 2
                }
            );
            let left: Vec<Record> = keys
                .iter()
                .filter(|k| !gone.contains(k))
                .map(|&k| Record::from_key(k))
                .collect();
            assert_eq!(all_records(&mut store, &tree), left);
            for &key in gone {
                assert_eq!(tree.get(&mut store, key), Ok(None));
                tree.insert(&mut store, &Record::from_key(key)).unwrap();
            }
            assert_eq!(checked(&mut store, &tree).records, 254);
        }
        // Two nodes of one leaf each: the root takes the leaf of the one
        // left, through its parent.
        for gone in [0, 10] {
            let (mut store, tree, _) = crafted(&[1, 1]);
            assert_eq!(tree.remove(&mut store, gone), Ok(true));
            let stats = checked(&mut store, &tree);
            assert_eq!(
                stats,
                TreeStats {
                    nodes: 1,
                    records: 1,
                    depth: 1
                }
            );
            assert_eq!(store.frees, 4);
            assert_eq!(
                tree.first_at_or_after(&mut store, 0),
                Ok(Some(Record::from_key(10 - gone)))
            );
        }
    }
}
