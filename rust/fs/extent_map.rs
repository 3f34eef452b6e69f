// SPDX-License-Identifier: GPL-2.0

//! The in-memory extent map of an inode: which disk blocks hold which file
//! blocks; and the chain of extent blocks that stores the extents beyond
//! the inode.
//!
//! Both live behind the inode's [`ExtentMapLock`], which bumps the map's
//! generation before every change of the map.
//!
//! [`ExtentMapLock`]: super::lock::ExtentMapLock

use super::btree::TreeNodes;
use super::extent_list::ExtentList;
use super::{corrupted, RexSb};
use crate::format::{
    self, mode, BTree, DiskInode, Extent, ExtentChainWalk, ExtentMapVerifier, FormatError, TreeKind,
};
use kernel::prelude::*;

/// The extents of one inode, sorted by file block and non-overlapping, in
/// an [`ExtentList`]: finding, adding or removing one costs O(log N) plus
/// a chunk's moves in a file of N extents.
pub(crate) struct ExtentMap {
    extents: ExtentList,
    /// The file blocks `lo..=hi` at which extents may start, or have
    /// started, whose stored copies differ from the map's since the map
    /// was last stored (an extent tree syncs just those).
    changed: Option<(u64, u64)>,
    /// The blocks the extents map, kept as they change (writing an inode
    /// reports them: summing a file of 100,000 extents each time cost
    /// O(N)).
    blocks: u64,
    /// Regular files: the data is in the inode (`InodeInfo::inline_data`)
    /// and there are no extents.
    pub(super) inline: bool,
}

/// Where the extents beyond the inode are stored: not part of the map (a
/// change here changes no mapping), but behind the same lock. Either a
/// chain of extent blocks, or with the `EXTENT_TREE` feature a B+tree.
#[derive(Default)]
pub(crate) struct ExtentChain {
    /// The extent blocks storing the extents past the inode's, in chain
    /// order.
    pub(super) blocks: KVec<u64>,
    /// The generation of the map that the inode and `blocks` were last
    /// filled from.
    pub(super) stored_generation: u64,
    /// The root of the extent tree (0: none), and its node count.
    pub(super) tree_root: u64,
    pub(super) tree_nodes: u64,
    /// The extent tree, while it is not read yet.
    unread: Option<UnreadTree>,
}

/// An extent tree not read yet: the map holds the inode's extents, which
/// `verifier` checked; it checks the tree's when they are read.
struct UnreadTree {
    verifier: ExtentMapVerifier,
    /// The extent count and block count (data and tree nodes) the inode
    /// stores, which storing it again keeps.
    extent_count: u32,
    blocks: u64,
}

impl ExtentChain {
    /// The block the inode points to: the first of the chain, or the
    /// tree's root (0: none).
    pub(super) fn first_block(&self) -> u64 {
        self.blocks.first().copied().unwrap_or(self.tree_root)
    }

    /// Blocks the extents take beyond the inode (known once they are read).
    pub(super) fn block_count(&self) -> u64 {
        self.blocks.len() as u64 + self.tree_nodes
    }

    /// Whether the extent tree is not read yet: `map` holds only the
    /// inode's extents.
    pub(super) fn is_unread(&self) -> bool {
        self.unread.is_some()
    }

    /// The extent count and the block count (data and extent blocks) of
    /// the inode whose extents are `map`, stored here.
    pub(super) fn stored_counts(&self, map: &ExtentMap) -> (u32, u64) {
        match &self.unread {
            Some(unread) => (unread.extent_count, unread.blocks),
            None => (map.len() as u32, map.data_blocks() + self.block_count()),
        }
    }
}

/// Block runs an operation freed, to be returned to the allocator.
pub(crate) type FreedRuns = KVec<(u64, u64)>;

impl ExtentMap {
    /// An empty map.
    pub(super) fn new() -> Self {
        ExtentMap {
            extents: ExtentList::new(),
            changed: None,
            blocks: 0,
            inline: false,
        }
    }

    /// Loads and checks the extents of inode `ino`, read as `disk` and
    /// verified ([`DiskInode::verify`] bounds its extent count): those in the
    /// inode, then those of its chain of extent blocks, whose blocks it
    /// returns too. An extent tree is left unread (in the returned chain)
    /// until the map's first use ([`Self::read_tree`]), but a symlink's,
    /// whose target is read with the inode. The map grows with the extents
    /// found, not by the count the inode claims, and a chain walk reads no
    /// more blocks than that count needs.
    pub(super) fn load(sb: &RexSb, ino: u64, disk: &DiskInode) -> Result<(Self, ExtentChain)> {
        let geometry = sb.data().geometry();
        let features = sb.data().feature_incompat();
        let bad = |e: FormatError| corrupted(sb, format_args!("inode {ino}: {}", e.reason()));
        let dir_index = features & format::FEATURE_INCOMPAT_DIR_INDEX != 0;
        let mut verifier = ExtentMapVerifier::new(disk, geometry, dir_index);
        let mut map = ExtentMap::new();
        let mut chain = ExtentChain::default();
        for extent in disk.inode_extents() {
            verifier.push(&extent).map_err(bad)?;
            map.push_loaded(extent)?;
        }
        if features & format::FEATURE_INCOMPAT_EXTENT_TREE == 0 {
            map.load_chain(sb, ino, disk, &mut verifier, &mut chain)?;
        } else if disk.extent_block != 0 {
            chain.tree_root = disk.extent_block;
            chain.unread = Some(UnreadTree {
                verifier,
                extent_count: disk.extent_count,
                blocks: disk.blocks.saturating_sub(u64::from(disk.xattr_block != 0)),
            });
            if disk.file_type() == mode::S_IFLNK {
                map.read_tree(sb, ino, &mut chain)?;
            }
            return Ok((map, chain));
        }
        verifier.finish().map_err(bad)?;
        Ok((map, chain))
    }

    /// Reads the extent tree that `chain` holds unread, whose extents
    /// follow those of the map (the inode's), checking the whole tree on
    /// the way ([`BTree::check`]). A read that fails changes nothing.
    pub(super) fn read_tree(&mut self, sb: &RexSb, ino: u64, chain: &mut ExtentChain) -> Result {
        let Some(unread) = &chain.unread else {
            return Ok(());
        };
        let mut verifier = unread.verifier;
        let mut map = ExtentMap::new();
        for &extent in self.iter() {
            map.push_loaded(extent)?;
        }
        let nodes = map.load_tree(sb, ino, chain.tree_root, &mut verifier)?;
        verifier
            .finish()
            .map_err(|e| corrupted(sb, format_args!("inode {ino}: {}", e.reason())))?;
        sb.data().probes.extent_tree_reads.inc();
        *self = map;
        chain.tree_nodes = nodes;
        chain.unread = None;
        Ok(())
    }

    /// Loads the extents along the chain of extent blocks of `disk`.
    fn load_chain(
        &mut self,
        sb: &RexSb,
        ino: u64,
        disk: &DiskInode,
        verifier: &mut ExtentMapVerifier,
        chain: &mut ExtentChain,
    ) -> Result {
        let geometry = sb.data().geometry();
        let bad = |e: FormatError| corrupted(sb, format_args!("inode {ino}: {}", e.reason()));
        let bad_block = |blkno: u64, e: FormatError| {
            corrupted(
                sb,
                format_args!("inode {ino}: extent block {blkno}: {}", e.reason()),
            )
        };
        let mut walk = ExtentChainWalk::new(ino, disk);
        while let Some(blkno) = walk.next_block(geometry).map_err(bad)? {
            let buf = sb.bread(blkno)?;
            let block = walk.visit(buf.data()).map_err(|e| bad_block(blkno, e))?;
            for i in 0..block.count {
                let extent = block.extent(i);
                verifier.push(&extent).map_err(|e| bad_block(blkno, e))?;
                self.push_loaded(extent)?;
            }
            chain.blocks.push(blkno, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Loads the extents of the extent tree at `root`, checking the whole
    /// tree on the way ([`BTree::check`]); returns its node count.
    fn load_tree(
        &mut self,
        sb: &RexSb,
        ino: u64,
        root: u64,
        verifier: &mut ExtentMapVerifier,
    ) -> Result<u64> {
        let mut nodes = 0;
        let store = &mut TreeNodes::extents(sb, ino, None, &mut nodes);
        let tree = BTree {
            kind: TreeKind::Extent,
            owner: ino,
            root,
        };
        let mut failed = None;
        let checked = tree.check(store, |_, _, record| {
            let Some(record) = record.filter(|_| failed.is_none()) else {
                return;
            };
            let extent = Extent::from_record(record);
            failed = match verifier.push(&extent) {
                Err(e) => Some(corrupted(
                    sb,
                    format_args!("inode {ino}: extent tree: {}", e.reason()),
                )),
                Ok(()) => self.push_loaded(extent).err(),
            };
        });
        let stats = store.check(checked)?;
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(stats.nodes)
    }

    /// All extents, sorted.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Extent> {
        self.extents.iter()
    }

    /// The extents that start at or after file block `logical`, sorted.
    pub(super) fn iter_from(&self, logical: u64) -> impl Iterator<Item = &Extent> {
        let first = self.extents.partition_point(|e| e.logical < logical);
        self.extents.iter_from(first)
    }

    /// The number of extents.
    pub(super) fn len(&self) -> usize {
        self.extents.len()
    }

    /// Whether there are no extents.
    pub(super) fn is_empty(&self) -> bool {
        self.extents.len() == 0
    }

    /// The extent that maps file block `logical`, if any.
    pub(super) fn lookup(&self, logical: u64) -> Option<&Extent> {
        let at = self.extents.partition_point(|e| e.logical_end() <= logical);
        self.extents.get(at).filter(|e| e.logical <= logical)
    }

    /// The first file block at or after `logical` that an extent maps
    /// (`u64::MAX`: none).
    pub(super) fn next_mapped(&self, logical: u64) -> u64 {
        let at = self.extents.partition_point(|e| e.logical_end() <= logical);
        self.extents
            .get(at)
            .map_or(u64::MAX, |e| e.logical.max(logical))
    }

    /// The end of the last extent that starts before file block
    /// `logical` (0: none).
    pub(super) fn end_before(&self, logical: u64) -> u64 {
        let at = self.extents.partition_point(|e| e.logical < logical);
        self.extents
            .prev(at)
            .and_then(|prev| self.extents.get(prev))
            .map_or(0, |e| e.logical_end())
    }

    /// The last extent that ends at or before file block `logical`.
    pub(super) fn last_ending_by(&self, logical: u64) -> Option<&Extent> {
        let at = self.extents.partition_point(|e| e.logical_end() <= logical);
        self.extents.get(self.extents.prev(at)?)
    }

    /// Whether extents map every block of `first..end`.
    pub(super) fn is_allocated(&self, mut first: u64, end: u64) -> bool {
        while first < end {
            match self.lookup(first) {
                Some(e) => first = e.logical_end(),
                None => return false,
            }
        }
        true
    }

    /// The disk block just past the extent that ends at or before `logical`:
    /// where an allocation for `logical` continues the file contiguously.
    pub(super) fn goal_for(&self, logical: u64) -> Option<u64> {
        let prev = self.last_ending_by(logical)?;
        Some(prev.physical + u64::from(prev.len) + (logical - prev.logical_end()))
    }

    /// Appends `extent`, read from disk after those loaded before it.
    fn push_loaded(&mut self, extent: Extent) -> Result {
        self.extents.push(extent)?;
        self.blocks += u64::from(extent.len);
        Ok(())
    }

    /// Number of data blocks the extents map.
    pub(super) fn data_blocks(&self) -> u64 {
        self.blocks
    }

    /// Records that the extents starting in `lo..=hi` changed.
    fn mark_changed(&mut self, lo: u64, hi: u64) {
        self.changed = Some(match self.changed {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }

    /// Takes the range of file blocks whose extents changed since the last
    /// call; a store that fails gives it back
    /// with [`ExtentMap::restore_changed`].
    pub(super) fn take_changed(&mut self) -> Option<(u64, u64)> {
        self.changed.take()
    }

    /// Gives back a range [`ExtentMap::take_changed`] took.
    pub(super) fn restore_changed(&mut self, (lo, hi): (u64, u64)) {
        self.mark_changed(lo, hi);
    }

    /// Adds `new`, which must not overlap any extent, merging it with its
    /// neighbours when they are contiguous on disk.
    pub(super) fn insert(&mut self, new: Extent) -> Result {
        let at = self.extents.partition_point(|e| e.logical < new.logical);
        let prev_at = self.extents.prev(at);
        let prev = prev_at.and_then(|p| self.extents.get(p)).copied();
        let next = self.extents.get(at).copied();
        // The keys of the neighbours, which `new` may merge into (the next
        // one then starts at `new`), and `new`'s.
        let lo = prev.map_or(new.logical, |prev| prev.logical);
        let hi = next.map_or(new.logical, |next| next.logical);
        let joins = |a: &Extent, b: &Extent| {
            a.logical_end() == b.logical
                && a.physical + u64::from(a.len) == b.physical
                && a.flags == b.flags
                && u64::from(a.len) + u64::from(b.len) <= u64::from(u32::MAX)
        };
        match (prev_at.zip(prev), next) {
            (Some((prev_at, prev)), _) if joins(&prev, &new) => {
                let merged = Extent {
                    len: prev.len + new.len,
                    ..prev
                };
                let (merged, next_too) = match next {
                    Some(next) if joins(&merged, &next) => (
                        Extent {
                            len: merged.len + next.len,
                            ..merged
                        },
                        true,
                    ),
                    _ => (merged, false),
                };
                if let Some(e) = self.extents.get_mut(prev_at) {
                    *e = merged;
                }
                if next_too {
                    self.extents.remove_range(at, self.extents.next(at));
                }
            }
            (_, Some(next)) if joins(&new, &next) => {
                if let Some(e) = self.extents.get_mut(at) {
                    *e = Extent {
                        len: new.len + next.len,
                        ..new
                    };
                }
            }
            _ => self.extents.insert(at, new)?,
        }
        self.mark_changed(lo, hi);
        self.blocks += u64::from(new.len);
        Ok(())
    }

    /// Unmaps file blocks `start..end`; the freed disk runs are appended to
    /// `freed`. The extents wholly inside go in one removal (a truncate of
    /// a file of N extents costs O(N), not O(N^2)).
    pub(super) fn remove(&mut self, start: u64, end: u64, freed: &mut FreedRuns) -> Result {
        let first = self.extents.partition_point(|e| e.logical_end() <= start);
        let last = self.extents.partition_point(|e| e.logical < end);
        if first >= last {
            return Ok(());
        }
        let (Some(&head_of), Some(&tail_of)) = (
            self.extents.get(first),
            self.extents.prev(last).and_then(|p| self.extents.get(p)),
        ) else {
            return Ok(());
        };
        let mut cut = 0;
        for e in self
            .extents
            .iter_from(first)
            .take_while(|e| e.logical < end)
        {
            let cut_start = e.logical.max(start);
            let cut_end = e.logical_end().min(end);
            freed.push(
                (e.physical + (cut_start - e.logical), cut_end - cut_start),
                GFP_KERNEL,
            )?;
            cut += cut_end - cut_start;
        }
        // What is left of the first and the last extent cut.
        let head = (head_of.logical < start).then(|| Extent {
            len: (start - head_of.logical) as u32,
            ..head_of
        });
        let tail = (tail_of.logical_end() > end).then(|| Extent {
            logical: end,
            physical: tail_of.physical + (end - tail_of.logical),
            len: (tail_of.logical_end() - end) as u32,
            flags: tail_of.flags,
        });
        if let (Some(head), Some(tail), true) = (head, tail, self.extents.next(first) == last) {
            // One extent split in two: its tail goes after it (an insert
            // that fails changes nothing; one that succeeds may move the
            // places).
            if let Some(e) = self.extents.get_mut(first) {
                *e = head;
            }
            if let Err(err) = self.extents.insert(last, tail) {
                if let Some(e) = self.extents.get_mut(first) {
                    *e = head_of;
                }
                return Err(err);
            }
        } else {
            // The head and the tail stay in their extents' places; the
            // extents between go.
            let mut from = first;
            let mut to = last;
            if let Some(head) = head {
                if let Some(e) = self.extents.get_mut(first) {
                    *e = head;
                }
                from = self.extents.next(first);
            }
            if let (Some(tail), Some(tail_at)) = (tail, self.extents.prev(last)) {
                if let Some(e) = self.extents.get_mut(tail_at) {
                    *e = tail;
                }
                to = tail_at;
            }
            self.extents.remove_range(from, to);
        }
        // The keys of the extents cut, and of a split's tail (`end`).
        self.mark_changed(head_of.logical, end);
        self.blocks -= cut;
        Ok(())
    }

    /// Marks the unwritten blocks in `start..end` written (their data
    /// reached the disk); holes and written blocks stay as they are.
    pub(super) fn mark_written(&mut self, start: u64, end: u64) -> Result {
        self.set_unwritten(start, end, false)
    }

    /// Marks the written blocks in `start..end` unwritten (they read as
    /// zeroes from now on); holes and unwritten blocks stay as they are.
    pub(super) fn mark_unwritten(&mut self, start: u64, end: u64) -> Result {
        self.set_unwritten(start, end, true)
    }

    /// Whether a written extent maps a block in `start..end`.
    pub(super) fn has_written(&self, start: u64, end: u64) -> bool {
        let first = self.extents.partition_point(|e| e.logical_end() <= start);
        self.extents
            .iter_from(first)
            .take_while(|e| e.logical < end)
            .any(|e| e.flags & format::EXTENT_UNWRITTEN == 0)
    }

    /// Gives the blocks in `start..end` that are not so the unwritten flag
    /// `unwritten`, splitting their extents.
    fn set_unwritten(&mut self, start: u64, end: u64, unwritten: bool) -> Result {
        let flags = if unwritten {
            format::EXTENT_UNWRITTEN
        } else {
            0
        };
        let mut next = start;
        while next < end {
            let at = self.extents.partition_point(|e| e.logical_end() <= next);
            let Some(&e) = self.extents.get(at).filter(|e| e.logical < end) else {
                break;
            };
            if e.flags & format::EXTENT_UNWRITTEN == flags {
                next = e.logical_end();
                continue;
            }
            // Cut out the part in range and put it back flagged; `insert`
            // merges it with like neighbours.
            let cut_start = e.logical.max(start);
            let cut_end = e.logical_end().min(end);
            let mut freed = FreedRuns::new();
            self.remove(cut_start, cut_end, &mut freed)?;
            let physical = e.physical + (cut_start - e.logical);
            self.insert(Extent {
                logical: cut_start,
                physical,
                len: (cut_end - cut_start) as u32,
                flags,
            })?;
            next = cut_end;
        }
        Ok(())
    }

    /// Extent blocks needed to store the extents beyond the inode.
    pub(super) fn chain_blocks_needed(&self) -> usize {
        self.len()
            .saturating_sub(format::INODE_EXTENTS)
            .div_ceil(format::EXTENTS_PER_BLOCK)
    }
}

/// The disk block that holds file block `logical` of a fully written
/// extent, or `None` for a hole or an unwritten extent (both read as zeroes).
pub(super) fn written_block(map: &ExtentMap, logical: u64) -> Option<u64> {
    map.lookup(logical)
        .filter(|e| e.flags & format::EXTENT_UNWRITTEN == 0)
        .map(|e| e.physical + (logical - e.logical))
}

#[kunit_tests(rexfs_extent_map)]
mod tests {
    use super::*;

    fn extent(logical: u64, physical: u64, len: u32) -> Extent {
        Extent {
            logical,
            physical,
            len,
            flags: 0,
        }
    }

    /// The extents of `map`, in order.
    fn extents(map: &ExtentMap) -> Result<KVec<Extent>> {
        let mut all = KVec::with_capacity(map.len(), GFP_KERNEL)?;
        for e in map.iter() {
            all.push_within_capacity(*e).map_err(|_| ENOMEM)?;
        }
        Ok(all)
    }

    fn map_of(extents: &[Extent]) -> Result<ExtentMap> {
        let mut map = ExtentMap::new();
        for e in extents {
            map.insert(*e)?;
        }
        Ok(map)
    }

    #[test]
    fn insert_merges_contiguous_neighbours() -> Result {
        // Out of order; the middle one joins both neighbours on disk.
        let map = map_of(&[extent(0, 100, 4), extent(8, 108, 2), extent(4, 104, 4)])?;
        assert_eq!(&*extents(&map)?, &[extent(0, 100, 10)]);
        // Contiguous in the file but not on disk: no merge.
        let map = map_of(&[extent(0, 100, 4), extent(4, 200, 4)])?;
        assert_eq!(map.len(), 2);
        // Unwritten and written blocks stay apart.
        let unwritten = Extent {
            flags: format::EXTENT_UNWRITTEN,
            ..extent(4, 104, 4)
        };
        let map = map_of(&[extent(0, 100, 4), unwritten])?;
        assert_eq!(map.len(), 2);
        Ok(())
    }

    #[test]
    fn changes_cover_the_keys_they_move() -> Result {
        let mut map = map_of(&[extent(0, 100, 2), extent(8, 108, 2)])?;
        map.take_changed();
        // Joins the next extent, whose key moves from 8 to 6.
        map.insert(extent(6, 106, 2))?;
        assert_eq!(&*extents(&map)?, &[extent(0, 100, 2), extent(6, 106, 4)]);
        assert_eq!(map.take_changed(), Some((0, 8)));
        // A split: the extent at 6 and its tail's new key, 9.
        let mut freed = FreedRuns::new();
        map.remove(7, 9, &mut freed)?;
        assert_eq!(map.take_changed(), Some((6, 9)));
        assert_eq!(map.data_blocks(), 4);
        Ok(())
    }

    #[test]
    fn lookup_holes_and_goal() -> Result {
        let map = map_of(&[extent(2, 100, 2), extent(10, 300, 1)])?;
        assert!(map.lookup(1).is_none());
        assert_eq!(map.lookup(3).map(|e| e.physical), Some(100));
        assert_eq!(map.next_mapped(4), 10);
        assert_eq!(map.next_mapped(11), u64::MAX);
        assert_eq!(map.goal_for(4), Some(102));
        assert_eq!(map.goal_for(6), Some(104));
        assert_eq!(map.goal_for(0), None);
        assert_eq!(written_block(&map, 10), Some(300));
        assert_eq!(map.data_blocks(), 3);
        Ok(())
    }

    #[test]
    fn remove_trims_and_splits() -> Result {
        let mut map = map_of(&[extent(0, 100, 10), extent(20, 200, 5)])?;
        let mut freed = FreedRuns::new();
        // Split the first extent, trim the head of the second.
        map.remove(4, 6, &mut freed)?;
        map.remove(18, 22, &mut freed)?;
        assert_eq!(
            &*extents(&map)?,
            &[extent(0, 100, 4), extent(6, 106, 4), extent(22, 202, 3)]
        );
        assert_eq!(&freed[..], &[(104, 2), (200, 2)]);
        // Truncate to block 7: trims the tail of one, drops the last.
        freed.clear();
        map.remove(7, u64::MAX, &mut freed)?;
        assert_eq!(&*extents(&map)?, &[extent(0, 100, 4), extent(6, 106, 1)]);
        assert_eq!(&freed[..], &[(107, 3), (202, 3)]);
        Ok(())
    }

    #[test]
    fn mark_written_splits_unwritten() -> Result {
        let unwritten = |l, p, n| Extent {
            flags: format::EXTENT_UNWRITTEN,
            ..extent(l, p, n)
        };
        let mut map = map_of(&[extent(0, 100, 2), unwritten(2, 102, 6)])?;
        map.mark_written(2, 4)?;
        // The written head merges with the written extent before it.
        assert_eq!(&*extents(&map)?, &[extent(0, 100, 4), unwritten(4, 104, 4)]);
        map.mark_written(5, 6)?;
        assert_eq!(
            &*extents(&map)?,
            &[
                extent(0, 100, 4),
                unwritten(4, 104, 1),
                extent(5, 105, 1),
                unwritten(6, 106, 2)
            ]
        );
        // Holes in the range are left alone.
        map.mark_written(6, 100)?;
        assert_eq!(map.len(), 3);
        assert_eq!(extents(&map)?[2], extent(5, 105, 3));
        // And back: the written tail becomes unwritten again.
        assert!(map.has_written(6, 100));
        map.mark_unwritten(6, 100)?;
        assert!(!map.has_written(6, 100));
        assert_eq!(extents(&map)?[2], extent(5, 105, 1));
        assert_eq!(extents(&map)?[3], unwritten(6, 106, 2));
        Ok(())
    }

    #[test]
    fn chain_blocks_for_extent_count() -> Result {
        let mut map = ExtentMap::new();
        for i in 0..(format::INODE_EXTENTS + format::EXTENTS_PER_BLOCK + 1) as u64 {
            // Every other block, so that nothing merges.
            map.insert(extent(2 * i, 1000 + 2 * i, 1))?;
        }
        assert_eq!(map.chain_blocks_needed(), 2);
        Ok(())
    }
}
