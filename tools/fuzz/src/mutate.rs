// SPDX-License-Identifier: GPL-2.0
//! The damage done to a base image: one metadata structure, one mutation.
//!
//! A damaged image is drawn from its own generator ([`Rng::for_image`]):
//! the base image (journaled three times in four), a structure (superblock,
//! bitmap block, an inode in use or a free slot, one extent in an inode, an
//! extent block, a directory block, an extended attribute block, the jbd2
//! superblock, a long symlink's target block, a refcount table block of the
//! journaled image), an instance of it, and a mutation:
//!
//! - `set`: one field set to a value chosen for its kind: 0, 1, the
//!   largest value, off by one either way, other block or inode numbers
//!   (metadata, other files' blocks, past the end, free slots), huge counts,
//!   lengths and sizes, each flag bit, each file type, bad names (`/`, NUL,
//!   `.`, `..`, a renamed or duplicated one);
//! - `flip`: one to four bits of one field;
//! - `random`: random bytes over a range of the structure.
//!
//! Then the structure's checksum is recomputed (seven times in ten: the
//! damage passes every checksum check) or left stale. A mutation that
//! changes nothing is drawn again.
//!
//! The named cases ([`crate::cases`]) pick the instance and the value by
//! hand instead ([`Instance`], [`set_field`]), through the same field
//! tables.
//!
//! Each field also says which errors other than `EUCLEAN` its damage may
//! legitimately cause (its `allow` list in the field tables below), and the
//! report accepts those for the image (for random bytes: those of every
//! field the bytes cover):
//!
//! | field | errnos | why |
//! |---|---|---|
//! | superblock `free_blocks`, `free_inodes` | `ENOSPC` | a count of 0 is a full filesystem |
//! | superblock `feature_ro_compat` | `EROFS` | unknown read-only features: no read-write mount |
//! | inode `flags` | `EPERM` | immutable, append only |
//! | inode `nlink` | `EMLINK` | a directory at the largest link count |
//! | inode `size` | `EFBIG` | an append at the largest file size |
//! | directory entry `name`, `name_len` | `ENOENT`, `ENOTEMPTY` | two equal names: the second cannot be removed through the dentry cache, its directory stays non-empty |
//! | attribute entry `value_len` | `ENOSPC` | a longer value that still fits fills the block |

use rexfs_format::{
    crc32c, crc32c_without_field, dir_entries, mode, refcount_location, xattr_entry_size,
    BlockKind, BLOCK_SIZE, EXTENT_SIZE, HEADER_SIZE, INODE_SIZE, JBD2_MAGIC, MAX_FILE_BLOCKS,
    REFCOUNTS_PER_BLOCK, REFCOUNT_MAX, REFCOUNT_SIZE, REFCOUNT_STAGING, SUPERBLOCK_SIZE,
    SUPER_MAGIC,
};

use crate::base::{Base, Owned, Variant};
use crate::rng::Rng;

/// The metadata structures damaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Structure {
    /// The superblock (block 0).
    Superblock,
    /// The allocation bitmap block.
    Bitmap,
    /// An inode in use, any field.
    Inode,
    /// A free inode slot.
    FreeInode,
    /// One of the extents stored in an inode.
    InodeExtent,
    /// An extent block of a chain.
    ExtentBlock,
    /// A directory block: header or entries.
    DirBlock,
    /// An extended attribute block.
    XattrBlock,
    /// The jbd2 superblock of the journal.
    JournalSuperblock,
    /// The data block holding a long symlink's target.
    SymlinkBlock,
    /// A block of the refcount table (the journaled base, which has the
    /// reflink feature).
    RefcountBlock,
}

impl Structure {
    /// Every structure, in report order.
    pub const ALL: [Structure; 11] = [
        Structure::Superblock,
        Structure::Bitmap,
        Structure::Inode,
        Structure::FreeInode,
        Structure::InodeExtent,
        Structure::ExtentBlock,
        Structure::DirBlock,
        Structure::XattrBlock,
        Structure::JournalSuperblock,
        Structure::SymlinkBlock,
        Structure::RefcountBlock,
    ];

    /// The name in the manifest and the report.
    pub fn name(self) -> &'static str {
        match self {
            Structure::Superblock => "superblock",
            Structure::Bitmap => "bitmap",
            Structure::Inode => "inode",
            Structure::FreeInode => "inode-free",
            Structure::InodeExtent => "inode-extent",
            Structure::ExtentBlock => "extent-block",
            Structure::DirBlock => "dir-block",
            Structure::XattrBlock => "xattr-block",
            Structure::JournalSuperblock => "journal-sb",
            Structure::SymlinkBlock => "symlink-block",
            Structure::RefcountBlock => "refcount-block",
        }
    }

    /// The structure named `name` in a manifest.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// How often the structure is drawn, relative to the others.
    fn weight(self) -> u64 {
        match self {
            Structure::Superblock => 10,
            Structure::Bitmap => 6,
            Structure::Inode => 22,
            Structure::FreeInode => 3,
            Structure::InodeExtent => 12,
            Structure::ExtentBlock => 9,
            Structure::DirBlock => 20,
            Structure::XattrBlock => 10,
            Structure::JournalSuperblock => 6,
            Structure::SymlinkBlock => 2,
            Structure::RefcountBlock => 4,
        }
    }
}

/// What happened to the damaged structure's checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crc {
    /// Recomputed after the damage: the structure passes its checksum check.
    Recomputed,
    /// Left as it was (or the checksum field itself was damaged).
    Stale,
    /// The structure has no checksum (a symlink's target block).
    None,
}

impl Crc {
    /// The manifest's column: `yes`, `no` or `n/a`.
    pub fn column(self) -> &'static str {
        match self {
            Crc::Recomputed => "yes",
            Crc::Stale => "no",
            Crc::None => "n/a",
        }
    }
}

/// One damaged image: what was done where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// The image's index in the run (0 for a named case).
    pub index: u64,
    /// The base image it was made from.
    pub variant: Variant,
    /// The structure damaged.
    pub structure: Structure,
    /// Which instance: the block, the inode.
    pub location: String,
    /// The field (or, for random bytes, the field at the start of the range).
    pub field: String,
    /// What was done.
    pub mutation: String,
    /// The checksum afterwards.
    pub crc: Crc,
    /// Errors other than `EUCLEAN` the damage may legitimately cause.
    pub allowed: Vec<&'static str>,
}

/// How a field's value is read and what values to try in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A count of things.
    Count,
    /// A size in bytes.
    Size,
    /// A file block number (an extent's `logical`).
    FileBlock,
    /// A length in bytes or blocks.
    Length,
    /// A block number.
    BlockNo,
    /// An inode number.
    InodeNo,
    /// Flag bits, the known ones listed.
    Flags(&'static [u64]),
    /// One of a few meaningful values.
    Enum(&'static [u64]),
    /// An inode mode.
    Mode,
    /// Seconds since the epoch.
    Time,
    /// Nanoseconds.
    Nsec,
    /// A magic number.
    Magic,
    /// A checksum.
    Checksum,
    /// Reserved, zero.
    Reserved,
    /// A name: directory entry or attribute name.
    Name,
    /// Opaque bytes: data, UUID, label, value.
    Bytes,
    /// One bit of the allocation bitmap.
    Bit(u8),
}

/// A field of a structure.
#[derive(Clone, Debug)]
struct Field {
    name: String,
    /// Offset in the structure.
    off: usize,
    /// Bytes; integers are 1, 2, 4 or 8 bytes wide.
    width: usize,
    kind: Kind,
    /// Big endian (jbd2's superblock).
    be: bool,
    /// How often the field is drawn.
    weight: u64,
    /// Errors other than EUCLEAN its damage may legitimately cause.
    allow: &'static [&'static str],
}

fn field(name: impl Into<String>, off: usize, width: usize, kind: Kind) -> Field {
    Field {
        name: name.into(),
        off,
        width,
        kind,
        be: false,
        weight: 1,
        allow: &[],
    }
}

impl Field {
    fn weight(mut self, weight: u64) -> Self {
        self.weight = weight;
        self
    }

    fn allow(mut self, allow: &'static [&'static str]) -> Self {
        self.allow = allow;
        self
    }

    fn be(mut self) -> Self {
        self.be = true;
        self
    }

    fn is_int(&self) -> bool {
        matches!(self.width, 1 | 2 | 4 | 8)
            && !matches!(self.kind, Kind::Name | Kind::Bytes | Kind::Bit(_))
    }
}

/// How a structure's checksum is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seal {
    /// The superblock: CRC-32C of its 512 bytes, at 508.
    Superblock,
    /// An inode slot: CRC-32C of its 256 bytes, at 252.
    Inode,
    /// A metadata block with a [`rexfs_format::BlockHeader`]: CRC-32C of
    /// the block, at 4.
    Header,
    /// jbd2's superblock: jbd2's CRC-32C of 1024 bytes, big endian at 0xFC.
    Jbd2,
    /// No checksum.
    None,
}

/// A structure instance in the image.
struct Target {
    location: String,
    /// Where the structure starts in the image.
    start: usize,
    /// Its fields.
    fields: Vec<Field>,
    /// Ranges (relative to `start`) that random bytes go to, by weight.
    regions: Vec<(u64, usize, usize)>,
    seal: Seal,
    /// Where the checksummed structure starts in the image (the inode slot
    /// of an extent stored in the inode).
    seal_at: usize,
}

/// Recomputes the checksum of the structure sealed by `seal` at `at`.
fn reseal(bytes: &mut [u8], seal: Seal, at: usize) {
    let put_le =
        |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    match seal {
        Seal::Superblock => {
            let crc = crc32c_without_field(&bytes[at..at + SUPERBLOCK_SIZE], SUPERBLOCK_SIZE - 4);
            put_le(bytes, at + SUPERBLOCK_SIZE - 4, crc);
        }
        Seal::Inode => {
            let crc = crc32c_without_field(&bytes[at..at + INODE_SIZE], INODE_SIZE - 4);
            put_le(bytes, at + INODE_SIZE - 4, crc);
        }
        Seal::Header => {
            let crc = crc32c_without_field(&bytes[at..at + BLOCK_SIZE], 4);
            put_le(bytes, at + 4, crc);
        }
        Seal::Jbd2 => {
            // jbd2_chksum(~0, sb with s_checksum zero): CRC-32C without
            // the final inversion.
            let mut copy = bytes[at..at + 1024].to_vec();
            copy[0xfc..0x100].fill(0);
            let crc = !crc32c(&copy);
            bytes[at + 0xfc..at + 0x100].copy_from_slice(&crc.to_be_bytes());
        }
        Seal::None => {}
    }
}

fn mask(width: usize) -> u64 {
    if width >= 8 {
        u64::MAX
    } else {
        (1 << (8 * width)) - 1
    }
}

fn read_int(b: &[u8], f: &Field) -> u64 {
    let bytes = &b[f.off..f.off + f.width];
    let mut v = 0u64;
    for i in 0..f.width {
        let byte = if f.be {
            bytes[i]
        } else {
            bytes[f.width - 1 - i]
        };
        v = (v << 8) | u64::from(byte);
    }
    v
}

fn write_int(b: &mut [u8], f: &Field, v: u64) {
    for i in 0..f.width {
        let byte = (v >> (8 * i)) as u8;
        if f.be {
            b[f.off + f.width - 1 - i] = byte;
        } else {
            b[f.off + i] = byte;
        }
    }
}

// The fields of each structure, at the offsets format/src defines them
// (its offset tables are private: these mirror them).

fn header_fields(fields: &mut Vec<Field>, weight: u64) {
    fields.push(field("magic", 0, 4, Kind::Magic).weight(weight));
    fields.push(field("crc", 4, 4, Kind::Checksum).weight(weight));
    fields.push(field("blkno", 8, 8, Kind::BlockNo).weight(weight));
    fields.push(field("owner", 16, 8, Kind::InodeNo).weight(weight));
    fields.push(field("header reserved", 24, 8, Kind::Reserved).weight(weight));
}

fn superblock_fields() -> Vec<Field> {
    use Kind::*;
    vec![
        field("magic", 0, 4, Magic),
        field("version", 4, 4, Enum(&[0, 2, 0x100])),
        field("feature_compat", 8, 4, Flags(&[1, 2, 0x8000_0000])),
        field("feature_incompat", 12, 4, Flags(&[1, 2, 4, 0x8000_0000])),
        field("feature_ro_compat", 16, 4, Flags(&[1, 2, 0x8000_0000])).allow(&["EROFS"]),
        field(
            "block_size",
            20,
            4,
            Enum(&[0, 512, 1024, 2048, 8192, 65536]),
        ),
        field("block_count", 24, 8, BlockNo),
        field("inode_count", 32, 8, Count),
        field("bitmap_start", 40, 8, BlockNo),
        field("bitmap_blocks", 48, 8, Count),
        field("inode_table_start", 56, 8, BlockNo),
        field("inode_table_blocks", 64, 8, Count),
        field("data_start", 72, 8, BlockNo),
        field("free_blocks", 80, 8, Count).allow(&["ENOSPC"]),
        field("free_inodes", 88, 8, Count).allow(&["ENOSPC"]),
        field("root_ino", 96, 8, InodeNo),
        field("state", 104, 4, Enum(&[0, 1, 2])),
        field("mount_count", 108, 4, Count),
        field("mkfs_time", 112, 8, Time),
        field("mount_time", 120, 8, Time),
        field("write_time", 128, 8, Time),
        field("uuid", 136, 16, Bytes),
        field("label", 152, 32, Bytes),
        field("journal_start", 184, 8, BlockNo),
        field("journal_blocks", 192, 8, Count),
        field("orphan_head", 200, 8, InodeNo),
        field("refcount_start", 208, 8, BlockNo),
        field("refcount_blocks", 216, 8, Count),
        field("reserved", 224, 284, Reserved),
        field("crc", 508, 4, Checksum),
    ]
}

/// The fields of an inode slot; `inline` says whether its data area holds
/// data (else extents, a target of its own structure).
fn inode_fields() -> Vec<Field> {
    use Kind::*;
    vec![
        field("mode", 0, 2, Mode).weight(3),
        field("flags", 2, 2, Flags(&[1, 2, 4, 8, 16, 32, 64, 128, 0x8000]))
            .weight(3)
            .allow(&["EPERM"]),
        field("nlink", 4, 4, Count).weight(3).allow(&["EMLINK"]),
        field("uid", 8, 4, Count),
        field("gid", 12, 4, Count),
        field("size", 16, 8, Size).weight(3).allow(&["EFBIG"]),
        field("blocks", 24, 8, Count).weight(2),
        field("atime", 32, 8, Time),
        field("mtime", 40, 8, Time),
        field("ctime", 48, 8, Time),
        field("crtime", 56, 8, Time),
        field("atime_nsec", 64, 4, Nsec),
        field("mtime_nsec", 68, 4, Nsec),
        field("ctime_nsec", 72, 4, Nsec),
        field("crtime_nsec", 76, 4, Nsec),
        field("generation", 80, 4, Count),
        field("extent_count", 84, 4, Count).weight(3),
        field("parent", 88, 8, InodeNo).weight(2),
        field("extent_block", 96, 8, BlockNo).weight(2),
        field("rdev", 104, 4, Count),
        field("reserved", 108, 4, Reserved),
        field("data", 112, 128, Bytes).weight(2),
        field("xattr_block", 240, 8, BlockNo).weight(2),
        field("next_orphan", 248, 4, InodeNo).weight(2),
        field("crc", 252, 4, Checksum),
    ]
}

fn extent_fields(prefix: &str, off: usize, weight: u64) -> Vec<Field> {
    use Kind::*;
    vec![
        field(format!("{prefix}logical"), off, 8, FileBlock).weight(weight),
        field(format!("{prefix}physical"), off + 8, 8, BlockNo).weight(weight),
        field(format!("{prefix}len"), off + 16, 4, Length).weight(weight),
        field(
            format!("{prefix}flags"),
            off + 20,
            4,
            Flags(&[1, 2, 0x8000_0000]),
        )
        .weight(weight),
    ]
}

fn journal_fields() -> Vec<Field> {
    use Kind::*;
    let errnos: &'static [u64] = &[
        (-5i32) as u32 as u64,
        (-30i32) as u32 as u64,
        (-117i32) as u32 as u64,
        1,
    ];
    vec![
        field("magic", 0, 4, Magic).be(),
        field("blocktype", 4, 4, Enum(&[0, 1, 2, 3, 5])).be(),
        field("blocksize", 0xc, 4, Enum(&[0, 1024, 2048, 8192, 65536])).be(),
        field("maxlen", 0x10, 4, Count).be(),
        field("first", 0x14, 4, Count).be(),
        field("sequence", 0x18, 4, Count).be(),
        field("start", 0x1c, 4, Count).be(),
        field("errno", 0x20, 4, Enum(errnos)).be(),
        field("feature_compat", 0x24, 4, Flags(&[1, 2])).be(),
        field(
            "feature_incompat",
            0x28,
            4,
            Flags(&[1, 2, 4, 8, 0x10, 0x20]),
        )
        .be(),
        field("feature_ro_compat", 0x2c, 4, Flags(&[1])).be(),
        field("uuid", 0x30, 16, Bytes),
        field("nr_users", 0x40, 4, Count).be(),
        field("dynsuper", 0x44, 4, Count).be(),
        field("max_transaction", 0x48, 4, Count).be(),
        field("max_trans_data", 0x4c, 4, Count).be(),
        field("checksum_type", 0x50, 1, Enum(&[0, 1, 2, 3, 5])),
        field("padding", 0x51, 3, Reserved),
        field("num_fc_blocks", 0x54, 4, Count).be(),
        field("head", 0x58, 4, Count).be(),
        field("padding2", 0x5c, 0xfc - 0x5c, Reserved),
        field("checksum", 0xfc, 4, Checksum).be(),
        field("users", 0x100, 0x300, Bytes),
    ]
}

/// Where block `blkno` starts in the image.
fn block_at(blkno: u64) -> usize {
    blkno as usize * BLOCK_SIZE
}

/// Where the slot of inode `ino` starts in the image of `base`.
fn slot_at(base: &Base, ino: u64) -> usize {
    let (blkno, offset) = base.geometry().inode_location(ino).expect("in range");
    block_at(blkno) + offset
}

/// The slot of inode `ino`, in use or free.
fn inode_target(base: &Base, ino: u64) -> Target {
    let at = slot_at(base, ino);
    Target {
        location: base.describe_inode(ino),
        start: at,
        fields: inode_fields(),
        regions: vec![(1, 0, INODE_SIZE)],
        seal: Seal::Inode,
        seal_at: at,
    }
}

/// Extent `i` of those stored in inode `ino`.
fn inode_extent_target(base: &Base, ino: u64, i: usize) -> Target {
    let slot = slot_at(base, ino);
    Target {
        location: format!("{} extent {i}", base.describe_inode(ino)),
        start: slot + 112 + i * EXTENT_SIZE,
        fields: extent_fields("", 0, 1),
        regions: vec![(1, 0, EXTENT_SIZE)],
        seal: Seal::Inode,
        seal_at: slot,
    }
}

/// Directory block `owned`: its header and each of its entries.
fn dir_block_target(base: &Base, owned: Owned) -> Target {
    let at = block_at(owned.blkno);
    let block = &base.bytes[at..at + BLOCK_SIZE];
    let mut fields = Vec::new();
    header_fields(&mut fields, 3);
    let mut regions = vec![(3, 0, BLOCK_SIZE)];
    let entries = dir_entries(block, owned.blkno, owned.ino).expect("a directory block");
    for (k, entry) in entries.enumerate() {
        let e = entry.expect("a valid entry");
        let o = e.offset;
        let p = |n: &str| format!("entry[{k}].{n}");
        fields.push(field(p("ino"), o, 8, Kind::InodeNo));
        fields.push(field(p("rec_len"), o + 8, 2, Kind::Length));
        // A shorter or longer name may duplicate another one: the
        // second of two equal names cannot be removed through the
        // dentry cache (ENOENT), which leaves its directory
        // non-empty (ENOTEMPTY).
        let dup: &'static [&'static str] = &["ENOENT", "ENOTEMPTY"];
        fields.push(field(p("name_len"), o + 10, 1, Kind::Length).allow(dup));
        fields.push(field(
            p("file_type"),
            o + 11,
            1,
            Kind::Enum(&[0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 15, 255]),
        ));
        if !e.name.is_empty() {
            fields.push(field(p("name"), o + 12, e.name.len(), Kind::Name).allow(dup));
        }
        // The bytes after the name, up to the next entry: zero.
        let slack = o + 12 + e.name.len();
        if slack < o + e.rec_len {
            fields.push(field(
                p("slack"),
                slack,
                o + e.rec_len - slack,
                Kind::Reserved,
            ));
        }
        regions.push((1, o, o + e.rec_len.min(64)));
    }
    Target {
        location: format!(
            "block {} ({} directory)",
            owned.blkno,
            base.describe_inode(owned.ino)
        ),
        start: at,
        fields,
        regions,
        seal: Seal::Header,
        seal_at: at,
    }
}

/// The superblock, block 0.
fn superblock_target() -> Target {
    Target {
        location: "block 0".into(),
        start: 0,
        fields: superblock_fields(),
        regions: vec![(1, 0, SUPERBLOCK_SIZE)],
        seal: Seal::Superblock,
        seal_at: 0,
    }
}

/// Picks a structure instance of `structure` in `base`; `None` if the base
/// has none.
fn target(base: &Base, structure: Structure, rng: &mut Rng) -> Option<Target> {
    let g = base.geometry();
    let bytes = &base.bytes;
    Some(match structure {
        Structure::Superblock => superblock_target(),
        Structure::Bitmap => {
            let blkno = g.bitmap_start;
            let mut fields = Vec::new();
            header_fields(&mut fields, 2);
            // Bits of blocks of every kind: metadata, in use, free, past
            // the end.
            let mut bits = vec![
                (0, "superblock"),
                (g.inode_table_start, "inode table"),
                (g.data_start - 1, "last metadata block"),
                (g.block_count, "past the end"),
            ];
            if g.has_journal() {
                bits.push((g.journal_start + 1, "journal"));
            }
            let kinds = [
                (&base.dir_blocks, "directory block"),
                (&base.extent_blocks, "extent block"),
                (&base.xattr_blocks, "xattr block"),
            ];
            for (list, what) in kinds {
                bits.push((list[rng.index(list.len())].blkno, what));
            }
            bits.push((*rng.pick(&base.data_blocks), "file data"));
            bits.push((*rng.pick(&base.free_blocks), "free"));
            bits.push((base.free_blocks[0], "first free"));
            for (b, what) in bits {
                fields.push(
                    field(
                        format!("bit of block {b} ({what})"),
                        HEADER_SIZE + b as usize / 8,
                        1,
                        Kind::Bit((b % 8) as u8),
                    )
                    .weight(3),
                );
            }
            let end = HEADER_SIZE + (g.block_count as usize).div_ceil(8) + 1;
            // Names the bits that random bytes hit; never drawn itself.
            fields.push(field("bits", HEADER_SIZE, end - HEADER_SIZE, Kind::Bytes).weight(0));
            Target {
                location: format!("block {blkno}"),
                start: block_at(blkno),
                fields,
                regions: vec![(1, 0, end)],
                seal: Seal::Header,
                seal_at: block_at(blkno),
            }
        }
        Structure::Inode => {
            // A class of inode first (so that the 50 small files of /dir1
            // do not crowd out the rest), then one of it.
            let class = |n: &crate::base::Node| match n.mode & mode::S_IFMT {
                _ if n.ino == rexfs_format::ROOT_INO => 0,
                mode::S_IFDIR => 1,
                mode::S_IFREG if n.path == "<orphan>" => 2,
                mode::S_IFREG if n.inode_extents > 0 => 3,
                mode::S_IFREG if n.path.starts_with("/dir1/f") => 4,
                mode::S_IFREG => 5,
                mode::S_IFLNK => 6,
                _ => 7,
            };
            let mut classes: Vec<u8> = base.nodes.iter().map(class).collect();
            classes.sort();
            classes.dedup();
            let c = *rng.pick(&classes);
            let nodes: Vec<_> = base.nodes.iter().filter(|n| class(n) == c).collect();
            let node = nodes[rng.index(nodes.len())];
            inode_target(base, node.ino)
        }
        // `describe_inode` calls a slot no node holds "inode N (free)".
        Structure::FreeInode => inode_target(base, *rng.pick(&base.free_slots)),
        Structure::InodeExtent => {
            let nodes: Vec<_> = base.nodes.iter().filter(|n| n.inode_extents > 0).collect();
            let node = nodes[rng.index(nodes.len())];
            let i = rng.index(node.inode_extents);
            inode_extent_target(base, node.ino, i)
        }
        Structure::ExtentBlock => {
            let owned = *rng.pick(&base.extent_blocks);
            let at = block_at(owned.blkno);
            let block = &bytes[at..at + BLOCK_SIZE];
            let count = u32::from_le_bytes(block[40..44].try_into().expect("4 bytes")) as usize;
            let mut fields = Vec::new();
            header_fields(&mut fields, 2);
            fields.push(field("next", 32, 8, Kind::BlockNo).weight(8));
            fields.push(field("count", 40, 4, Kind::Count).weight(8));
            fields.push(field("reserved", 44, 4, Kind::Reserved));
            // The first and last three extents and three others.
            let mut picked: Vec<usize> = (0..count.min(3))
                .chain(count.saturating_sub(3)..count)
                .collect();
            for _ in 0..3 {
                picked.push(rng.index(count.max(1)));
            }
            picked.sort();
            picked.dedup();
            for i in picked.into_iter().filter(|&i| i < count) {
                fields.extend(extent_fields(&format!("extent[{i}]."), 48 + i * 24, 2));
            }
            let used = 48 + count * EXTENT_SIZE;
            if used < BLOCK_SIZE {
                fields.push(field(
                    "unused slots",
                    used,
                    BLOCK_SIZE - used,
                    Kind::Reserved,
                ));
            }
            Target {
                location: format!(
                    "block {} ({} extent chain)",
                    owned.blkno,
                    base.describe_inode(owned.ino)
                ),
                start: at,
                fields,
                regions: vec![
                    (3, 0, 48),
                    (3, 48, used),
                    (1, used, (used + 64).min(BLOCK_SIZE)),
                ],
                seal: Seal::Header,
                seal_at: at,
            }
        }
        Structure::DirBlock => dir_block_target(base, *rng.pick(&base.dir_blocks)),
        Structure::XattrBlock => {
            let owned = *rng.pick(&base.xattr_blocks);
            let at = block_at(owned.blkno);
            let block = &bytes[at..at + BLOCK_SIZE];
            let count = u32::from_le_bytes(block[32..36].try_into().expect("4 bytes")) as usize;
            let mut fields = Vec::new();
            header_fields(&mut fields, 2);
            fields.push(field("count", 32, 4, Kind::Count).weight(6));
            fields.push(field("reserved", 36, 4, Kind::Reserved));
            let mut o = 40;
            for k in 0..count {
                let name_len = block[o + 1] as usize;
                let value_len = u16::from_le_bytes([block[o + 2], block[o + 3]]) as usize;
                let p = |n: &str| format!("entry[{k}].{n}");
                fields.push(field(
                    p("namespace"),
                    o,
                    1,
                    Kind::Enum(&[0, 1, 2, 3, 0x80, 255]),
                ));
                fields.push(field(p("name_len"), o + 1, 1, Kind::Length));
                // A longer value that still fits (taking the zeroes after
                // the entries) leaves the block full: ENOSPC for a new
                // attribute is right then.
                fields.push(field(p("value_len"), o + 2, 2, Kind::Length).allow(&["ENOSPC"]));
                fields.push(field(p("name"), o + 4, name_len, Kind::Name));
                if value_len > 0 {
                    fields.push(field(p("value"), o + 4 + name_len, value_len, Kind::Bytes));
                }
                let size = xattr_entry_size(name_len, value_len);
                let pad = size - 4 - name_len - value_len;
                if pad > 0 {
                    fields.push(field(
                        p("padding"),
                        o + 4 + name_len + value_len,
                        pad,
                        Kind::Reserved,
                    ));
                }
                o += size;
            }
            fields.push(field(
                "after the entries",
                o,
                BLOCK_SIZE - o,
                Kind::Reserved,
            ));
            Target {
                location: format!(
                    "block {} ({} attributes)",
                    owned.blkno,
                    base.describe_inode(owned.ino)
                ),
                start: at,
                fields,
                regions: vec![(1, 0, (o + 8).min(BLOCK_SIZE))],
                seal: Seal::Header,
                seal_at: at,
            }
        }
        Structure::JournalSuperblock => {
            if !g.has_journal() {
                return None;
            }
            let at = block_at(g.journal_start);
            Target {
                location: format!("block {}", g.journal_start),
                start: at,
                fields: journal_fields(),
                regions: vec![(4, 0, 0x100), (1, 0x100, 0x400)],
                seal: Seal::Jbd2,
                seal_at: at,
            }
        }
        Structure::RefcountBlock => return refcount_target(base, rng),
        Structure::SymlinkBlock => {
            let (owned, len) = *rng.pick(&base.symlink_blocks);
            let at = block_at(owned.blkno);
            Target {
                location: format!(
                    "block {} ({} target)",
                    owned.blkno,
                    base.describe_inode(owned.ino)
                ),
                start: at,
                fields: vec![
                    field("target", 0, len, Kind::Bytes).weight(4),
                    field("after the target", len, 16, Kind::Bytes),
                ],
                regions: vec![(1, 0, len + 8)],
                seal: Seal::None,
                seal_at: at,
            }
        }
    })
}

/// Values worth trying in a refcount entry besides 0, 1, the largest (the
/// staging value) and the entry's neighbours: shared twice or three times,
/// the largest count, the staging value.
const REFCOUNT_VALUES: &[u64] = &[2, 3, REFCOUNT_MAX as u64, REFCOUNT_STAGING as u64];

/// The refcount table block holding the entry of one of a few blocks of
/// `base` (the first data block, a file's data block, the last block), with
/// fields for the entries of the blocks of every kind it counts.
fn refcount_target(base: &Base, rng: &mut Rng) -> Option<Target> {
    let g = base.geometry();
    if !g.has_refcounts() {
        return None;
    }
    let counted = [
        g.data_start,
        *rng.pick(&base.data_blocks),
        g.block_count - 1,
    ];
    let (blkno, _) = refcount_location(&g, counted[rng.index(counted.len())]);
    let first = (blkno - g.refcount_start) * REFCOUNTS_PER_BLOCK as u64;
    let end = first + REFCOUNTS_PER_BLOCK as u64;
    let mut fields = Vec::new();
    header_fields(&mut fields, 2);
    // Entries of blocks of every kind, those this block counts: metadata,
    // in use, free, past the end.
    let mut blocks = vec![
        (g.data_start - 1, "last metadata block"),
        (g.data_start, "first data block"),
        (g.block_count - 1, "last block"),
        (g.block_count, "past the end"),
    ];
    let kinds = [
        (&base.dir_blocks, "directory block"),
        (&base.extent_blocks, "extent block"),
        (&base.xattr_blocks, "xattr block"),
    ];
    for (list, what) in kinds {
        blocks.push((list[rng.index(list.len())].blkno, what));
    }
    blocks.push((*rng.pick(&base.data_blocks), "file data"));
    blocks.push((*rng.pick(&base.free_blocks), "free"));
    blocks.sort();
    blocks.dedup_by_key(|b| b.0);
    for (b, what) in blocks.into_iter().filter(|b| (first..end).contains(&b.0)) {
        fields.push(
            field(
                format!("entry of block {b} ({what})"),
                HEADER_SIZE + (b - first) as usize * REFCOUNT_SIZE,
                REFCOUNT_SIZE,
                Kind::Enum(REFCOUNT_VALUES),
            )
            .weight(3),
        );
    }
    // Names the entries that random bytes hit; never drawn itself.
    fields.push(
        field(
            "entries",
            HEADER_SIZE,
            BLOCK_SIZE - HEADER_SIZE,
            Kind::Bytes,
        )
        .weight(0),
    );
    Some(Target {
        location: format!("block {blkno}"),
        start: block_at(blkno),
        fields,
        regions: vec![(1, 0, BLOCK_SIZE)],
        seal: Seal::Header,
        seal_at: block_at(blkno),
    })
}

/// Block numbers worth trying in a block-number field.
fn block_values(base: &Base) -> Vec<(u64, String)> {
    let g = base.geometry();
    let mut v = vec![
        (0, "superblock".to_string()),
        (g.bitmap_start, "bitmap block".into()),
        (g.inode_table_start, "first inode-table block".into()),
        (
            g.inode_table_start + g.inode_table_blocks - 1,
            "last inode-table block".into(),
        ),
        (g.data_start - 1, "last metadata block".into()),
        (g.data_start, "first data block".into()),
        (g.block_count - 1, "last block".into()),
        (g.block_count, "block count".into()),
        (g.block_count + 1000, "past the end".into()),
        (1 << 32, "2^32".into()),
        (1 << 40, "2^40".into()),
        (u64::MAX - 1, "2^64-2".into()),
    ];
    if g.has_journal() {
        v.push((g.journal_start, "journal superblock".into()));
        v.push((g.journal_start + 7, "journal block".into()));
    }
    let owned = [
        (&base.dir_blocks, "directory block"),
        (&base.extent_blocks, "extent block"),
        (&base.xattr_blocks, "xattr block"),
    ];
    for (list, what) in owned {
        for o in list.iter().take(2) {
            v.push((o.blkno, format!("{what} of inode {}", o.ino)));
        }
    }
    v.push((base.data_blocks[0], "a data block of /medium".into()));
    v.push((
        base.data_blocks[base.data_blocks.len() / 2],
        "another file's data block".into(),
    ));
    v.push((base.free_blocks[0], "a free block".into()));
    v.push((
        *base.free_blocks.last().expect("free blocks"),
        "the last free block".into(),
    ));
    v
}

/// Inode numbers worth trying in an inode-number field.
fn inode_values(base: &Base) -> Vec<(u64, String)> {
    let g = base.geometry();
    let mut v = Vec::new();
    let mut seen_classes = Vec::new();
    for n in &base.nodes {
        let class = (n.mode & mode::S_IFMT, n.path == "<orphan>");
        if !seen_classes.contains(&class) {
            seen_classes.push(class);
            v.push((n.ino, format!("inode {} ({})", n.ino, n.path)));
        }
    }
    if let Some(n) = base.nodes.iter().find(|n| n.path == "/dir1/sub") {
        v.push((n.ino, format!("inode {} ({})", n.ino, n.path)));
    }
    v.push((base.free_slots[0], "a free inode".into()));
    v.push((g.inode_count, "the last inode".into()));
    v.push((g.inode_count + 1, "one past the last inode".into()));
    v.push((u64::from(u32::MAX), "2^32-1".into()));
    v.push((1 << 32, "2^32".into()));
    v
}

/// Values worth trying in integer field `f` whose value is `cur`.
fn int_values(f: &Field, cur: u64, base: &Base) -> Vec<(u64, String)> {
    let m = mask(f.width);
    let mut v: Vec<(u64, String)> = vec![
        (0, "0".into()),
        (1, "1".into()),
        (m, "max".into()),
        (cur.wrapping_add(1) & m, "+1".into()),
        (cur.wrapping_sub(1) & m, "-1".into()),
    ];
    let mut add = |value: u64, what: &str| v.push((value & m, what.to_string()));
    match f.kind {
        Kind::Count => {
            add(2, "2");
            add(cur.wrapping_mul(2), "doubled");
            add(168, "extents per block");
            add(169, "extents per block + 1");
            add(0x7fff_ffff, "2^31-1");
            add(0x8000_0000, "2^31");
            if f.width == 8 {
                add(1 << 32, "2^32");
                add(1 << 40, "2^40");
                add(1 << 63, "2^63");
            }
        }
        Kind::Size => {
            for (value, what) in [
                (127, "127"),
                (128, "inline maximum"),
                (129, "inline maximum + 1"),
                (4095, "4095"),
                (4096, "one block"),
                (4097, "4097"),
                (MAX_FILE_BLOCKS << 12, "maximum file size"),
                ((MAX_FILE_BLOCKS << 12) + 1, "maximum file size + 1"),
                ((MAX_FILE_BLOCKS << 12) - 1, "maximum file size - 1"),
                (i64::MAX as u64, "2^63-1"),
                (1 << 63, "2^63"),
            ] {
                add(value, what);
            }
            add(cur.wrapping_mul(2), "doubled");
            add(cur / 2, "halved");
        }
        Kind::FileBlock => {
            add(MAX_FILE_BLOCKS - 1, "last file block");
            add(MAX_FILE_BLOCKS, "maximum file blocks");
            add(1 << 32, "2^32");
            add(cur + 2, "+2");
            add(cur.wrapping_sub(2), "-2");
        }
        Kind::Length => {
            for (value, what) in [
                (cur.wrapping_add(8), "+8"),
                (cur.wrapping_sub(8), "-8"),
                (cur.wrapping_add(4), "+4"),
                (cur.wrapping_mul(2), "doubled"),
                (12, "dirent header"),
                (255, "255"),
                (256, "256"),
                (4064, "block payload"),
                (4096, "block size"),
                (65535, "65535"),
                (1 << 20, "2^20"),
                (0x7fff_ffff, "2^31-1"),
            ] {
                add(value, what);
            }
            add(base.geometry().block_count, "block count");
        }
        Kind::BlockNo => {
            for (value, what) in block_values(base) {
                add(value, &what);
            }
        }
        Kind::InodeNo => {
            for (value, what) in inode_values(base) {
                add(value, &what);
            }
        }
        Kind::Flags(bits) => {
            for &bit in bits {
                add(cur ^ bit, &format!("toggle {bit:#x}"));
            }
            add(bits.iter().fold(cur, |a, b| a | b), "every known flag");
        }
        Kind::Enum(values) => {
            for &value in values {
                add(value, &format!("{value:#x}"));
            }
        }
        Kind::Mode => {
            let perms = cur & 0o7777;
            for (t, name) in [
                (mode::S_IFDIR, "directory"),
                (mode::S_IFREG, "regular file"),
                (mode::S_IFLNK, "symlink"),
                (mode::S_IFCHR, "character device"),
                (mode::S_IFBLK, "block device"),
                (mode::S_IFIFO, "fifo"),
                (mode::S_IFSOCK, "socket"),
            ] {
                add(u64::from(t) | perms, &format!("type {name}"));
            }
            add(0o070000 | perms, "unknown type 07");
            add(0o150000 | perms, "unknown type 15");
            add(cur & !0o7777, "permissions 0000");
            add(cur | 0o7777, "permissions 7777");
        }
        Kind::Time => {
            add(i64::MIN as u64, "i64 minimum");
            add(i64::MAX as u64, "i64 maximum");
            add(1 << 33, "2^33 s");
        }
        Kind::Nsec => {
            add(999_999_999, "999999999");
            add(1_000_000_000, "10^9");
        }
        Kind::Magic => {
            for (value, what) in [
                (u64::from(SUPER_MAGIC), "superblock magic"),
                (BlockKind::Bitmap as u64, "bitmap magic"),
                (BlockKind::Directory as u64, "directory magic"),
                (BlockKind::Extent as u64, "extent magic"),
                (BlockKind::Xattr as u64, "xattr magic"),
                (BlockKind::Refcount as u64, "refcount magic"),
                (u64::from(JBD2_MAGIC), "jbd2 magic"),
                (u64::from((cur as u32).swap_bytes()), "byte-swapped"),
            ] {
                add(value, what);
            }
        }
        Kind::Checksum => {
            add(cur ^ 1, "bit 0 flipped");
            add(cur ^ 0x8000_0000, "bit 31 flipped");
        }
        Kind::Reserved => {
            add(0x80, "0x80");
        }
        Kind::Name | Kind::Bytes | Kind::Bit(_) => {}
    }
    let mut out: Vec<(u64, String)> = Vec::new();
    for (value, what) in v {
        if value != cur && !out.iter().any(|(x, _)| *x == value) {
            out.push((value, what));
        }
    }
    out
}

/// Sets byte field `f` of `s` (the structure's bytes) to a pattern for its
/// kind; returns what was done.
fn set_bytes(s: &mut [u8], f: &Field, rng: &mut Rng) -> String {
    let b = &mut s[f.off..f.off + f.width];
    let i = rng.index(b.len());
    let choice = rng.below(match f.kind {
        Kind::Name => 9,
        _ => 5,
    });
    match (f.kind, choice) {
        (Kind::Name, 0) => {
            b[i] = b'/';
            format!("byte {i} = '/'")
        }
        (Kind::Name, 1) => {
            b[i] = 0;
            format!("byte {i} = NUL")
        }
        (Kind::Name, 2) => {
            if b.len() <= 2 {
                b.fill(b'.');
                format!("= {:?}", ".".repeat(b.len()))
            } else {
                b[0] = b'.';
                "byte 0 = '.'".into()
            }
        }
        (Kind::Name, 3) => {
            // f01 -> f02: the likely duplicate of a sibling's name.
            let last = b.len() - 1;
            b[last] = b[last].wrapping_add(1);
            "last byte + 1".into()
        }
        (Kind::Name, 4) => {
            let last = b.len() - 1;
            b[last] = b[last].wrapping_sub(1);
            "last byte - 1".into()
        }
        (Kind::Name, 5) => {
            b[i] = b'A' + rng.below(26) as u8;
            format!("byte {i} = another letter")
        }
        (Kind::Name, 6) => {
            b[i] = 0xff;
            format!("byte {i} = 0xff")
        }
        (_, 0) => {
            b.fill(0);
            "all zero".into()
        }
        (_, 1) => {
            b.fill(0xff);
            "all 0xff".into()
        }
        (_, 2) => {
            b[i] = 0;
            format!("byte {i} = NUL")
        }
        (_, 3) => {
            b[i] = b[i].wrapping_add(1);
            format!("byte {i} + 1")
        }
        _ => {
            rng.fill(b);
            "random".into()
        }
    }
}

/// Draws the damage of image `index` of a run seeded with `seed` from the
/// two bases; returns the damaged image and what was done.
pub fn mutate(journal: &Base, nojournal: &Base, seed: u64, index: u64) -> (Vec<u8>, Mutation) {
    let mut rng = Rng::for_image(seed, index);
    let base = if rng.percent(75) { journal } else { nojournal };
    let mut bytes = base.bytes.clone();
    for _attempt in 0..64 {
        let weights: Vec<(u64, Structure)> = Structure::ALL
            .iter()
            .map(|&s| {
                let available = match s {
                    Structure::JournalSuperblock => base.geometry().has_journal(),
                    Structure::SymlinkBlock => !base.symlink_blocks.is_empty(),
                    Structure::RefcountBlock => base.geometry().has_refcounts(),
                    _ => true,
                };
                (if available { s.weight() } else { 0 }, s)
            })
            .collect();
        let structure = *rng.weighted(&weights);
        let Some(t) = target(base, structure, &mut rng) else {
            continue;
        };
        let recompute = t.seal != Seal::None && rng.percent(70);
        let (field, mutation, allowed) = apply(&t, &mut bytes, base, &mut rng);
        // Damage to the checksum itself is left as it is.
        let crc_field = t
            .fields
            .iter()
            .find(|f| f.name == field)
            .is_some_and(|f| f.kind == Kind::Checksum);
        let crc = match (t.seal, recompute && !crc_field) {
            (Seal::None, _) => Crc::None,
            (_, true) => Crc::Recomputed,
            (_, false) => Crc::Stale,
        };
        if crc == Crc::Recomputed {
            reseal(&mut bytes, t.seal, t.seal_at);
        }
        // Every structure lies within one block: compare that block.
        let block = t.start / BLOCK_SIZE * BLOCK_SIZE;
        let range = block..block + BLOCK_SIZE;
        if bytes[range.clone()] == base.bytes[range.clone()] {
            // Nothing changed (a value equal to the old one): draw again.
            continue;
        }
        return (
            bytes,
            Mutation {
                index,
                variant: base.variant,
                structure,
                location: t.location,
                field,
                mutation,
                crc,
                allowed,
            },
        );
    }
    unreachable!("64 draws changed nothing")
}

/// Integer `value` of field `f` as the manifest shows it: flags, magic
/// numbers, checksums, modes and enumerations in hex.
fn show(f: &Field, value: u64) -> String {
    match f.kind {
        Kind::Flags(_) | Kind::Magic | Kind::Checksum | Kind::Mode | Kind::Enum(_) => {
            format!("{value:#x}")
        }
        _ => value.to_string(),
    }
}

/// A structure instance chosen by hand rather than drawn: what the named
/// cases ([`crate::cases`]) damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instance {
    /// The superblock.
    Superblock,
    /// The slot of inode `ino`.
    Inode(u64),
    /// Extent `i` of those stored in inode `ino`: `InodeExtent(ino, i)`.
    InodeExtent(u64, usize),
    /// A directory block.
    DirBlock(Owned),
}

impl Instance {
    fn structure(self, base: &Base) -> Structure {
        match self {
            Instance::Superblock => Structure::Superblock,
            Instance::Inode(ino) if base.node(ino).is_none() => Structure::FreeInode,
            Instance::Inode(_) => Structure::Inode,
            Instance::InodeExtent(..) => Structure::InodeExtent,
            Instance::DirBlock(_) => Structure::DirBlock,
        }
    }

    fn target(self, base: &Base) -> Target {
        match self {
            Instance::Superblock => superblock_target(),
            Instance::Inode(ino) => inode_target(base, ino),
            Instance::InodeExtent(ino, i) => inode_extent_target(base, ino, i),
            Instance::DirBlock(owned) => dir_block_target(base, owned),
        }
    }
}

/// Sets the integer field named `field` of `instance` (named as in the
/// field tables above: `nlink`, `physical`, `entry[3].name_len`) to `value`
/// in `bytes`, an image of `base`, and recomputes the structure's checksum.
/// Returns what was done, as a run's manifest says it (index 0), and the
/// value the field had. An error names a field the structure lacks, or one
/// that is not an integer, or a value that does not fit it.
pub fn set_field(
    base: &Base,
    bytes: &mut [u8],
    instance: Instance,
    field: &str,
    value: u64,
) -> Result<(Mutation, u64), String> {
    let t = instance.target(base);
    let f = t
        .fields
        .iter()
        .find(|f| f.name == field)
        .ok_or_else(|| format!("{}: no field {field}", t.location))?;
    if !f.is_int() || f.kind == Kind::Checksum || value & !mask(f.width) != 0 {
        return Err(format!("{}: {field} cannot be set to {value}", t.location));
    }
    let s = &mut bytes[t.start..];
    let was = read_int(s, f);
    write_int(s, f, value);
    reseal(bytes, t.seal, t.seal_at);
    let mutation = Mutation {
        index: 0,
        variant: base.variant,
        structure: instance.structure(base),
        location: t.location.clone(),
        field: field.to_string(),
        mutation: format!("set {} (was {})", show(f, value), show(f, was)),
        crc: Crc::Recomputed,
        allowed: f.allow.to_vec(),
    };
    Ok((mutation, was))
}

/// Applies one mutation of target `t` to `bytes`; returns the field, what
/// was done, and the errors its damage may legitimately cause.
fn apply(
    t: &Target,
    bytes: &mut [u8],
    base: &Base,
    rng: &mut Rng,
) -> (String, String, Vec<&'static str>) {
    let s = &mut bytes[t.start..];
    let how = rng.below(100);
    if how < 20 {
        // Random bytes over a range of the structure.
        let &(_, lo, hi) = rng.weighted(&t.regions.iter().map(|r| (r.0, *r)).collect::<Vec<_>>());
        let start = lo + rng.index(hi - lo);
        let len = match rng.below(10) {
            0..6 => rng.between(1, 8),
            6..9 => rng.between(9, 32),
            _ => rng.between(33, 128),
        } as usize;
        let end = (start + len).min(hi);
        rng.fill(&mut s[start..end]);
        let overlapped: Vec<&Field> = t
            .fields
            .iter()
            .filter(|f| f.off < end && start < f.off + f.width)
            .collect();
        let field = overlapped
            .first()
            .map_or_else(|| "unused bytes".to_string(), |f| f.name.clone());
        let mut allowed: Vec<&'static str> = Vec::new();
        for f in overlapped {
            for a in f.allow {
                if !allowed.contains(a) {
                    allowed.push(a);
                }
            }
        }
        return (field, format!("random bytes {start}..{end}"), allowed);
    }
    let weights: Vec<(u64, usize)> = t
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.width > 0)
        .map(|(i, f)| (f.weight, i))
        .collect();
    let f = &t.fields[*rng.weighted(&weights)];
    let allowed = f.allow.to_vec();
    if let Kind::Bit(bit) = f.kind {
        let was = s[f.off] & (1 << bit) != 0;
        s[f.off] ^= 1 << bit;
        let what = if was { "clear bit" } else { "set bit" };
        return (f.name.clone(), what.into(), allowed);
    }
    if how < 45 {
        // Bit flips in the field.
        let n = if rng.percent(70) {
            1
        } else {
            rng.between(2, 4)
        };
        let bits = (f.width * 8) as u64;
        let mut flipped: Vec<u64> = Vec::new();
        while (flipped.len() as u64) < n.min(bits) {
            let bit = rng.below(bits);
            if !flipped.contains(&bit) {
                flipped.push(bit);
            }
        }
        flipped.sort();
        for &bit in &flipped {
            s[f.off + (bit / 8) as usize] ^= 1 << (bit % 8);
        }
        let list: Vec<String> = flipped.iter().map(u64::to_string).collect();
        return (
            f.name.clone(),
            format!("flip bit {}", list.join(",")),
            allowed,
        );
    }
    if !f.is_int() {
        let what = set_bytes(s, f, rng);
        return (f.name.clone(), format!("set {what}"), allowed);
    }
    let cur = read_int(s, f);
    let values = int_values(f, cur, base);
    let (value, what) = rng.pick(&values).clone();
    write_int(s, f, value);
    let shown = show(f, value);
    let mutation = if what == shown || what == value.to_string() {
        format!("set {shown}")
    } else {
        format!("set {shown} ({what})")
    };
    (f.name.clone(), mutation, allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_in_both_byte_orders() {
        let mut b = [0u8; 8];
        let le = field("x", 2, 4, Kind::Count);
        write_int(&mut b, &le, 0x1122_3344);
        assert_eq!(b, [0, 0, 0x44, 0x33, 0x22, 0x11, 0, 0]);
        assert_eq!(read_int(&b, &le), 0x1122_3344);
        let be = le.clone().be();
        assert_eq!(read_int(&b, &be), 0x4433_2211);
        write_int(&mut b, &be, 0x1122_3344);
        assert_eq!(&b[2..6], &[0x11, 0x22, 0x33, 0x44]);
        assert_eq!(mask(2), 0xffff);
    }

    #[test]
    fn structure_names_round_trip() {
        for s in Structure::ALL {
            assert_eq!(Structure::from_name(s.name()), Some(s));
        }
    }
}
