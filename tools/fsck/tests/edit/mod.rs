// SPDX-License-Identifier: GPL-2.0
//! Filesystems made by mkfs.rexfs and edited block by block, and checking
//! them, for the fsck.rexfs tests. Each test crate uses part of it.
#![allow(dead_code)]

use rexfs_format::{
    assign_bit, bitmap_payload_mut, bitmap_position, block_room, crc32c_without_field,
    dir_block_entries, dirent_size, free_key, init_dir_block, jbd2_chksum, mode, name_key,
    refcount_get, refcount_location, refcount_set, seal_refcount_block, test_bit,
    verify_node_header, write_dirent, BTree, BlockHeader, BlockKind, DiskInode, Extent,
    FormatError, Geometry, JournalSuperblock, NodeStore, Record, Superblock, TreeKind, TreeStats,
    XattrBlock, XattrNamespace, BLOCK_SIZE, DIR_DATA_BLOCKS_MAX, DIR_INDEX_NODES, DIR_INDEX_ROOT,
    EXTENT_SIZE, FEATURE_INCOMPAT_DIR_INDEX, FEATURE_INCOMPAT_EXTENT_TREE, HEADER_SIZE,
    INODE_EXTENTS, INODE_INLINE, INODE_SHARED, INODE_SIZE, JBD2_MAGIC, SUPERBLOCK_SIZE,
};
use rexfs_fsck::{exit, Fsck};
use rexfs_mkfs::Device;

use crate::common::Image;

pub const MIB: u64 = 1 << 20;
pub const BS: u64 = BLOCK_SIZE as u64;

/// A filesystem under test, edited block by block.
pub struct Fs {
    pub dev: Device,
    pub sb: Superblock,
}

impl Fs {
    pub fn open(image: &Image) -> Self {
        let dev = image.open();
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(0, &mut block).unwrap();
        Fs {
            dev,
            sb: Superblock::decode(&block).unwrap(),
        }
    }

    pub fn g(&self) -> Geometry {
        self.sb.geometry
    }

    pub fn read(&self, blkno: u64) -> Vec<u8> {
        let mut block = vec![0; BLOCK_SIZE];
        self.dev.read_blocks(blkno, &mut block).unwrap();
        block
    }

    pub fn write(&self, blkno: u64, block: &[u8]) {
        self.dev.write_blocks(blkno, block).unwrap();
    }

    /// Flips a bit of byte `offset` of block `blkno`.
    pub fn flip(&self, blkno: u64, offset: usize) {
        let mut block = self.read(blkno);
        block[offset] ^= 0x10;
        self.write(blkno, &block);
    }

    /// Changes the bytes of block `blkno`, a metadata block with a block
    /// header, with `f`, and recomputes the header's checksum (leaving the
    /// rest of the header as `f` left it): damage with a good checksum.
    pub fn edit_sealed(&self, blkno: u64, f: impl FnOnce(&mut [u8])) {
        let mut block = self.read(blkno);
        f(&mut block);
        let crc = crc32c_without_field(&block, 4);
        block[4..8].copy_from_slice(&crc.to_le_bytes());
        self.write(blkno, &block);
    }

    /// Changes the bytes of the slot of inode `ino` with `f` and recomputes
    /// the inode's checksum.
    pub fn edit_inode_raw(&self, ino: u64, f: impl FnOnce(&mut [u8])) {
        let (blkno, offset) = self.g().inode_location(ino).unwrap();
        let mut block = self.read(blkno);
        let slot = &mut block[offset..offset + INODE_SIZE];
        f(slot);
        let crc = crc32c_without_field(slot, INODE_SIZE - 4);
        slot[INODE_SIZE - 4..].copy_from_slice(&crc.to_le_bytes());
        self.write(blkno, &block);
    }

    /// Changes the bytes of the superblock with `f` and recomputes its
    /// checksum.
    pub fn edit_superblock_raw(&self, f: impl FnOnce(&mut [u8])) {
        let mut block = self.read(0);
        let sb = &mut block[..SUPERBLOCK_SIZE];
        f(sb);
        let crc = crc32c_without_field(sb, SUPERBLOCK_SIZE - 4);
        sb[SUPERBLOCK_SIZE - 4..].copy_from_slice(&crc.to_le_bytes());
        self.write(0, &block);
    }

    pub fn save_superblock(&self) {
        let mut block = self.read(0);
        self.sb.encode(&mut block);
        self.write(0, &block);
    }

    pub fn inode(&self, ino: u64) -> DiskInode {
        let (blkno, offset) = self.g().inode_location(ino).unwrap();
        DiskInode::decode(&self.read(blkno)[offset..offset + INODE_SIZE]).unwrap()
    }

    pub fn put_inode(&self, ino: u64, inode: &DiskInode) {
        let (blkno, offset) = self.g().inode_location(ino).unwrap();
        let mut block = self.read(blkno);
        inode.encode(&mut block[offset..]);
        self.write(blkno, &block);
    }

    pub fn update_inode(&self, ino: u64, f: impl FnOnce(&mut DiskInode)) {
        let mut inode = self.inode(ino);
        f(&mut inode);
        self.put_inode(ino, &inode);
    }

    /// Writes a new in-use inode and accounts for it in the superblock.
    pub fn create(&mut self, ino: u64, inode: &DiskInode) {
        self.put_inode(ino, inode);
        self.sb.free_inodes -= 1;
        self.save_superblock();
    }

    pub fn bit(&self, blkno: u64) -> bool {
        let (index, bit) = bitmap_position(blkno);
        test_bit(
            &self.read(self.g().bitmap_start + index)[HEADER_SIZE..],
            bit,
        )
    }

    /// Sets the bitmap bit of `blkno` and reseals the bitmap block.
    pub fn set_bit(&self, blkno: u64, used: bool) {
        let (index, bit) = bitmap_position(blkno);
        let at = self.g().bitmap_start + index;
        let mut block = self.read(at);
        assign_bit(bitmap_payload_mut(&mut block), bit, used);
        BlockHeader {
            kind: BlockKind::Bitmap,
            blkno: at,
            owner: 0,
        }
        .seal(&mut block);
        self.write(at, &block);
    }

    /// Allocates a free data block in the bitmap and the superblock.
    pub fn alloc(&mut self) -> u64 {
        let blkno = (self.g().data_start..).find(|&b| !self.bit(b)).unwrap();
        self.set_bit(blkno, true);
        self.sb.free_blocks -= 1;
        self.save_superblock();
        blkno
    }

    /// Frees data block `blkno` in the bitmap and the superblock.
    pub fn free(&mut self, blkno: u64) {
        self.set_bit(blkno, false);
        self.sb.free_blocks += 1;
        self.save_superblock();
    }

    /// Whether the filesystem has the incompatible feature `feature`.
    pub fn has(&self, feature: u32) -> bool {
        self.sb.feature_incompat & feature != 0
    }

    /// Appends a new block holding `entries` (name, inode, type) to
    /// directory `dir`; returns the block.
    pub fn add_dir_block(&mut self, dir: u64, entries: &[(&str, u64, u8)]) -> u64 {
        let logical = self.inode(dir).size / BS;
        self.put_dir_block(dir, logical, entries)
    }

    /// Writes a new block holding `entries` (name, inode, type) as data
    /// block `logical` of directory `dir`, whose size grows to cover it;
    /// returns the block. With the directory index feature, a directory
    /// of more than one data block, or with an index already, gets its
    /// index made anew ([`Fs::index_dir`]), as the module keeps it.
    pub fn put_dir_block(&mut self, dir: u64, logical: u64, entries: &[(&str, u64, u8)]) -> u64 {
        let blkno = self.alloc();
        let mut block = vec![0; BLOCK_SIZE];
        init_dir_block(&mut block);
        let mut offset = HEADER_SIZE;
        for (i, &(name, ino, ftype)) in entries.iter().enumerate() {
            let last = i + 1 == entries.len();
            let rec_len = if last {
                BLOCK_SIZE - offset
            } else {
                dirent_size(name.len())
            };
            write_dirent(&mut block, offset, ino, rec_len, ftype, name.as_bytes());
            offset += rec_len;
        }
        BlockHeader {
            kind: BlockKind::Directory,
            blkno,
            owner: dir,
        }
        .seal(&mut block);
        self.write(blkno, &block);
        let mut extents = self.extents(dir);
        extents.push(extent(logical, blkno));
        extents.sort_by_key(|e| e.logical);
        self.update_inode(dir, |d| d.size = d.size.max((logical + 1) * BS));
        self.set_extents(dir, &extents);
        if self.has(FEATURE_INCOMPAT_DIR_INDEX) {
            let data = extents.iter().filter(|e| e.logical < DIR_DATA_BLOCKS_MAX);
            let data_blocks: u64 = data.map(|e| u64::from(e.len)).sum();
            if data_blocks > 1 || extents.iter().any(|e| e.logical == DIR_INDEX_ROOT) {
                self.index_dir(dir);
            }
        }
        blkno
    }

    /// The extent tree of inode `ino`, if it has one (extent tree feature).
    pub fn extent_tree(&self, ino: u64) -> Option<BTree> {
        let root = self.inode(ino).extent_block;
        (root != 0).then_some(BTree {
            kind: TreeKind::Extent,
            owner: ino,
            root,
        })
    }

    /// The index of directory `dir`, if it has one (directory index
    /// feature): the tree whose root it maps at [`DIR_INDEX_ROOT`].
    pub fn dir_index(&mut self, dir: u64) -> Option<BTree> {
        let root = self
            .extents(dir)
            .into_iter()
            .find(|e| e.logical == DIR_INDEX_ROOT)?;
        Some(BTree {
            kind: TreeKind::DirIndex,
            owner: dir,
            root: root.physical,
        })
    }

    /// Walks `tree` whole with [`BTree::check`]: its shape, and its nodes
    /// in the order visited.
    pub fn tree_nodes(&mut self, tree: &BTree) -> (TreeStats, Vec<u64>) {
        let mut nodes = Vec::new();
        let stats = tree
            .check(&mut Nodes(self), |blkno, _, record| {
                if record.is_none() {
                    nodes.push(blkno);
                }
            })
            .unwrap();
        (stats, nodes)
    }

    /// The records of `tree`, in order.
    pub fn tree_records(&mut self, tree: &BTree) -> Vec<Record> {
        let mut records = Vec::new();
        tree.check(&mut Nodes(self), |_, _, record| records.extend(record))
            .unwrap();
        records
    }

    /// All extents of inode `ino`: those in the inode, then those of its
    /// extent tree. (The tests write chains of extent blocks by hand.)
    pub fn extents(&mut self, ino: u64) -> Vec<Extent> {
        let inode = self.inode(ino);
        let mut extents: Vec<Extent> = inode.inode_extents().collect();
        if let Some(tree) = self.extent_tree(ino) {
            assert!(self.has(FEATURE_INCOMPAT_EXTENT_TREE), "a chain");
            let records = self.tree_records(&tree);
            extents.extend(records.iter().map(Extent::from_record));
        }
        extents
    }

    /// Gives inode `ino` the extents `extents` (sorted) as the module
    /// stores them: the first [`INODE_EXTENTS`] in the inode, the others in
    /// a new extent tree (extent tree feature; its old tree freed). The
    /// inode's block count changes by the blocks mapped and the nodes.
    pub fn set_extents(&mut self, ino: u64, extents: &[Extent]) {
        let old = self.extents(ino);
        let mut old_nodes = 0;
        if let Some(tree) = self.extent_tree(ino) {
            old_nodes = self.tree_nodes(&tree).0.nodes;
            tree.destroy(&mut Nodes(self)).unwrap();
        }
        let (inline, rest) = extents.split_at(extents.len().min(INODE_EXTENTS));
        let (mut root, mut nodes) = (0, 0);
        if !rest.is_empty() {
            assert!(self.has(FEATURE_INCOMPAT_EXTENT_TREE), "a chain");
            let tree = BTree::create(&mut Nodes(self), TreeKind::Extent, ino, 0).unwrap();
            for e in rest {
                tree.insert(&mut Nodes(self), &e.to_record()).unwrap();
            }
            (root, nodes) = (tree.root, self.tree_nodes(&tree).0.nodes);
        }
        let mapped = |extents: &[Extent]| extents.iter().map(|e| u64::from(e.len)).sum::<u64>();
        self.update_inode(ino, |inode| {
            inode.data.fill(0);
            for (i, e) in inline.iter().enumerate() {
                e.encode(&mut inode.data[i * EXTENT_SIZE..]);
            }
            inode.extent_count = extents.len() as u32;
            inode.extent_block = root;
            inode.blocks = inode.blocks + mapped(extents) + nodes - mapped(&old) - old_nodes;
        });
    }

    /// The keys the index of directory `dir` holds for its data blocks
    /// `data`: a name key for each used entry, a free-space key for each
    /// block with room for an entry.
    pub fn index_keys(&self, dir: u64, data: &[Extent]) -> Vec<u64> {
        let mut keys = Vec::new();
        for e in data {
            for i in 0..u64::from(e.len) {
                let (index, blkno) = (e.logical + i, e.physical + i);
                let block = self.read(blkno);
                for entry in dir_block_entries(&block, blkno, dir).unwrap() {
                    let entry = entry.unwrap();
                    if entry.ino != 0 {
                        keys.push(name_key(entry.name, index, entry.offset));
                    }
                }
                let room = block_room(&block);
                if room >= dirent_size(1) {
                    keys.push(free_key(room, index));
                }
            }
        }
        keys
    }

    /// Makes the index of directory `dir` anew from its data blocks (its
    /// old one freed): the keys of [`Fs::index_keys`] inserted in the
    /// order of the entries, the root mapped at [`DIR_INDEX_ROOT`] and the
    /// other nodes at [`DIR_INDEX_NODES`] plus their block; returns it.
    pub fn index_dir(&mut self, dir: u64) -> BTree {
        let extents = self.extents(dir);
        let data: Vec<Extent> = extents
            .iter()
            .copied()
            .filter(|e| e.logical < DIR_DATA_BLOCKS_MAX)
            .collect();
        if let Some(old) = self.dir_index(dir) {
            old.destroy(&mut Nodes(self)).unwrap();
        }
        let tree = BTree::create(&mut Nodes(self), TreeKind::DirIndex, dir, 0).unwrap();
        for key in self.index_keys(dir, &data) {
            tree.insert(&mut Nodes(self), &Record::from_key(key))
                .unwrap();
        }
        let mut mapped = data;
        for blkno in self.tree_nodes(&tree).1 {
            let logical = if blkno == tree.root {
                DIR_INDEX_ROOT
            } else {
                DIR_INDEX_NODES + blkno
            };
            mapped.push(extent(logical, blkno));
        }
        mapped.sort_by_key(|e| e.logical);
        self.set_extents(dir, &mapped);
        tree
    }

    /// The refcount table entry of block `blkno`.
    pub fn refcount(&self, blkno: u64) -> u32 {
        let (table, index) = refcount_location(&self.g(), blkno);
        refcount_get(&self.read(table), index)
    }

    /// Sets the refcount table entry of block `blkno` to `value` and reseals
    /// its table block.
    pub fn set_refcount(&self, blkno: u64, value: u32) {
        let (table, index) = refcount_location(&self.g(), blkno);
        let mut block = self.read(table);
        refcount_set(&mut block, index, value);
        seal_refcount_block(&mut block, table);
        self.write(table, &block);
    }

    /// Sets or clears the shared flag of inode `ino`.
    pub fn set_shared(&self, ino: u64, shared: bool) {
        self.update_inode(ino, |inode| {
            if shared {
                inode.flags |= INODE_SHARED;
            } else {
                inode.flags &= !INODE_SHARED;
            }
        });
    }

    /// Points extent `index` of those in inode `ino` at disk block
    /// `physical`: the inode then maps the blocks there, another inode's
    /// as a clone does.
    pub fn point_extent(&self, ino: u64, index: usize, physical: u64) {
        self.update_inode(ino, |inode| {
            let at = index * EXTENT_SIZE;
            let mut e = Extent::decode(&inode.data[at..]);
            e.physical = physical;
            e.encode(&mut inode.data[at..]);
        });
    }

    /// Makes the new inode `dst` a clone of the regular file `src` as a
    /// reflink does: the same extents (those in the inode), both inodes
    /// flagged shared, and one more reference counted in the table for
    /// every block they map. The clone is linked nowhere.
    pub fn clone_file(&mut self, src: u64, dst: u64) {
        self.set_shared(src, true);
        let inode = self.inode(src);
        self.create(dst, &inode);
        for e in inode.inode_extents() {
            for blkno in e.physical..e.physical + u64::from(e.len) {
                let count = self.refcount(blkno);
                self.set_refcount(blkno, if count == 0 { 2 } else { count + 1 });
            }
        }
    }

    /// Allocates an extended attribute block for inode `ino` holding the
    /// user attributes `attrs` (name, value); returns it.
    pub fn add_xattr_block(&mut self, ino: u64, attrs: &[(&str, &str)]) -> u64 {
        let blkno = self.alloc();
        let mut raw = vec![0; BLOCK_SIZE];
        let mut block = XattrBlock::empty(&mut raw[..]);
        for (name, value) in attrs {
            block
                .set(XattrNamespace::User, name.as_bytes(), value.as_bytes())
                .unwrap();
        }
        block.seal(blkno, ino);
        self.write(blkno, &raw);
        blkno
    }
}

/// The nodes of the trees of a filesystem under test, read and written in
/// place, allocated and freed in its bitmap and free count.
pub struct Nodes<'a>(pub &'a mut Fs);

impl NodeStore for Nodes<'_> {
    type Node = Vec<u8>;
    type Error = FormatError;

    fn bytes(node: &Vec<u8>) -> &[u8] {
        node
    }

    fn read(&mut self, blkno: u64, owner: u64) -> Result<Vec<u8>, FormatError> {
        let block = self.0.read(blkno);
        verify_node_header(&block, blkno, owner)?;
        Ok(block)
    }

    fn modify(
        &mut self,
        blkno: u64,
        _node: &Vec<u8>,
        f: impl FnOnce(&mut [u8]),
    ) -> Result<(), FormatError> {
        let mut block = self.0.read(blkno);
        f(&mut block);
        rexfs_format::set_block_checksum(&mut block);
        self.0.write(blkno, &block);
        Ok(())
    }

    fn alloc(&mut self, _goal: u64) -> Result<(u64, Vec<u8>), FormatError> {
        Ok((self.0.alloc(), vec![0; BLOCK_SIZE]))
    }

    fn free(&mut self, blkno: u64) -> Result<(), FormatError> {
        self.0.free(blkno);
        Ok(())
    }
}

/// A regular file with `extents` (at most five), linked once.
pub fn file(extents: &[Extent]) -> DiskInode {
    let mut inode = DiskInode {
        mode: mode::S_IFREG | 0o644,
        nlink: 1,
        ..DiskInode::FREE
    };
    for (i, e) in extents.iter().enumerate() {
        e.encode(&mut inode.data[i * EXTENT_SIZE..]);
    }
    inode.extent_count = extents.len() as u32;
    inode.blocks = extents.iter().map(|e| u64::from(e.len)).sum();
    inode.size = extents.iter().map(|e| e.logical_end()).max().unwrap_or(0) * BS;
    inode
}

/// A small file with its data in the inode.
pub fn inline_file(data: &[u8]) -> DiskInode {
    let mut inode = DiskInode {
        mode: mode::S_IFREG | 0o644,
        flags: INODE_INLINE,
        nlink: 1,
        size: data.len() as u64,
        ..DiskInode::FREE
    };
    inode.data[..data.len()].copy_from_slice(data);
    inode
}

/// An empty directory in `parent`.
pub fn dir(parent: u64) -> DiskInode {
    DiskInode {
        mode: mode::S_IFDIR | 0o755,
        nlink: 2,
        parent,
        ..DiskInode::FREE
    }
}

pub fn extent(logical: u64, physical: u64) -> Extent {
    Extent {
        logical,
        physical,
        len: 1,
        flags: 0,
    }
}

pub fn check(image: &Image) -> Fsck {
    Fsck::check(&image.open()).unwrap()
}

/// Checks and repairs `image` as `fsck.rexfs -y` does: replays its journal
/// first.
pub fn repair(image: &Image) -> Fsck {
    let dev = image.open();
    let mut fsck = Fsck::replay_and_check(&dev).unwrap();
    fsck.repair(&dev).unwrap();
    fsck
}

pub fn messages(fsck: &Fsck) -> Vec<String> {
    fsck.problems().iter().map(|p| p.to_string()).collect()
}

/// Checks `image` and expects exactly `problems` and exit status `code`.
pub fn expect(image: &Image, problems: &[&str], code: u8) {
    let fsck = check(image);
    assert_eq!(messages(&fsck), problems);
    assert_eq!(fsck.exit_code(), code);
}

/// Repairs `image`, expecting `problems` all fixed, then checks it clean.
pub fn expect_repaired(image: &Image, problems: &[&str]) {
    let fsck = repair(image);
    let fixed: Vec<String> = problems.iter().map(|p| format!("{p} (fixed)")).collect();
    assert_eq!(messages(&fsck), fixed);
    assert_eq!(fsck.exit_code(), exit::CORRECTED);
    expect(image, &[], exit::OK);
}

/// A 16 MiB filesystem as mkfs.rexfs makes it by default: with a journal
/// and reflink.
pub fn formatted() -> Image {
    Image::formatted(16 * MIB, &["-q"])
}

/// A 16 MiB filesystem as mkfs.rexfs makes it by default but without
/// directory indexes and extent trees (`-O ^dir_index,^extent_tree`): for
/// the chains of extent blocks the tests write by hand.
pub fn formatted_without_trees() -> Image {
    Image::formatted(16 * MIB, &["-q", "-O", "^dir_index,^extent_tree"])
}

/// A 16 MiB filesystem with a journal and without reflink (`-O ^reflink`).
pub fn formatted_without_reflink() -> Image {
    Image::formatted(16 * MIB, &["-q", "-O", "^reflink"])
}

/// Journal block types and tag flags, as include/linux/jbd2.h defines them.
pub const JBD2_DESCRIPTOR_BLOCK: u32 = 1;
pub const JBD2_COMMIT_BLOCK: u32 = 2;
pub const JBD2_REVOKE_BLOCK: u32 = 5;
pub const JBD2_FLAG_ESCAPE: u32 = 1;
pub const JBD2_FLAG_SAME_UUID: u32 = 2;
pub const JBD2_FLAG_LAST_TAG: u32 = 8;

fn put_be32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// A jbd2 log written by hand into the journal of a filesystem, laid out
/// as jbd2's commit code writes it with `CSUM_V3` and `64BIT`
/// (`journal_header_t`, `journal_block_tag3_t`, `jbd2_journal_revoke_header_t`,
/// `commit_header`, `jbd2_journal_block_tail`), independently of the
/// parser under test.
pub struct LogWriter<'a> {
    pub fs: &'a Fs,
    pub jsb: JournalSuperblock,
    /// The log block the next block goes to.
    pub next: u64,
}

impl<'a> LogWriter<'a> {
    /// A log starting at log block `start` of the journal of `fs`.
    pub fn new(fs: &'a Fs, start: u64) -> Self {
        let g = fs.g();
        let jsb = JournalSuperblock::decode(&fs.read(g.journal_start), g.journal_blocks).unwrap();
        LogWriter {
            fs,
            jsb,
            next: start,
        }
    }

    fn seed(&self) -> u32 {
        jbd2_chksum(!0, &self.jsb.uuid)
    }

    /// Writes `block` at the next log block, wrapping from the end of the
    /// log to its start; returns the device block it went to.
    pub fn put(&mut self, block: &[u8]) -> u64 {
        let at = self.fs.g().journal_start + self.next;
        self.fs.write(at, block);
        self.next += 1;
        if self.next == u64::from(self.jsb.maxlen) {
            self.next = u64::from(self.jsb.first);
        }
        at
    }

    fn header(kind: u32, sequence: u32) -> Vec<u8> {
        let mut block = vec![0; BLOCK_SIZE];
        put_be32(&mut block, 0, JBD2_MAGIC);
        put_be32(&mut block, 4, kind);
        put_be32(&mut block, 8, sequence);
        block
    }

    /// Seals a descriptor or revoke block with its checksum tail.
    fn seal_tail(&self, block: &mut [u8]) {
        block[BLOCK_SIZE - 4..].fill(0);
        let crc = jbd2_chksum(self.seed(), block);
        put_be32(block, BLOCK_SIZE - 4, crc);
    }

    /// The checksum of a tag: of the block as logged, after the
    /// transaction ID.
    pub fn tag_checksum(&self, sequence: u32, logged: &[u8]) -> u32 {
        jbd2_chksum(jbd2_chksum(self.seed(), &sequence.to_be_bytes()), logged)
    }

    /// A descriptor block of transaction `sequence` for `blocks`
    /// (filesystem block, contents), then their copies, escaped where they
    /// start with the jbd2 magic. The first tag carries the UUID, the others
    /// are `SAME_UUID`. Returns the device blocks of the descriptor and of
    /// the copies.
    pub fn descriptor(&mut self, sequence: u32, blocks: &[(u64, &[u8])]) -> (u64, Vec<u64>) {
        let mut desc = Self::header(JBD2_DESCRIPTOR_BLOCK, sequence);
        let mut logged = Vec::new();
        let mut at = 12;
        for (i, &(blocknr, data)) in blocks.iter().enumerate() {
            let mut copy = data.to_vec();
            let mut flags = 0;
            if copy[..4] == JBD2_MAGIC.to_be_bytes() {
                copy[..4].fill(0);
                flags |= JBD2_FLAG_ESCAPE;
            }
            if i > 0 {
                flags |= JBD2_FLAG_SAME_UUID;
            }
            if i + 1 == blocks.len() {
                flags |= JBD2_FLAG_LAST_TAG;
            }
            put_be32(&mut desc, at, blocknr as u32);
            put_be32(&mut desc, at + 4, flags);
            put_be32(&mut desc, at + 8, (blocknr >> 32) as u32);
            let crc = self.tag_checksum(sequence, &copy);
            put_be32(&mut desc, at + 12, crc);
            at += 16;
            if i == 0 {
                desc[at..at + 16].copy_from_slice(&self.jsb.uuid);
                at += 16;
            }
            logged.push(copy);
        }
        self.seal_tail(&mut desc);
        let desc_at = self.put(&desc);
        let data_at = logged.iter().map(|copy| self.put(copy)).collect();
        (desc_at, data_at)
    }

    /// A revoke block of transaction `sequence` revoking `blocks`; returns
    /// its device block.
    pub fn revoke(&mut self, sequence: u32, blocks: &[u64]) -> u64 {
        let mut block = Self::header(JBD2_REVOKE_BLOCK, sequence);
        put_be32(&mut block, 12, 16 + 8 * blocks.len() as u32);
        for (i, &blocknr) in blocks.iter().enumerate() {
            block[16 + 8 * i..24 + 8 * i].copy_from_slice(&blocknr.to_be_bytes());
        }
        self.seal_tail(&mut block);
        self.put(&block)
    }

    /// The commit block of transaction `sequence`, committed at `sec`;
    /// returns its device block.
    pub fn commit(&mut self, sequence: u32, sec: u64) -> u64 {
        let mut block = Self::header(JBD2_COMMIT_BLOCK, sequence);
        block[48..56].copy_from_slice(&sec.to_be_bytes());
        let crc = jbd2_chksum(self.seed(), &block);
        put_be32(&mut block, 16, crc);
        self.put(&block)
    }

    /// Points the journal superblock at the log: it starts at log block
    /// `start` with transaction `sequence`.
    pub fn finish(&self, start: u64, sequence: u32) {
        let g = self.fs.g();
        let mut block = self.fs.read(g.journal_start);
        JournalSuperblock {
            start: start as u32,
            sequence,
            ..self.jsb
        }
        .encode(&mut block);
        self.fs.write(g.journal_start, &block);
    }
}

/// The journal superblock of `fs` as on disk.
pub fn journal_superblock(fs: &Fs) -> JournalSuperblock {
    let g = fs.g();
    JournalSuperblock::decode(&fs.read(g.journal_start), g.journal_blocks).unwrap()
}

/// A block of `byte`s, or starting with the jbd2 magic if `magic`.
pub fn pattern(byte: u8, magic: bool) -> Vec<u8> {
    let mut block = vec![byte; BLOCK_SIZE];
    if magic {
        block[..4].copy_from_slice(&JBD2_MAGIC.to_be_bytes());
    }
    block
}
