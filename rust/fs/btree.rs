// SPDX-License-Identifier: GPL-2.0

//! The blocks of the on-disk B+trees ([`format::BTree`]) in the device's
//! buffer cache: read and checked once per read from disk (the buffer's
//! verified flag), changed in a transaction, allocated and freed through
//! the allocator and, for a directory index, the directory's extents.

use super::extent_map::FreedRuns;
use super::inode::{account_blocks, extents};
use super::txn::Txn;
use super::{corrupted, RexInode, RexSb};
use crate::format::{
    self, verify_node_header, BlockHeader, BlockKind, Extent, FormatError, NodeStore,
};
use crate::vfs::Buffer;
use kernel::prelude::*;

/// Why a tree operation failed: damage the tree code found, or an error
/// of the store (I/O, memory, space).
pub(super) enum TreeError {
    Format(FormatError),
    Kernel(Error),
}

impl From<FormatError> for TreeError {
    fn from(e: FormatError) -> Self {
        TreeError::Format(e)
    }
}

impl From<Error> for TreeError {
    fn from(e: Error) -> Self {
        TreeError::Kernel(e)
    }
}

/// Where a tree's nodes live besides the tree.
pub(super) enum Placement<'a> {
    /// The index of directory `dir` (see [`format::DIR_INDEX_ROOT`]):
    /// blocks of the directory, mapped in its extents, the root at
    /// [`format::DIR_INDEX_ROOT`] and every other node at
    /// [`format::DIR_INDEX_NODES`] plus its disk block number.
    DirIndex(&'a RexInode),
    /// An inode's extent tree (feature `EXTENT_TREE`): blocks the inode
    /// owns outside its extents, counted here.
    Extents(&'a mut u64),
}

/// The nodes of a tree of inode `ino`. Changes need a transaction; a store
/// without one only reads.
pub(super) struct TreeNodes<'a, 't> {
    sb: &'a RexSb,
    ino: u64,
    txn: Option<&'a Txn<'t>>,
    placement: Placement<'a>,
}

impl<'a, 't> TreeNodes<'a, 't> {
    /// The nodes of the index of directory `dir`.
    pub(super) fn dir_index(dir: &'a RexInode, txn: Option<&'a Txn<'t>>) -> Self {
        TreeNodes {
            sb: dir.super_block(),
            ino: dir.ino(),
            txn,
            placement: Placement::DirIndex(dir),
        }
    }

    /// The nodes of the extent tree of inode `ino`, `nodes` of them.
    pub(super) fn extents(
        sb: &'a RexSb,
        ino: u64,
        txn: Option<&'a Txn<'t>>,
        nodes: &'a mut u64,
    ) -> Self {
        TreeNodes {
            sb,
            ino,
            txn,
            placement: Placement::Extents(nodes),
        }
    }

    /// The inode that owns the nodes.
    pub(super) fn ino(&self) -> u64 {
        self.ino
    }

    /// Maps a tree error to the kernel's: damage is reported (and counts
    /// as the filesystem's, `-EFSCORRUPTED`).
    pub(super) fn check<T>(&self, r: core::result::Result<T, TreeError>) -> Result<T> {
        let what = match self.placement {
            Placement::DirIndex(_) => "directory index",
            Placement::Extents(_) => "extent tree",
        };
        r.map_err(|e| match e {
            TreeError::Kernel(e) => e,
            TreeError::Format(e) => corrupted(
                self.sb,
                format_args!("inode {} {what}: {}", self.ino, e.reason()),
            ),
        })
    }

    fn txn(&self) -> Result<&'a Txn<'t>> {
        // Every caller that changes a tree passes its transaction.
        self.txn.ok_or(EINVAL)
    }
}

impl NodeStore for TreeNodes<'_, '_> {
    type Node = Buffer;
    type Error = TreeError;

    fn bytes(node: &Buffer) -> &[u8] {
        node.data()
    }

    /// Checks the node's header until the tree has checked the whole node
    /// once since it was read from disk (the buffer's verified flag), its
    /// identity every time.
    fn read(&mut self, blkno: u64, owner: u64) -> core::result::Result<Buffer, TreeError> {
        if !self.sb.data().geometry().is_data_range(blkno, 1) {
            return Err(FormatError::BadField("tree node outside the data area").into());
        }
        let buf = self.sb.bread(blkno)?;
        if buf.is_verified() {
            if BlockHeader::identify(buf.data(), BlockKind::BtreeNode, blkno)? != owner {
                return Err(FormatError::BadHeader.into());
            }
        } else {
            verify_node_header(buf.data(), blkno, owner)?;
        }
        Ok(buf)
    }

    fn is_checked(node: &Buffer) -> bool {
        node.is_verified()
    }

    fn set_checked(node: &Buffer) {
        node.set_verified();
    }

    fn modify(
        &mut self,
        _blkno: u64,
        node: &Buffer,
        f: impl FnOnce(&mut [u8]),
    ) -> core::result::Result<(), TreeError> {
        Ok(self.txn()?.modify_sealed(node, f)?)
    }

    fn alloc(&mut self, goal: u64) -> core::result::Result<(u64, Buffer), TreeError> {
        let txn = self.txn()?;
        let (blkno, _) = self
            .sb
            .data()
            .allocator()
            .alloc_blocks(txn, Some(goal), 1)?;
        match &mut self.placement {
            Placement::DirIndex(dir) => {
                let map = extents(dir)?;
                // The first node of a new index is its root.
                let logical = if map.read(|map, _| map.lookup(format::DIR_INDEX_ROOT).is_none()) {
                    format::DIR_INDEX_ROOT
                } else {
                    format::DIR_INDEX_NODES + blkno
                };
                let extent = Extent {
                    logical,
                    physical: blkno,
                    len: 1,
                    flags: 0,
                };
                map.change(|map, _| map.insert(extent))?;
                account_blocks(dir);
            }
            Placement::Extents(nodes) => **nodes += 1,
        }
        // Zeroed and up to date in the cache: the read does no I/O. The
        // tree writes it whole before reading it.
        txn.new_block(blkno, |_| ())?;
        let buf = self.sb.bread(blkno)?;
        buf.set_verified();
        Ok((blkno, buf))
    }

    /// Frees a node other than a directory index's root, which the index
    /// keeps as long as the directory.
    fn free(&mut self, blkno: u64) -> core::result::Result<(), TreeError> {
        let txn = self.txn()?;
        match &mut self.placement {
            Placement::DirIndex(dir) => {
                let logical = format::DIR_INDEX_NODES + blkno;
                let mut freed = FreedRuns::new();
                extents(dir)?.change(|map, _| map.remove(logical, logical + 1, &mut freed))?;
                if freed.iter().map(|&(_, len)| len).sum::<u64>() != 1 {
                    return Err(FormatError::BadField("freed tree node not mapped").into());
                }
                account_blocks(dir);
            }
            Placement::Extents(nodes) => **nodes -= 1,
        }
        txn.forget(blkno)?;
        self.sb.data().allocator().free_blocks(txn, blkno, 1)?;
        Ok(())
    }
}

#[kunit_tests(rexfs_btree)]
mod tests {
    use super::*;
    use crate::format::{BTree, Record, TreeKind, BLOCK_SIZE};
    use core::ops::ControlFlow;

    /// Blocks in memory: a node read is a copy.
    struct MemNodes {
        blocks: KVec<Option<KBox<[u8; BLOCK_SIZE]>>>,
    }

    impl MemNodes {
        fn new() -> Self {
            MemNodes {
                blocks: KVec::new(),
            }
        }

        fn in_use(&self) -> usize {
            self.blocks.iter().filter(|b| b.is_some()).count()
        }
    }

    impl NodeStore for MemNodes {
        type Node = KBox<[u8; BLOCK_SIZE]>;
        type Error = TreeError;

        fn bytes(node: &Self::Node) -> &[u8] {
            &node[..]
        }

        fn read(&mut self, blkno: u64, owner: u64) -> core::result::Result<Self::Node, TreeError> {
            let block = self
                .blocks
                .get(blkno as usize)
                .and_then(|b| b.as_ref())
                .ok_or(FormatError::BadField("no such block"))?;
            verify_node_header(&block[..], blkno, owner)?;
            Ok(KBox::new(**block, GFP_KERNEL).map_err(Error::from)?)
        }

        fn modify(
            &mut self,
            blkno: u64,
            _node: &Self::Node,
            f: impl FnOnce(&mut [u8]),
        ) -> core::result::Result<(), TreeError> {
            let block = self.blocks[blkno as usize].as_mut().ok_or(EINVAL)?;
            f(&mut block[..]);
            format::set_block_checksum(&mut block[..]);
            Ok(())
        }

        fn alloc(&mut self, _goal: u64) -> core::result::Result<(u64, Self::Node), TreeError> {
            let blkno = self.blocks.len() as u64;
            let block = KBox::new([0; BLOCK_SIZE], GFP_KERNEL).map_err(Error::from)?;
            self.blocks
                .push(Some(block), GFP_KERNEL)
                .map_err(Error::from)?;
            Ok((
                blkno,
                KBox::new([0; BLOCK_SIZE], GFP_KERNEL).map_err(Error::from)?,
            ))
        }

        fn free(&mut self, blkno: u64) -> core::result::Result<(), TreeError> {
            let slot = self.blocks.get_mut(blkno as usize).ok_or(EINVAL)?;
            slot.take().ok_or(EINVAL)?;
            Ok(())
        }
    }

    fn ok<T>(r: core::result::Result<T, TreeError>) -> Result<T> {
        r.map_err(|e| match e {
            TreeError::Kernel(e) => e,
            TreeError::Format(_) => EUCLEAN,
        })
    }

    fn record(kind: TreeKind, key: u64) -> Record {
        let mut record = Record::from_key(key);
        if kind == TreeKind::Extent {
            record.value[..8].copy_from_slice(&(key * 3).to_le_bytes());
        }
        record
    }

    /// The keys of `tree`, in order.
    fn keys(tree: &BTree, nodes: &mut MemNodes) -> Result<KVec<u64>> {
        let mut keys = KVec::new();
        let mut failed = false;
        ok(tree.scan(nodes, 0, |r| {
            failed |= keys.push(r.key, GFP_KERNEL).is_err();
            ControlFlow::Continue(())
        }))?;
        if failed {
            return Err(ENOMEM);
        }
        Ok(keys)
    }

    /// xorshift64*, for reproducible random keys.
    fn next_random(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn split_grows_levels() -> Result {
        let nodes = &mut MemNodes::new();
        let kind = TreeKind::Extent;
        let tree = ok(BTree::create(nodes, kind, 7, 0))?;
        let n = (kind.leaf_capacity() * 20) as u64;
        for key in 0..n {
            ok(tree.insert(nodes, &record(kind, key * 2)))?;
        }
        let stats = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!(stats.records, n);
        assert_eq!(stats.depth, 2);
        // Ascending inserts fill their leaves.
        assert!(stats.nodes <= 22);
        assert_eq!(ok(tree.get(nodes, 40))?, Some(record(kind, 40)));
        assert_eq!(ok(tree.get(nodes, 41))?, None);
        assert_eq!(ok(tree.find_le(nodes, 41))?.map(|r| r.key), Some(40));
        assert!(ok(tree.insert(nodes, &record(kind, 40))).is_err());
        Ok(())
    }

    #[test]
    fn random_changes_match_a_model() -> Result {
        let nodes = &mut MemNodes::new();
        let kind = TreeKind::DirIndex;
        let tree = ok(BTree::create(nodes, kind, 7, 0))?;
        let mut model = KVec::<u64>::new();
        let mut state = 0x5eed_u64;
        for step in 0..6000u32 {
            let key = next_random(&mut state) % 4000;
            let at = model.binary_search(&key);
            if step % 3 == 2 {
                let removed = ok(tree.remove(nodes, key))?;
                assert_eq!(removed, at.is_ok());
                if let Ok(i) = at {
                    model.remove(i).map_err(|_| EINVAL)?;
                }
            } else if let Err(i) = at {
                ok(tree.insert(nodes, &record(kind, key)))?;
                model.reserve(1, GFP_KERNEL)?;
                model.insert_within_capacity(i, key).map_err(|_| ENOMEM)?;
            }
        }
        assert_eq!(&keys(&tree, nodes)?[..], &model[..]);
        let stats = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!(stats.records, model.len() as u64);
        assert_eq!(stats.nodes, nodes.in_use() as u64);
        Ok(())
    }

    #[test]
    fn delete_down_to_empty() -> Result {
        let nodes = &mut MemNodes::new();
        let kind = TreeKind::Extent;
        let tree = ok(BTree::create(nodes, kind, 7, 0))?;
        let n = 10_000u64;
        for key in 0..n {
            ok(tree.insert(nodes, &record(kind, key)))?;
        }
        let full = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!(full.depth, 2);
        // Half of them, then the rest, in another order: nodes merge.
        for key in (0..n).step_by(2) {
            assert!(ok(tree.remove(nodes, key))?);
        }
        let half = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!(half.records, n / 2);
        for key in (0..n / 2).rev().map(|i| 2 * i + 1) {
            assert!(ok(tree.remove(nodes, key))?);
        }
        let empty = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!((empty.records, empty.nodes, empty.depth), (0, 1, 1));
        assert_eq!(nodes.in_use(), 1);
        ok(tree.destroy(nodes))?;
        assert_eq!(nodes.in_use(), 0);
        Ok(())
    }

    #[test]
    fn sparse_removals_merge_nodes() -> Result {
        let nodes = &mut MemNodes::new();
        let kind = TreeKind::Extent;
        let tree = ok(BTree::create(nodes, kind, 7, 0))?;
        for key in 0..5000u64 {
            ok(tree.insert(nodes, &record(kind, key)))?;
        }
        let before = ok(tree.check(nodes, |_, _, _| {}))?;
        // Keep one record in ten: leaves fall below a quarter and merge.
        for key in (0..5000u64).filter(|k| k % 10 != 0) {
            assert!(ok(tree.remove(nodes, key))?);
        }
        let after = ok(tree.check(nodes, |_, _, _| {}))?;
        assert_eq!(after.records, 500);
        assert!(after.nodes * 3 < before.nodes);
        let mut updated = record(kind, 30);
        updated.value[8] = 1;
        assert!(ok(tree.update(nodes, &updated))?);
        assert_eq!(ok(tree.get(nodes, 30))?, Some(updated));
        Ok(())
    }
}
