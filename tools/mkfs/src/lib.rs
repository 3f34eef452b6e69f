// SPDX-License-Identifier: GPL-2.0
//! `mkfs.rexfs`: makes an empty rexfs filesystem.
//!
//! The crate also holds what the rexfs tools share: block-device I/O
//! ([`Device`]), option parsing ([`getopt`]), the construction of bitmap
//! blocks ([`bitmap_block`]), of an empty journal ([`write_journal`]) and
//! of an empty refcount table ([`write_refcount_table`]).

pub mod device;
pub mod getopt;
pub mod probe;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use rexfs_format::{
    assign_bit, bitmap_payload_mut, default_journal_blocks, init_refcount_block, mode, BlockHeader,
    BlockKind, DiskInode, FormatError, Geometry, JournalSuperblock, Superblock, Timestamp,
    BITS_PER_BITMAP_BLOCK, BLOCK_SIZE, FEATURE_INCOMPAT_DIR_INDEX, FEATURE_INCOMPAT_EXTENT_TREE,
    INODES_PER_BLOCK, JOURNAL_MAX_BLOCKS, JOURNAL_MIN_BLOCKS, ROOT_INO,
};

pub use device::Device;
use getopt::{Arg, Getopt};

/// Program name used in messages.
pub const PROG: &str = "mkfs.rexfs";

const USAGE: &str = "usage: mkfs.rexfs [-q] [-f|-F] [-L label] [-N inodes] \
                     [-J size=MiB|none] [-O [^]reflink|dir_index|extent_tree[,...]] \
                     [-b blocksize] [-s size] DEVICE [fs-size]";

/// Fewest inodes `mkfs.rexfs` makes: one inode-table block.
pub const MIN_INODES: u64 = INODES_PER_BLOCK;

/// Bytes of data per inode when the inode count is not given.
const BYTES_PER_INODE: u64 = 16 << 10;

/// Blocks in a MiB, the unit of `-J size=`.
pub const BLOCKS_PER_MIB: u64 = (1 << 20) / BLOCK_SIZE as u64;

/// The journal that `-J` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JournalOption {
    /// No `-J`: a journal sized to the filesystem as mke2fs sizes it
    /// ([`default_journal_blocks`]), none below 8 MiB.
    #[default]
    Default,
    /// `-J none`: no journal, a filesystem without the journal feature.
    None,
    /// `-J size=MiB`: a journal of this many blocks.
    Blocks(u64),
}

impl JournalOption {
    /// Journal blocks for a filesystem of `block_count` blocks; 0 for none.
    pub fn blocks(self, block_count: u64) -> u64 {
        match self {
            JournalOption::Default => default_journal_blocks(block_count),
            JournalOption::None => 0,
            JournalOption::Blocks(blocks) => blocks,
        }
    }
}

/// The reflink feature that `-O` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReflinkOption {
    /// No `-O reflink` or `-O ^reflink`: reflink whenever the filesystem
    /// has a journal, which the feature needs.
    #[default]
    Default,
    /// `-O reflink`: the feature and its refcount table; an error without
    /// a journal.
    On,
    /// `-O ^reflink`: no reflink, no refcount table.
    Off,
}

impl ReflinkOption {
    /// Whether a filesystem of `block_count` blocks with a journal of
    /// `journal_blocks` blocks (0: none, as `journal` asked) gets a refcount
    /// table; an error if reflink was asked for without a journal.
    pub fn refcounts(
        self,
        block_count: u64,
        journal: JournalOption,
        journal_blocks: u64,
    ) -> Result<bool, Error> {
        match self {
            ReflinkOption::Off => Ok(false),
            ReflinkOption::Default => Ok(journal_blocks != 0),
            ReflinkOption::On if journal_blocks != 0 => Ok(true),
            ReflinkOption::On => Err(match journal {
                JournalOption::None => Error::Usage(NO_JOURNAL_FOR_REFLINK.into()),
                _ => Error::Invalid(format!(
                    "cannot make a filesystem of {block_count} blocks with reflink: it needs a \
                     journal, and a filesystem this small has none by default (-J size=MiB \
                     gives it one)"
                )),
            }),
        }
    }
}

/// The features that `-O` asks for: reflink, which depends on the
/// journal, and those every filesystem may have, on unless turned off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// The reflink feature.
    pub reflink: ReflinkOption,
    /// `dir_index` (`-O ^dir_index` turns it off): hashed directory
    /// indexes, feature `FEATURE_INCOMPAT_DIR_INDEX`.
    pub dir_index: bool,
    /// `extent_tree` (`-O ^extent_tree` turns it off): the extents past
    /// the inode's in a B+tree rather than a chain of extent blocks,
    /// feature `FEATURE_INCOMPAT_EXTENT_TREE`.
    pub extent_tree: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            reflink: ReflinkOption::Default,
            dir_index: true,
            extent_tree: true,
        }
    }
}

impl Features {
    /// The incompatible features that do not come with a region of the
    /// geometry (the journal's and reflink's do, and `Superblock::new` sets
    /// them from it): those of [`Features::incompat`].
    pub const OPTIONAL: u32 = FEATURE_INCOMPAT_DIR_INDEX | FEATURE_INCOMPAT_EXTENT_TREE;

    /// The bits of [`Features::OPTIONAL`] these features turn on.
    pub fn incompat(self) -> u32 {
        let mut bits = 0;
        if self.dir_index {
            bits |= FEATURE_INCOMPAT_DIR_INDEX;
        }
        if self.extent_tree {
            bits |= FEATURE_INCOMPAT_EXTENT_TREE;
        }
        bits
    }
}

/// The message for `-O reflink` with `-J none`.
const NO_JOURNAL_FOR_REFLINK: &str =
    "-O reflink needs a journal: it cannot be combined with -J none";

/// Why `mkfs.rexfs` failed.
#[derive(Debug)]
pub enum Error {
    /// The command line is malformed.
    Usage(String),
    /// The requested filesystem cannot be made.
    Invalid(String),
    /// Accessing the device failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Invalid(msg) => f.write_str(msg),
            Error::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            Error::Usage(_) | Error::Invalid(_) => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}

/// What to make, from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Print nothing on success.
    pub quiet: bool,
    /// Overwrite whatever filesystem or partition table the device holds.
    pub force: bool,
    /// Volume label; only its first 32 bytes are stored.
    pub label: Vec<u8>,
    /// Number of inodes; derived from the size when `None`.
    pub inodes: Option<u64>,
    /// The journal.
    pub journal: JournalOption,
    /// The features.
    pub features: Features,
    /// Filesystem size in bytes; the whole device when `None`.
    pub size: Option<u64>,
    /// The device or image file.
    pub device: PathBuf,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Make a filesystem.
    Format(Options),
    /// Print the version.
    Version,
}

/// Parses the command line `args` (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Command, Error> {
    let mut quiet = false;
    let mut force = false;
    let mut label = Vec::new();
    let mut inodes = None;
    let mut journal = JournalOption::Default;
    let mut features = Features::default();
    let mut size = None;
    let mut block_size_given = false;
    let mut operands = Vec::new();
    for arg in Getopt::new(args, b"JLNObs") {
        match arg.map_err(Error::Usage)? {
            Arg::Flag(b'q') => quiet = true,
            // -F as mke2fs spells it, which xfstests passes.
            Arg::Flag(b'f' | b'F') => force = true,
            Arg::Flag(b'V') => return Ok(Command::Version),
            Arg::Value(b'L', value) => label = value.into_encoded_bytes(),
            Arg::Value(b'N', value) => inodes = Some(parse_number(&value, "inode count")?),
            Arg::Value(b'J', value) => journal = parse_journal(&value)?,
            Arg::Value(b'O', value) => features = parse_features(&value, features)?,
            Arg::Value(b'b', value) => {
                let block_size = parse_number(&value, "block size")?;
                if block_size != BLOCK_SIZE as u64 {
                    return Err(Error::Invalid(format!(
                        "block size {block_size} is not supported (only {BLOCK_SIZE})"
                    )));
                }
                block_size_given = true;
            }
            Arg::Value(b's', value) => {
                let bytes = parse_size(&value)
                    .ok_or_else(|| Error::Usage(format!("invalid size {}", value.display())))?;
                size = Some(bytes);
            }
            Arg::Operand(operand) => operands.push(operand),
            Arg::Flag(letter) | Arg::Value(letter, _) => {
                return Err(Error::Usage(getopt::invalid_option(letter)))
            }
        }
    }
    // A second operand is the size, as mke2fs takes it (`mkfs -t ext4 ...
    // DEVICE BLOCKS`, which is how xfstests' _scratch_mkfs_sized passes it).
    if operands.len() == 2 {
        let value = operands.pop().unwrap_or_default();
        if size.is_some() {
            return Err(Error::Usage(
                "size given both with -s and after the device".into(),
            ));
        }
        let bytes = parse_fs_size(&value, block_size_given)
            .ok_or_else(|| Error::Usage(format!("invalid size {}", value.display())))?;
        size = Some(bytes);
    }
    if features.reflink == ReflinkOption::On && journal == JournalOption::None {
        return Err(Error::Usage(NO_JOURNAL_FOR_REFLINK.into()));
    }
    let device = getopt::device_operand(operands).map_err(Error::Usage)?;
    Ok(Command::Format(Options {
        quiet,
        force,
        label,
        inodes,
        journal,
        features,
        size,
        device,
    }))
}

/// Parses the value of `-J`: `size=MiB` or `none`, as mke2fs takes them
/// (a list of suboptions, the last one winning).
pub fn parse_journal(value: &OsStr) -> Result<JournalOption, Error> {
    let invalid = || {
        Error::Usage(format!(
            "invalid journal option {}: use -J size=MiB or -J none",
            value.display()
        ))
    };
    let mut journal = None;
    for (name, arg) in getopt::suboptions(value.to_str().ok_or_else(invalid)?) {
        journal = Some(match (name, arg) {
            ("none", None) => JournalOption::None,
            ("size", Some(mib)) => {
                let mib: u64 = mib.parse().map_err(|_| invalid())?;
                let blocks = mib
                    .checked_mul(BLOCKS_PER_MIB)
                    .filter(|b| (JOURNAL_MIN_BLOCKS..=JOURNAL_MAX_BLOCKS).contains(b))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "journal size {mib} MiB is out of range ({} to {} MiB)",
                            JOURNAL_MIN_BLOCKS / BLOCKS_PER_MIB,
                            JOURNAL_MAX_BLOCKS / BLOCKS_PER_MIB
                        ))
                    })?;
                JournalOption::Blocks(blocks)
            }
            _ => return Err(invalid()),
        });
    }
    journal.ok_or_else(invalid)
}

/// Parses the value of `-O`: a comma-separated list of features to turn
/// on, or off with a `^` before the name, as mke2fs takes it: `reflink`,
/// `dir_index` and `extent_tree`. `current` is what earlier `-O` options
/// asked for; the last mention of a feature wins.
pub fn parse_features(value: &OsStr, current: Features) -> Result<Features, Error> {
    let invalid = |what: &str| {
        Error::Usage(format!(
            "invalid feature {what}: the features are reflink, dir_index and extent_tree, \
             turned off with a ^ before the name"
        ))
    };
    let list = value
        .to_str()
        .ok_or_else(|| invalid(&value.display().to_string()))?;
    let mut features = current;
    let mut named = false;
    for feature in list.split(',').filter(|f| !f.is_empty()) {
        let (on, name) = match feature.strip_prefix('^') {
            Some(name) => (false, name),
            None => (true, feature),
        };
        match name {
            "reflink" if on => features.reflink = ReflinkOption::On,
            "reflink" => features.reflink = ReflinkOption::Off,
            "dir_index" => features.dir_index = on,
            "extent_tree" => features.extent_tree = on,
            _ => return Err(invalid(feature)),
        }
        named = true;
    }
    if !named {
        return Err(invalid(&format!("list \"{list}\"")));
    }
    Ok(features)
}

/// Parses the size operand after the device as mke2fs does: a number with
/// a `K`, `M`, `G` or `T` suffix is bytes; a plain number counts blocks when
/// `-b` was given, KiB otherwise.
pub fn parse_fs_size(value: &OsStr, block_size_given: bool) -> Option<u64> {
    let s = value.to_str()?;
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return parse_size(value);
    }
    let unit = if block_size_given {
        BLOCK_SIZE as u64
    } else {
        1024
    };
    s.parse::<u64>().ok()?.checked_mul(unit)
}

fn parse_number(value: &OsStr, what: &str) -> Result<u64, Error> {
    value
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Usage(format!("invalid {what} {}", value.display())))
}

/// Parses a size in bytes with an optional binary `K`, `M`, `G` or `T`
/// suffix (either case).
pub fn parse_size(value: &OsStr) -> Option<u64> {
    let s = value.to_str()?;
    let (digits, shift) = match s.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift)
}

/// Lays out a filesystem of `block_count` blocks with `inodes` inodes, or by
/// default one inode per 16 KiB, as many as fit but at least [`MIN_INODES`],
/// the journal `journal` asks for and the refcount table of `reflink`.
pub fn geometry(
    block_count: u64,
    inodes: Option<u64>,
    journal: JournalOption,
    reflink: ReflinkOption,
) -> Result<Geometry, Error> {
    let journal_blocks = journal.blocks(block_count);
    let refcounts = reflink.refcounts(block_count, journal, journal_blocks)?;
    let layout = |inode_count| {
        if refcounts {
            Geometry::with_refcounts(block_count, inode_count, journal_blocks)
        } else {
            Geometry::new(block_count, inode_count, journal_blocks)
        }
    };
    let invalid = |e: FormatError| {
        let with = match (journal_blocks, e) {
            (0, _) | (_, FormatError::BadGeometry("filesystem too small")) => String::new(),
            (blocks, _) => format!(
                " with a journal of {} MiB ({blocks} blocks){}",
                blocks / BLOCKS_PER_MIB,
                match journal {
                    JournalOption::Default => "; -J none makes it without one",
                    _ => "",
                }
            ),
        };
        Error::Invalid(format!(
            "cannot make a filesystem of {block_count} blocks{with}: {}",
            e.reason()
        ))
    };
    let smallest = layout(MIN_INODES).map_err(invalid)?;
    let inodes = inodes.unwrap_or_else(|| {
        // Inode-table blocks may take everything but the journal, the
        // refcount table and one data block.
        let room = (block_count
            - 1
            - smallest.inode_table_start
            - journal_blocks
            - smallest.refcount_blocks)
            * INODES_PER_BLOCK;
        (block_count / (BYTES_PER_INODE / BLOCK_SIZE as u64))
            .max(MIN_INODES)
            .min(room)
            .min(u32::MAX.into())
    });
    layout(inodes).map_err(invalid)
}

/// Fills `block` as bitmap block `index` of a filesystem laid out as `g`, and
/// seals it. Metadata blocks and the bits past the last block are marked in
/// use; for data blocks, `in_use` decides.
pub fn bitmap_block(block: &mut [u8], g: &Geometry, index: u64, in_use: impl Fn(u64) -> bool) {
    let first = index * BITS_PER_BITMAP_BLOCK;
    let bits = bitmap_payload_mut(block);
    for (bit, blkno) in (first..first + BITS_PER_BITMAP_BLOCK).enumerate() {
        let used = blkno < g.data_start || blkno >= g.block_count || in_use(blkno);
        assign_bit(bits, bit, used);
    }
    BlockHeader {
        kind: BlockKind::Bitmap,
        blkno: g.bitmap_start + index,
        owner: 0,
    }
    .seal(block);
}

/// Writes an empty journal over the journal region of `g`: the jbd2
/// superblock, with `uuid` (which seeds the checksums of every log block),
/// and zeroes over the rest of the region, as mke2fs does without
/// `lazy_journal_init`, so that nothing left on the device can pass for a
/// log block. The region is written in 1 MiB requests.
pub fn write_journal(dev: &Device, g: &Geometry, uuid: [u8; 16]) -> io::Result<()> {
    let jsb = JournalSuperblock::new(g.journal_blocks, uuid);
    dev.write_region(g.journal_start, g.journal_blocks, |blkno, block| {
        if blkno == g.journal_start {
            jsb.encode(block);
        }
    })
}

/// Writes an empty refcount table over the table region of `g`: every
/// block sealed with every entry 0 (no block shared). The region is written
/// in 1 MiB requests.
pub fn write_refcount_table(dev: &Device, g: &Geometry) -> io::Result<()> {
    dev.write_region(g.refcount_start, g.refcount_blocks, |blkno, block| {
        init_refcount_block(block, blkno);
    })
}

/// Makes an empty filesystem on `dev` as `opts` ask; returns its superblock.
///
/// Clears block 0, writes the bitmap, the inode table with the root
/// directory, the journal and the refcount table, and the superblock last,
/// so that an interrupted run leaves no valid-looking filesystem behind.
/// Data blocks are left alone.
///
/// The journal's UUID is the filesystem's, as mke2fs makes an internal
/// journal: jbd2 seeds the checksums of the log with it, and the journal
/// belongs to this filesystem only.
pub fn format(dev: &Device, opts: &Options) -> Result<Superblock, Error> {
    let bytes = match opts.size {
        Some(size) if size > dev.size() => {
            return Err(Error::Invalid(format!(
                "size {size} exceeds the size of {} ({} bytes)",
                dev.name(),
                dev.size()
            )))
        }
        Some(size) => size,
        None => dev.size(),
    };
    let g = geometry(
        bytes / BLOCK_SIZE as u64,
        opts.inodes,
        opts.journal,
        opts.features.reflink,
    )?;
    let mut uuid = random_bytes::<16>()?;
    // Random (version 4, RFC 4122 variant) UUID.
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    let generation = u32::from_le_bytes(random_bytes()?);
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = Timestamp {
        sec: since_epoch.as_secs() as i64,
        nsec: since_epoch.subsec_nanos(),
    };

    let mut block = vec![0; BLOCK_SIZE];
    dev.write_blocks(0, &block)?;
    dev.write_region(g.bitmap_start, g.bitmap_blocks, |blkno, block| {
        bitmap_block(block, &g, blkno - g.bitmap_start, |_| false);
    })?;

    let root = DiskInode {
        mode: mode::S_IFDIR | 0o755,
        nlink: 2,
        parent: ROOT_INO,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        generation,
        ..DiskInode::FREE
    };
    let (root_block, root_offset) = g
        .inode_location(ROOT_INO)
        .map_err(|e| Error::Invalid(e.reason().into()))?;
    // All-zero slots are free inodes.
    dev.write_region(g.inode_table_start, g.inode_table_blocks, |blkno, block| {
        if blkno == root_block {
            root.encode(&mut block[root_offset..]);
        }
    })?;
    if g.has_journal() {
        write_journal(dev, &g, uuid)?;
    }
    if g.has_refcounts() {
        write_refcount_table(dev, &g)?;
    }
    dev.sync()?;

    let mut sb = Superblock::new(g, now.sec, uuid);
    // Superblock::new turns them on; -O may have turned them off.
    sb.feature_incompat = (sb.feature_incompat & !Features::OPTIONAL) | opts.features.incompat();
    let label = &opts.label[..opts.label.len().min(sb.label.len())];
    sb.label[..label.len()].copy_from_slice(label);
    sb.encode(&mut block);
    dev.write_blocks(0, &block)?;
    dev.sync()?;
    Ok(sb)
}

fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0; N];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read /dev/urandom: {e}")))?;
    Ok(bytes)
}

/// Runs `mkfs.rexfs` with the command line `args` (without the program
/// name), printing to stdout and stderr; returns the exit status.
pub fn cli(args: impl IntoIterator<Item = OsString>) -> u8 {
    let result = parse_args(args).and_then(|command| match command {
        Command::Version => {
            println!("{PROG} {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Format(opts) => {
            let dev = Device::open(&opts.device, true)?;
            if !opts.force {
                if let Some(contents) = probe::existing_contents(&dev, &opts.device)? {
                    return Err(Error::Invalid(format!(
                        "{} appears to contain {contents}; use -f to overwrite it",
                        dev.name()
                    )));
                }
            }
            let g = format(&dev, &opts)?.geometry;
            if !opts.quiet {
                let journal = match g.journal_blocks {
                    0 => "no journal".to_string(),
                    blocks => format!(
                        "a journal of {blocks} blocks ({} MiB)",
                        blocks / BLOCKS_PER_MIB
                    ),
                };
                let reflink = match g.refcount_blocks {
                    0 => String::new(),
                    blocks => format!(", reflink (a refcount table of {blocks} blocks)"),
                };
                let features = &opts.features;
                let trees: String = [
                    (features.dir_index, ", dir_index"),
                    (features.extent_tree, ", extent_tree"),
                ]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect();
                println!(
                    "{PROG}: {}: {} blocks of {BLOCK_SIZE} bytes, {} inodes, {} data blocks, \
                     {journal}{reflink}{trees}",
                    dev.name(),
                    g.block_count,
                    g.inode_count,
                    g.data_blocks()
                );
            }
            Ok(())
        }
    });
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("{PROG}: {err}");
            if matches!(err, Error::Usage(_)) {
                eprintln!("{USAGE}");
            }
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rexfs_format::{bitmap_payload, test_bit, MIN_BLOCKS};

    fn options(args: &[&str]) -> Result<Options, Error> {
        match parse_args(args.iter().map(OsString::from))? {
            Command::Format(opts) => Ok(opts),
            Command::Version => panic!("unexpected -V"),
        }
    }

    #[test]
    fn sizes() {
        let size = |s: &str| parse_size(OsStr::new(s));
        assert_eq!(size("4096"), Some(4096));
        assert_eq!(size("16M"), Some(16 << 20));
        assert_eq!(size("2k"), Some(2048));
        assert_eq!(size("1T"), Some(1 << 40));
        assert_eq!(size("3g"), Some(3 << 30));
        for bad in ["", "M", "1.5M", "-1", "12X", "99999999999999T"] {
            assert_eq!(size(bad), None, "{bad}");
        }
    }

    #[test]
    fn arguments() {
        let opts = options(&[
            "-q", "-F", "-L", "scratch", "-N", "64", "-J", "size=8", "-b", "4096", "-s16M", "img",
        ])
        .unwrap();
        assert_eq!(
            opts,
            Options {
                quiet: true,
                force: true,
                label: b"scratch".to_vec(),
                inodes: Some(64),
                journal: JournalOption::Blocks(2048),
                features: Features::default(),
                size: Some(16 << 20),
                device: "img".into(),
            }
        );
        assert!(matches!(
            options(&["-b", "1024", "img"]),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            options(&["-N", "many", "img"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(options(&["-x", "img"]), Err(Error::Usage(_))));
        assert!(matches!(
            options(&["-s", "12X", "img"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(options(&[]), Err(Error::Usage(_))));
        assert!(matches!(options(&["a", "b"]), Err(Error::Usage(_))));
        assert!(matches!(options(&["a", "1", "2"]), Err(Error::Usage(_))));
        assert_eq!(parse_args(["-V".into()]).unwrap(), Command::Version);
    }

    #[test]
    fn size_after_the_device() {
        let size = |args: &[&str]| options(args).map(|o| (o.size, o.device));
        // As xfstests' _scratch_mkfs_sized runs mkfs for ext4: blocks of -b.
        assert_eq!(
            size(&["-F", "-b", "4096", "/dev/vdc", "25600"]).unwrap(),
            (Some(100 << 20), "/dev/vdc".into())
        );
        // Without -b, KiB (mke2fs); with a suffix, bytes.
        assert_eq!(
            size(&["img", "1024"]).unwrap(),
            (Some(1 << 20), "img".into())
        );
        assert_eq!(
            size(&["-q", "img", "16M"]).unwrap(),
            (Some(16 << 20), "img".into())
        );
        assert_eq!(
            size(&["img", "16m", "-q"]).unwrap(),
            (Some(16 << 20), "img".into())
        );
        assert!(matches!(
            size(&["-s", "1M", "img", "1024"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(size(&["img", "12X"]), Err(Error::Usage(_))));
        assert!(matches!(size(&["img", "-1"]), Err(Error::Usage(_))));
        assert!(matches!(size(&["img", ""]), Err(Error::Usage(_))));
        assert!(matches!(
            size(&["img", "99999999999999999"]),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn journal_options() {
        let journal = |args: &[&str]| options(args).map(|o| o.journal);
        assert_eq!(journal(&["img"]).unwrap(), JournalOption::Default);
        assert_eq!(
            journal(&["-J", "none", "img"]).unwrap(),
            JournalOption::None
        );
        assert_eq!(journal(&["-Jnone", "img"]).unwrap(), JournalOption::None);
        assert_eq!(
            journal(&["-J", "size=4", "img"]).unwrap(),
            JournalOption::Blocks(1024)
        );
        assert_eq!(
            journal(&["-J", "none", "-J", "size=64", "img"]).unwrap(),
            JournalOption::Blocks(16_384)
        );
        assert_eq!(
            journal(&["-J", "size=4194304", "img"]).unwrap(),
            JournalOption::Blocks(JOURNAL_MAX_BLOCKS)
        );
        for bad in [
            "", "size", "size=", "size=x", "size=-1", "none=1", "big", "size=4M",
        ] {
            assert!(
                matches!(journal(&["-J", bad, "img"]), Err(Error::Usage(_))),
                "{bad}"
            );
        }
        for range in ["size=0", "size=3", "size=4194305", "size=99999999999999999"] {
            let Err(Error::Invalid(msg)) = journal(&["-J", range, "img"]) else {
                panic!("{range} accepted");
            };
            assert!(msg.contains("out of range (4 to 4194304 MiB)"), "{msg}");
        }
    }

    #[test]
    fn reflink_options() {
        let reflink = |args: &[&str]| options(args).map(|o| o.features.reflink);
        assert_eq!(reflink(&["img"]).unwrap(), ReflinkOption::Default);
        assert_eq!(
            reflink(&["-O", "reflink", "img"]).unwrap(),
            ReflinkOption::On
        );
        assert_eq!(reflink(&["-O^reflink", "img"]).unwrap(), ReflinkOption::Off);
        // A list, the last mention winning; empty items are skipped.
        assert_eq!(
            reflink(&["-O", "reflink,^reflink", "img"]).unwrap(),
            ReflinkOption::Off
        );
        assert_eq!(
            reflink(&["-O", "^reflink", "-O", ",reflink,", "img"]).unwrap(),
            ReflinkOption::On
        );
        assert_eq!(
            reflink(&["-O", "^reflink", "-J", "none", "img"]).unwrap(),
            ReflinkOption::Off
        );
        for bad in [
            "",
            ",",
            "dedupe",
            "reflink,metadata_csum",
            "^",
            "reflink=1",
            "Reflink",
            "^^reflink",
            "dir_index,^",
            "extent",
            "extents",
            "dir-index",
        ] {
            let Err(Error::Usage(msg)) = reflink(&["-O", bad, "img"]) else {
                panic!("-O {bad:?} accepted");
            };
            assert!(
                msg.starts_with("invalid feature ")
                    && msg.ends_with(
                        ": the features are reflink, dir_index and extent_tree, turned off \
                         with a ^ before the name"
                    ),
                "{msg}"
            );
        }
        for args in [
            &["-O", "reflink", "-J", "none", "img"][..],
            &["-J", "none", "-O", "reflink", "img"],
        ] {
            let Err(Error::Usage(msg)) = reflink(args) else {
                panic!("{args:?} accepted");
            };
            assert_eq!(
                msg,
                "-O reflink needs a journal: it cannot be combined with -J none"
            );
        }
    }

    #[test]
    fn dir_index_and_extent_tree_options() {
        let features = |args: &[&str]| options(args).map(|o| o.features);
        let with = |dir_index, extent_tree| Features {
            dir_index,
            extent_tree,
            ..Features::default()
        };
        // Both on by default.
        assert_eq!(features(&["img"]).unwrap(), with(true, true));
        assert_eq!(
            Features::default().incompat(),
            FEATURE_INCOMPAT_DIR_INDEX | FEATURE_INCOMPAT_EXTENT_TREE
        );
        assert_eq!(
            features(&["-O", "^dir_index", "img"]).unwrap(),
            with(false, true)
        );
        assert_eq!(
            features(&["-O^extent_tree", "img"]).unwrap(),
            with(true, false)
        );
        assert_eq!(with(true, false).incompat(), FEATURE_INCOMPAT_DIR_INDEX);
        assert_eq!(with(false, true).incompat(), FEATURE_INCOMPAT_EXTENT_TREE);
        assert_eq!(with(false, false).incompat(), 0);
        // A list with reflink, as mke2fs takes one; the last mention of
        // each feature wins, across -O options too.
        assert_eq!(
            features(&["-O", "^dir_index,^reflink,^extent_tree", "img"]).unwrap(),
            Features {
                reflink: ReflinkOption::Off,
                ..with(false, false)
            }
        );
        assert_eq!(
            features(&["-O", "^dir_index,extent_tree,dir_index", "img"]).unwrap(),
            with(true, true)
        );
        assert_eq!(
            features(&["-O", "^extent_tree", "-O", "reflink,extent_tree", "img"]).unwrap(),
            Features {
                reflink: ReflinkOption::On,
                ..with(true, true)
            }
        );
        assert_eq!(
            features(&["-O", "^dir_index", "-O", "reflink", "img"]).unwrap(),
            Features {
                reflink: ReflinkOption::On,
                ..with(false, true)
            }
        );
        // Neither depends on the journal.
        assert_eq!(
            features(&["-J", "none", "-O", "dir_index,extent_tree", "img"]).unwrap(),
            with(true, true)
        );
    }

    #[test]
    fn reflink_needs_a_journal() {
        let (default, on, off) = (
            ReflinkOption::Default,
            ReflinkOption::On,
            ReflinkOption::Off,
        );
        // By default, with the journal.
        let g = geometry(4096, None, JournalOption::Default, default).unwrap();
        assert_eq!((g.refcount_start, g.refcount_blocks), (66 + 1024, 5));
        assert_eq!(g.data_start, 66 + 1024 + 5);
        assert!(!geometry(4096, None, JournalOption::None, default)
            .unwrap()
            .has_refcounts());
        assert!(!geometry(1024, None, JournalOption::Default, default)
            .unwrap()
            .has_refcounts());
        assert!(!geometry(4096, None, JournalOption::Default, off)
            .unwrap()
            .has_refcounts());
        assert!(geometry(4096, None, JournalOption::Default, on)
            .unwrap()
            .has_refcounts());
        // Asked for without a journal.
        assert!(matches!(
            geometry(4096, None, JournalOption::None, on),
            Err(Error::Usage(_))
        ));
        let Err(Error::Invalid(msg)) = geometry(1024, None, JournalOption::Default, on) else {
            panic!("reflink without the default journal of a small filesystem");
        };
        assert_eq!(
            msg,
            "cannot make a filesystem of 1024 blocks with reflink: it needs a journal, and a \
             filesystem this small has none by default (-J size=MiB gives it one)"
        );
        assert!(geometry(2048, None, JournalOption::Blocks(1024), on).is_ok());
    }

    #[test]
    fn default_inode_count() {
        let none = JournalOption::None;
        let geometry = |n, inodes, journal| geometry(n, inodes, journal, ReflinkOption::Default);
        assert_eq!(geometry(4096, None, none).unwrap().inode_count, 1024);
        assert_eq!(
            geometry(MIN_BLOCKS, None, none).unwrap().inode_count,
            MIN_INODES
        );
        assert_eq!(geometry(4096, Some(100), none).unwrap().inode_count, 100);
        assert!(geometry(MIN_BLOCKS - 1, None, none).is_err());
        assert!(geometry(MIN_BLOCKS, Some(MIN_BLOCKS * INODES_PER_BLOCK), none).is_err());
        // Past 64 TiB the default is capped by the 32-bit inode numbers.
        assert_eq!(
            geometry(1 << 36, None, none).unwrap().inode_count,
            u32::MAX.into()
        );
        // The inode table may not take the room of the journal and the
        // refcount table: with a journal of 1024 blocks and a table of 3 in
        // 2048, 1018 blocks of 16 inodes are left for it.
        let j = JournalOption::Blocks(1024);
        assert_eq!(geometry(2048, None, j).unwrap().inode_count, 512);
        assert!(geometry(2048, Some(1018 * 16), j).is_ok());
        assert!(geometry(2048, Some(1018 * 16 + 1), j).is_err());
        // Without the refcount table, 1021.
        let off = ReflinkOption::Off;
        assert!(super::geometry(2048, Some(1021 * 16), j, off).is_ok());
        assert!(super::geometry(2048, Some(1021 * 16 + 1), j, off).is_err());
    }

    #[test]
    fn default_journal_scales_with_the_size() {
        let blocks = |n| geometry(n, None, JournalOption::Default, ReflinkOption::Default).unwrap();
        assert_eq!(blocks(MIN_BLOCKS).journal_blocks, 0);
        assert_eq!(blocks(2047).journal_blocks, 0);
        assert_eq!(blocks(2048).journal_blocks, 1024);
        assert_eq!(blocks(32_768).journal_blocks, 4096);
        assert_eq!(blocks(1 << 20).journal_blocks, 16_384);
        assert_eq!(blocks(1 << 36).journal_blocks, 262_144);
        let g = blocks(4096);
        assert_eq!(g.journal_start, g.inode_table_start + g.inode_table_blocks);
        assert_eq!(g.refcount_start, g.journal_start + 1024);
        assert_eq!(g.data_start, g.refcount_start + 5);
    }

    #[test]
    fn journal_that_does_not_fit() {
        let geometry = |n, inodes, journal| geometry(n, inodes, journal, ReflinkOption::Default);
        let Err(Error::Invalid(msg)) = geometry(4096, None, JournalOption::Blocks(4096)) else {
            panic!("a journal as large as the filesystem");
        };
        assert_eq!(
            msg,
            "cannot make a filesystem of 4096 blocks with a journal of 16 MiB \
             (4096 blocks): metadata does not fit"
        );
        let Err(Error::Invalid(msg)) = geometry(2048, Some(20_000), JournalOption::Default) else {
            panic!("inodes and the default journal do not fit");
        };
        assert!(msg.ends_with("; -J none makes it without one: metadata does not fit"));
        assert!(geometry(2048, Some(20_000), JournalOption::None).is_ok());
    }

    #[test]
    fn bitmap_marks_metadata_and_the_tail() {
        let g = Geometry::new(BITS_PER_BITMAP_BLOCK + 100, 64, 0).unwrap();
        let mut block = vec![0; BLOCK_SIZE];
        bitmap_block(&mut block, &g, 0, |b| b == g.data_start + 1);
        assert!(BlockHeader::verify(&block, BlockKind::Bitmap, g.bitmap_start).is_ok());
        let bits = bitmap_payload(&block);
        assert!((0..g.data_start as usize).all(|b| test_bit(bits, b)));
        assert!(!test_bit(bits, g.data_start as usize));
        assert!(test_bit(bits, g.data_start as usize + 1));
        assert!(!test_bit(bits, g.data_start as usize + 2));

        bitmap_block(&mut block, &g, 1, |_| false);
        assert!(BlockHeader::verify(&block, BlockKind::Bitmap, g.bitmap_start + 1).is_ok());
        let bits = bitmap_payload(&block);
        assert!(!test_bit(bits, 99));
        assert!((100..BITS_PER_BITMAP_BLOCK as usize).all(|b| test_bit(bits, b)));
    }
}
