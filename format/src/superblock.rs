// SPDX-License-Identifier: GPL-2.0
//! The superblock, in block 0, and the [`Geometry`] of the fixed regions it
//! records.

use super::{
    crc32c_without_field, div_round_up, get_u32, get_u64, put_u32, put_u64, refcount_table_blocks,
    FormatError, Result, BITS_PER_BITMAP_BLOCK, BLOCK_SIZE, INODES_PER_BLOCK, INODE_SIZE,
    JOURNAL_MAX_BLOCKS, JOURNAL_MIN_BLOCKS, ROOT_INO, SUPER_MAGIC, VERSION,
};

/// Bytes of block 0 that the superblock occupies (and its checksum covers).
pub const SUPERBLOCK_SIZE: usize = 512;
/// Smallest filesystem `mkfs` makes and the module mounts, in blocks.
pub const MIN_BLOCKS: u64 = 64;

/// Superblock `state`: the filesystem was unmounted cleanly.
pub const STATE_CLEAN: u32 = 1;
/// Superblock `state`: the module found damaged metadata (and failed the
/// operations that met it with `EUCLEAN`); `fsck.rexfs` clears it.
pub const STATE_ERRORS: u32 = 2;
/// The `state` bits this version knows.
const STATE_KNOWN: u32 = STATE_CLEAN | STATE_ERRORS;

/// Incompatible feature: the filesystem has a jbd2 journal (a region of
/// [`Geometry::journal_blocks`] blocks after the inode table) through
/// which every metadata change goes, and an orphan list
/// ([`Superblock::orphan_head`]) of inodes to free or truncate at the next
/// mount. Without it, metadata is written in place and a mount after an
/// unclean shutdown recounts the free blocks and inodes.
pub const FEATURE_INCOMPAT_JOURNAL: u32 = 1;
/// Incompatible feature: inodes may carry [`super::INODE_DAX`] (`chattr
/// +x`). The module sets it when it first gives an inode the flag; a
/// version that does not know the flag would take such an inode for
/// damage.
pub const FEATURE_INCOMPAT_DAX_FLAG: u32 = 2;
/// Incompatible feature: files may share blocks (reflink). The filesystem
/// has a refcount table (a region of [`Geometry::refcount_blocks`] blocks
/// after the journal, see [`super::refcount_location`]) counting the extent
/// references to each shared block, and inodes may carry
/// [`super::INODE_SHARED`]. Only with [`FEATURE_INCOMPAT_JOURNAL`]: a
/// clone and a copy-on-write change the refcounts, the bitmap and the
/// extents of two files together, atomically only through the journal.
pub const FEATURE_INCOMPAT_REFLINK: u32 = 4;
/// Incompatible feature: a directory of more than one data block has a
/// hashed index, and its data blocks may have holes (see
/// [`super::DIR_INDEX_ROOT`]).
pub const FEATURE_INCOMPAT_DIR_INDEX: u32 = 8;
/// Incompatible feature: the extents of an inode beyond the
/// [`super::INODE_EXTENTS`] in the inode are stored in a
/// [`TreeKind::Extent`](super::TreeKind::Extent) B+tree whose root is the
/// inode's `extent_block`, keyed by file block, instead of a chain of
/// extent blocks: a change rewrites O(log N) blocks, not the chain.
pub const FEATURE_INCOMPAT_EXTENT_TREE: u32 = 16;
/// Incompatible features this version understands.
pub const FEATURE_INCOMPAT_SUPPORTED: u32 = FEATURE_INCOMPAT_JOURNAL
    | FEATURE_INCOMPAT_DAX_FLAG
    | FEATURE_INCOMPAT_REFLINK
    | FEATURE_INCOMPAT_DIR_INDEX
    | FEATURE_INCOMPAT_EXTENT_TREE;
/// Read-only compatible features this version understands (none yet).
pub const FEATURE_RO_COMPAT_SUPPORTED: u32 = 0;

/// Where the fixed regions of a filesystem lie, derived from its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Total number of blocks.
    pub block_count: u64,
    /// Number of inode slots (inode numbers are `1..=inode_count`).
    pub inode_count: u64,
    /// First bitmap block.
    pub bitmap_start: u64,
    /// Number of bitmap blocks.
    pub bitmap_blocks: u64,
    /// First inode-table block.
    pub inode_table_start: u64,
    /// Number of inode-table blocks.
    pub inode_table_blocks: u64,
    /// First block of the journal (its jbd2 superblock).
    pub journal_start: u64,
    /// Number of journal blocks; 0 for none.
    pub journal_blocks: u64,
    /// First block of the refcount table (feature
    /// [`FEATURE_INCOMPAT_REFLINK`]), right after the journal; 0 for none.
    pub refcount_start: u64,
    /// Number of refcount table blocks, one entry per block of the device
    /// ([`super::refcount_table_blocks`]); 0 for none.
    pub refcount_blocks: u64,
    /// First block available for data.
    pub data_start: u64,
}

impl Geometry {
    /// Lays out a filesystem of `block_count` blocks with `inode_count`
    /// inodes, a journal of `journal_blocks` blocks (0: none) and no
    /// refcount table.
    pub fn new(block_count: u64, inode_count: u64, journal_blocks: u64) -> Result<Self> {
        Self::layout(block_count, inode_count, journal_blocks, false)
    }

    /// Lays out a filesystem as [`Geometry::new`] does, with a refcount
    /// table after the journal (feature [`FEATURE_INCOMPAT_REFLINK`]),
    /// which needs one: `journal_blocks` may not be 0.
    pub fn with_refcounts(block_count: u64, inode_count: u64, journal_blocks: u64) -> Result<Self> {
        Self::layout(block_count, inode_count, journal_blocks, true)
    }

    fn layout(
        block_count: u64,
        inode_count: u64,
        journal_blocks: u64,
        refcounts: bool,
    ) -> Result<Self> {
        if block_count < MIN_BLOCKS {
            return Err(FormatError::BadGeometry("filesystem too small"));
        }
        if inode_count == 0 || inode_count > u64::from(u32::MAX) {
            return Err(FormatError::BadGeometry("bad inode count"));
        }
        let bitmap_start = 1;
        let bitmap_blocks = div_round_up(block_count, BITS_PER_BITMAP_BLOCK);
        let inode_table_start = bitmap_start + bitmap_blocks;
        let inode_table_blocks = div_round_up(inode_count, INODES_PER_BLOCK);
        if journal_blocks != 0
            && !(JOURNAL_MIN_BLOCKS..=JOURNAL_MAX_BLOCKS).contains(&journal_blocks)
        {
            return Err(FormatError::BadGeometry("bad journal size"));
        }
        if refcounts && journal_blocks == 0 {
            return Err(FormatError::BadGeometry("refcount table without a journal"));
        }
        let journal_start = inode_table_start + inode_table_blocks;
        let (refcount_start, refcount_blocks) = if refcounts {
            (
                journal_start + journal_blocks,
                refcount_table_blocks(block_count),
            )
        } else {
            (0, 0)
        };
        let data_start = journal_start + journal_blocks + refcount_blocks;
        if data_start >= block_count {
            return Err(FormatError::BadGeometry("metadata does not fit"));
        }
        Ok(Geometry {
            block_count,
            inode_count,
            bitmap_start,
            bitmap_blocks,
            inode_table_start,
            inode_table_blocks,
            journal_start,
            journal_blocks,
            refcount_start,
            refcount_blocks,
            data_start,
        })
    }

    /// Whether the filesystem has a journal.
    pub fn has_journal(&self) -> bool {
        self.journal_blocks != 0
    }

    /// Whether the filesystem has a refcount table (feature
    /// [`FEATURE_INCOMPAT_REFLINK`]).
    pub fn has_refcounts(&self) -> bool {
        self.refcount_blocks != 0
    }

    /// Number of blocks available for data when the filesystem is empty.
    pub fn data_blocks(&self) -> u64 {
        self.block_count - self.data_start
    }

    /// The inode-table block holding inode `ino` and the inode's byte offset in it.
    pub fn inode_location(&self, ino: u64) -> Result<(u64, usize)> {
        if ino == 0 || ino > self.inode_count {
            return Err(FormatError::BadField("inode number out of range"));
        }
        let index = ino - 1;
        let block = self.inode_table_start + index / INODES_PER_BLOCK;
        let offset = (index % INODES_PER_BLOCK) as usize * INODE_SIZE;
        Ok((block, offset))
    }

    /// Whether `block..block+len` lies entirely in the data area.
    pub fn is_data_range(&self, block: u64, len: u64) -> bool {
        block >= self.data_start
            && len > 0
            && block
                .checked_add(len)
                .is_some_and(|end| end <= self.block_count)
    }
}

/// The superblock, at the start of block 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Compatible feature bits.
    pub feature_compat: u32,
    /// Incompatible feature bits: unknown ones forbid mounting.
    pub feature_incompat: u32,
    /// Read-only compatible feature bits: unknown ones forbid mounting read-write.
    pub feature_ro_compat: u32,
    /// Layout of the device.
    pub geometry: Geometry,
    /// Free data blocks.
    pub free_blocks: u64,
    /// Free inodes.
    pub free_inodes: u64,
    /// Root directory inode number.
    pub root_ino: u64,
    /// [`STATE_CLEAN`] when unmounted cleanly, not while mounted
    /// read-write; and [`STATE_ERRORS`] once damage was found.
    pub state: u32,
    /// Number of read-write mounts.
    pub mount_count: u32,
    /// Creation time, seconds since the epoch.
    pub mkfs_time: i64,
    /// Last mount time.
    pub mount_time: i64,
    /// Last superblock write time.
    pub write_time: i64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Volume label, NUL padded.
    pub label: [u8; 32],
    /// First inode of the orphan list (linked through
    /// [`DiskInode::next_orphan`](super::DiskInode::next_orphan)): unlinked
    /// inodes still open, to free at the next mount if the filesystem was
    /// not unmounted. 0: none. Journaled filesystems only.
    pub orphan_head: u64,
}

mod sb_off {
    pub(super) const MAGIC: usize = 0;
    pub(super) const VERSION: usize = 4;
    pub(super) const FEATURE_COMPAT: usize = 8;
    pub(super) const FEATURE_INCOMPAT: usize = 12;
    pub(super) const FEATURE_RO_COMPAT: usize = 16;
    pub(super) const BLOCK_SIZE: usize = 20;
    pub(super) const BLOCK_COUNT: usize = 24;
    pub(super) const INODE_COUNT: usize = 32;
    pub(super) const BITMAP_START: usize = 40;
    pub(super) const BITMAP_BLOCKS: usize = 48;
    pub(super) const INODE_TABLE_START: usize = 56;
    pub(super) const INODE_TABLE_BLOCKS: usize = 64;
    pub(super) const DATA_START: usize = 72;
    pub(super) const FREE_BLOCKS: usize = 80;
    pub(super) const FREE_INODES: usize = 88;
    pub(super) const ROOT_INO: usize = 96;
    pub(super) const STATE: usize = 104;
    pub(super) const MOUNT_COUNT: usize = 108;
    pub(super) const MKFS_TIME: usize = 112;
    pub(super) const MOUNT_TIME: usize = 120;
    pub(super) const WRITE_TIME: usize = 128;
    pub(super) const UUID: usize = 136;
    pub(super) const LABEL: usize = 152;
    pub(super) const JOURNAL_START: usize = 184;
    pub(super) const JOURNAL_BLOCKS: usize = 192;
    pub(super) const ORPHAN_HEAD: usize = 200;
    pub(super) const REFCOUNT_START: usize = 208;
    pub(super) const REFCOUNT_BLOCKS: usize = 216;
    /// Unused up to the checksum: zero.
    pub(super) const UNUSED: usize = 224;
    pub(super) const CRC: usize = super::SUPERBLOCK_SIZE - 4;
}

impl Superblock {
    /// A superblock for a new, empty filesystem with `geometry`. The root
    /// directory and the metadata blocks are accounted as used. The
    /// journal and reflink features are those of the geometry's regions;
    /// directory indexes and extent trees are on.
    pub fn new(geometry: Geometry, now: i64, uuid: [u8; 16]) -> Self {
        let mut features = FEATURE_INCOMPAT_DIR_INDEX | FEATURE_INCOMPAT_EXTENT_TREE;
        if geometry.has_journal() {
            features |= FEATURE_INCOMPAT_JOURNAL;
        }
        if geometry.has_refcounts() {
            features |= FEATURE_INCOMPAT_REFLINK;
        }
        Superblock {
            feature_compat: 0,
            feature_incompat: features,
            feature_ro_compat: 0,
            geometry,
            free_blocks: geometry.data_blocks(),
            free_inodes: geometry.inode_count - 1,
            root_ino: ROOT_INO,
            state: STATE_CLEAN,
            mount_count: 0,
            mkfs_time: now,
            mount_time: 0,
            write_time: now,
            uuid,
            label: [0; 32],
            orphan_head: 0,
        }
    }

    /// Decodes and checks the superblock at the start of `block`.
    ///
    /// Checks the magic, version, checksum, block size, features (the
    /// journal feature exactly with a journal, the reflink feature only
    /// with the journal feature and the refcount table only with it), that
    /// the stored layout is the one [`Geometry::new`] (or
    /// [`Geometry::with_refcounts`], with the reflink feature) derives from
    /// the stored sizes (which checks those), the free counts, the root
    /// inode, the orphan list head, and that the unused bytes before the
    /// checksum are zero.
    pub fn decode(block: &[u8]) -> Result<Self> {
        use sb_off::*;
        if block.len() < SUPERBLOCK_SIZE {
            return Err(FormatError::BadGeometry("short superblock"));
        }
        let b = &block[..SUPERBLOCK_SIZE];
        if get_u32(b, MAGIC) != SUPER_MAGIC {
            return Err(FormatError::BadMagic);
        }
        if get_u32(b, CRC) != crc32c_without_field(b, CRC) {
            return Err(FormatError::BadChecksum);
        }
        if get_u32(b, VERSION) != self::VERSION {
            return Err(FormatError::BadVersion);
        }
        if get_u32(b, sb_off::BLOCK_SIZE) != self::BLOCK_SIZE as u32 {
            return Err(FormatError::BadGeometry("unsupported block size"));
        }
        let feature_incompat = get_u32(b, FEATURE_INCOMPAT);
        if feature_incompat & !FEATURE_INCOMPAT_SUPPORTED != 0 {
            return Err(FormatError::UnknownFeatures);
        }
        let journal_blocks = get_u64(b, JOURNAL_BLOCKS);
        if (journal_blocks != 0) != (feature_incompat & FEATURE_INCOMPAT_JOURNAL != 0) {
            return Err(FormatError::BadGeometry(
                "journal feature without a journal",
            ));
        }
        let reflink = feature_incompat & FEATURE_INCOMPAT_REFLINK != 0;
        if reflink && feature_incompat & FEATURE_INCOMPAT_JOURNAL == 0 {
            return Err(FormatError::BadGeometry(
                "reflink feature without the journal feature",
            ));
        }
        let refcount_start = get_u64(b, REFCOUNT_START);
        let refcount_blocks = get_u64(b, REFCOUNT_BLOCKS);
        if !reflink && (refcount_start != 0 || refcount_blocks != 0) {
            return Err(FormatError::BadGeometry(
                "refcount table without the reflink feature",
            ));
        }
        let geometry = Geometry::layout(
            get_u64(b, BLOCK_COUNT),
            get_u64(b, INODE_COUNT),
            journal_blocks,
            reflink,
        )?;
        let stored = Geometry {
            bitmap_start: get_u64(b, BITMAP_START),
            bitmap_blocks: get_u64(b, BITMAP_BLOCKS),
            inode_table_start: get_u64(b, INODE_TABLE_START),
            inode_table_blocks: get_u64(b, INODE_TABLE_BLOCKS),
            journal_start: get_u64(b, JOURNAL_START),
            refcount_start,
            refcount_blocks,
            data_start: get_u64(b, DATA_START),
            ..geometry
        };
        if stored != geometry {
            return Err(FormatError::BadGeometry("inconsistent layout"));
        }
        let sb = Superblock {
            feature_compat: get_u32(b, FEATURE_COMPAT),
            feature_incompat,
            feature_ro_compat: get_u32(b, FEATURE_RO_COMPAT),
            geometry,
            free_blocks: get_u64(b, FREE_BLOCKS),
            free_inodes: get_u64(b, FREE_INODES),
            root_ino: get_u64(b, sb_off::ROOT_INO),
            state: get_u32(b, STATE),
            mount_count: get_u32(b, MOUNT_COUNT),
            mkfs_time: get_u64(b, MKFS_TIME) as i64,
            mount_time: get_u64(b, MOUNT_TIME) as i64,
            write_time: get_u64(b, WRITE_TIME) as i64,
            uuid: b[UUID..UUID + 16].try_into().unwrap_or([0; 16]),
            label: b[LABEL..LABEL + 32].try_into().unwrap_or([0; 32]),
            orphan_head: get_u64(b, ORPHAN_HEAD),
        };
        if sb.free_blocks > geometry.data_blocks() || sb.free_inodes >= geometry.inode_count {
            return Err(FormatError::BadField("free counts exceed the filesystem"));
        }
        if sb.state & !STATE_KNOWN != 0 {
            return Err(FormatError::BadField("unknown state bits"));
        }
        if sb.root_ino == 0 || sb.root_ino > geometry.inode_count {
            return Err(FormatError::BadField("root inode out of range"));
        }
        if sb.orphan_head > geometry.inode_count
            || sb.orphan_head == sb.root_ino
            || (sb.orphan_head != 0 && journal_blocks == 0)
        {
            return Err(FormatError::BadField("bad orphan list head"));
        }
        if b[UNUSED..CRC].iter().any(|&x| x != 0) {
            return Err(FormatError::BadField("unused bytes not zero"));
        }
        Ok(sb)
    }

    /// Whether the device can only be mounted read-only by this code.
    pub fn needs_read_only(&self) -> bool {
        self.feature_ro_compat & !FEATURE_RO_COMPAT_SUPPORTED != 0
    }

    /// Encodes the superblock with its checksum into the start of `block`.
    pub fn encode(&self, block: &mut [u8]) {
        use sb_off::*;
        let b = &mut block[..SUPERBLOCK_SIZE];
        b.fill(0);
        let g = &self.geometry;
        put_u32(b, MAGIC, SUPER_MAGIC);
        put_u32(b, VERSION, self::VERSION);
        put_u32(b, FEATURE_COMPAT, self.feature_compat);
        put_u32(b, FEATURE_INCOMPAT, self.feature_incompat);
        put_u32(b, FEATURE_RO_COMPAT, self.feature_ro_compat);
        put_u32(b, sb_off::BLOCK_SIZE, self::BLOCK_SIZE as u32);
        put_u64(b, BLOCK_COUNT, g.block_count);
        put_u64(b, INODE_COUNT, g.inode_count);
        put_u64(b, BITMAP_START, g.bitmap_start);
        put_u64(b, BITMAP_BLOCKS, g.bitmap_blocks);
        put_u64(b, INODE_TABLE_START, g.inode_table_start);
        put_u64(b, INODE_TABLE_BLOCKS, g.inode_table_blocks);
        put_u64(b, JOURNAL_START, g.journal_start);
        put_u64(b, JOURNAL_BLOCKS, g.journal_blocks);
        put_u64(b, REFCOUNT_START, g.refcount_start);
        put_u64(b, REFCOUNT_BLOCKS, g.refcount_blocks);
        put_u64(b, DATA_START, g.data_start);
        put_u64(b, FREE_BLOCKS, self.free_blocks);
        put_u64(b, FREE_INODES, self.free_inodes);
        put_u64(b, sb_off::ROOT_INO, self.root_ino);
        put_u32(b, STATE, self.state);
        put_u32(b, MOUNT_COUNT, self.mount_count);
        put_u64(b, MKFS_TIME, self.mkfs_time as u64);
        put_u64(b, MOUNT_TIME, self.mount_time as u64);
        put_u64(b, WRITE_TIME, self.write_time as u64);
        b[UUID..UUID + 16].copy_from_slice(&self.uuid);
        b[LABEL..LABEL + 32].copy_from_slice(&self.label);
        put_u64(b, ORPHAN_HEAD, self.orphan_head);
        let crc = crc32c_without_field(b, CRC);
        put_u32(b, CRC, crc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblock_round_trip_and_checks() {
        let g = Geometry::new(1 << 18, 1 << 16, 4096).unwrap();
        let sb = Superblock::new(g, 1_700_000_000, [7; 16]);
        let mut block = [0u8; BLOCK_SIZE];
        sb.encode(&mut block);
        assert_eq!(Superblock::decode(&block), Ok(sb));

        let mut bad = block;
        bad[200] ^= 1;
        assert_eq!(Superblock::decode(&bad), Err(FormatError::BadChecksum));
        let mut bad = block;
        bad[0] ^= 1;
        assert_eq!(Superblock::decode(&bad), Err(FormatError::BadMagic));
        assert_eq!(
            Superblock::decode(&[0; BLOCK_SIZE]),
            Err(FormatError::BadMagic)
        );
    }

    /// A valid superblock of geometry `g`, encoded, then changed by `f`
    /// with the checksum recomputed; what decoding it gives.
    fn decode_changed_of(g: Geometry, f: impl FnOnce(&mut [u8])) -> Result<Superblock> {
        let mut block = [0u8; BLOCK_SIZE];
        Superblock::new(g, 1_700_000_000, [7; 16]).encode(&mut block);
        f(&mut block);
        let crc = crc32c_without_field(&block[..SUPERBLOCK_SIZE], sb_off::CRC);
        put_u32(&mut block, sb_off::CRC, crc);
        Superblock::decode(&block)
    }

    /// [`decode_changed_of`] a journaled superblock.
    fn decode_changed(f: impl FnOnce(&mut [u8])) -> Result<Superblock> {
        let g = Geometry::new(1 << 16, 1 << 12, JOURNAL_MIN_BLOCKS).unwrap();
        decode_changed_of(g, f)
    }

    fn bad_field(why: &'static str) -> Result<Superblock> {
        Err(FormatError::BadField(why))
    }

    fn bad_geometry(why: &'static str) -> Result<Superblock> {
        Err(FormatError::BadGeometry(why))
    }

    #[test]
    fn superblock_valid() {
        assert!(decode_changed(|_| {}).is_ok());
        // Fields any value of which is valid.
        assert!(decode_changed(|b| {
            put_u32(b, sb_off::FEATURE_COMPAT, 0x8000_0000);
            put_u32(b, sb_off::STATE, 0);
            put_u32(b, sb_off::MOUNT_COUNT, u32::MAX);
            b[sb_off::LABEL] = b'x';
        })
        .is_ok());
    }

    #[test]
    fn superblock_rule_magic() {
        assert_eq!(
            decode_changed(|b| put_u32(b, sb_off::MAGIC, 0x5846_4552)),
            Err(FormatError::BadMagic)
        );
    }

    #[test]
    fn superblock_rule_checksum() {
        let g = Geometry::new(1 << 16, 1 << 12, JOURNAL_MIN_BLOCKS).unwrap();
        let mut block = [0u8; BLOCK_SIZE];
        Superblock::new(g, 0, [7; 16]).encode(&mut block);
        block[sb_off::MOUNT_COUNT] ^= 1;
        assert_eq!(Superblock::decode(&block), Err(FormatError::BadChecksum));
    }

    #[test]
    fn superblock_rule_short() {
        assert_eq!(
            Superblock::decode(&[0; SUPERBLOCK_SIZE - 1]),
            bad_geometry("short superblock")
        );
    }

    #[test]
    fn superblock_rule_version() {
        assert_eq!(
            decode_changed(|b| put_u32(b, sb_off::VERSION, 2)),
            Err(FormatError::BadVersion)
        );
    }

    #[test]
    fn superblock_rule_block_size() {
        assert_eq!(
            decode_changed(|b| put_u32(b, sb_off::BLOCK_SIZE, 1024)),
            bad_geometry("unsupported block size")
        );
    }

    #[test]
    fn superblock_rule_incompat_features() {
        // The journal's bit with the first unknown one, and the last.
        for features in [0x21, 0x8000_0001] {
            assert_eq!(
                decode_changed(|b| put_u32(b, sb_off::FEATURE_INCOMPAT, features)),
                Err(FormatError::UnknownFeatures)
            );
        }
    }

    #[test]
    fn superblock_rule_journal_feature() {
        assert_eq!(
            decode_changed(|b| put_u32(b, sb_off::FEATURE_INCOMPAT, 0)),
            bad_geometry("journal feature without a journal")
        );
    }

    /// [`decode_changed_of`] a superblock with the reflink feature and its
    /// table.
    fn decode_reflink_changed(f: impl FnOnce(&mut [u8])) -> Result<Superblock> {
        let g = Geometry::with_refcounts(1 << 16, 1 << 12, JOURNAL_MIN_BLOCKS).unwrap();
        decode_changed_of(g, f)
    }

    #[test]
    fn superblock_reflink_round_trip() {
        let g = Geometry::with_refcounts(1 << 16, 1 << 12, JOURNAL_MIN_BLOCKS).unwrap();
        let sb = Superblock::new(g, 1_700_000_000, [7; 16]);
        assert_eq!(
            sb.feature_incompat,
            FEATURE_INCOMPAT_JOURNAL
                | FEATURE_INCOMPAT_REFLINK
                | FEATURE_INCOMPAT_DIR_INDEX
                | FEATURE_INCOMPAT_EXTENT_TREE
        );
        let mut block = [0u8; BLOCK_SIZE];
        sb.encode(&mut block);
        assert_eq!(get_u64(&block, 208), g.refcount_start);
        assert_eq!(get_u64(&block, 216), g.refcount_blocks);
        assert_eq!(Superblock::decode(&block), Ok(sb));
        assert_eq!(decode_reflink_changed(|_| {}), Ok(sb));
        // With the DAX flag feature too.
        assert!(decode_reflink_changed(|b| {
            let features = get_u32(b, sb_off::FEATURE_INCOMPAT);
            put_u32(
                b,
                sb_off::FEATURE_INCOMPAT,
                features | FEATURE_INCOMPAT_DAX_FLAG,
            )
        })
        .is_ok());
    }

    #[test]
    fn superblock_rule_reflink_needs_the_journal() {
        // The journal bit and the journal gone, the table left.
        assert_eq!(
            decode_reflink_changed(|b| {
                put_u32(b, sb_off::FEATURE_INCOMPAT, FEATURE_INCOMPAT_REFLINK);
                put_u64(b, sb_off::JOURNAL_BLOCKS, 0);
            }),
            bad_geometry("reflink feature without the journal feature")
        );
        // The journal bit alone gone.
        assert_eq!(
            decode_reflink_changed(|b| {
                put_u32(b, sb_off::FEATURE_INCOMPAT, FEATURE_INCOMPAT_REFLINK)
            }),
            bad_geometry("journal feature without a journal")
        );
    }

    #[test]
    fn superblock_rule_refcount_table_with_the_feature() {
        // The feature bit cleared: the table's fields must be zero.
        assert_eq!(
            decode_reflink_changed(|b| {
                put_u32(b, sb_off::FEATURE_INCOMPAT, FEATURE_INCOMPAT_JOURNAL)
            }),
            bad_geometry("refcount table without the reflink feature")
        );
        for field in [sb_off::REFCOUNT_START, sb_off::REFCOUNT_BLOCKS] {
            assert_eq!(
                decode_changed(|b| put_u64(b, field, 1)),
                bad_geometry("refcount table without the reflink feature"),
                "field at {field}"
            );
        }
        // The feature bit set without a table.
        assert_eq!(
            decode_changed(|b| {
                let features = FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK;
                put_u32(b, sb_off::FEATURE_INCOMPAT, features)
            }),
            bad_geometry("inconsistent layout")
        );
    }

    #[test]
    fn superblock_rule_refcount_layout() {
        // 65,536 blocks: 65 table blocks, after the journal.
        for (field, value) in [
            (sb_off::REFCOUNT_BLOCKS, 64),
            (sb_off::REFCOUNT_BLOCKS, 66),
            (sb_off::REFCOUNT_BLOCKS, 0),
            (sb_off::REFCOUNT_START, 0),
        ] {
            assert_eq!(
                decode_reflink_changed(|b| put_u64(b, field, value)),
                bad_geometry("inconsistent layout"),
                "field at {field}: {value}"
            );
        }
        for field in [
            sb_off::REFCOUNT_START,
            sb_off::DATA_START,
            sb_off::JOURNAL_START,
        ] {
            assert_eq!(
                decode_reflink_changed(bump(field)),
                bad_geometry("inconsistent layout"),
                "field at {field}"
            );
        }
    }

    /// A change that adds 1 to the u64 field at `field`.
    fn bump(field: usize) -> impl Fn(&mut [u8]) {
        move |b| put_u64(b, field, get_u64(b, field) + 1)
    }

    #[test]
    fn superblock_rule_sizes() {
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::BLOCK_COUNT, MIN_BLOCKS - 1)),
            bad_geometry("filesystem too small")
        );
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::INODE_COUNT, 0)),
            bad_geometry("bad inode count")
        );
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::JOURNAL_BLOCKS, 5)),
            bad_geometry("bad journal size")
        );
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::INODE_COUNT, 1 << 32)),
            bad_geometry("bad inode count")
        );
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::BLOCK_COUNT, 1200)),
            bad_geometry("metadata does not fit")
        );
    }

    #[test]
    fn superblock_rule_layout() {
        for field in [
            sb_off::BITMAP_START,
            sb_off::BITMAP_BLOCKS,
            sb_off::INODE_TABLE_START,
            sb_off::INODE_TABLE_BLOCKS,
            sb_off::JOURNAL_START,
            sb_off::DATA_START,
        ] {
            assert_eq!(
                decode_changed(bump(field)),
                bad_geometry("inconsistent layout"),
                "field at {field}"
            );
        }
    }

    #[test]
    fn superblock_rule_free_counts() {
        let g = Geometry::new(1 << 16, 1 << 12, JOURNAL_MIN_BLOCKS).unwrap();
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::FREE_BLOCKS, g.data_blocks() + 1)),
            bad_field("free counts exceed the filesystem")
        );
        assert_eq!(
            decode_changed(|b| put_u64(b, sb_off::FREE_INODES, g.inode_count)),
            bad_field("free counts exceed the filesystem")
        );
    }

    #[test]
    fn superblock_rule_state() {
        for state in [STATE_CLEAN, STATE_ERRORS, STATE_CLEAN | STATE_ERRORS] {
            assert!(decode_changed(|b| put_u32(b, sb_off::STATE, state)).is_ok());
        }
        for state in [4, 0x8000_0000] {
            assert_eq!(
                decode_changed(|b| put_u32(b, sb_off::STATE, state)),
                bad_field("unknown state bits")
            );
        }
    }

    #[test]
    fn superblock_rule_root_inode() {
        for root in [0, (1 << 12) + 1] {
            assert_eq!(
                decode_changed(|b| put_u64(b, sb_off::ROOT_INO, root)),
                bad_field("root inode out of range")
            );
        }
    }

    #[test]
    fn superblock_rule_orphan_head() {
        for head in [(1 << 12) + 1, ROOT_INO] {
            assert_eq!(
                decode_changed(|b| put_u64(b, sb_off::ORPHAN_HEAD, head)),
                bad_field("bad orphan list head")
            );
        }
        assert!(decode_changed(|b| put_u64(b, sb_off::ORPHAN_HEAD, 9)).is_ok());
        // No orphan list without a journal.
        let g = Geometry::new(1 << 16, 1 << 12, 0).unwrap();
        let mut block = [0u8; BLOCK_SIZE];
        let sb = Superblock {
            orphan_head: 9,
            ..Superblock::new(g, 0, [0; 16])
        };
        sb.encode(&mut block);
        assert_eq!(
            Superblock::decode(&block),
            bad_field("bad orphan list head")
        );
    }

    #[test]
    fn superblock_rule_unused_zero() {
        for at in [sb_off::UNUSED, sb_off::CRC - 1] {
            assert_eq!(
                decode_changed(|b| b[at] = 1),
                bad_field("unused bytes not zero")
            );
        }
    }

    #[test]
    fn geometry_layout() {
        let g = Geometry::new(BITS_PER_BITMAP_BLOCK + 1, 33, 0).unwrap();
        assert_eq!(g.bitmap_blocks, 2);
        assert_eq!(g.inode_table_start, 3);
        assert_eq!(g.inode_table_blocks, 3);
        assert_eq!(g.data_start, 6);
        assert_eq!(g.inode_location(1), Ok((3, 0)));
        assert_eq!(g.inode_location(17), Ok((4, 0)));
        assert_eq!(g.inode_location(18), Ok((4, INODE_SIZE)));
        assert!(g.inode_location(0).is_err());
        assert!(g.inode_location(34).is_err());
        assert!(Geometry::new(MIN_BLOCKS - 1, 16, 0).is_err());
        assert!(Geometry::new(MIN_BLOCKS, 16 * MIN_BLOCKS, 0).is_err());
        let j = Geometry::new(1 << 16, 64, JOURNAL_MIN_BLOCKS).unwrap();
        assert_eq!(j.journal_start, j.inode_table_start + j.inode_table_blocks);
        assert_eq!(j.data_start, j.journal_start + JOURNAL_MIN_BLOCKS);
        assert_eq!((j.refcount_start, j.refcount_blocks), (0, 0));
        assert!(!j.has_refcounts());
        // The refcount table: one entry per block, after the journal.
        let r = Geometry::with_refcounts(1 << 16, 64, JOURNAL_MIN_BLOCKS).unwrap();
        assert_eq!(r.refcount_start, j.journal_start + JOURNAL_MIN_BLOCKS);
        assert_eq!(r.refcount_blocks, 65, "65,536 blocks of 1,016 entries each");
        assert_eq!(r.data_start, r.refcount_start + r.refcount_blocks);
        assert_eq!(r.data_blocks(), j.data_blocks() - 65);
        assert!(r.has_refcounts());
        assert_eq!(
            Geometry::with_refcounts(1 << 16, 64, 0),
            Err(FormatError::BadGeometry("refcount table without a journal"))
        );
        // 2,048 blocks with a journal of 1,024: the table's 3 blocks fit.
        assert!(Geometry::with_refcounts(2048, 64, JOURNAL_MIN_BLOCKS).is_ok());
        let tight = 2048 - 1 - 1 - JOURNAL_MIN_BLOCKS - 1;
        assert!(Geometry::new(2048, tight * 16, JOURNAL_MIN_BLOCKS).is_ok());
        assert_eq!(
            Geometry::with_refcounts(2048, tight * 16, JOURNAL_MIN_BLOCKS),
            Err(FormatError::BadGeometry("metadata does not fit"))
        );
        assert!(Geometry::new(1 << 16, 64, JOURNAL_MIN_BLOCKS - 1).is_err());
        assert!(Geometry::new(2048, 64, JOURNAL_MIN_BLOCKS * 2).is_err());
    }
}
