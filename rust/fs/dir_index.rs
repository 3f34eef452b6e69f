// SPDX-License-Identifier: GPL-2.0

//! Directory indexes (feature `DIR_INDEX`, see [`format::DIR_INDEX_ROOT`]):
//! the hashed B+tree of a directory of more than one data block, with a
//! name key per entry (a lookup reads O(log N) blocks) and a free-space key
//! per data block with room (a create finds its block in O(log N)).
//!
//! Called by [`super::dir`] under the directory's `i_rwsem` (exclusive for
//! changes, which a transaction wraps), which serialises every user of the
//! tree.

use super::btree::TreeNodes;
use super::extent_map::written_block;
use super::inode::extents;
use super::txn::{Credits, Txn};
use super::RexInode;
use crate::format::{
    self, dir_hash, dirent_size, free_key, free_key_first, free_key_parts, name_key,
    name_key_address, name_key_first, name_key_hash, BTree, Record, TreeKind,
};
use kernel::prelude::*;

/// Least room a data block must have for a free-space key: that of the
/// shortest entry.
const MIN_ROOM: usize = dirent_size(1);

/// The index of a directory.
pub(super) struct DirIndex<'a> {
    dir: &'a RexInode,
    tree: BTree,
}

impl<'a> DirIndex<'a> {
    /// The index of `dir`, if it has one: the block mapped at
    /// [`format::DIR_INDEX_ROOT`].
    pub(super) fn of(dir: &'a RexInode) -> Result<Option<Self>> {
        let root = extents(dir)?.read(|map, _| written_block(map, format::DIR_INDEX_ROOT));
        Ok(root.map(|root| DirIndex {
            dir,
            tree: BTree {
                kind: TreeKind::DirIndex,
                owner: dir.ino(),
                root,
            },
        }))
    }

    /// Makes an empty index for `dir` in `txn`.
    pub(super) fn create(txn: &Txn<'_>, dir: &'a RexInode) -> Result<Self> {
        let nodes = &mut TreeNodes::dir_index(dir, Some(txn));
        let goal = extents(dir)?
            .read(|map, _| written_block(map, 0))
            .unwrap_or(0);
        let created = BTree::create(nodes, TreeKind::DirIndex, dir.ino(), goal);
        let tree = nodes.check(created)?;
        Ok(DirIndex { dir, tree })
    }

    fn nodes<'b, 't>(&self, txn: Option<&'b Txn<'t>>) -> TreeNodes<'b, 't>
    where
        'a: 'b,
    {
        TreeNodes::dir_index(self.dir, txn)
    }

    /// The addresses (data block index, byte offset) of the entries whose
    /// names hash as `name` does, in key order, until `f` returns `Some`.
    pub(super) fn find<R>(
        &self,
        name: &[u8],
        mut f: impl FnMut(u64, usize) -> Result<Option<R>>,
    ) -> Result<Option<R>> {
        let hash = dir_hash(name);
        let mut nodes = self.nodes(None);
        let mut key = name_key_first(hash);
        loop {
            let next = self.tree.first_at_or_after(&mut nodes, key);
            let Some(record) = nodes.check(next)? else {
                return Ok(None);
            };
            if name_key_hash(record.key) != Some(hash) {
                return Ok(None);
            }
            let (index, offset) = name_key_address(record.key);
            if let Some(found) = f(index, offset)? {
                return Ok(Some(found));
            }
            key = record.key + 1;
        }
    }

    /// Adds the name key of entry `name` at `offset` of data block `index`.
    pub(super) fn add_name(&self, txn: &Txn<'_>, name: &[u8], index: u64, offset: usize) -> Result {
        let mut nodes = self.nodes(Some(txn));
        let inserted = self
            .tree
            .insert(&mut nodes, &Record::from_key(name_key(name, index, offset)));
        nodes.check(inserted)
    }

    /// Removes the name key of entry `name` at `offset` of data block
    /// `index`.
    pub(super) fn remove_name(
        &self,
        txn: &Txn<'_>,
        name: &[u8],
        index: u64,
        offset: usize,
    ) -> Result {
        self.remove_key(txn, name_key(name, index, offset))
    }

    fn remove_key(&self, txn: &Txn<'_>, key: u64) -> Result {
        let mut nodes = self.nodes(Some(txn));
        let removed = self.tree.remove(&mut nodes, key);
        if !nodes.check(removed)? {
            return Err(self.missing_key(key));
        }
        Ok(())
    }

    /// The damage of a key the index should have and lacks.
    fn missing_key(&self, key: u64) -> Error {
        super::corrupted(
            self.dir.super_block(),
            format_args!("directory {} index: key {key:#x} missing", self.dir.ino()),
        )
    }

    /// A data block with room for an entry of `need` bytes: its index and
    /// its room.
    pub(super) fn block_with_room(&self, need: usize) -> Result<Option<(u64, usize)>> {
        let mut nodes = self.nodes(None);
        let found = self
            .tree
            .first_at_or_after(&mut nodes, free_key_first(need));
        Ok(nodes
            .check(found)?
            .and_then(|record| free_key_parts(record.key))
            .map(|(room, index)| (index, room)))
    }

    /// Data block `index` had `old` bytes of room and has `new`: moves its
    /// free-space key.
    pub(super) fn set_room(&self, txn: &Txn<'_>, index: u64, old: usize, new: usize) -> Result {
        if old == new {
            return Ok(());
        }
        let new_key = Record::from_key(free_key(new, index));
        let mut nodes = self.nodes(Some(txn));
        match (old >= MIN_ROOM, new >= MIN_ROOM) {
            // Most often the key stays in its leaf: one change of it.
            (true, true) => {
                let rekeyed = self.tree.rekey(&mut nodes, free_key(old, index), &new_key);
                if !nodes.check(rekeyed)? {
                    return Err(self.missing_key(free_key(old, index)));
                }
            }
            (true, false) => self.remove_key(txn, free_key(old, index))?,
            (false, true) => {
                let inserted = self.tree.insert(&mut nodes, &new_key);
                nodes.check(inserted)?;
            }
            (false, false) => {}
        }
        Ok(())
    }

    /// Whether any entry has a name key.
    pub(super) fn has_names(&self) -> Result<bool> {
        let mut nodes = self.nodes(None);
        let first = self.tree.first_at_or_after(&mut nodes, 0);
        Ok(nodes
            .check(first)?
            .is_some_and(|record| name_key_hash(record.key).is_some()))
    }

    /// Adds the keys of data block `index`, as a new index takes in the
    /// directory's blocks: `entries` are its used entries' names and
    /// offsets, `room` its room.
    pub(super) fn add_block<'n>(
        &self,
        txn: &Txn<'_>,
        index: u64,
        entries: impl IntoIterator<Item = (&'n [u8], usize)>,
        room: usize,
    ) -> Result {
        for (name, offset) in entries {
            self.add_name(txn, name, index, offset)?;
        }
        self.set_room(txn, index, 0, room)
    }

    /// The depth of the tree.
    fn depth(&self) -> Result<u32> {
        let mut nodes = self.nodes(None);
        let depth = self.tree.depth(&mut nodes);
        Ok(nodes.check(depth)?.into())
    }
}

/// What the index of `dir` may change in one namespace operation on it: a
/// name key added or removed and a free-space key moved (three tree
/// changes, each splitting or merging every level and allocating or
/// freeing a node a level, one more level if the root splits); or, for a
/// directory about to get its index, its making and the keys of its first
/// block. Returns the credits of the nodes and the extents the nodes may
/// add to the directory's map (its inode's credits are the caller's).
/// Nothing without the feature.
pub(super) fn credits(dir: &RexInode) -> Result<(Credits, u32)> {
    let sb = dir.super_block();
    if sb.data().feature_incompat() & format::FEATURE_INCOMPAT_DIR_INDEX == 0 {
        return Ok((Credits::NONE, 0));
    }
    let levels = match DirIndex::of(dir)? {
        Some(index) => index.depth()? + 1,
        // A new root, and a block of keys at most: one leaf.
        None => 2,
    };
    // Per level and tree change: the node, its new sibling or the one it
    // merges with, the parent's record, and the bitmap block.
    let per_change = Credits::blocks(4 * levels).and(Credits::revokes(levels));
    Ok((per_change.times(3), 3 * levels))
}
