// SPDX-License-Identifier: GPL-2.0
//! The populated image every damaged image starts from.
//!
//! `mkfs.rexfs`'s library formats a 16 MiB image (with its default journal
//! and reflink's refcount table, or without either as `-J none` makes it;
//! without directory indexes and extent trees, as `-O
//! ^dir_index,^extent_tree` makes it); then the tree below is written
//! into it structure by structure with the format crate's encoders, as the
//! module would have left it, with the bitmap, the free counts and every
//! checksum consistent. Everything that `mkfs` takes from the clock or
//! `/dev/urandom` (UUID, times, the root's generation) is replaced by fixed
//! values, so the base image is the same bytes on every run: a damaged image
//! depends only on the seed and its index.
//!
//! ```text
//! /small          inline regular file, extended attribute block (user, trusted)
//! /medium         extents: written, a hole, unwritten, written, unwritten past EOF
//! /big            180 extents: 5 in the inode, 175 in a chain of two extent
//!                 blocks (168 and 7), most of them unwritten, holes between
//! /holes          1 MiB, no extents at all
//! /hard           hard link to /medium (so is /dir1/medium-link)
//! /link-short     inline symlink
//! /link-long      symlink whose 300-byte target is in a data block; xattrs
//! /fifo /chr /blk /sock   special files (fifo with trusted xattrs)
//! /dir1           3 blocks in 2 extents: 50 inline files f00..f49 (0 to 128
//!                 bytes), a free entry, hard links to /medium and /big, sub/,
//!                 z (inline; the one name of one byte); f40 onwards, sub
//!                 and z are in the third block
//! /dir1/sub       deep (2 blocks), sub2/ (empty), up-link (symlink)
//! /xdir           directory with an attribute block of 12 entries, file a
//! /empty          empty directory (no blocks)
//! orphans         (journaled only) two unlinked inodes on the orphan list,
//!                 one extent-mapped, one inline with a trusted xattr
//! ```
//!
//! Two inode slots between used ones are left free (never used: all zero),
//! as are the slots after the last one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::process;
use std::sync::atomic::{AtomicUsize, Ordering};

use rexfs_format::{
    dirent_size, file_type, init_dir_block, mode, write_dirent, BlockHeader, BlockKind, DiskInode,
    Extent, ExtentBlock, Geometry, JournalSuperblock, Superblock, Timestamp, XattrBlock,
    XattrNamespace, BLOCK_SIZE, EXTENTS_PER_BLOCK, EXTENT_SIZE, EXTENT_UNWRITTEN, HEADER_SIZE,
    INODE_EXTENTS, INODE_INLINE, INODE_SIZE, ROOT_INO, STATE_CLEAN,
};
use rexfs_mkfs::{bitmap_block, format, Device, Features, JournalOption, Options};

/// Size of every image: 4,096 blocks, with mkfs's default journal of 1,024.
pub const IMAGE_SIZE: u64 = 16 << 20;
const BS: u64 = BLOCK_SIZE as u64;
/// The time every timestamp of the base image is based on (2026-01-01).
const BASE_TIME: i64 = 1_767_225_600;
/// The UUID of the base image (version 4, RFC 4122 variant bits set).
const UUID: [u8; 16] = [
    0x72, 0x65, 0x78, 0x66, 0x73, 0x2d, 0x40, 0x7a, 0x9a, 0x7a, 0x2d, 0x62, 0x61, 0x73, 0x65, 0x31,
];

/// The two kinds of base image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// mkfs's default: a jbd2 journal (and orphans on the orphan list) and
    /// the reflink feature (an empty refcount table: no block is shared).
    Journal,
    /// `mkfs.rexfs -J none`: no journal, no orphan list.
    NoJournal,
}

impl Variant {
    /// The name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Journal => "journal",
            Variant::NoJournal => "nojournal",
        }
    }
}

/// An inode in use in the base image.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its number.
    pub ino: u64,
    /// Its path (the first name linking it), or `<orphan>`.
    pub path: String,
    /// Its mode, type bits included.
    pub mode: u16,
    /// Extents in the inode (0 for inline data and extentless inodes).
    pub inode_extents: usize,
}

/// A metadata block and the inode owning it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owned {
    /// The block.
    pub blkno: u64,
    /// Its owner.
    pub ino: u64,
}

/// A base image and where its structures are.
pub struct Base {
    /// Journaled or not.
    pub variant: Variant,
    /// The whole image.
    pub bytes: Vec<u8>,
    /// Its superblock.
    pub sb: Superblock,
    /// Every inode in use, root first.
    pub nodes: Vec<Node>,
    /// Free inode slots: two among used ones, the next one, the last one.
    pub free_slots: Vec<u64>,
    /// Directory blocks.
    pub dir_blocks: Vec<Owned>,
    /// Extent blocks (the chain of `/big`).
    pub extent_blocks: Vec<Owned>,
    /// Extended attribute blocks.
    pub xattr_blocks: Vec<Owned>,
    /// The data block of the long symlink, and the target's length.
    pub symlink_blocks: Vec<(Owned, usize)>,
    /// Data blocks of regular files (written or unwritten).
    pub data_blocks: Vec<u64>,
    /// Data blocks no inode uses.
    pub free_blocks: Vec<u64>,
}

impl Base {
    /// The geometry of the image.
    pub fn geometry(&self) -> Geometry {
        self.sb.geometry
    }

    /// The node of inode `ino`, if it is in use.
    pub fn node(&self, ino: u64) -> Option<&Node> {
        self.nodes.iter().find(|n| n.ino == ino)
    }

    /// The node whose path (first name) is `path`.
    pub fn find(&self, path: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.path == path)
    }

    /// A short description of inode `ino`: its number and path.
    pub fn describe_inode(&self, ino: u64) -> String {
        match self.node(ino) {
            Some(n) => format!("inode {ino} ({})", n.path),
            None => format!("inode {ino} (free)"),
        }
    }

    /// Writes the image to `path` as a sparse file: all-zero blocks are
    /// holes.
    pub fn write_sparse(bytes: &[u8], path: &Path) -> io::Result<()> {
        write_sparse(bytes, path)
    }
}

/// Writes `bytes` to a new file at `path`, leaving all-zero blocks as holes.
pub fn write_sparse(bytes: &[u8], path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = File::create(path)?;
    file.set_len(bytes.len() as u64)?;
    let mut start = None;
    let blocks: Vec<&[u8]> = bytes.chunks(BLOCK_SIZE).collect();
    // Runs of non-zero blocks go out in one write each.
    for (i, block) in blocks.iter().enumerate() {
        let zero = block.iter().all(|&b| b == 0);
        match (zero, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                file.write_all_at(
                    &bytes[s * BLOCK_SIZE..i * BLOCK_SIZE],
                    (s * BLOCK_SIZE) as u64,
                )?;
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        file.write_all_at(&bytes[s * BLOCK_SIZE..], (s * BLOCK_SIZE) as u64)?;
    }
    Ok(())
}

/// Builds the base image of `variant`, formatting it in a temporary file in
/// `scratch` (removed again).
pub fn build(variant: Variant, scratch: &Path) -> io::Result<Base> {
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let path = scratch.join(format!(
        ".rexfs-fuzz-base-{}-{}-{}.img",
        variant.name(),
        process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    ));
    let result = format_image(variant, &path);
    let _ = fs::remove_file(&path);
    let (bytes, sb) = result?;
    let mut b = Builder::new(variant, bytes, sb);
    b.populate();
    Ok(b.finish())
}

/// Formats an image file at `path` with mkfs's library; returns its bytes
/// and superblock.
fn format_image(variant: Variant, path: &Path) -> io::Result<(Vec<u8>, Superblock)> {
    File::create(path)?.set_len(IMAGE_SIZE)?;
    let dev = Device::open(path, true)?;
    let opts = Options {
        quiet: true,
        force: true,
        label: b"rexfs-fuzz".to_vec(),
        inodes: None,
        journal: match variant {
            Variant::Journal => JournalOption::Default,
            Variant::NoJournal => JournalOption::None,
        },
        // The base image keeps the chain of extent blocks (/big) and
        // directories without an index (/dir1).
        features: Features {
            dir_index: false,
            extent_tree: false,
            ..Features::default()
        },
        size: None,
        device: path.to_path_buf(),
    };
    let sb = format(&dev, &opts).map_err(|e| io::Error::other(format!("mkfs: {e}")))?;
    drop(dev);
    Ok((fs::read(path)?, sb))
}

/// Extent shape of a file being built: `(logical, len, unwritten)`.
type Shape = (u64, u32, bool);

struct Builder {
    variant: Variant,
    bytes: Vec<u8>,
    sb: Superblock,
    g: Geometry,
    next_block: u64,
    used: BTreeSet<u64>,
    next_ino: u64,
    inodes: BTreeMap<u64, DiskInode>,
    /// Directory entries by directory: (name, inode).
    entries: BTreeMap<u64, Vec<(String, u64)>>,
    orphans: Vec<u64>,
    nodes: Vec<Node>,
    free_slots: Vec<u64>,
    dir_blocks: Vec<Owned>,
    extent_blocks: Vec<Owned>,
    xattr_blocks: Vec<Owned>,
    symlink_blocks: Vec<(Owned, usize)>,
    data_blocks: Vec<u64>,
}

impl Builder {
    fn new(variant: Variant, bytes: Vec<u8>, sb: Superblock) -> Self {
        let g = sb.geometry;
        Builder {
            variant,
            bytes,
            sb,
            g,
            next_block: g.data_start,
            used: BTreeSet::new(),
            next_ino: ROOT_INO,
            inodes: BTreeMap::new(),
            entries: BTreeMap::new(),
            orphans: Vec::new(),
            nodes: Vec::new(),
            free_slots: Vec::new(),
            dir_blocks: Vec::new(),
            extent_blocks: Vec::new(),
            xattr_blocks: Vec::new(),
            symlink_blocks: Vec::new(),
            data_blocks: Vec::new(),
        }
    }

    fn block_mut(&mut self, blkno: u64) -> &mut [u8] {
        let start = blkno as usize * BLOCK_SIZE;
        &mut self.bytes[start..start + BLOCK_SIZE]
    }

    /// Allocates `n` contiguous blocks.
    fn alloc(&mut self, n: u64) -> u64 {
        let first = self.next_block;
        self.next_block += n;
        assert!(
            self.next_block <= self.g.block_count,
            "the base image is full"
        );
        self.used.extend(first..first + n);
        first
    }

    /// Leaves `n` blocks free, fragmenting the free space.
    fn gap(&mut self, n: u64) {
        self.next_block += n;
    }

    /// A new inode of `mode` at `path` in directory `parent` (0: an orphan,
    /// linked nowhere).
    fn inode(&mut self, parent: u64, name: &str, mode: u16) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        let t = |k: i64| Timestamp {
            sec: BASE_TIME + 60 * ino as i64 + k,
            nsec: (ino as u32 * 1_000_003 + k as u32) % 1_000_000_000,
        };
        let inode = DiskInode {
            mode,
            uid: if ino.is_multiple_of(3) { 1000 } else { 0 },
            gid: if ino.is_multiple_of(5) { 100 } else { 0 },
            atime: t(3),
            mtime: t(2),
            ctime: t(2),
            crtime: t(0),
            generation: (ino as u32).wrapping_mul(0x9e37_79b9) ^ 0x5a5a_0000,
            parent: if mode & mode::S_IFMT == mode::S_IFDIR {
                if ino == ROOT_INO {
                    ROOT_INO
                } else {
                    parent
                }
            } else {
                0
            },
            ..DiskInode::FREE
        };
        self.inodes.insert(ino, inode);
        if mode & mode::S_IFMT == mode::S_IFDIR {
            self.entries.entry(ino).or_default();
        }
        let path = if ino == ROOT_INO {
            "/".to_string()
        } else if parent == 0 {
            self.orphans.push(ino);
            "<orphan>".to_string()
        } else {
            self.link(parent, name, ino);
            let dir = &self
                .nodes
                .iter()
                .find(|n| n.ino == parent)
                .expect("parent")
                .path;
            format!("{}/{name}", dir.trim_end_matches('/'))
        };
        self.nodes.push(Node {
            ino,
            path,
            mode,
            inode_extents: 0,
        });
        ino
    }

    /// Adds the entry `name` for `ino` to directory `dir`.
    fn link(&mut self, dir: u64, name: &str, ino: u64) {
        self.entries
            .get_mut(&dir)
            .expect("a directory")
            .push((name.to_string(), ino));
    }

    /// Leaves inode slot numbers free between used ones.
    fn skip_inodes(&mut self, n: u64) {
        for _ in 0..n {
            self.free_slots.push(self.next_ino);
            self.next_ino += 1;
        }
    }

    fn get(&mut self, ino: u64) -> &mut DiskInode {
        self.inodes.get_mut(&ino).expect("an inode")
    }

    /// Makes `ino` hold `data` inline.
    fn inline(&mut self, ino: u64, data: &[u8]) {
        let inode = self.get(ino);
        inode.flags |= INODE_INLINE;
        inode.size = data.len() as u64;
        inode.data[..data.len()].copy_from_slice(data);
    }

    /// Gives `ino` extents of `shape`, each on blocks of its own (a free
    /// block between consecutive extents), writing a pattern into the
    /// written ones; extents beyond the inode's five go into a chain of
    /// extent blocks holding `per_block` each. Sets the size to `size`.
    fn extents(&mut self, ino: u64, shape: &[Shape], per_block: usize, size: u64) {
        let mut extents = Vec::new();
        for &(logical, len, unwritten) in shape {
            let physical = self.alloc(len.into());
            self.gap(1);
            self.data_blocks.extend(physical..physical + u64::from(len));
            if !unwritten {
                for i in 0..u64::from(len) {
                    let file_block = logical + i;
                    let valid = size.saturating_sub(file_block * BS).min(BS) as usize;
                    let text = format!("rexfs-fuzz inode {ino} file block {file_block}\n");
                    let block = self.block_mut(physical + i);
                    for (j, byte) in block[..valid].iter_mut().enumerate() {
                        *byte = text.as_bytes()[j % text.len()];
                    }
                }
            }
            extents.push(Extent {
                logical,
                physical,
                len,
                flags: if unwritten { EXTENT_UNWRITTEN } else { 0 },
            });
        }
        self.set_extents(ino, &extents, per_block);
        self.get(ino).size = size;
    }

    /// Stores `extents` (sorted) in `ino`: the first five in the inode, the
    /// rest in a new chain of extent blocks of `per_block` extents each.
    fn set_extents(&mut self, ino: u64, extents: &[Extent], per_block: usize) {
        let in_inode = extents.len().min(INODE_EXTENTS);
        let rest = &extents[in_inode..];
        let chain: Vec<u64> = rest.chunks(per_block).map(|_| self.alloc(1)).collect();
        for (i, chunk) in rest.chunks(per_block).enumerate() {
            let next = chain.get(i + 1).copied().unwrap_or(0);
            let blkno = chain[i];
            ExtentBlock::encode(self.block_mut(blkno), blkno, ino, next, chunk);
            self.extent_blocks.push(Owned { blkno, ino });
        }
        let inode = self.get(ino);
        for (i, e) in extents[..in_inode].iter().enumerate() {
            e.encode(&mut inode.data[i * EXTENT_SIZE..]);
        }
        inode.extent_count = extents.len() as u32;
        inode.extent_block = chain.first().copied().unwrap_or(0);
        inode.blocks += extents.iter().map(|e| u64::from(e.len)).sum::<u64>() + chain.len() as u64;
        if let Some(node) = self.nodes.iter_mut().find(|n| n.ino == ino) {
            node.inode_extents = in_inode;
        }
    }

    /// Gives `ino` an extended attribute block holding `attrs`.
    fn xattrs(&mut self, ino: u64, attrs: &[(XattrNamespace, &str, &[u8])]) {
        let blkno = self.alloc(1);
        let mut raw = vec![0; BLOCK_SIZE];
        let mut block = XattrBlock::empty(&mut raw[..]);
        for &(ns, name, value) in attrs {
            block
                .set(ns, name.as_bytes(), value)
                .expect("the attributes fit");
        }
        block.seal(blkno, ino);
        self.block_mut(blkno).copy_from_slice(&raw);
        self.xattr_blocks.push(Owned { blkno, ino });
        let inode = self.get(ino);
        inode.xattr_block = blkno;
        inode.blocks += 1;
    }

    /// A symlink to `target`: inline up to 128 bytes, else in a data block.
    fn symlink(&mut self, dir: u64, name: &str, target: &[u8]) -> u64 {
        let ino = self.inode(dir, name, mode::S_IFLNK | 0o777);
        if target.len() <= rexfs_format::INLINE_DATA_MAX {
            self.inline(ino, target);
        } else {
            let blkno = self.alloc(1);
            self.block_mut(blkno)[..target.len()].copy_from_slice(target);
            let extent = Extent {
                logical: 0,
                physical: blkno,
                len: 1,
                flags: 0,
            };
            self.set_extents(ino, &[extent], 1);
            self.get(ino).size = target.len() as u64;
            self.symlink_blocks
                .push((Owned { blkno, ino }, target.len()));
        }
        ino
    }

    /// Writes directory `dir`'s blocks from its entries, `per_block` to a
    /// block; with `split`, the last block in an extent of its own. The
    /// first block gets a free entry (`ino` 0) after its first entry, as a
    /// removal leaves one.
    fn lay_out_dir(&mut self, dir: u64, per_block: usize, split: bool) {
        let entries = self.entries[&dir].clone();
        if entries.is_empty() {
            return;
        }
        let chunks: Vec<&[(String, u64)]> = entries.chunks(per_block).collect();
        let n = chunks.len() as u64;
        let mut blocks = Vec::new();
        if split && n >= 2 {
            let first = self.alloc(n - 1);
            blocks.extend(first..first + n - 1);
            self.gap(1);
            blocks.push(self.alloc(1));
        } else {
            let first = self.alloc(n);
            blocks.extend(first..first + n);
        }
        for (i, chunk) in chunks.iter().enumerate() {
            let blkno = blocks[i];
            let mut block = vec![0; BLOCK_SIZE];
            init_dir_block(&mut block);
            let mut offset = HEADER_SIZE;
            for (j, (name, ino)) in chunk.iter().enumerate() {
                let ftype = file_type::from_mode(self.inodes[ino].mode);
                let last = j + 1 == chunk.len();
                let rec_len = if last {
                    BLOCK_SIZE - offset
                } else {
                    dirent_size(name.len())
                };
                write_dirent(&mut block, offset, *ino, rec_len, ftype, name.as_bytes());
                offset += rec_len;
                if i == 0 && j == 0 && chunk.len() > 2 {
                    // A removed entry's space.
                    write_dirent(&mut block, offset, 0, 32, 0, b"");
                    offset += 32;
                }
            }
            BlockHeader {
                kind: BlockKind::Directory,
                blkno,
                owner: dir,
            }
            .seal(&mut block);
            self.block_mut(blkno).copy_from_slice(&block);
            self.dir_blocks.push(Owned { blkno, ino: dir });
        }
        let mut extents: Vec<Extent> = Vec::new();
        for (logical, &blkno) in (0u64..).zip(&blocks) {
            match extents.last_mut() {
                Some(e) if e.physical + u64::from(e.len) == blkno && e.logical_end() == logical => {
                    e.len += 1;
                }
                _ => extents.push(Extent {
                    logical,
                    physical: blkno,
                    len: 1,
                    flags: 0,
                }),
            }
        }
        self.set_extents(dir, &extents, 1);
        self.get(dir).size = n * BS;
    }

    fn populate(&mut self) {
        use XattrNamespace::{Trusted, User};
        let dir = mode::S_IFDIR | 0o755;
        let reg = mode::S_IFREG | 0o644;
        let root = self.inode(0, "", dir);
        assert_eq!(root, ROOT_INO);

        let small = self.inode(root, "small", reg);
        self.inline(small, b"a small file, stored in its inode\n");
        self.xattrs(
            small,
            &[
                (User, "color", b"blue"),
                (User, "empty", b""),
                (User, "long", &[b'v'; 300]),
                (Trusted, "t", b"trusted value"),
            ],
        );

        let medium = self.inode(root, "medium", reg);
        // A hole at file blocks 3-4, unwritten 5-6, written 8, and two
        // unwritten blocks past the end (fallocate KEEP_SIZE).
        self.extents(
            medium,
            &[(0, 3, false), (5, 2, true), (8, 1, false), (12, 2, true)],
            1,
            8 * BS + 100,
        );

        // A chain of two extent blocks: 5 extents in the inode, 168 (a full
        // block) and 7. One-block extents with a hole between each, most of
        // them unwritten, so that the image stays small.
        let big = self.inode(root, "big", reg | 0o100);
        let n = (INODE_EXTENTS + EXTENTS_PER_BLOCK + 7) as u64;
        let shape: Vec<Shape> = (0..n)
            .map(|i| (i * 2, 1, i % 6 != 0 && i + 1 != n))
            .collect();
        let end = shape.last().map_or(0, |&(l, n, _)| l + u64::from(n));
        self.extents(big, &shape, EXTENTS_PER_BLOCK, end * BS - 1000);

        let holes = self.inode(root, "holes", reg);
        self.get(holes).size = 1 << 20;

        self.link(root, "hard", medium);
        self.symlink(root, "link-short", b"small");
        let long_target: Vec<u8> = (0..300).map(|i| b"abcdefgh/"[i % 9]).collect();
        let link_long = self.symlink(root, "link-long", &long_target);
        self.xattrs(link_long, &[(Trusted, "on-a-symlink", b"yes")]);

        let fifo = self.inode(root, "fifo", mode::S_IFIFO | 0o600);
        self.xattrs(fifo, &[(Trusted, "a", b"1"), (Trusted, "b", b"22")]);
        let chr = self.inode(root, "chr", mode::S_IFCHR | 0o600);
        self.get(chr).rdev = (1 << 20) | 3;
        let blk = self.inode(root, "blk", mode::S_IFBLK | 0o600);
        self.get(blk).rdev = 7 << 20;
        self.inode(root, "sock", mode::S_IFSOCK | 0o755);

        let dir1 = self.inode(root, "dir1", dir);
        for i in 0..50usize {
            let f = self.inode(dir1, &format!("f{i:02}"), reg);
            let len = match i {
                0 => 0,
                1 => rexfs_format::INLINE_DATA_MAX,
                _ => (i * 37) % 129,
            };
            let data: Vec<u8> = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
            self.inline(f, &data);
            if i == 24 {
                // Free slots between used ones: all zero, never used.
                self.skip_inodes(2);
            }
        }
        self.link(dir1, "medium-link", medium);
        self.link(dir1, "big-link", big);
        let sub = self.inode(dir1, "sub", dir);
        let deep = self.inode(sub, "deep", reg);
        self.extents(deep, &[(0, 2, false)], 1, 2 * BS);
        self.inode(sub, "sub2", dir);
        self.symlink(sub, "up-link", b"../../small");
        // A one-byte name (rexfs-fuzz --case dirent-name-len-zero).
        let z = self.inode(dir1, "z", reg);
        self.inline(z, b"z\n");

        let xdir = self.inode(root, "xdir", dir | 0o1000);
        let a = self.inode(xdir, "a", reg);
        self.inline(a, b"in xdir\n");
        let attrs: Vec<(XattrNamespace, String, Vec<u8>)> = (0..12)
            .map(|i| {
                let ns = if i % 4 == 3 { Trusted } else { User };
                (
                    ns,
                    format!("attr{i:02}"),
                    format!("value {i}").repeat(i + 1).into_bytes(),
                )
            })
            .collect();
        let attrs: Vec<(XattrNamespace, &str, &[u8])> = attrs
            .iter()
            .map(|(ns, n, v)| (*ns, n.as_str(), v.as_slice()))
            .collect();
        self.xattrs(xdir, &attrs);
        self.inode(root, "empty", dir);

        if self.variant == Variant::Journal {
            let o1 = self.inode(0, "", reg);
            self.extents(o1, &[(0, 2, false)], 1, 2 * BS - 10);
            let o2 = self.inode(0, "", reg);
            self.inline(o2, b"orphan");
            self.xattrs(o2, &[(Trusted, "orphaned", b"yes")]);
        }

        // Directories last, so that their entries know their inodes' types.
        self.lay_out_dir(root, 9, false);
        self.lay_out_dir(dir1, 20, true);
        self.lay_out_dir(sub, 8, false);
        self.lay_out_dir(xdir, 8, false);
    }

    /// Sets the link counts from the entries, writes the inodes, the orphan
    /// list, the bitmap, the journal superblock and the superblock.
    fn finish(mut self) -> Base {
        let mut refs: BTreeMap<u64, u32> = BTreeMap::new();
        let mut subdirs: BTreeMap<u64, u32> = BTreeMap::new();
        for (&dir, entries) in &self.entries {
            for (_, ino) in entries {
                *refs.entry(*ino).or_default() += 1;
                if self.inodes[ino].is_dir() {
                    *subdirs.entry(dir).or_default() += 1;
                }
            }
        }
        for (&ino, inode) in &mut self.inodes {
            inode.nlink = if inode.is_dir() {
                2 + subdirs.get(&ino).copied().unwrap_or(0)
            } else {
                refs.get(&ino).copied().unwrap_or(0)
            };
        }
        for pair in self.orphans.clone().windows(2) {
            self.get(pair[0]).next_orphan = pair[1] as u32;
        }
        self.free_slots.push(self.next_ino);
        self.free_slots.push(self.g.inode_count);

        let g = self.g;
        for (&ino, inode) in &self.inodes {
            let (blkno, offset) = g.inode_location(ino).expect("in range");
            let at = blkno as usize * BLOCK_SIZE + offset;
            inode.encode(&mut self.bytes[at..at + INODE_SIZE]);
        }
        let used = self.used.clone();
        for index in 0..g.bitmap_blocks {
            let blkno = g.bitmap_start + index;
            bitmap_block(self.block_mut(blkno), &g, index, |b| used.contains(&b));
        }
        if g.has_journal() {
            let blkno = g.journal_start;
            JournalSuperblock::new(g.journal_blocks, UUID).encode(self.block_mut(blkno));
        }
        let mut sb = Superblock::new(g, BASE_TIME, UUID);
        sb.feature_incompat = self.sb.feature_incompat;
        sb.label = self.sb.label;
        sb.free_blocks = g.data_blocks() - used.len() as u64;
        sb.free_inodes = g.inode_count - self.inodes.len() as u64;
        sb.orphan_head = self.orphans.first().copied().unwrap_or(0);
        sb.state = STATE_CLEAN;
        sb.encode(self.block_mut(0));
        let free_blocks = (g.data_start..g.block_count)
            .filter(|b| !used.contains(b))
            .collect();
        Base {
            variant: self.variant,
            bytes: self.bytes,
            sb,
            nodes: self.nodes,
            free_slots: self.free_slots,
            dir_blocks: self.dir_blocks,
            extent_blocks: self.extent_blocks,
            xattr_blocks: self.xattr_blocks,
            symlink_blocks: self.symlink_blocks,
            data_blocks: self.data_blocks,
            free_blocks,
        }
    }
}
