// SPDX-License-Identifier: GPL-2.0
//! The consistency check of a rexfs filesystem, and its repairs.
//!
//! The check reads the superblock and, on a journaled filesystem, the
//! journal superblock: a journal holding transactions is replayed first
//! ([`Fsck::replay_and_check`]), or stops the check ([`Fsck::check`]), since
//! the rest of the metadata would be stale. Then it reads the bitmap and the
//! whole inode table, walks the orphan list, reads every block map,
//! extended attribute block and directory, and computes from them which
//! blocks are owned by whom and how often each inode is linked. Everything
//! on disk that disagrees is a [`Problem`]. Repairs are only offered where
//! the computed value is known to be complete: a bitmap is not trimmed while
//! some block map could not be read, nor a link count set while some
//! directory could not be read.
//!
//! Orphan inodes (unlinked, on the orphan list, with no link left) are not
//! damage: the next mount frees them. They are reported as pending, and a
//! repair frees them as the mount would.
//!
//! With the reflink feature, a block may be mapped by several extents of
//! regular files (clones) when its entry in the refcount table says exactly
//! how many; any other block claimed twice is damage, as without the
//! feature. The check counts the extent references to every data block and
//! compares the table with them (and wants `INODE_SHARED` on every file
//! that maps a shared block); a repair rewrites the table from the counts.
//! Copy-on-write staging blocks (entry `REFCOUNT_STAGING`, allocated, mapped
//! by no extent) are what a crash left of copy-on-write writes in flight:
//! like orphans, not damage but work of the next mount, which frees them;
//! reported as pending (`-n` exits 0 for them, as it does for orphans after
//! a crash), and freed by a repair.
//!
//! Two features keep maps in B+trees (`BTree`), which fsck walks whole with
//! `BTree::check`: every node's header (`verify_node_header`, in the data
//! area, owned by the inode), kind, level, key range, count and key order,
//! as the module checks each node it reads. With the extent tree feature,
//! the extents of an inode past the five in it are the records of the tree
//! whose root is its `extent_block`, not a chain: they go through the
//! extent map verifier in key order (as many as the extent count says,
//! after the inode's), and the nodes are the inode's blocks, claimed and
//! counted in its block count as extent blocks are. With the directory
//! index feature, a directory's data blocks are its file blocks below
//! `DIR_DATA_BLOCKS_MAX` (holes after block 0 allowed), the only ones read
//! for entries; a directory of more than one of them has an index, the
//! tree whose root it maps at `DIR_INDEX_ROOT`. The tree's nodes must be
//! the index blocks the directory maps, no more (a mapped block the tree
//! does not reach) and no fewer (a node not mapped, claimed all the same);
//! its keys exactly a name key for each used entry (`name_key`) and a
//! free-space key for each data block with room for an entry (`free_key`,
//! with the block's `block_room`, of at least `dirent_size(1)`): each key
//! missing or too many is reported, but those of damaged data blocks.
//! Trees are not repaired. Damage that stops a walk leaves the tree's
//! other blocks unknown, so that, as after a damaged chain, no repair
//! frees a block as leaked.
//!
//! Every structure goes through the format's verifiers, the rules the
//! module applies when it reads it (`DiskInode::decode` and the
//! `DiskInode::verify_*` rules, `ExtentChainWalk`, `BTree::check`,
//! `ExtentMapVerifier`, `DirEntry::check_*`, `XattrBlock::decode`,
//! `verify_bitmap_header`, `Superblock::decode`), so that whatever the
//! module rejects, fsck reports.
//! Their reasons are reported with where they were found. A few rules the
//! module applies as it goes are checked here against what fsck computes
//! instead, which says more and can be repaired: an inode's link count
//! (`DiskInode::verify_links`) against its entries, and a directory's parent
//! against the directory holding its entry. And fsck checks a few things
//! the module does not need: no written block past the end of a regular
//! file, and zeroes after each directory entry's name, which the module
//! writes (`write_dirent`) but does not check, since an older module left
//! old bytes there (a `name_len` that shrank shows as such bytes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io;
use std::mem;
use std::time::{SystemTime, UNIX_EPOCH};

use rexfs_format::{
    bitmap_payload, block_room, check_entry_target, check_entry_type, check_symlink_target,
    clear_dir_slack, dir_block_entries, dirent_size, file_type, free_key_parts, mode, name_key,
    name_key_address, refcount_get, refcount_location, refcount_set, seal_refcount_block, test_bit,
    verify_bitmap_header, verify_node_header, verify_refcount_block, BTree, BlockHeader, BlockKind,
    DirEntry, DiskInode, Extent, ExtentChainWalk, ExtentMapVerifier, FormatError, Geometry,
    JournalSuperblock, NodeStore, Record, Superblock, TreeKind, TreeStats, XattrBlock,
    BITS_PER_BITMAP_BLOCK, BLOCK_SIZE, DIR_DATA_BLOCKS_MAX, DIR_INDEX_ROOT, EXTENT_UNWRITTEN,
    FEATURE_INCOMPAT_DAX_FLAG, FEATURE_INCOMPAT_DIR_INDEX, FEATURE_INCOMPAT_EXTENT_TREE,
    FEATURE_INCOMPAT_REFLINK, INODES_PER_BLOCK, INODE_DAX, INODE_EXTENTS, INODE_SHARED, INODE_SIZE,
    REFCOUNTS_PER_BLOCK, REFCOUNT_MAX, REFCOUNT_STAGING, ROOT_INO, STATE_ERRORS,
};
use rexfs_mkfs::{bitmap_block, write_journal, Device};

use crate::journal::{self, Recovery};
use crate::{exit, PROG};

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
    /// Set an inode's parent.
    Parent(u64, u64),
    /// Zero the bytes after the entry names of a directory block (the
    /// directory, the block).
    DirSlack(u64, u64),
    /// Clear the orphan list link of an inode not on the list.
    NextOrphan(u64),
    /// Rewrite a free inode slot as free and nothing else.
    FreeSlot(u64),
    /// Free the orphan inodes and take them off the orphan list.
    Orphans,
    /// Write a new, empty journal over a damaged one.
    Journal,
    /// Clear the error the kernel recorded in the journal superblock.
    JournalErrno,
    /// Clear the flags of an inode that the superblock's features forbid
    /// (DAX without the dax-flag feature, shared without reflink).
    FeatureFlags(u64),
    /// Set the shared flag of an inode that maps shared blocks.
    SharedFlag(u64),
    /// Rewrite the refcount table blocks that differ from the computed
    /// references.
    Refcounts,
    /// Free the copy-on-write staging blocks a crash left.
    Staging,
}

/// An inconsistency found on the device, or a state that the next mount
/// resolves by itself (pending).
#[derive(Clone, Debug)]
pub struct Problem {
    message: String,
    fix: Option<Fix>,
    fixed: bool,
    /// Not damage but work the next mount does (orphan inodes, staging
    /// blocks), or the kernel's note that it found damage: it does not
    /// count against the filesystem unless repaired (as e2fsck's `-n`
    /// ignores its errors flag).
    pending: bool,
    /// What the repair did, when that is better said than "(fixed)".
    done: Option<String>,
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

    /// Whether this is work the next mount does rather than damage.
    pub fn is_pending(&self) -> bool {
        self.pending
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.done, self.fixed) {
            (Some(done), true) => f.write_str(done),
            (None, true) => write!(f, "{} (fixed)", self.message),
            (_, false) => f.write_str(&self.message),
        }
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
            pending: false,
            done: None,
        });
    }

    /// Records a problem already repaired while checking: `message` says
    /// what was done.
    fn repaired(&mut self, message: String) {
        self.0.push(Problem {
            done: Some(message.clone()),
            message,
            fix: None,
            fixed: true,
            pending: false,
        });
    }

    /// Records work the next mount does, which `fix`, if any, does now and
    /// then reports as `done`.
    fn pending(&mut self, message: String, fix: Option<Fix>, done: String) {
        self.0.push(Problem {
            message,
            fix,
            fixed: false,
            pending: true,
            done: Some(done),
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
    /// be read. A journal holding transactions not yet replayed is the only
    /// problem reported: the rest of the metadata is stale until they are.
    pub fn check(dev: &Device) -> io::Result<Self> {
        Self::run(dev, false)
    }

    /// Checks the filesystem on `dev` as [`Fsck::check`] does, but first
    /// replays the transactions its journal holds, if any, as jbd2 does at
    /// mount, and marks the journal empty. The replay writes to `dev`; the
    /// other repairs wait for [`Fsck::repair`].
    pub fn replay_and_check(dev: &Device) -> io::Result<Self> {
        Self::run(dev, true)
    }

    fn run(dev: &Device, replay: bool) -> io::Result<Self> {
        let mut sb = match read_superblock(dev)? {
            Ok(sb) => sb,
            Err(fsck) => return Ok(fsck),
        };
        let mut problems = Problems::default();
        let mut jsb = None;
        if sb.geometry.has_journal() {
            let g = sb.geometry;
            match journal::read_superblock(dev, &g)? {
                Err(bad) => {
                    // A journal with features this version does not know
                    // may hold anything: it is not overwritten.
                    let fix = (!bad.unknown_features).then_some(Fix::Journal);
                    problems.fixable(
                        format!(
                            "journal superblock (block {}): {}",
                            g.journal_start, bad.why
                        ),
                        fix,
                    );
                }
                Ok(dirty) if dirty.needs_recovery() => {
                    if !replay {
                        return Ok(Self::unusable(format!(
                            "{}: the journal holds transactions not yet replayed: mount the \
                             filesystem (which replays them) or run {PROG} -y to replay them",
                            dev.name()
                        )));
                    }
                    let rec = journal::replay(dev, &g, &dirty)?;
                    report_replay(&mut problems, &rec);
                    jsb = Some(JournalSuperblock {
                        start: 0,
                        sequence: rec.next_sequence(),
                        ..dirty
                    });
                    // The replay may have rewritten the superblock.
                    sb = match read_superblock(dev)? {
                        Ok(sb) => sb,
                        Err(mut fsck) => {
                            problems.0.append(&mut fsck.problems);
                            fsck.problems = problems.0;
                            return Ok(fsck);
                        }
                    };
                }
                Ok(clean) => jsb = Some(clean),
            }
            if let Some(j) = jsb.filter(|j| j.errno != 0) {
                problems.fixable(
                    format!(
                        "journal: the kernel aborted the journal with error {}",
                        j.errno
                    ),
                    Some(Fix::JournalErrno),
                );
            }
        }
        if sb.state & STATE_ERRORS != 0 {
            problems.pending(
                "superblock: the kernel found damaged metadata (errors flag set)".into(),
                Some(Fix::Superblock),
                "superblock: errors flag cleared".into(),
            );
        }
        let mut checker = Checker::new(sb, jsb);
        checker.problems = problems;
        checker.read_bitmap(dev)?;
        checker.read_refcounts(dev)?;
        checker.read_inodes(dev)?;
        checker.check_root();
        checker.walk_orphans();
        checker.map_inodes(dev)?;
        checker.read_directories(dev)?;
        checker.check_links();
        checker.check_orphans();
        checker.check_refcounts();
        checker.check_bitmap();
        checker.check_superblock();
        Ok(Fsck {
            problems: mem::take(&mut checker.problems).0,
            checker: Some(checker),
        })
    }

    fn unusable(message: String) -> Self {
        let mut problems = Problems::default();
        problems.report(message);
        Fsck {
            problems: problems.0,
            checker: None,
        }
    }

    /// Writes the repairs of all problems that have one to `dev`, syncs it
    /// and marks those problems fixed.
    pub fn repair(&mut self, dev: &Device) -> io::Result<()> {
        let Some(checker) = &mut self.checker else {
            return Ok(());
        };
        let fixes: Vec<Fix> = self.problems.iter().filter_map(|p| p.fix).collect();
        if fixes.is_empty() {
            return Ok(());
        }
        let mut inodes = BTreeMap::new();
        let forbidden = forbidden_flags(checker.sb.feature_incompat);
        for &fix in &fixes {
            let mut change = |ino, f: &dyn Fn(&mut DiskInode)| {
                f(inodes.entry(ino).or_insert(checker.inodes[&ino]));
            };
            match fix {
                Fix::Nlink(ino, n) => change(ino, &|i| i.nlink = n),
                Fix::Blocks(ino, n) => change(ino, &|i| i.blocks = n),
                Fix::Parent(ino, p) => change(ino, &|i| i.parent = p),
                Fix::NextOrphan(ino) => change(ino, &|i| i.next_orphan = 0),
                Fix::FeatureFlags(ino) => change(ino, &|i| i.flags &= !forbidden),
                Fix::SharedFlag(ino) => change(ino, &|i| i.flags |= INODE_SHARED),
                Fix::FreeSlot(ino) => {
                    inodes.insert(ino, DiskInode::FREE);
                }
                Fix::Bitmap
                | Fix::Superblock
                | Fix::Orphans
                | Fix::Journal
                | Fix::JournalErrno
                | Fix::Refcounts
                | Fix::Staging
                | Fix::DirSlack(..) => {}
            }
        }
        let orphans = fixes.contains(&Fix::Orphans);
        if orphans {
            checker.release_orphans(&mut inodes);
        }
        let staging = fixes.contains(&Fix::Staging);
        if staging {
            checker.staging.clear();
        }
        for (&ino, inode) in &inodes {
            checker.write_inode(dev, ino, inode)?;
        }
        let mut slack = Vec::new();
        for &fix in &fixes {
            if let Fix::DirSlack(dir, blkno) = fix {
                if !slack.contains(&blkno) {
                    slack.push(blkno);
                    clear_slack(dev, dir, blkno)?;
                }
            }
        }
        if orphans || staging || fixes.contains(&Fix::Refcounts) {
            checker.write_refcounts(dev)?;
        }
        if orphans || staging || fixes.contains(&Fix::Bitmap) {
            checker.write_bitmap(dev)?;
        }
        if orphans || staging || fixes.contains(&Fix::Superblock) {
            checker.write_superblock(dev)?;
        }
        if fixes.contains(&Fix::Journal) {
            write_journal(dev, &checker.g, checker.sb.uuid)?;
        } else if let Some(jsb) = checker
            .journal
            .filter(|_| fixes.contains(&Fix::JournalErrno))
        {
            journal::store_state(dev, &checker.g, &JournalSuperblock { errno: 0, ..jsb })?;
        }
        dev.sync()?;
        for problem in &mut self.problems {
            problem.fixed |= problem.fix.is_some();
        }
        Ok(())
    }

    /// The problems found, in the order found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The exit status for the outcome, as e2fsck's. Pending work left for
    /// the next mount does not count; done by a repair, it does.
    pub fn exit_code(&self) -> u8 {
        let mut counted = self.problems.iter().filter(|p| !p.pending || p.fixed);
        match counted.next() {
            None => exit::OK,
            Some(first) if first.fixed && counted.all(|p| p.fixed) => exit::CORRECTED,
            Some(_) => exit::UNCORRECTED,
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

/// Reads and checks the superblock of `dev`; what [`Fsck`] reports when it
/// is unusable.
fn read_superblock(dev: &Device) -> io::Result<Result<Superblock, Fsck>> {
    let mut block = vec![0; BLOCK_SIZE];
    dev.read_blocks(0, &mut block)?;
    let sb = match Superblock::decode(&block) {
        Ok(sb) => sb,
        Err(e) => return Ok(Err(Fsck::unusable(format!("superblock: {}", e.reason())))),
    };
    if sb.geometry.block_count > dev.block_count() {
        return Ok(Err(Fsck::unusable(format!(
            "superblock: the filesystem has {} blocks but the device only {}",
            sb.geometry.block_count,
            dev.block_count()
        ))));
    }
    if sb.needs_read_only() {
        return Ok(Err(Fsck::unusable(format!(
            "superblock: unsupported read-only features {:#x}",
            sb.feature_ro_compat
        ))));
    }
    Ok(Ok(sb))
}

/// The inode flags that the incompatible features `feature_incompat` do
/// not allow (see `DiskInode::check_features`).
fn forbidden_flags(feature_incompat: u32) -> u16 {
    let mut flags = 0;
    if feature_incompat & FEATURE_INCOMPAT_DAX_FLAG == 0 {
        flags |= INODE_DAX;
    }
    if feature_incompat & FEATURE_INCOMPAT_REFLINK == 0 {
        flags |= INODE_SHARED;
    }
    flags
}

/// Zeroes the bytes after the entry names of block `blkno` of directory
/// `dir`, and reseals it.
fn clear_slack(dev: &Device, dir: u64, blkno: u64) -> io::Result<()> {
    let mut block = vec![0; BLOCK_SIZE];
    dev.read_blocks(blkno, &mut block)?;
    clear_dir_slack(&mut block);
    BlockHeader {
        kind: BlockKind::Directory,
        blkno,
        owner: dir,
    }
    .seal(&mut block);
    dev.write_blocks(blkno, &block)
}

/// Records what a journal replay did: done, except where jbd2 would have
/// failed the recovery.
fn report_replay(problems: &mut Problems, rec: &Recovery) {
    let first = rec.first_transaction;
    let last = first.wrapping_add(rec.transactions).wrapping_sub(1);
    let plural = if rec.replayed == 1 { "" } else { "s" };
    let blocks = format!(
        "{} block{plural} written, {} revoked",
        rec.replayed, rec.revoked
    );
    problems.repaired(match rec.transactions {
        0 => "journal: no transaction replayed; journal emptied".into(),
        1 => format!("journal: transaction {first} replayed ({blocks}); journal emptied"),
        _ => format!("journal: transactions {first}-{last} replayed ({blocks}); journal emptied"),
    });
    if let Some(id) = rec.failed_commit {
        problems.repaired(format!(
            "journal: transaction {id} is corrupt (its commit block fails its checksum): \
             the replay stopped before it"
        ));
    }
    for why in &rec.errors {
        problems.report(format!("journal: {why}"));
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
    /// All extents, in the inode then along the chain or in the tree.
    extents: Vec<Extent>,
    /// The blocks holding the extents past the inode's that were read: the
    /// extent blocks of the chain, or the nodes of the extent tree.
    blocks: Vec<u64>,
    /// Whether the whole chain or tree was read.
    complete: bool,
}

/// A directory whose entries are read after every block map.
struct Dir {
    ino: u64,
    /// Its valid extents.
    extents: Vec<Extent>,
    /// Whether its block map was read whole: its data blocks and index
    /// nodes are all among `extents`.
    complete: bool,
}

/// What fsck reads the nodes of B+trees with: the device, read-only.
/// Nothing changes a tree: fsck reports damage in one and repairs none.
struct TreeNodes<'a> {
    dev: &'a Device,
    g: Geometry,
    /// The last node read: the one a walk stopped at, if damage stopped it.
    last: u64,
}

/// Why a walk of a tree stopped.
enum TreeError {
    /// Damage, found at the last node read.
    Damage(FormatError),
    /// The device failed.
    Io(io::Error),
}

impl From<FormatError> for TreeError {
    fn from(e: FormatError) -> Self {
        TreeError::Damage(e)
    }
}

/// The error of a tree change through [`TreeNodes`]: a bug, as fsck only
/// walks trees.
const READ_ONLY: FormatError = FormatError::BadField("fsck changes no tree");

impl NodeStore for TreeNodes<'_> {
    type Node = Vec<u8>;
    type Error = TreeError;

    fn bytes(node: &Vec<u8>) -> &[u8] {
        node
    }

    /// Reads and checks node `blkno` as the module does: a block of the
    /// data area, with a sealed node header of `owner`.
    fn read(&mut self, blkno: u64, owner: u64) -> Result<Vec<u8>, TreeError> {
        self.last = blkno;
        if !self.g.is_data_range(blkno, 1) {
            return Err(FormatError::BadField("tree node outside the data area").into());
        }
        let mut block = vec![0; BLOCK_SIZE];
        self.dev
            .read_blocks(blkno, &mut block)
            .map_err(TreeError::Io)?;
        verify_node_header(&block, blkno, owner)?;
        Ok(block)
    }

    fn modify(
        &mut self,
        _blkno: u64,
        _node: &Vec<u8>,
        _f: impl FnOnce(&mut [u8]),
    ) -> Result<(), TreeError> {
        Err(READ_ONLY.into())
    }

    fn alloc(&mut self, _goal: u64) -> Result<(u64, Vec<u8>), TreeError> {
        Err(READ_ONLY.into())
    }

    fn free(&mut self, _blkno: u64) -> Result<(), TreeError> {
        Err(READ_ONLY.into())
    }
}

/// Walks the whole of `tree` on `dev` with [`BTree::check`], which calls
/// `visit` with each node and record it checked. A walk that damage
/// stopped gives the node it stopped at and why; a device error is the
/// outer error.
fn check_tree(
    dev: &Device,
    g: &Geometry,
    tree: &BTree,
    visit: impl FnMut(u64, u8, Option<&Record>),
) -> io::Result<Result<TreeStats, (u64, &'static str)>> {
    let mut nodes = TreeNodes {
        dev,
        g: *g,
        last: tree.root,
    };
    match tree.check(&mut nodes, visit) {
        Ok(stats) => Ok(Ok(stats)),
        Err(TreeError::Damage(e)) => Ok(Err((nodes.last, e.reason()))),
        Err(TreeError::Io(e)) => Err(e),
    }
}

/// Least room of a directory data block with a free-space key in its
/// index: that of the shortest entry.
const MIN_ROOM: usize = dirent_size(1);

/// What the index of a directory must hold, from its data blocks: a name
/// key for each used entry, a free-space key for each block with room.
#[derive(Default)]
struct ExpectedKeys {
    /// The name keys, and the names of their entries.
    names: BTreeMap<u64, Vec<u8>>,
    /// The data blocks (file blocks) read, and their room; `None` for a
    /// damaged one, whose keys are unknown and not compared.
    rooms: BTreeMap<u64, Option<usize>>,
}

impl ExpectedKeys {
    /// Adds the keys of `block`, data block `index`, if it parsed whole.
    fn add_block(&mut self, index: u64, block: &[u8], blkno: u64, dir: u64, parsed: bool) {
        if !parsed {
            self.rooms.insert(index, None);
            return;
        }
        // Parsed whole: every entry is there.
        for entry in dir_block_entries(block, blkno, dir).into_iter().flatten() {
            let Ok(entry) = entry else { break };
            if entry.ino != 0 {
                let key = name_key(entry.name, index, entry.offset);
                self.names.insert(key, entry.name.to_vec());
            }
        }
        self.rooms.insert(index, Some(block_room(block)));
    }

    /// Whether the keys of data block `index` are known, if it is one.
    fn known(&self, index: u64) -> bool {
        self.rooms.get(&index) != Some(&None)
    }
}

/// The value of [`Checker::refs`] for a block claimed by something that is
/// never shared: an extent block, an attribute block, a block of a
/// directory or a symlink, or a block claimed twice where that is damage.
/// Its refcount entry must be 0.
const UNSHARED_CLAIM: u32 = u32::MAX;

/// The state of a check.
struct Checker {
    sb: Superblock,
    g: Geometry,
    problems: Problems,
    /// The bitmap blocks as on disk.
    bitmap: Vec<u8>,
    /// For each bitmap block, whether it verified.
    bitmap_ok: Vec<bool>,
    /// The inode owning each block, 0 for none: the first to claim it. Inode
    /// numbers fit in 32 bits (`Geometry::new` ensures it).
    owner: Vec<u32>,
    /// The claims of each data block (indexed from `data_start`): the
    /// number of extents of regular files that map it, or
    /// [`UNSHARED_CLAIM`].
    refs: Vec<u32>,
    /// The refcount table blocks as on disk (reflink feature only).
    refcounts: Vec<u8>,
    /// For each refcount table block, why it did not verify, if it did not.
    refcounts_bad: Vec<Option<&'static str>>,
    /// The copy-on-write staging blocks: entry `REFCOUNT_STAGING`, in use
    /// in the bitmap, mapped by nothing. In use until a repair frees them.
    staging: BTreeSet<u64>,
    /// The blocks claimed by each inode of the orphan list, `(start, len)`:
    /// what freeing it releases.
    orphan_claims: HashMap<u64, Vec<(u64, u64)>>,
    /// The regular files without `INODE_SHARED` (reflink feature only) and
    /// the disk ranges their extents map, `(start, len)`: none may be shared.
    unflagged: Vec<(u64, Vec<(u64, u64)>)>,
    /// The in-use inodes that decoded.
    inodes: BTreeMap<u64, DiskInode>,
    /// Inode slots that did not decode.
    bad_inodes: HashSet<u64>,
    /// The directories, kept for reading their entries.
    dirs: Vec<Dir>,
    /// Directory references to each inode.
    links: HashMap<u64, Links>,
    /// Whether every block map was read whole, so that `owner` is complete.
    blocks_known: bool,
    /// Whether every directory was read whole, so that `links` is complete.
    links_known: bool,
    /// The journal superblock, if it is sound.
    journal: Option<JournalSuperblock>,
    /// The inodes of the orphan list, in its order, as far as it is sound.
    orphans: Vec<u64>,
    /// Whether the orphan list is sound to its end.
    orphans_known: bool,
    /// The orphans that the next mount frees: no link left.
    pending_free: Vec<u64>,
    /// Inodes that claim a block another inode (or they themselves) claims.
    sharing: HashSet<u64>,
}

impl Checker {
    fn new(sb: Superblock, journal: Option<JournalSuperblock>) -> Self {
        let g = sb.geometry;
        Checker {
            sb,
            g,
            problems: Problems::default(),
            bitmap: Vec::with_capacity(g.bitmap_blocks as usize * BLOCK_SIZE),
            bitmap_ok: Vec::with_capacity(g.bitmap_blocks as usize),
            owner: vec![0; g.block_count as usize],
            refs: vec![0; g.data_blocks() as usize],
            refcounts: Vec::with_capacity(g.refcount_blocks as usize * BLOCK_SIZE),
            refcounts_bad: Vec::with_capacity(g.refcount_blocks as usize),
            staging: BTreeSet::new(),
            orphan_claims: HashMap::new(),
            unflagged: Vec::new(),
            inodes: BTreeMap::new(),
            bad_inodes: HashSet::new(),
            dirs: Vec::new(),
            links: HashMap::new(),
            blocks_known: true,
            links_known: true,
            journal,
            orphans: Vec::new(),
            orphans_known: true,
            pending_free: Vec::new(),
            sharing: HashSet::new(),
        }
    }

    fn read_bitmap(&mut self, dev: &Device) -> io::Result<()> {
        let g = self.g;
        // The bits of metadata and past the end, which the module's
        // verify_bitmap_block checks too, are compared by check_bitmap.
        dev.read_region(g.bitmap_start, g.bitmap_blocks, |blkno, block| {
            let ok = match verify_bitmap_header(block, &g, blkno - g.bitmap_start) {
                Ok(()) => true,
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

    /// Reads the refcount table, noting the blocks that do not verify; they
    /// are reported by `check_refcounts`, which knows then whether they
    /// can be rewritten.
    fn read_refcounts(&mut self, dev: &Device) -> io::Result<()> {
        let g = self.g;
        dev.read_region(g.refcount_start, g.refcount_blocks, |blkno, block| {
            let bad = verify_refcount_block(block, blkno, &g).err();
            self.refcounts_bad.push(bad.map(|e| e.reason()));
            self.refcounts.extend_from_slice(block);
        })
    }

    /// Refcount table block `index` as on disk.
    fn disk_refcount_block(&self, index: u64) -> &[u8] {
        let start = index as usize * BLOCK_SIZE;
        &self.refcounts[start..start + BLOCK_SIZE]
    }

    /// The on-disk refcount entry of data block `blkno`, `None` if its
    /// table block is bad.
    fn disk_refcount(&self, blkno: u64) -> Option<u32> {
        let (table, entry) = refcount_location(&self.g, blkno);
        let index = table - self.g.refcount_start;
        self.refcounts_bad[index as usize]
            .is_none()
            .then(|| refcount_get(self.disk_refcount_block(index), entry))
    }

    /// The claims of data block `blkno` (see [`Checker::refs`]).
    fn refs_of(&self, blkno: u64) -> u32 {
        self.refs[(blkno - self.g.data_start) as usize]
    }

    /// The refcount entry data block `blkno` should have: its count if
    /// extents share it, the staging value for a staging block, else 0.
    fn expected_refcount(&self, blkno: u64) -> u32 {
        match self.refs_of(blkno) {
            n @ 2..=REFCOUNT_MAX => n,
            _ if self.staging.contains(&blkno) => REFCOUNT_STAGING,
            _ => 0,
        }
    }

    fn read_inodes(&mut self, dev: &Device) -> io::Result<()> {
        let g = self.g;
        dev.read_region(g.inode_table_start, g.inode_table_blocks, |blkno, block| {
            let first = (blkno - g.inode_table_start) * INODES_PER_BLOCK + 1;
            for (ino, slot) in (first..=g.inode_count).zip(block.chunks_exact(INODE_SIZE)) {
                match DiskInode::decode(slot) {
                    Ok(inode) if inode.is_free() && inode.next_orphan != 0 => {
                        self.problems.fixable(
                            format!(
                                "inode {ino}: free, but its orphan list link is {}",
                                inode.next_orphan
                            ),
                            Some(Fix::FreeSlot(ino)),
                        );
                    }
                    Ok(inode) if inode.is_free() => {
                        if let Err(e) = inode.check_free_slot() {
                            self.problems.fixable(
                                format!("inode {ino}: {}", e.reason()),
                                Some(Fix::FreeSlot(ino)),
                            );
                        }
                    }
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

    /// Walks the orphan list from the superblock through the inodes'
    /// `next_orphan`: each entry an inode in use, met once. Bounded by the
    /// inode count, since no entry comes twice. Then checks that no other
    /// inode links into the list.
    fn walk_orphans(&mut self) {
        let mut on_list = HashSet::new();
        let mut from = "the superblock".to_string();
        let mut ino = self.sb.orphan_head;
        while ino != 0 {
            let at = format!("orphan list: inode {ino} (linked from {from})");
            let broken = if ino > self.g.inode_count {
                Some(format!("{at} is out of range"))
            } else if !on_list.insert(ino) {
                Some(format!("{at} is already on the list"))
            } else if ino == ROOT_INO {
                Some(format!("{at} is the root directory"))
            } else if self.bad_inodes.contains(&ino) {
                // Reported already; where the list goes on is unknown.
                Some(String::new())
            } else if !self.inodes.contains_key(&ino) {
                Some(format!("{at} is free"))
            } else {
                None
            };
            if let Some(message) = broken {
                if !message.is_empty() {
                    self.problems.report(message);
                }
                self.orphans_known = false;
                break;
            }
            self.orphans.push(ino);
            self.orphan_claims.insert(ino, Vec::new());
            from = format!("inode {ino}");
            ino = self.inodes[&ino].next_orphan.into();
        }
        let known = self.orphans_known;
        for (&ino, inode) in &self.inodes {
            if inode.next_orphan != 0 && !on_list.contains(&ino) {
                self.problems.fixable(
                    format!(
                        "inode {ino}: not on the orphan list, but its orphan list link is {}",
                        inode.next_orphan
                    ),
                    known.then_some(Fix::NextOrphan(ino)),
                );
            }
        }
    }

    /// Reports the orphans the next mount frees, and those it truncates
    /// (still linked); offers to free the former now if their blocks and
    /// links are all known.
    fn check_orphans(&mut self) {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let free = self.pending_free.len();
        if free > 0 {
            let safe = self.orphans_known
                && self.blocks_known
                && self.links_known
                && self.pending_free.iter().all(|i| !self.sharing.contains(i));
            self.problems.pending(
                format!(
                    "{free} orphan inode{} (freed at the next mount)",
                    plural(free)
                ),
                safe.then_some(Fix::Orphans),
                format!("{free} orphan inode{} freed", plural(free)),
            );
        }
        let linked = self.orphans.len() - free;
        if linked > 0 {
            let s = plural(linked);
            self.problems.pending(
                format!(
                    "{linked} inode{s} on the orphan list with links left \
                     (truncated at the next mount)"
                ),
                None,
                String::new(),
            );
        }
    }

    /// Frees the orphans the next mount would free: forgets their blocks
    /// and their slots here, puts free slots for them in `inodes` (the
    /// inodes to write), and relinks the orphan list without them.
    fn release_orphans(&mut self, inodes: &mut BTreeMap<u64, DiskInode>) {
        let freed: HashSet<u32> = self.pending_free.iter().map(|&i| i as u32).collect();
        // No block of theirs is claimed twice but by clones (see
        // `check_orphans`): a block is released when its last claim goes.
        for ino in &self.pending_free {
            let claims = self.orphan_claims.remove(ino).unwrap_or_default();
            for (start, len) in claims {
                for blkno in start..start + len {
                    let refs = &mut self.refs[(blkno - self.g.data_start) as usize];
                    *refs = match *refs {
                        UNSHARED_CLAIM => 0,
                        n => n.saturating_sub(1),
                    };
                    if *refs == 0 {
                        self.owner[blkno as usize] = 0;
                    }
                }
            }
        }
        for &ino in &self.pending_free {
            self.inodes.remove(&ino);
            inodes.insert(ino, DiskInode::FREE);
        }
        let kept: Vec<u64> = self
            .orphans
            .iter()
            .copied()
            .filter(|i| !freed.contains(&(*i as u32)))
            .collect();
        self.sb.orphan_head = kept.first().copied().unwrap_or(0);
        for (i, &ino) in kept.iter().enumerate() {
            let next = kept.get(i + 1).map_or(0, |&n| n as u32);
            inodes.entry(ino).or_insert(self.inodes[&ino]).next_orphan = next;
        }
        self.pending_free.clear();
        self.orphans = kept;
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
        if let Err(e) = inode.check_features(self.sb.feature_incompat) {
            self.problems.fixable(
                format!("inode {ino}: {}", e.reason()),
                Some(Fix::FeatureFlags(ino)),
            );
        }
        self.check_xattr_block(dev, ino, inode)?;
        // The inode owns its attribute block even if the block is damaged.
        let xattr_blocks = u64::from(inode.xattr_block != 0);
        if let Err(e) = inode.verify_symlink() {
            self.problems.report(format!("inode {ino}: {}", e.reason()));
        }
        if inode.is_inline() {
            self.check_block_count(ino, inode, xattr_blocks);
            return Ok(());
        }

        let map = self.read_extents(dev, ino, inode)?;
        let mut complete = map.complete;
        let dir_index = self.sb.feature_incompat & FEATURE_INCOMPAT_DIR_INDEX != 0;
        let mut verifier = ExtentMapVerifier::new(inode, &self.g, dir_index);
        let size_blocks = inode.size.div_ceil(BLOCK_SIZE as u64);
        let at =
            |i: usize, e: &Extent| format!("inode {ino}: extent {i} (file block {})", e.logical);
        let mut valid = Vec::with_capacity(map.extents.len());
        for (i, e) in map.extents.iter().enumerate() {
            let pushed = verifier.push(e);
            if let Err(err) = e.check(&self.g) {
                self.problems
                    .report(format!("{}: {}", at(i, e), err.reason()));
                complete = false;
                continue;
            }
            if let Err(err) = pushed {
                self.problems
                    .report(format!("{}: {}", at(i, e), err.reason()));
            }
            // Only fallocate(KEEP_SIZE) leaves blocks past the end of a
            // file, and those are unwritten. (Directories and symlinks:
            // the verifier's rules.)
            let regular = inode.file_type() == mode::S_IFREG;
            if regular && e.flags & EXTENT_UNWRITTEN == 0 && e.logical_end() > size_blocks {
                let size = inode.size;
                self.problems.report(format!(
                    "{}: written past the end of file (size {size})",
                    at(i, e)
                ));
            }
            self.claim(e.physical, e.len.into(), ino, regular);
            valid.push(*e);
        }
        if map.complete {
            if let Err(err) = verifier.finish() {
                self.problems
                    .report(format!("inode {ino}: {}", err.reason()));
            }
        }
        for &blkno in &map.blocks {
            self.claim(blkno, 1, ino, false);
        }
        if self.g.has_refcounts() && inode.file_type() == mode::S_IFREG && !inode.is_shared() {
            let ranges = valid.iter().map(|e| (e.physical, u64::from(e.len)));
            self.unflagged.push((ino, ranges.collect()));
        }
        if complete {
            let data: u64 = valid.iter().map(|e| u64::from(e.len)).sum();
            self.check_block_count(ino, inode, data + map.blocks.len() as u64 + xattr_blocks);
        } else {
            self.blocks_known = false;
        }
        match inode.file_type() {
            mode::S_IFDIR => {
                if !complete {
                    self.links_known = false;
                }
                self.dirs.push(Dir {
                    ino,
                    extents: valid,
                    complete,
                });
            }
            mode::S_IFLNK => self.check_symlink_block(dev, ino, inode, &valid)?,
            _ => {}
        }
        Ok(())
    }

    /// Checks the target of symlink `ino` in its block, the first of
    /// `extents` (the module reads it so and rejects a NUL in it).
    fn check_symlink_block(
        &mut self,
        dev: &Device,
        ino: u64,
        inode: &DiskInode,
        extents: &[Extent],
    ) -> io::Result<()> {
        let len = inode.size as usize;
        let Some(e) = extents.first().filter(|e| e.logical == 0) else {
            return Ok(()); // Reported by the extent map verifier.
        };
        if len == 0 || len >= BLOCK_SIZE || e.flags & EXTENT_UNWRITTEN != 0 {
            return Ok(()); // Reported too.
        }
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(e.physical, &mut block)?;
        if let Err(err) = check_symlink_target(&block[..len]) {
            self.problems
                .report(format!("inode {ino}: {}", err.reason()));
        }
        Ok(())
    }

    /// Claims the extended attribute block of inode `ino`, if any, and
    /// checks that it is well-formed.
    fn check_xattr_block(&mut self, dev: &Device, ino: u64, inode: &DiskInode) -> io::Result<()> {
        let blkno = inode.xattr_block;
        if blkno == 0 {
            return Ok(());
        }
        if let Err(e) = inode.verify_xattr_block(&self.g) {
            self.problems
                .report(format!("inode {ino}: {} ({blkno})", e.reason()));
            return Ok(());
        }
        self.claim(blkno, 1, ino, false);
        let mut block = vec![0; BLOCK_SIZE];
        dev.read_blocks(blkno, &mut block)?;
        if let Err(e) = XattrBlock::decode(&block[..], blkno, ino) {
            self.problems
                .report(format!("inode {ino}: xattr block {blkno}: {}", e.reason()));
        }
        Ok(())
    }

    /// Reads the block map of `inode`: the extents in the inode, then those
    /// along its chain of extent blocks, as [`ExtentChainWalk`] checks it,
    /// or with the extent tree feature those of its extent tree.
    fn read_extents(&mut self, dev: &Device, ino: u64, inode: &DiskInode) -> io::Result<ExtentMap> {
        let mut map = ExtentMap {
            extents: inode.inode_extents().collect(),
            blocks: Vec::new(),
            complete: true,
        };
        if let Err(e) = inode.verify_extent_count(&self.g) {
            self.problems.report(format!("inode {ino}: {}", e.reason()));
            map.complete = false;
            return Ok(map);
        }
        if self.sb.feature_incompat & FEATURE_INCOMPAT_EXTENT_TREE != 0 {
            self.read_extent_tree(dev, ino, inode, &mut map)?;
            return Ok(map);
        }
        let mut walk = ExtentChainWalk::new(ino, inode);
        let mut visited = HashSet::new();
        let mut block = vec![0; BLOCK_SIZE];
        loop {
            let at = walk.link();
            let visit = match walk.next_block(&self.g) {
                Ok(None) => break,
                // The walk would find out at its end; this says where.
                Ok(Some(blkno)) if !visited.insert(blkno) => Err("the extent chain loops"),
                Ok(Some(blkno)) => {
                    dev.read_blocks(blkno, &mut block)?;
                    match walk.visit(&block) {
                        Ok(eb) => {
                            map.blocks.push(blkno);
                            map.extents.extend((0..eb.count).map(|i| eb.extent(i)));
                            Ok(())
                        }
                        Err(e) => Err(e.reason()),
                    }
                }
                Err(e) => Err(e.reason()),
            };
            if let Err(why) = visit {
                let message = if at == 0 {
                    format!("inode {ino}: {why}")
                } else {
                    format!("inode {ino}: extent block {at}: {why}")
                };
                self.problems.report(message);
                map.complete = false;
                break;
            }
        }
        Ok(map)
    }

    /// Reads the extents of the extent tree of `inode`, if it has one (an
    /// extent block, which the inode has if and only if it has more than
    /// [`INODE_EXTENTS`] extents: `DiskInode::decode`), into `map`, checking
    /// the whole tree as [`BTree::check`] does. The nodes it read are the
    /// inode's, claimed as its extent blocks would be (a node found twice,
    /// or claimed by another structure too, is reported by the claim).
    fn read_extent_tree(
        &mut self,
        dev: &Device,
        ino: u64,
        inode: &DiskInode,
        map: &mut ExtentMap,
    ) -> io::Result<()> {
        if inode.extent_block == 0 {
            return Ok(());
        }
        let tree = BTree {
            kind: TreeKind::Extent,
            owner: ino,
            root: inode.extent_block,
        };
        // A record past the extent count is one the verifier reports; more
        // would only take memory.
        let records = (inode.extent_count as usize).saturating_sub(INODE_EXTENTS) + 1;
        let mut extents = Vec::new();
        let checked = check_tree(dev, &self.g, &tree, |blkno, _, record| match record {
            None => map.blocks.push(blkno),
            Some(record) if extents.len() < records => {
                extents.push(Extent::from_record(record));
            }
            Some(_) => {}
        })?;
        map.extents.append(&mut extents);
        if let Err((blkno, why)) = checked {
            self.problems
                .report(format!("inode {ino}: extent tree node {blkno}: {why}"));
            map.complete = false;
        }
        Ok(())
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

    /// Records a claim of `ino` on blocks `start..start + len`, as the data
    /// of an extent of a regular file (`data`) or not, and reports the
    /// blocks claimed before: all of them without the reflink feature,
    /// those claimed as anything but a file's data with it (blocks that
    /// file extents share are checked against the refcount table later).
    fn claim(&mut self, start: u64, len: u64, ino: u64, data: bool) {
        let shareable = data && self.g.has_refcounts();
        if let Some(claims) = self.orphan_claims.get_mut(&ino) {
            claims.push((start, len));
        }
        let mut shared = Runs::default();
        for blkno in start..start + len {
            let owner = &mut self.owner[blkno as usize];
            let refs = &mut self.refs[(blkno - self.g.data_start) as usize];
            if *refs == 0 {
                *owner = ino as u32;
                *refs = if shareable { 1 } else { UNSHARED_CLAIM };
            } else if shareable && *refs != UNSHARED_CLAIM {
                *refs = (*refs).saturating_add(1).min(REFCOUNT_MAX);
            } else {
                *refs = UNSHARED_CLAIM;
                shared.push(blkno, *owner);
            }
        }
        if !shared.0.is_empty() {
            self.sharing.insert(ino);
        }
        for (first, last, other) in shared.0 {
            self.sharing.insert(other.into());
            let blocks = span("block", first, last);
            self.problems.report(if u64::from(other) == ino {
                format!("{blocks}: used twice by inode {ino}")
            } else {
                format!("{blocks}: used by inode {other} and inode {ino}")
            });
        }
    }

    /// Reads the entries of every directory, and with the directory index
    /// feature checks each directory's index against them.
    fn read_directories(&mut self, dev: &Device) -> io::Result<()> {
        let indexed = self.sb.feature_incompat & FEATURE_INCOMPAT_DIR_INDEX != 0;
        for dir in mem::take(&mut self.dirs) {
            let mut names = HashSet::new();
            let mut keys = ExpectedKeys::default();
            // Unwritten blocks read as zeroes: they hold no entries.
            for e in dir
                .extents
                .iter()
                .filter(|e| e.flags & EXTENT_UNWRITTEN == 0)
            {
                // With indexes, the data blocks are the file blocks below
                // DIR_DATA_BLOCKS_MAX; the index's nodes are mapped past
                // them (and anything in between is misplaced, which the
                // verifier reported).
                let data_end = if indexed {
                    DIR_DATA_BLOCKS_MAX
                } else {
                    u64::MAX
                };
                let len = data_end.saturating_sub(e.logical).min(e.len.into());
                if len == 0 {
                    continue;
                }
                dev.read_region(e.physical, len, |blkno, block| {
                    let parsed = self.read_dir_block(dir.ino, blkno, block, &mut names);
                    if indexed {
                        let index = e.logical + (blkno - e.physical);
                        keys.add_block(index, block, blkno, dir.ino, parsed);
                    }
                })?;
            }
            if indexed {
                self.check_dir_index(dev, &dir, keys)?;
            }
        }
        Ok(())
    }

    /// Checks the entries of block `blkno` of directory `dir` one by one,
    /// with the module's rules, and counts the links they make; returns
    /// whether every entry parsed.
    fn read_dir_block(
        &mut self,
        dir: u64,
        blkno: u64,
        block: &[u8],
        names: &mut HashSet<Vec<u8>>,
    ) -> bool {
        let entries = match dir_block_entries(block, blkno, dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.problems
                    .report(format!("directory {dir}: block {blkno}: {}", e.reason()));
                self.links_known = false;
                return false;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.problems
                        .report(format!("directory {dir}: block {blkno}: {}", e.reason()));
                    self.links_known = false;
                    return false;
                }
            };
            let at = if entry.ino == 0 {
                format!(
                    "directory {dir}: block {blkno}: free entry at {}",
                    entry.offset
                )
            } else {
                format!("directory {dir}: entry \"{}\"", entry.name.escape_ascii())
            };
            if entry.ino == 0 {
                if let Err(e) = entry.check(dir, self.g.inode_count) {
                    self.problems.report(format!("{at}: {}", e.reason()));
                }
            } else {
                // A bad name or type: the entry still links its inode.
                if let Err(e) = entry.check_name_and_type() {
                    self.problems.report(format!("{at}: {}", e.reason()));
                }
                match entry.check_inode_number(dir, self.g.inode_count) {
                    Ok(()) => self.check_entry(dir, &at, &entry, names),
                    Err(e) => {
                        let ino = entry.ino;
                        self.problems
                            .report(format!("{at}: {} (inode {ino})", e.reason()));
                    }
                }
            }
            if let Err(e) = entry.check_slack() {
                self.problems.fixable(
                    format!("{at}: {}", e.reason()),
                    Some(Fix::DirSlack(dir, blkno)),
                );
            }
        }
        true
    }

    /// Checks the index of directory `dir` (directory index feature), the
    /// tree whose root the directory maps at [`DIR_INDEX_ROOT`]: walked
    /// whole by [`BTree::check`]; its nodes exactly the index blocks the
    /// directory maps (where each is mapped, the extent map verifier
    /// checked); its keys exactly those `expected` from the data blocks.
    /// A directory of more than one data block must have an index. Without
    /// the whole block map, only the tree itself is checked.
    fn check_dir_index(
        &mut self,
        dev: &Device,
        dir: &Dir,
        expected: ExpectedKeys,
    ) -> io::Result<()> {
        let ino = dir.ino;
        // The index blocks the directory maps, and the root.
        let mut mapped = BTreeSet::new();
        let mut root = None;
        for e in dir.extents.iter().filter(|e| e.logical >= DIR_INDEX_ROOT) {
            mapped.extend(e.physical..e.physical + u64::from(e.len));
            if e.logical == DIR_INDEX_ROOT {
                root = Some(e.physical);
            }
        }
        let Some(root) = root else {
            if dir.complete {
                let data_blocks = expected.rooms.len();
                if data_blocks > 1 {
                    self.problems.report(format!(
                        "directory {ino}: {data_blocks} data blocks but no index"
                    ));
                }
                self.report_unindexed(ino, mapped);
            }
            return Ok(());
        };
        let tree = BTree {
            kind: TreeKind::DirIndex,
            owner: ino,
            root,
        };
        let mut nodes = Vec::new();
        let mut keys = Vec::new();
        let checked = check_tree(dev, &self.g, &tree, |blkno, _, record| match record {
            None => nodes.push(blkno),
            Some(record) => keys.push(record.key),
        })?;
        if let Err((blkno, why)) = checked {
            self.problems
                .report(format!("directory {ino}: index node {blkno}: {why}"));
            // Nodes past the damage are not known: none may be taken for
            // leaked and freed.
            self.blocks_known = false;
            return Ok(());
        }
        if !dir.complete {
            return Ok(());
        }
        for blkno in nodes {
            if !mapped.remove(&blkno) {
                self.problems.report(format!(
                    "directory {ino}: index node {blkno} is not mapped in the directory"
                ));
                // The tree's all the same: no repair frees it.
                self.claim(blkno, 1, ino, false);
            }
        }
        self.report_unindexed(ino, mapped);
        self.compare_index_keys(ino, &keys, expected);
        Ok(())
    }

    /// Reports the blocks that directory `ino` maps as index nodes but
    /// that are not in its index (`mapped`, those left).
    fn report_unindexed(&mut self, ino: u64, mapped: BTreeSet<u64>) {
        for blkno in mapped {
            self.problems.report(format!(
                "directory {ino}: block {blkno}: mapped as an index node but not in the index"
            ));
        }
    }

    /// Compares the keys of the index of directory `ino`, `keys`, with
    /// those its data blocks call for, `expected`: reports each key
    /// missing and each key too many, but those of damaged data blocks.
    fn compare_index_keys(&mut self, ino: u64, keys: &[u64], mut expected: ExpectedKeys) {
        let mut has_free_key = HashSet::new();
        for &key in keys {
            let message = if let Some((room, index)) = free_key_parts(key) {
                match expected.rooms.get(&index) {
                    Some(None) => continue, // Damaged.
                    Some(&Some(has)) if has == room && has >= MIN_ROOM => {
                        has_free_key.insert(index);
                        continue;
                    }
                    Some(&Some(has)) if has >= MIN_ROOM => format!(
                        "free-space key of file block {index} says {room} bytes of room, \
                         the block has {has}"
                    ),
                    Some(&Some(has)) => format!(
                        "free-space key of file block {index}, which has no room for an entry \
                         ({has} bytes)"
                    ),
                    None => format!(
                        "free-space key of file block {index}, not a data block of the directory"
                    ),
                }
            } else {
                let (index, offset) = name_key_address(key);
                if !expected.known(index) || expected.names.remove(&key).is_some() {
                    continue;
                }
                format!("name key {key:#x} (file block {index}, offset {offset}) is no entry's")
            };
            self.problems
                .report(format!("directory {ino}: index: {message}"));
        }
        for (key, name) in expected.names {
            let (index, offset) = name_key_address(key);
            self.problems.report(format!(
                "directory {ino}: entry \"{}\" (file block {index}, offset {offset}): \
                 no name key in the index",
                name.escape_ascii()
            ));
        }
        for (index, room) in expected.rooms {
            match room {
                Some(room) if room >= MIN_ROOM && !has_free_key.contains(&index) => {
                    self.problems.report(format!(
                        "directory {ino}: file block {index}: no free-space key in the index \
                         (room {room})"
                    ));
                }
                _ => {}
            }
        }
    }

    /// Checks a used entry of directory `dir`, reported as `at`, against the
    /// inode it names, and counts the link it makes.
    fn check_entry(
        &mut self,
        dir: u64,
        at: &str,
        entry: &DirEntry<'_>,
        names: &mut HashSet<Vec<u8>>,
    ) {
        if !names.insert(entry.name.to_vec()) {
            self.problems.report(format!("{at}: duplicate name"));
        }
        let ino = entry.ino;
        let Some(target) = self.inodes.get(&ino) else {
            if !self.bad_inodes.contains(&ino) {
                let why = check_entry_target(entry.file_type, 0, 0).err();
                let why = why.map_or("", |e| e.reason());
                self.problems.report(format!("{at}: {why} (inode {ino})"));
            }
            return;
        };
        // The link count is compared with the entries in check_links; an
        // unknown type was reported.
        let typed = file_type::is_known(entry.file_type);
        if let Some(e) = check_entry_type(entry.file_type, target.mode)
            .err()
            .filter(|_| typed)
        {
            let (said, is) = (type_name(entry.file_type), mode_name(target.mode));
            self.problems.report(format!(
                "{at}: {} (type {said}, inode {ino} is a {is})",
                e.reason()
            ));
        }
        let is_dir = target.is_dir();
        let links = self.links.entry(ino).or_default();
        links.refs += 1;
        if links.refs == 1 {
            links.linked_from = dir;
        }
        if is_dir {
            self.links.entry(dir).or_default().subdirs += 1;
        }
    }

    /// Compares link counts and parents with the entries found.
    fn check_links(&mut self) {
        let known = self.links_known;
        let fix = |fix| known.then_some(fix);
        for (&ino, inode) in &self.inodes {
            let links = self.links.get(&ino).copied().unwrap_or_default();
            // The parent's range; a directory's parent is compared with the
            // directory holding its entry below, which says more.
            let parent = inode.verify_parent(&self.g).err();
            let parent_message = |e: rexfs_format::FormatError| {
                format!("inode {ino}: {} ({})", e.reason(), inode.parent)
            };
            if ino != ROOT_INO && links.refs == 0 {
                // An orphan with no link left: the next mount frees it.
                if inode.nlink == 0 && self.orphans.contains(&ino) {
                    self.pending_free.push(ino);
                } else {
                    self.problems
                        .report(format!("inode {ino}: in use but not in any directory"));
                }
                if let Some(e) = parent {
                    self.problems.report(parent_message(e));
                }
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
            if !inode.is_dir() {
                // Informational (the directory the inode was made in): any
                // directory holding an entry of it is as good.
                if let Some(e) = parent {
                    self.problems
                        .fixable(parent_message(e), Some(Fix::Parent(ino, links.linked_from)));
                }
                continue;
            }
            if ino == ROOT_INO {
                continue; // check_root
            }
            if links.refs > 1 {
                self.problems.report(format!(
                    "directory {ino}: linked from {} entries",
                    links.refs
                ));
                if let Some(e) = parent {
                    self.problems.report(parent_message(e));
                }
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

    /// Compares the refcount table with the references counted (reflink
    /// feature only): reports the table blocks that do not verify, the
    /// entries that differ from the count of their block, the files that
    /// map shared blocks without `INODE_SHARED`, and the staging blocks the
    /// next mount frees. The table is rewritten by a repair only if every
    /// block map was read.
    fn check_refcounts(&mut self) {
        if !self.g.has_refcounts() {
            return;
        }
        let fix = self.blocks_known.then_some(Fix::Refcounts);
        for (index, bad) in self.refcounts_bad.clone().into_iter().enumerate() {
            if let Some(why) = bad {
                let blkno = self.g.refcount_start + index as u64;
                self.problems
                    .fixable(format!("refcount block {blkno}: {why}"), fix);
            }
        }
        // (entry, claims) of each run of blocks whose entry is wrong.
        let mut wrong = Runs::default();
        let mut staging = Runs::default();
        for blkno in self.g.data_start..self.g.block_count {
            let Some(entry) = self.disk_refcount(blkno) else {
                continue; // Reported, and rewritten whole by a repair.
            };
            let refs = self.refs_of(blkno);
            if entry == REFCOUNT_STAGING && refs == 0 && self.disk_bit(blkno) != Some(false) {
                staging.push(blkno, ());
                self.staging.insert(blkno);
            } else if entry != self.expected_refcount(blkno) {
                wrong.push(blkno, (entry, refs));
            }
        }
        for (first, last, (entry, refs)) in wrong.0 {
            let blocks = span("block", first, last);
            let what = match entry {
                REFCOUNT_STAGING => "COW staging entry".to_string(),
                n => format!("refcount {n}"),
            };
            let message = match refs {
                UNSHARED_CLAIM => format!("{blocks}: {what} on a block that is never shared"),
                0 if entry == REFCOUNT_STAGING => format!("{blocks}: {what} on a free block"),
                1 => format!("{blocks}: {what}, mapped 1 time"),
                n => format!("{blocks}: {what}, mapped {n} times"),
            };
            self.problems.fixable(message, fix);
        }
        for (ino, ranges) in mem::take(&mut self.unflagged) {
            let shares = ranges.iter().any(|&(start, len)| {
                (start..start + len).any(|b| (2..=REFCOUNT_MAX).contains(&self.refs_of(b)))
            });
            if shares {
                self.problems.fixable(
                    format!("inode {ino}: maps shared blocks but is not flagged shared"),
                    Some(Fix::SharedFlag(ino)),
                );
            }
        }
        for (first, last, ()) in staging.0 {
            let blocks = span("block", first, last);
            let what = if first == last {
                "leaked COW staging block"
            } else {
                "leaked COW staging blocks"
            };
            self.problems.pending(
                format!("{blocks}: {what} (freed at the next mount)"),
                self.blocks_known.then_some(Fix::Staging),
                format!("{blocks}: {what} freed"),
            );
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
            Staging,
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
                        0 if self.staging.contains(&blkno) => Mismatch::Staging,
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
                // Staging blocks are those marked used.
                Mismatch::Staging => (format!("{blocks}: COW staging block marked free"), true),
            };
            self.problems.fixable(message, fix.then_some(Fix::Bitmap));
        }
    }

    /// Whether data block `blkno` is in use in the bitmap a repair writes:
    /// claimed, or a staging block not freed. While some block map is
    /// unknown, blocks nobody claims keep their on-disk state, or are taken
    /// as used if that is unknown too.
    fn in_use(&self, blkno: u64) -> bool {
        self.refs_of(blkno) != 0
            || self.staging.contains(&blkno)
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

    /// Rewrites the refcount table blocks that differ from the computed
    /// entries (reflink feature only; nothing while some block map is
    /// unknown).
    fn write_refcounts(&self, dev: &Device) -> io::Result<()> {
        if !self.g.has_refcounts() || !self.blocks_known {
            return Ok(());
        }
        let g = self.g;
        let mut block = vec![0; BLOCK_SIZE];
        for index in 0..g.refcount_blocks {
            let blkno = g.refcount_start + index;
            block.fill(0);
            let first = index * REFCOUNTS_PER_BLOCK as u64;
            for entry in 0..REFCOUNTS_PER_BLOCK {
                let counted = first + entry as u64;
                if (g.data_start..g.block_count).contains(&counted) {
                    refcount_set(&mut block, entry, self.expected_refcount(counted));
                }
            }
            seal_refcount_block(&mut block, blkno);
            if block != self.disk_refcount_block(index) {
                dev.write_blocks(blkno, &block)?;
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
            // Checked and repaired.
            state: self.sb.state & !STATE_ERRORS,
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
