// SPDX-License-Identifier: GPL-2.0
//! The consistency check of a rexfs filesystem, and its repairs.
//!
//! The check reads the superblock, the bitmap and the whole inode table, then
//! every block map, extended attribute block and directory, and computes
//! from them which blocks are owned by whom and how often each inode is
//! linked. Everything on disk
//! that disagrees is a [`Problem`]. Repairs are only offered where the
//! computed value is known to be complete: a bitmap is not trimmed while some
//! block map could not be read, nor a link count set while some directory
//! could not be read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io;
use std::mem;
use std::time::{SystemTime, UNIX_EPOCH};

use rexfs_format::{
    bitmap_payload, dir_entries, file_type, mode, test_bit, BlockHeader, BlockKind, DirEntry,
    DiskInode, Extent, ExtentBlock, Geometry, Superblock, XattrBlock, BITS_PER_BITMAP_BLOCK,
    BLOCK_SIZE, EXTENT_UNWRITTEN, INODES_PER_BLOCK, INODE_SIZE, ROOT_INO,
};
use rexfs_mkfs::{bitmap_block, Device};

use crate::exit;

/// A change to the device that repairs a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
    /// Rewrite the bitmap blocks that differ from the computed block usage.
    Bitmap,
    /// Rewrite the superblock with the computed free counts.
    Superblock,
    /// Set an inode's link count.
    Nlink(u64, u32),
    /// Set an inode's count of allocated blocks.
    Blocks(u64, u64),
    /// Set a directory's parent.
    Parent(u64, u64),
}

/// An inconsistency found on the device.
#[derive(Clone, Debug)]
pub struct Problem {
    message: String,
    fix: Option<Fix>,
    fixed: bool,
}

impl Problem {
    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the problem was repaired on the device.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.fixed {
            f.write_str(" (fixed)")?;
        }
        Ok(())
    }
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem that cannot be repaired.
    fn report(&mut self, message: String) {
        self.fixable(message, None);
    }

    /// Records a problem that `fix`, if any, repairs.
    fn fixable(&mut self, message: String, fix: Option<Fix>) {
        self.0.push(Problem {
            message,
            fix,
            fixed: false,
        });
    }
}

/// Usage counts of a checked filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Inodes in use.
    pub inodes_used: u64,
    /// All inodes.
    pub inode_count: u64,
    /// Blocks in use, metadata included.
    pub blocks_used: u64,
    /// All blocks.
    pub block_count: u64,
}

/// The outcome of checking a device: the problems found, and what is needed
/// to repair them.
pub struct Fsck {
    problems: Vec<Problem>,
    /// `None` when the superblock is unusable and nothing else was checked.
    checker: Option<Checker>,
}

impl Fsck {
    /// Checks the filesystem on `dev` without changing it.
    ///
    /// Damage is reported as problems; an error means the device could not
    /// be read.
    pub fn check(dev: &Device) -> io::Result<Self> {
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(0, &mut block)?;
        let sb = match Superblock::decode(&block) {
            Ok(sb) => sb,
            Err(e) => return Ok(Self::unusable(format!("superblock: {}", e.reason()))),
        };
        if sb.geometry.block_count > dev.block_count() {
            return Ok(Self::unusable(format!(
                "superblock: the filesystem has {} blocks but the device only {}",
                sb.geometry.block_count,
                dev.block_count()
            )));
        }
        if sb.needs_read_only() {
            return Ok(Self::unusable(format!(
                "superblock: unsupported read-only features {:#x}",
                sb.feature_ro_compat
            )));
        }
        let mut checker = Checker::new(sb);
        checker.read_bitmap(dev)?;
        checker.read_inodes(dev)?;
        checker.check_root();
        checker.map_inodes(dev)?;
        checker.read_directories(dev)?;
        checker.check_links();
        checker.check_bitmap();
        checker.check_superblock();
        Ok(Fsck {
            problems: mem::take(&mut checker.problems).0,
            checker: Some(checker),
        })
    }

    fn unusable(message: String) -> Self {
        Fsck {
            problems: vec![Problem {
                message,
                fix: None,
                fixed: false,
            }],
            checker: None,
        }
    }

    /// Writes the repairs of all problems that have one to `dev`, syncs it
    /// and marks those problems fixed.
    pub fn repair(&mut self, dev: &Device) -> io::Result<()> {
        let Some(checker) = &self.checker else {
            return Ok(());
        };
        let fixes: Vec<Fix> = self.problems.iter().filter_map(|p| p.fix).collect();
        if fixes.is_empty() {
            return Ok(());
        }
        let mut inodes = BTreeMap::new();
        for &fix in &fixes {
            match fix {
                Fix::Nlink(ino, n) => inodes.entry(ino).or_insert(checker.inodes[&ino]).nlink = n,
                Fix::Blocks(ino, n) => inodes.entry(ino).or_insert(checker.inodes[&ino]).blocks = n,
                Fix::Parent(ino, p) => inodes.entry(ino).or_insert(checker.inodes[&ino]).parent = p,
                Fix::Bitmap | Fix::Superblock => {}
            }
        }
        for (&ino, inode) in &inodes {
            checker.write_inode(dev, ino, inode)?;
        }
        if fixes.contains(&Fix::Bitmap) {
            checker.write_bitmap(dev)?;
        }
        if fixes.contains(&Fix::Superblock) {
            checker.write_superblock(dev)?;
        }
        dev.sync()?;
        for problem in &mut self.problems {
            problem.fixed = problem.fix.is_some();
        }
        Ok(())
    }

    /// The problems found, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The exit status for the outcome, as e2fsck's.
    pub fn exit_code(&self) -> u8 {
        if self.problems.is_empty() {
            exit::OK
        } else if self.problems.iter().all(|p| p.fixed) {
            exit::CORRECTED
        } else {
            exit::UNCORRECTED
        }
    }

    /// Usage counts, as they are after the repairs; `None` if the superblock
    /// is unusable.
    pub fn summary(&self) -> Option<Summary> {
        let c = self.checker.as_ref()?;
        Some(Summary {
            inodes_used: c.g.inode_count - c.free_inodes(),
            inode_count: c.g.inode_count,
            blocks_used: c.g.block_count - c.free_blocks(),
            block_count: c.g.block_count,
        })
    }
}

/// References to an inode from directory entries.
#[derive(Clone, Copy, Debug, Default)]
struct Links {
    /// Entries naming the inode.
    refs: u32,
    /// For a directory: its entries that name directories.
    subdirs: u32,
    /// The directory holding the first entry naming the inode.
    linked_from: u64,
}

/// The block map of an inode as read from disk.
struct ExtentMap {
    /// All extents, in the inode then along the chain.
    extents: Vec<Extent>,
    /// The extent blocks of the chain that were read.
    chain: Vec<u64>,
    /// Whether the whole chain was read.
    complete: bool,
}

/// The state of a check.
struct Checker {
    sb: Superblock,
    g: Geometry,
    problems: Problems,
    /// The bitmap blocks as on disk.
    bitmap: Vec<u8>,
    /// For each bitmap block, whether it verified.
    bitmap_ok: Vec<bool>,
    /// The inode owning each block, 0 for none. Inode numbers fit in 32
    /// bits (`Geometry::new` ensures it).
    owner: Vec<u32>,
    /// The in-use inodes that decoded.
    inodes: BTreeMap<u64, DiskInode>,
    /// Inode slots that did not decode.
    bad_inodes: HashSet<u64>,
    /// The valid extents of each directory, kept for reading its entries.
    dirs: Vec<(u64, Vec<Extent>)>,
    /// Directory references to each inode.
    links: HashMap<u64, Links>,
    /// Whether every block map was read whole, so that `owner` is complete.
    blocks_known: bool,
    /// Whether every directory was read whole, so that `links` is complete.
    links_known: bool,
}

impl Checker {
    fn new(sb: Superblock) -> Self {
        let g = sb.geometry;
        Checker {
            sb,
            g,
            problems: Problems::default(),
            bitmap: Vec::with_capacity(g.bitmap_blocks as usize * BLOCK_SIZE),
            bitmap_ok: Vec::with_capacity(g.bitmap_blocks as usize),
            owner: vec![0; g.block_count as usize],
            inodes: BTreeMap::new(),
            bad_inodes: HashSet::new(),
            dirs: Vec::new(),
            links: HashMap::new(),
            blocks_known: true,
            links_known: true,
        }
    }

    fn read_bitmap(&mut self, dev: &Device) -> io::Result<()> {
        dev.read_region(self.g.bitmap_start, self.g.bitmap_blocks, |blkno, block| {
            let ok = match BlockHeader::verify(block, BlockKind::Bitmap, blkno) {
                Ok(0) => true,
                Ok(owner) => {
                    let message = format!("bitmap block {blkno}: owned by inode {owner}");
                    self.problems.fixable(message, Some(Fix::Bitmap));
                    false
                }
                Err(e) => {
                    let message = format!("bitmap block {blkno}: {}", e.reason());
                    self.problems.fixable(message, Some(Fix::Bitmap));
                    false
                }
            };
            self.bitmap_ok.push(ok);
            self.bitmap.extend_from_slice(block);
        })
    }

    /// Bitmap block `index` as on disk.
    fn disk_bitmap(&self, index: u64) -> &[u8] {
        let start = index as usize * BLOCK_SIZE;
        &self.bitmap[start..start + BLOCK_SIZE]
    }

    /// The on-disk bitmap bit of `blkno`, `None` if its bitmap block is bad.
    fn disk_bit(&self, blkno: u64) -> Option<bool> {
        let index = blkno / BITS_PER_BITMAP_BLOCK;
        let bit = (blkno % BITS_PER_BITMAP_BLOCK) as usize;
        self.bitmap_ok[index as usize]
            .then(|| test_bit(bitmap_payload(self.disk_bitmap(index)), bit))
    }

    fn read_inodes(&mut self, dev: &Device) -> io::Result<()> {
        let g = self.g;
        dev.read_region(g.inode_table_start, g.inode_table_blocks, |blkno, block| {
            let first = (blkno - g.inode_table_start) * INODES_PER_BLOCK + 1;
            for (ino, slot) in (first..=g.inode_count).zip(block.chunks_exact(INODE_SIZE)) {
                match DiskInode::decode(slot) {
                    Ok(inode) if inode.is_free() => {}
                    Ok(inode) => {
                        self.inodes.insert(ino, inode);
                    }
                    Err(e) => {
                        self.problems.report(format!("inode {ino}: {}", e.reason()));
                        self.bad_inodes.insert(ino);
                    }
                }
            }
        })?;
        // A bad inode may own blocks and, if a directory, link inodes.
        if !self.bad_inodes.is_empty() {
            self.blocks_known = false;
            self.links_known = false;
        }
        Ok(())
    }

    fn check_root(&mut self) {
        match self.inodes.get(&ROOT_INO) {
            None if self.bad_inodes.contains(&ROOT_INO) => {}
            None => self.problems.report("root inode: not in use".into()),
            Some(root) if !root.is_dir() => {
                self.problems.report("root inode: not a directory".into());
            }
            Some(root) if root.parent != ROOT_INO => self.problems.fixable(
                format!(
                    "root inode: parent is {}, should be {ROOT_INO}",
                    root.parent
                ),
                Some(Fix::Parent(ROOT_INO, ROOT_INO)),
            ),
            Some(_) => {}
        }
    }

    fn map_inodes(&mut self, dev: &Device) -> io::Result<()> {
        let inos: Vec<u64> = self.inodes.keys().copied().collect();
        for ino in inos {
            let inode = self.inodes[&ino];
            self.check_inode(dev, ino, &inode)?;
        }
        Ok(())
    }

    /// Checks the data and the extended attributes of an in-use inode and
    /// claims its blocks.
    fn check_inode(&mut self, dev: &Device, ino: u64, inode: &DiskInode) -> io::Result<()> {
        self.check_xattr_block(dev, ino, inode.xattr_block)?;
        // The inode owns its attribute block even if the block is damaged.
        let xattr_blocks = u64::from(inode.xattr_block != 0);
        let kind = inode.file_type();
        if inode.is_inline() {
            if kind != mode::S_IFREG && kind != mode::S_IFLNK {
                let what = mode_name(inode.mode);
                self.problems
                    .report(format!("inode {ino}: {what} with inline data"));
                if inode.is_dir() {
                    self.links_known = false;
                }
            }
            self.check_block_count(ino, inode, xattr_blocks);
            return Ok(());
        }

        let map = self.read_extents(dev, ino, inode)?;
        let mut complete = map.complete;
        if !matches!(kind, mode::S_IFREG | mode::S_IFLNK | mode::S_IFDIR) && !map.extents.is_empty()
        {
            let what = mode_name(inode.mode);
            self.problems
                .report(format!("inode {ino}: {what} with data blocks"));
        }
        let size_blocks = inode.size.div_ceil(BLOCK_SIZE as u64);
        let at =
            |i: usize, e: &Extent| format!("inode {ino}: extent {i} (file block {})", e.logical);
        let mut valid = Vec::with_capacity(map.extents.len());
        let mut end = 0;
        for (i, e) in map.extents.iter().enumerate() {
            if let Err(err) = e.check(&self.g) {
                self.problems
                    .report(format!("{}: {}", at(i, e), err.reason()));
                complete = false;
                continue;
            }
            if e.logical < end {
                self.problems.report(format!(
                    "{}: overlaps or precedes the previous extent",
                    at(i, e)
                ));
            }
            end = end.max(e.logical_end());
            // Only fallocate(KEEP_SIZE) leaves blocks past the end of file,
            // and those are unwritten.
            if e.flags & EXTENT_UNWRITTEN == 0 && e.logical_end() > size_blocks {
                let size = inode.size;
                self.problems.report(format!(
                    "{}: written past the end of file (size {size})",
                    at(i, e)
                ));
            }
            self.claim(e.physical, e.len.into(), ino);
            valid.push(*e);
        }
        for &blkno in &map.chain {
            self.claim(blkno, 1, ino);
        }
        if complete {
            let data: u64 = valid.iter().map(|e| u64::from(e.len)).sum();
            self.check_block_count(ino, inode, data + map.chain.len() as u64 + xattr_blocks);
        } else {
            self.blocks_known = false;
        }
        if inode.is_dir() {
            if !complete {
                self.links_known = false;
            }
            self.check_dir_shape(ino, inode, &valid);
            self.dirs.push((ino, valid));
        }
        Ok(())
    }

    /// Claims extended attribute block `blkno` (0 for none) of inode `ino`
    /// and checks that it is well-formed.
    fn check_xattr_block(&mut self, dev: &Device, ino: u64, blkno: u64) -> io::Result<()> {
        if blkno == 0 {
            return Ok(());
        }
        let at = || format!("inode {ino}: xattr block {blkno}");
        if !self.g.is_data_range(blkno, 1) {
            self.problems
                .report(format!("{}: outside the data area", at()));
            return Ok(());
        }
        self.claim(blkno, 1, ino);
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(blkno, &mut block)?;
        if let Err(e) = XattrBlock::decode(&block[..], blkno, ino) {
            self.problems.report(format!("{}: {}", at(), e.reason()));
        }
        Ok(())
    }

    /// Reads the block map of `inode`: the extents in the inode, then those
    /// along its chain of extent blocks.
    fn read_extents(&mut self, dev: &Device, ino: u64, inode: &DiskInode) -> io::Result<ExtentMap> {
        let mut map = ExtentMap {
            extents: inode.inode_extents().collect(),
            chain: Vec::new(),
            complete: true,
        };
        let count = inode.extent_count as usize;
        let mut visited = HashSet::new();
        let mut block = vec![0; BLOCK_SIZE];
        let mut next = inode.extent_block;
        while next != 0 {
            let blkno = next;
            // Every extent block holds at least one extent, so the extent
            // count bounds the chain even if it is corrupt.
            let decoded = if !self.g.is_data_range(blkno, 1) {
                Err("outside the data area")
            } else if !visited.insert(blkno) {
                Err("the extent chain loops")
            } else if map.extents.len() >= count {
                Err("the extent chain is longer than the extent count")
            } else {
                dev.read_blocks(blkno, &mut block)?;
                ExtentBlock::decode(&block, blkno, ino).map_err(|e| e.reason())
            };
            match decoded {
                Ok(eb) => {
                    map.chain.push(blkno);
                    map.extents.extend((0..eb.count).map(|i| eb.extent(i)));
                    next = eb.next;
                }
                Err(why) => {
                    self.problems
                        .report(format!("inode {ino}: extent block {blkno}: {why}"));
                    map.complete = false;
                    break;
                }
            }
        }
        if map.complete && map.extents.len() != count {
            let found = map.extents.len();
            self.problems.report(format!(
                "inode {ino}: extent count is {count}, found {found}"
            ));
        }
        Ok(map)
    }

    fn check_block_count(&mut self, ino: u64, inode: &DiskInode, blocks: u64) {
        if inode.blocks != blocks {
            self.problems.fixable(
                format!(
                    "inode {ino}: block count is {}, should be {blocks}",
                    inode.blocks
                ),
                Some(Fix::Blocks(ino, blocks)),
            );
        }
    }

    /// Records `ino` as the owner of blocks `start..start + len` and reports
    /// those that already have one.
    fn claim(&mut self, start: u64, len: u64, ino: u64) {
        let mut shared = Runs::default();
        for blkno in start..start + len {
            let owner = &mut self.owner[blkno as usize];
            if *owner == 0 {
                *owner = ino as u32;
            } else {
                shared.push(blkno, *owner);
            }
        }
        for (first, last, other) in shared.0 {
            let blocks = span("block", first, last);
            self.problems.report(if u64::from(other) == ino {
                format!("{blocks}: used twice by inode {ino}")
            } else {
                format!("{blocks}: used by inode {other} and inode {ino}")
            });
        }
    }

    /// Checks that a directory is a whole number of written blocks, all mapped.
    fn check_dir_shape(&mut self, ino: u64, inode: &DiskInode, extents: &[Extent]) {
        if !inode.size.is_multiple_of(BLOCK_SIZE as u64) {
            let size = inode.size;
            self.problems.report(format!(
                "directory {ino}: size {size} is not a multiple of {BLOCK_SIZE}"
            ));
        }
        let size_blocks = inode.size.div_ceil(BLOCK_SIZE as u64);
        let mut mapped = 0;
        for e in extents {
            if e.flags & EXTENT_UNWRITTEN != 0 {
                let blocks = span("file block", e.logical, e.logical_end() - 1);
                self.problems
                    .report(format!("directory {ino}: {blocks} unwritten"));
            }
            let hole_end = e.logical.min(size_blocks);
            if hole_end > mapped {
                let blocks = span("file block", mapped, hole_end - 1);
                self.problems
                    .report(format!("directory {ino}: {blocks} not mapped"));
            }
            mapped = mapped.max(e.logical_end());
        }
        if mapped < size_blocks {
            let blocks = span("file block", mapped, size_blocks - 1);
            self.problems
                .report(format!("directory {ino}: {blocks} not mapped"));
        }
    }

    fn read_directories(&mut self, dev: &Device) -> io::Result<()> {
        for (dir, extents) in mem::take(&mut self.dirs) {
            let mut names = HashSet::new();
            // Unwritten blocks read as zeroes: they hold no entries.
            for e in extents.iter().filter(|e| e.flags & EXTENT_UNWRITTEN == 0) {
                dev.read_region(e.physical, e.len.into(), |blkno, block| {
                    self.read_dir_block(dir, blkno, block, &mut names);
                })?;
            }
        }
        Ok(())
    }

    fn read_dir_block(&mut self, dir: u64, blkno: u64, block: &[u8], names: &mut HashSet<Vec<u8>>) {
        let entries = match dir_entries(block, blkno, dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.problems
                    .report(format!("directory {dir}: block {blkno}: {}", e.reason()));
                self.links_known = false;
                return;
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) if entry.ino != 0 => self.check_entry(dir, &entry, names),
                Ok(_) => {}
                Err(e) => {
                    self.problems
                        .report(format!("directory {dir}: block {blkno}: {}", e.reason()));
                    self.links_known = false;
                }
            }
        }
    }

    /// Checks a used entry of directory `dir` and counts the link it makes.
    fn check_entry(&mut self, dir: u64, entry: &DirEntry<'_>, names: &mut HashSet<Vec<u8>>) {
        let at = || format!("directory {dir}: entry \"{}\"", entry.name.escape_ascii());
        if !names.insert(entry.name.to_vec()) {
            self.problems.report(format!("{}: duplicate name", at()));
        }
        let ino = entry.ino;
        let Some(target) = self.inodes.get(&ino) else {
            if ino > self.g.inode_count {
                self.problems
                    .report(format!("{}: inode {ino} out of range", at()));
            } else if !self.bad_inodes.contains(&ino) {
                self.problems
                    .report(format!("{}: inode {ino} is free", at()));
            }
            return;
        };
        let actual = file_type::from_mode(target.mode);
        if entry.file_type != actual {
            let (said, is) = (type_name(entry.file_type), type_name(actual));
            self.problems
                .report(format!("{}: type {said}, but inode {ino} is a {is}", at()));
        }
        let is_dir = target.is_dir();
        if is_dir && ino == ROOT_INO {
            self.problems
                .report(format!("{}: links the root directory", at()));
            return;
        }
        let links = self.links.entry(ino).or_default();
        links.refs += 1;
        if links.refs == 1 {
            links.linked_from = dir;
        }
        if is_dir {
            self.links.entry(dir).or_default().subdirs += 1;
        }
    }

    /// Compares link counts and directory parents with the entries found.
    fn check_links(&mut self) {
        let known = self.links_known;
        let fix = |fix| known.then_some(fix);
        for (&ino, inode) in &self.inodes {
            let links = self.links.get(&ino).copied().unwrap_or_default();
            if ino != ROOT_INO && links.refs == 0 {
                self.problems
                    .report(format!("inode {ino}: in use but not in any directory"));
                continue;
            }
            let nlink = if inode.is_dir() {
                2 + links.subdirs
            } else {
                links.refs
            };
            if inode.nlink != nlink {
                self.problems.fixable(
                    format!(
                        "inode {ino}: link count is {}, should be {nlink}",
                        inode.nlink
                    ),
                    fix(Fix::Nlink(ino, nlink)),
                );
            }
            if !inode.is_dir() || ino == ROOT_INO {
                continue;
            }
            if links.refs > 1 {
                self.problems.report(format!(
                    "directory {ino}: linked from {} entries",
                    links.refs
                ));
            } else if inode.parent != links.linked_from {
                let (parent, dir) = (inode.parent, links.linked_from);
                self.problems.fixable(
                    format!("directory {ino}: parent is {parent}, but it is in directory {dir}"),
                    fix(Fix::Parent(ino, dir)),
                );
            }
        }
        self.check_reachability();
    }

    /// Reports cycles of directories cut off from the root. Each directory
    /// in one is linked exactly once, so `check_links` does not notice them.
    fn check_reachability(&mut self) {
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Reach {
            Yes,
            No,
            Walking,
        }
        let mut reach = HashMap::from([(ROOT_INO, Reach::Yes)]);
        for (&ino, inode) in &self.inodes {
            if !inode.is_dir() {
                continue;
            }
            // Walk up through the directories holding the entries.
            let mut path = Vec::new();
            let mut dir = ino;
            let result = loop {
                match reach.get(&dir) {
                    Some(Reach::Walking) => {
                        self.problems.report(format!(
                            "directory {dir}: in a cycle of directories cut off from the root"
                        ));
                        break Reach::No;
                    }
                    Some(&known) => break known,
                    None => {}
                }
                reach.insert(dir, Reach::Walking);
                path.push(dir);
                match self.links.get(&dir) {
                    Some(links) if links.refs == 1 => dir = links.linked_from,
                    // Unlinked or linked more than once: already reported.
                    _ => break Reach::No,
                }
            };
            for dir in path {
                reach.insert(dir, result);
            }
        }
    }

    /// Compares the on-disk bitmap with the computed block usage.
    fn check_bitmap(&mut self) {
        #[derive(Clone, Copy, PartialEq, Eq)]
        enum Mismatch {
            Leaked,
            Metadata,
            PastEnd,
            Owned(u32),
        }
        let mut runs = Runs::default();
        for index in 0..self.g.bitmap_blocks {
            if !self.bitmap_ok[index as usize] {
                continue; // Reported, and rewritten whole by a repair.
            }
            let bits = bitmap_payload(self.disk_bitmap(index));
            let first = index * BITS_PER_BITMAP_BLOCK;
            for (bit, blkno) in (first..first + BITS_PER_BITMAP_BLOCK).enumerate() {
                let expected = if blkno < self.g.data_start {
                    Mismatch::Metadata
                } else if blkno >= self.g.block_count {
                    Mismatch::PastEnd
                } else {
                    match self.owner[blkno as usize] {
                        0 => Mismatch::Leaked,
                        ino => Mismatch::Owned(ino),
                    }
                };
                if test_bit(bits, bit) != (expected != Mismatch::Leaked) {
                    runs.push(blkno, expected);
                }
            }
        }
        for (first, last, mismatch) in runs.0 {
            let blocks = span("block", first, last);
            let (message, fix) = match mismatch {
                // Unowned blocks may belong to an inode that could not be read.
                Mismatch::Leaked => (
                    format!("{blocks}: marked used but not owned"),
                    self.blocks_known,
                ),
                Mismatch::Metadata => (format!("{blocks}: metadata marked free"), true),
                Mismatch::PastEnd => (format!("{blocks}: past the end but marked free"), true),
                Mismatch::Owned(ino) => (
                    format!("{blocks}: used by inode {ino} but marked free"),
                    true,
                ),
            };
            self.problems.fixable(message, fix.then_some(Fix::Bitmap));
        }
    }

    /// Whether data block `blkno` is in use in the bitmap a repair writes.
    /// While some block map is unknown, blocks nobody owns keep their
    /// on-disk state, or are taken as used if that is unknown too.
    fn in_use(&self, blkno: u64) -> bool {
        self.owner[blkno as usize] != 0
            || (!self.blocks_known && self.disk_bit(blkno) != Some(false))
    }

    /// Free data blocks, as in the bitmap a repair writes.
    fn free_blocks(&self) -> u64 {
        (self.g.data_start..self.g.block_count)
            .filter(|&b| !self.in_use(b))
            .count() as u64
    }

    /// Free inodes: slots neither in use nor bad.
    fn free_inodes(&self) -> u64 {
        self.g.inode_count - self.inodes.len() as u64 - self.bad_inodes.len() as u64
    }

    fn check_superblock(&mut self) {
        let (free_blocks, free_inodes) = (self.free_blocks(), self.free_inodes());
        let sb = self.sb;
        let mut check = |what: &str, value: u64, expected: u64| {
            if value != expected {
                self.problems.fixable(
                    format!("superblock: {what} is {value}, should be {expected}"),
                    Some(Fix::Superblock),
                );
            }
        };
        check("free block count", sb.free_blocks, free_blocks);
        check("free inode count", sb.free_inodes, free_inodes);
        check("root inode", sb.root_ino, ROOT_INO);
    }

    fn write_inode(&self, dev: &Device, ino: u64, inode: &DiskInode) -> io::Result<()> {
        let (blkno, offset) = self
            .g
            .inode_location(ino)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.reason()))?;
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(blkno, &mut block)?;
        inode.encode(&mut block[offset..]);
        dev.write_blocks(blkno, &block)
    }

    /// Rewrites the bitmap blocks that differ from the computed usage.
    fn write_bitmap(&self, dev: &Device) -> io::Result<()> {
        let mut block = vec![0; BLOCK_SIZE];
        for index in 0..self.g.bitmap_blocks {
            bitmap_block(&mut block, &self.g, index, |blkno| self.in_use(blkno));
            if block != self.disk_bitmap(index) {
                dev.write_blocks(self.g.bitmap_start + index, &block)?;
            }
        }
        Ok(())
    }

    fn write_superblock(&self, dev: &Device) -> io::Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let sb = Superblock {
            free_blocks: self.free_blocks(),
            free_inodes: self.free_inodes(),
            root_ino: ROOT_INO,
            write_time: now.as_secs() as i64,
            ..self.sb
        };
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(0, &mut block)?;
        sb.encode(&mut block);
        dev.write_blocks(0, &block)
    }
}

/// Block numbers coalesced into runs of consecutive blocks with the same
/// key, so that damage to many blocks is reported in a few lines.
struct Runs<K>(Vec<(u64, u64, K)>);

impl<K> Default for Runs<K> {
    fn default() -> Self {
        Runs(Vec::new())
    }
}

impl<K: PartialEq> Runs<K> {
    /// Adds `blkno`, which must not be below the blocks added before.
    fn push(&mut self, blkno: u64, key: K) {
        if let Some((_, last, k)) = self.0.last_mut() {
            if *last + 1 == blkno && *k == key {
                *last = blkno;
                return;
            }
        }
        self.0.push((blkno, blkno, key));
    }
}

/// `"block 7"` or `"blocks 7-9"`.
fn span(noun: &str, first: u64, last: u64) -> String {
    if first == last {
        format!("{noun} {first}")
    } else {
        format!("{noun}s {first}-{last}")
    }
}

/// Name of a directory entry file type.
fn type_name(dt: u8) -> &'static str {
    match dt {
        file_type::FIFO => "fifo",
        file_type::CHR => "character device",
        file_type::DIR => "directory",
        file_type::BLK => "block device",
        file_type::REG => "regular file",
        file_type::LNK => "symbolic link",
        file_type::SOCK => "socket",
        _ => "unknown type",
    }
}

/// Name of the file type of an inode mode.
fn mode_name(mode: u16) -> &'static str {
    type_name(file_type::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_coalesce() {
        let mut runs = Runs::default();
        for (b, k) in [(1, 'a'), (2, 'a'), (3, 'b'), (5, 'b'), (6, 'b')] {
            runs.push(b, k);
        }
        assert_eq!(runs.0, [(1, 2, 'a'), (3, 3, 'b'), (5, 6, 'b')]);
        assert_eq!(span("block", 3, 3), "block 3");
        assert_eq!(span("block", 5, 6), "blocks 5-6");
    }
}
