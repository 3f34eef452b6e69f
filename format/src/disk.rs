// SPDX-License-Identifier: GPL-2.0
//! rexfs on-disk format, version 1.
//!
//! All integers are little endian. The device is an array of 4 KiB blocks:
//!
//! ```text
//! block 0                      superblock (first 512 bytes used)
//! bitmap_start ..+bitmap_blocks      allocation bitmap, one bit per block
//! inode_table_start ..+inode_table_blocks  inode table, 16 inodes of 256 bytes per block
//! data_start ..block_count     data, directory, extent and extended attribute blocks
//! ```
//!
//! Every metadata structure carries a CRC-32C: the superblock and each inode
//! in a field of their own, every other metadata block in a [`BlockHeader`].
//! A checksum is computed over the structure with its checksum field zeroed.
//!
//! This file (with its submodule `xattr.rs`) is compiled into the kernel
//! module as well as into the `rexfs-format` crate, so it only refers to
//! `core` and to itself.

// A path relative to this file, wherever the crate including it lives.
#[path = "xattr.rs"]
mod xattr;
pub use xattr::*;

/// Size of a filesystem block in bytes.
pub const BLOCK_SIZE: usize = 4096;
/// `log2(BLOCK_SIZE)`.
pub const BLOCK_SHIFT: u32 = 12;
/// Superblock magic, "REXF".
pub const SUPER_MAGIC: u32 = 0x5245_5846;
/// The only format version this file describes.
pub const VERSION: u32 = 1;
/// Inode number of the root directory.
pub const ROOT_INO: u64 = 1;
/// Bytes of block 0 that the superblock occupies (and its checksum covers).
pub const SUPERBLOCK_SIZE: usize = 512;
/// Size of an on-disk inode.
pub const INODE_SIZE: usize = 256;
/// Inodes per inode-table block.
pub const INODES_PER_BLOCK: u64 = (BLOCK_SIZE / INODE_SIZE) as u64;
/// Longest file name in a directory entry.
pub const MAX_NAME_LEN: usize = 255;
/// Smallest filesystem `mkfs` makes and the module mounts, in blocks.
pub const MIN_BLOCKS: u64 = 64;

/// Superblock `state`: the filesystem was unmounted cleanly.
pub const STATE_CLEAN: u32 = 1;

/// Incompatible features this version understands (none yet).
pub const FEATURE_INCOMPAT_SUPPORTED: u32 = 0;
/// Read-only compatible features this version understands (none yet).
pub const FEATURE_RO_COMPAT_SUPPORTED: u32 = 0;

/// Why a structure read from disk was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The superblock magic does not match: not a rexfs device.
    BadMagic,
    /// A format version this code does not know.
    BadVersion,
    /// Incompatible feature bits this code does not know.
    UnknownFeatures,
    /// A checksum mismatch.
    BadChecksum,
    /// A block header names another block or structure type.
    BadHeader,
    /// Fields that contradict each other or the device.
    BadGeometry(&'static str),
    /// A structure's contents are out of range.
    BadField(&'static str),
}

impl FormatError {
    /// A short human-readable reason, for log messages.
    pub fn reason(&self) -> &'static str {
        match self {
            FormatError::BadMagic => "bad magic number",
            FormatError::BadVersion => "unsupported format version",
            FormatError::UnknownFeatures => "unsupported incompatible features",
            FormatError::BadChecksum => "checksum mismatch",
            FormatError::BadHeader => "block header does not match",
            FormatError::BadGeometry(why) | FormatError::BadField(why) => why,
        }
    }

    /// Whether the device is not rexfs at all (as opposed to a damaged rexfs).
    pub fn is_foreign(&self) -> bool {
        matches!(self, FormatError::BadMagic)
    }
}

/// Result type of the decoders in this file.
pub type Result<T> = core::result::Result<T, FormatError>;

// ---------------------------------------------------------------------------
// CRC-32C (Castagnoli), reflected, init and final xor 0xffffffff.

/// Slicing-by-8 tables: `CRC32C_TABLES[0]` is the classic byte table,
/// `CRC32C_TABLES[k][b]` the CRC of byte `b` followed by `k` zero bytes.
const fn crc32c_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

static CRC32C_TABLES: [[u32; 256]; 8] = crc32c_tables();

fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    let t = &CRC32C_TABLES;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][c[4] as usize]
            ^ t[2][c[5] as usize]
            ^ t[1][c[6] as usize]
            ^ t[0][c[7] as usize];
    }
    for &byte in chunks.remainder() {
        crc = t[0][((crc ^ byte as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

/// CRC-32C of `data` with the four bytes at `field` taken as zero.
pub fn crc32c_without_field(data: &[u8], field: usize) -> u32 {
    let crc = crc32c_update(!0, &data[..field]);
    let crc = crc32c_update(crc, &[0; 4]);
    !crc32c_update(crc, &data[field + 4..])
}

// ---------------------------------------------------------------------------
// Little-endian field access.

fn get_u16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut v = [0; 4];
    v.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(v)
}

fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut v = [0; 8];
    v.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(v)
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn div_round_up(n: u64, d: u64) -> u64 {
    n.div_ceil(d)
}

// ---------------------------------------------------------------------------
// Geometry

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
    /// First block available for data.
    pub data_start: u64,
}

impl Geometry {
    /// Lays out a filesystem of `block_count` blocks with `inode_count` inodes.
    pub fn new(block_count: u64, inode_count: u64) -> Result<Self> {
        if block_count < MIN_BLOCKS {
            return Err(FormatError::BadGeometry("filesystem too small"));
        }
        if inode_count == 0 || inode_count > u32::MAX as u64 {
            return Err(FormatError::BadGeometry("bad inode count"));
        }
        let bitmap_start = 1;
        let bitmap_blocks = div_round_up(block_count, BITS_PER_BITMAP_BLOCK);
        let inode_table_start = bitmap_start + bitmap_blocks;
        let inode_table_blocks = div_round_up(inode_count, INODES_PER_BLOCK);
        let data_start = inode_table_start + inode_table_blocks;
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
            data_start,
        })
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
            && block.checked_add(len).is_some_and(|end| end <= self.block_count)
    }
}

// ---------------------------------------------------------------------------
// Superblock

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
    /// [`STATE_CLEAN`] when unmounted cleanly, 0 while mounted read-write.
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
    pub(super) const CRC: usize = super::SUPERBLOCK_SIZE - 4;
}

impl Superblock {
    /// A superblock for a new, empty filesystem with `geometry`. The root
    /// directory and the metadata blocks are accounted as used.
    pub fn new(geometry: Geometry, now: i64, uuid: [u8; 16]) -> Self {
        Superblock {
            feature_compat: 0,
            feature_incompat: 0,
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
        }
    }

    /// Decodes and checks the superblock at the start of `block`.
    ///
    /// Checks the magic, version, checksum, features and that the stored
    /// layout is the one [`Geometry::new`] derives from the stored sizes.
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
        let geometry = Geometry::new(get_u64(b, BLOCK_COUNT), get_u64(b, INODE_COUNT))?;
        let stored = Geometry {
            bitmap_start: get_u64(b, BITMAP_START),
            bitmap_blocks: get_u64(b, BITMAP_BLOCKS),
            inode_table_start: get_u64(b, INODE_TABLE_START),
            inode_table_blocks: get_u64(b, INODE_TABLE_BLOCKS),
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
        };
        if sb.free_blocks > geometry.data_blocks() || sb.free_inodes >= geometry.inode_count {
            return Err(FormatError::BadField("free counts exceed the filesystem"));
        }
        if sb.root_ino == 0 || sb.root_ino > geometry.inode_count {
            return Err(FormatError::BadField("root inode out of range"));
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
        let crc = crc32c_without_field(b, CRC);
        put_u32(b, CRC, crc);
    }
}

// ---------------------------------------------------------------------------
// Metadata block header

/// Size of the header that starts every bitmap, directory, extent and
/// extended attribute block.
pub const HEADER_SIZE: usize = 32;

/// The type of a metadata block, stored as its header magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum BlockKind {
    /// Allocation bitmap block, "RXBM".
    Bitmap = 0x5258_424d,
    /// Directory block, "RXDR".
    Directory = 0x5258_4452,
    /// Extent block, "RXEX".
    Extent = 0x5258_4558,
    /// Extended attribute block, "RXXA" (see [`XattrBlock`]).
    Xattr = 0x5258_5841,
}

/// Header of a metadata block:
/// `magic: u32, crc: u32, blkno: u64, owner: u64, reserved: u64`.
///
/// `blkno` catches misdirected writes; `owner` is the inode the block belongs
/// to (0 for bitmap blocks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    /// What the block holds.
    pub kind: BlockKind,
    /// The block's own address.
    pub blkno: u64,
    /// Owning inode, 0 for none.
    pub owner: u64,
}

const HDR_MAGIC: usize = 0;
const HDR_CRC: usize = 4;
const HDR_BLKNO: usize = 8;
const HDR_OWNER: usize = 16;

impl BlockHeader {
    /// Writes the header into `block` and seals the block with its checksum.
    /// Call it after the payload is final.
    pub fn seal(&self, block: &mut [u8]) {
        put_u32(block, HDR_MAGIC, self.kind as u32);
        put_u64(block, HDR_BLKNO, self.blkno);
        put_u64(block, HDR_OWNER, self.owner);
        put_u64(block, HDR_OWNER + 8, 0);
        let crc = crc32c_without_field(block, HDR_CRC);
        put_u32(block, HDR_CRC, crc);
    }

    /// Checks that `block` is a sealed block of `kind` stored at `blkno`;
    /// returns its owner.
    pub fn verify(block: &[u8], kind: BlockKind, blkno: u64) -> Result<u64> {
        if block.len() != BLOCK_SIZE {
            return Err(FormatError::BadField("short block"));
        }
        if get_u32(block, HDR_MAGIC) != kind as u32 || get_u64(block, HDR_BLKNO) != blkno {
            return Err(FormatError::BadHeader);
        }
        if get_u32(block, HDR_CRC) != crc32c_without_field(block, HDR_CRC) {
            return Err(FormatError::BadChecksum);
        }
        Ok(get_u64(block, HDR_OWNER))
    }
}

// ---------------------------------------------------------------------------
// Allocation bitmap

/// Blocks tracked by one bitmap block.
pub const BITS_PER_BITMAP_BLOCK: u64 = ((BLOCK_SIZE - HEADER_SIZE) * 8) as u64;

/// Where the allocation bit of block `blkno` lives: (index of the bitmap
/// block relative to `bitmap_start`, bit in that block's payload).
pub fn bitmap_position(blkno: u64) -> (u64, usize) {
    (blkno / BITS_PER_BITMAP_BLOCK, (blkno % BITS_PER_BITMAP_BLOCK) as usize)
}

/// The bit array of a bitmap block (the block minus its header).
pub fn bitmap_payload(block: &[u8]) -> &[u8] {
    &block[HEADER_SIZE..]
}

/// Mutable access to the bit array of a bitmap block.
pub fn bitmap_payload_mut(block: &mut [u8]) -> &mut [u8] {
    &mut block[HEADER_SIZE..]
}

/// Whether bit `bit` of a bitmap payload is set.
pub fn test_bit(bits: &[u8], bit: usize) -> bool {
    bits[bit / 8] & (1 << (bit % 8)) != 0
}

/// Sets or clears bit `bit` of a bitmap payload.
pub fn assign_bit(bits: &mut [u8], bit: usize, value: bool) {
    if value {
        bits[bit / 8] |= 1 << (bit % 8);
    } else {
        bits[bit / 8] &= !(1 << (bit % 8));
    }
}

// ---------------------------------------------------------------------------
// Extents

/// On-disk size of an [`Extent`].
pub const EXTENT_SIZE: usize = 24;
/// Extent flag: blocks are allocated but read as zeroes (fallocate).
pub const EXTENT_UNWRITTEN: u32 = 1;

/// A run of file blocks mapped to contiguous disk blocks:
/// `logical: u64, physical: u64, len: u32, flags: u32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// First file block.
    pub logical: u64,
    /// First disk block.
    pub physical: u64,
    /// Number of blocks, at least one.
    pub len: u32,
    /// `EXTENT_*` flags.
    pub flags: u32,
}

impl Extent {
    /// Decodes the extent at the start of `b`.
    pub fn decode(b: &[u8]) -> Self {
        Extent {
            logical: get_u64(b, 0),
            physical: get_u64(b, 8),
            len: get_u32(b, 16),
            flags: get_u32(b, 20),
        }
    }

    /// Encodes the extent into the start of `b`.
    pub fn encode(&self, b: &mut [u8]) {
        put_u64(b, 0, self.logical);
        put_u64(b, 8, self.physical);
        put_u32(b, 16, self.len);
        put_u32(b, 20, self.flags);
    }

    /// One past the last file block.
    pub fn logical_end(&self) -> u64 {
        self.logical + self.len as u64
    }

    /// Checks the extent against the filesystem layout.
    pub fn check(&self, geometry: &Geometry) -> Result<()> {
        if self.len == 0 || self.flags & !EXTENT_UNWRITTEN != 0 {
            return Err(FormatError::BadField("malformed extent"));
        }
        if self.logical.checked_add(self.len as u64).is_none_or(|end| end > MAX_FILE_BLOCKS) {
            return Err(FormatError::BadField("extent beyond the maximum file size"));
        }
        if !geometry.is_data_range(self.physical, self.len as u64) {
            return Err(FormatError::BadField("extent outside the data area"));
        }
        Ok(())
    }
}

/// Largest file size in blocks (2^40 blocks = 4 PiB).
pub const MAX_FILE_BLOCKS: u64 = 1 << 40;

/// Extent block layout: header, then `next: u64` (the following extent
/// block, 0 at the end of the chain), `count: u32`, `reserved: u32`, then
/// `count` extents sorted by `logical`.
pub const EXTENT_BLOCK_NEXT: usize = HEADER_SIZE;
const EXTENT_BLOCK_COUNT: usize = HEADER_SIZE + 8;
const EXTENT_BLOCK_ENTRIES: usize = HEADER_SIZE + 16;
/// Extents per extent block.
pub const EXTENTS_PER_BLOCK: usize = (BLOCK_SIZE - EXTENT_BLOCK_ENTRIES) / EXTENT_SIZE;

/// A decoded view of an extent block.
pub struct ExtentBlock<'a> {
    block: &'a [u8],
    /// Next extent block in the chain, 0 for none.
    pub next: u64,
    /// Number of extents in this block.
    pub count: usize,
}

impl<'a> ExtentBlock<'a> {
    /// Verifies `block` (stored at `blkno`, owned by `ino`) as an extent block.
    pub fn decode(block: &'a [u8], blkno: u64, ino: u64) -> Result<Self> {
        if BlockHeader::verify(block, BlockKind::Extent, blkno)? != ino {
            return Err(FormatError::BadHeader);
        }
        let count = get_u32(block, EXTENT_BLOCK_COUNT) as usize;
        if count == 0 || count > EXTENTS_PER_BLOCK {
            return Err(FormatError::BadField("bad extent block count"));
        }
        Ok(ExtentBlock { block, next: get_u64(block, EXTENT_BLOCK_NEXT), count })
    }

    /// Extent `i` of this block.
    pub fn extent(&self, i: usize) -> Extent {
        Extent::decode(&self.block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..])
    }

    /// Writes an extent block: `extents` (at most [`EXTENTS_PER_BLOCK`]), the
    /// link to `next`, and the sealed header.
    pub fn encode(block: &mut [u8], blkno: u64, ino: u64, next: u64, extents: &[Extent]) {
        block.fill(0);
        put_u64(block, EXTENT_BLOCK_NEXT, next);
        put_u32(block, EXTENT_BLOCK_COUNT, extents.len() as u32);
        for (i, e) in extents.iter().enumerate() {
            e.encode(&mut block[EXTENT_BLOCK_ENTRIES + i * EXTENT_SIZE..]);
        }
        BlockHeader { kind: BlockKind::Extent, blkno, owner: ino }.seal(block);
    }
}

// ---------------------------------------------------------------------------
// Inodes

/// File type bits of `mode`, as in `<sys/stat.h>`.
pub mod mode {
    /// Mask of the file type bits.
    pub const S_IFMT: u16 = 0o170000;
    /// Directory.
    pub const S_IFDIR: u16 = 0o040000;
    /// Regular file.
    pub const S_IFREG: u16 = 0o100000;
    /// Symbolic link.
    pub const S_IFLNK: u16 = 0o120000;
    /// Character device.
    pub const S_IFCHR: u16 = 0o020000;
    /// Block device.
    pub const S_IFBLK: u16 = 0o060000;
    /// FIFO.
    pub const S_IFIFO: u16 = 0o010000;
    /// Socket.
    pub const S_IFSOCK: u16 = 0o140000;
}

/// Inode flag: the file's data lives in the inode ([`INLINE_DATA_MAX`] bytes
/// at most) instead of in extents.
pub const INODE_INLINE: u16 = 1;
/// Inode flag (`chattr +i`): the inode may not be changed, linked, renamed
/// or removed.
pub const INODE_IMMUTABLE: u16 = 2;
/// Inode flag (`chattr +a`): the file may only be appended to.
pub const INODE_APPEND: u16 = 4;
/// Inode flag (`chattr +S`): changes are written synchronously.
pub const INODE_SYNC: u16 = 8;
/// Inode flag (`chattr +A`): the access time is not updated.
pub const INODE_NOATIME: u16 = 16;
/// Inode flag (`chattr +d`): `dump(8)` skips the file.
pub const INODE_NODUMP: u16 = 32;
/// The flags users set with `chattr`, on inodes of any type.
pub const INODE_USER_FLAGS: u16 =
    INODE_IMMUTABLE | INODE_APPEND | INODE_SYNC | INODE_NOATIME | INODE_NODUMP;

/// A timestamp: seconds since the epoch and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds, below 1e9.
    pub nsec: u32,
}

/// Bytes of the inode's data area: inline data, or in-inode extents.
pub const INODE_DATA_AREA: usize = 128;
/// Largest file stored inline.
pub const INLINE_DATA_MAX: usize = INODE_DATA_AREA;
/// Extents that fit in the inode itself.
pub const INODE_EXTENTS: usize = INODE_DATA_AREA / EXTENT_SIZE;

mod ino_off {
    pub(super) const MODE: usize = 0;
    pub(super) const FLAGS: usize = 2;
    pub(super) const NLINK: usize = 4;
    pub(super) const UID: usize = 8;
    pub(super) const GID: usize = 12;
    pub(super) const SIZE: usize = 16;
    pub(super) const BLOCKS: usize = 24;
    pub(super) const ATIME: usize = 32;
    pub(super) const MTIME: usize = 40;
    pub(super) const CTIME: usize = 48;
    pub(super) const CRTIME: usize = 56;
    pub(super) const ATIME_NSEC: usize = 64;
    pub(super) const MTIME_NSEC: usize = 68;
    pub(super) const CTIME_NSEC: usize = 72;
    pub(super) const CRTIME_NSEC: usize = 76;
    pub(super) const GENERATION: usize = 80;
    pub(super) const EXTENT_COUNT: usize = 84;
    pub(super) const PARENT: usize = 88;
    pub(super) const EXTENT_BLOCK: usize = 96;
    pub(super) const RDEV: usize = 104;
    pub(super) const DATA: usize = 112;
    pub(super) const XATTR_BLOCK: usize = DATA + super::INODE_DATA_AREA;
    // 248..252 reserved, zero.
    pub(super) const CRC: usize = super::INODE_SIZE - 4;
}

/// An inode as stored in the inode table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskInode {
    /// Type and permission bits; 0 for a free inode.
    pub mode: u16,
    /// `INODE_*` flags.
    pub flags: u16,
    /// Hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Blocks allocated to the inode: data, extent and extended attribute
    /// blocks.
    pub blocks: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last data change.
    pub mtime: Timestamp,
    /// Last inode change.
    pub ctime: Timestamp,
    /// Creation.
    pub crtime: Timestamp,
    /// Generation for NFS file handles.
    pub generation: u32,
    /// Total extents, in the inode and in extent blocks.
    pub extent_count: u32,
    /// Directories: the parent directory's inode number.
    pub parent: u64,
    /// First extent block of the chain, 0 for none.
    pub extent_block: u64,
    /// Device number of device special files.
    pub rdev: u32,
    /// Inline data, or the first [`INODE_EXTENTS`] extents.
    pub data: [u8; INODE_DATA_AREA],
    /// The extended attribute block (any file type, inline data or not), 0
    /// for none.
    pub xattr_block: u64,
}

impl DiskInode {
    /// A free inode.
    pub const FREE: DiskInode = DiskInode {
        mode: 0,
        flags: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        size: 0,
        blocks: 0,
        atime: Timestamp { sec: 0, nsec: 0 },
        mtime: Timestamp { sec: 0, nsec: 0 },
        ctime: Timestamp { sec: 0, nsec: 0 },
        crtime: Timestamp { sec: 0, nsec: 0 },
        generation: 0,
        extent_count: 0,
        parent: 0,
        extent_block: 0,
        rdev: 0,
        data: [0; INODE_DATA_AREA],
        xattr_block: 0,
    };

    /// Whether the slot is unused.
    pub fn is_free(&self) -> bool {
        self.mode == 0
    }

    /// The file type bits of `mode`.
    pub fn file_type(&self) -> u16 {
        self.mode & mode::S_IFMT
    }

    /// Whether the inode is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == mode::S_IFDIR
    }

    /// Whether the data is stored inline.
    pub fn is_inline(&self) -> bool {
        self.flags & INODE_INLINE != 0
    }

    /// The in-inode extents (the first `min(extent_count, INODE_EXTENTS)`).
    pub fn inode_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        let n = if self.is_inline() { 0 } else { (self.extent_count as usize).min(INODE_EXTENTS) };
        (0..n).map(move |i| Extent::decode(&self.data[i * EXTENT_SIZE..]))
    }

    /// Decodes the inode slot `b` (exactly [`INODE_SIZE`] bytes).
    ///
    /// An all-zero slot is a free inode that was never used. Any other slot
    /// must carry a valid checksum and consistent fields.
    pub fn decode(b: &[u8]) -> Result<Self> {
        use ino_off::*;
        if b.len() != INODE_SIZE {
            return Err(FormatError::BadField("short inode"));
        }
        if b.iter().all(|&x| x == 0) {
            return Ok(DiskInode::FREE);
        }
        if get_u32(b, CRC) != crc32c_without_field(b, CRC) {
            return Err(FormatError::BadChecksum);
        }
        let time = |sec, nsec| Timestamp { sec: get_u64(b, sec) as i64, nsec: get_u32(b, nsec) };
        let mut data = [0; INODE_DATA_AREA];
        data.copy_from_slice(&b[DATA..DATA + INODE_DATA_AREA]);
        let inode = DiskInode {
            mode: get_u16(b, MODE),
            flags: get_u16(b, FLAGS),
            nlink: get_u32(b, NLINK),
            uid: get_u32(b, UID),
            gid: get_u32(b, GID),
            size: get_u64(b, SIZE),
            blocks: get_u64(b, BLOCKS),
            atime: time(ATIME, ATIME_NSEC),
            mtime: time(MTIME, MTIME_NSEC),
            ctime: time(CTIME, CTIME_NSEC),
            crtime: time(CRTIME, CRTIME_NSEC),
            generation: get_u32(b, GENERATION),
            extent_count: get_u32(b, EXTENT_COUNT),
            parent: get_u64(b, PARENT),
            extent_block: get_u64(b, EXTENT_BLOCK),
            rdev: get_u32(b, RDEV),
            data,
            xattr_block: get_u64(b, XATTR_BLOCK),
        };
        inode.check_fields()?;
        Ok(inode)
    }

    fn check_fields(&self) -> Result<()> {
        if self.is_free() {
            return Ok(());
        }
        match self.file_type() {
            mode::S_IFDIR | mode::S_IFREG | mode::S_IFLNK | mode::S_IFCHR | mode::S_IFBLK
            | mode::S_IFIFO | mode::S_IFSOCK => {}
            _ => return Err(FormatError::BadField("unknown file type")),
        }
        if self.flags & !(INODE_INLINE | INODE_USER_FLAGS) != 0 {
            return Err(FormatError::BadField("unknown inode flags"));
        }
        if self.is_inline() {
            if self.size > INLINE_DATA_MAX as u64 || self.extent_count != 0 || self.extent_block != 0
            {
                return Err(FormatError::BadField("inconsistent inline inode"));
            }
        } else if (self.extent_count as usize > INODE_EXTENTS) != (self.extent_block != 0) {
            return Err(FormatError::BadField("extent count does not match the extent chain"));
        }
        if self.size > MAX_FILE_BLOCKS << BLOCK_SHIFT {
            return Err(FormatError::BadField("file too large"));
        }
        for t in [self.atime, self.mtime, self.ctime, self.crtime] {
            if t.nsec >= 1_000_000_000 {
                return Err(FormatError::BadField("bad timestamp"));
            }
        }
        Ok(())
    }

    /// Encodes the inode with its checksum into the slot `b`.
    pub fn encode(&self, b: &mut [u8]) {
        use ino_off::*;
        let b = &mut b[..INODE_SIZE];
        b.fill(0);
        put_u16(b, MODE, self.mode);
        put_u16(b, FLAGS, self.flags);
        put_u32(b, NLINK, self.nlink);
        put_u32(b, UID, self.uid);
        put_u32(b, GID, self.gid);
        put_u64(b, SIZE, self.size);
        put_u64(b, BLOCKS, self.blocks);
        for (t, sec, nsec) in [
            (self.atime, ATIME, ATIME_NSEC),
            (self.mtime, MTIME, MTIME_NSEC),
            (self.ctime, CTIME, CTIME_NSEC),
            (self.crtime, CRTIME, CRTIME_NSEC),
        ] {
            put_u64(b, sec, t.sec as u64);
            put_u32(b, nsec, t.nsec);
        }
        put_u32(b, GENERATION, self.generation);
        put_u32(b, EXTENT_COUNT, self.extent_count);
        put_u64(b, PARENT, self.parent);
        put_u64(b, EXTENT_BLOCK, self.extent_block);
        put_u32(b, RDEV, self.rdev);
        b[DATA..DATA + INODE_DATA_AREA].copy_from_slice(&self.data);
        put_u64(b, XATTR_BLOCK, self.xattr_block);
        let crc = crc32c_without_field(b, CRC);
        put_u32(b, CRC, crc);
    }
}

// ---------------------------------------------------------------------------
// Directories

/// Directory entry file types, as `DT_*` in `<dirent.h>`.
pub mod file_type {
    /// Unknown.
    pub const UNKNOWN: u8 = 0;
    /// FIFO.
    pub const FIFO: u8 = 1;
    /// Character device.
    pub const CHR: u8 = 2;
    /// Directory.
    pub const DIR: u8 = 4;
    /// Block device.
    pub const BLK: u8 = 6;
    /// Regular file.
    pub const REG: u8 = 8;
    /// Symbolic link.
    pub const LNK: u8 = 10;
    /// Socket.
    pub const SOCK: u8 = 12;

    /// The `DT_*` value matching the type bits of an inode mode.
    pub fn from_mode(mode: u16) -> u8 {
        (((mode & super::mode::S_IFMT) >> 12) & 0xf) as u8
    }
}

/// Directory entry header: `ino: u64, rec_len: u16, name_len: u8, file_type: u8`,
/// followed by the name. `rec_len` covers the name and padding to the next
/// entry and is a multiple of [`DIRENT_ALIGN`]; the entries of a block cover
/// it exactly. An entry with `ino == 0` is free space.
pub const DIRENT_HEADER: usize = 12;
/// Alignment of directory entries.
pub const DIRENT_ALIGN: usize = 8;

/// Space a directory entry with a name of `name_len` bytes needs.
pub const fn dirent_size(name_len: usize) -> usize {
    (DIRENT_HEADER + name_len).next_multiple_of(DIRENT_ALIGN)
}

/// A directory entry inside a directory block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    /// Byte offset of the entry in its block.
    pub offset: usize,
    /// Inode number, 0 for a free slot.
    pub ino: u64,
    /// Bytes this entry spans, including free space after it.
    pub rec_len: usize,
    /// `file_type::*` of the inode.
    pub file_type: u8,
    /// The name, 1 to [`MAX_NAME_LEN`] bytes (empty for free slots).
    pub name: &'a [u8],
}

/// Iterator over the entries of a verified directory block.
pub struct DirEntries<'a> {
    block: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = Result<DirEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= BLOCK_SIZE {
            return None;
        }
        let entry = parse_dirent(self.block, self.offset);
        self.offset = match entry {
            Ok(e) => self.offset + e.rec_len,
            Err(_) => BLOCK_SIZE,
        };
        Some(entry)
    }
}

fn parse_dirent(block: &[u8], offset: usize) -> Result<DirEntry<'_>> {
    if offset + DIRENT_HEADER > BLOCK_SIZE {
        return Err(FormatError::BadField("directory entry crosses the block end"));
    }
    let ino = get_u64(block, offset);
    let rec_len = get_u16(block, offset + 8) as usize;
    let name_len = block[offset + 10] as usize;
    let file_type = block[offset + 11];
    if rec_len < DIRENT_HEADER || rec_len % DIRENT_ALIGN != 0 || offset + rec_len > BLOCK_SIZE {
        return Err(FormatError::BadField("bad directory entry length"));
    }
    if ino != 0 && (name_len == 0 || dirent_size(name_len) > rec_len) {
        return Err(FormatError::BadField("bad directory entry name length"));
    }
    let name_len = if ino == 0 { 0 } else { name_len };
    let name = &block[offset + DIRENT_HEADER..offset + DIRENT_HEADER + name_len];
    if name.iter().any(|&c| c == b'/' || c == 0) || name == b"." || name == b".." {
        return Err(FormatError::BadField("bad name in directory entry"));
    }
    Ok(DirEntry { offset, ino, rec_len, file_type, name })
}

/// Verifies `block` (stored at `blkno`, owned by directory `ino`) as a
/// directory block and returns an iterator over its entries. The iterator
/// yields an error and stops at the first malformed entry.
pub fn dir_entries(block: &[u8], blkno: u64, ino: u64) -> Result<DirEntries<'_>> {
    if BlockHeader::verify(block, BlockKind::Directory, blkno)? != ino {
        return Err(FormatError::BadHeader);
    }
    Ok(DirEntries { block, offset: HEADER_SIZE })
}

/// Initialises `block` as an empty directory block: one free entry spanning
/// the whole payload. The caller seals it.
pub fn init_dir_block(block: &mut [u8]) {
    block.fill(0);
    put_u16(block, HEADER_SIZE + 8, (BLOCK_SIZE - HEADER_SIZE) as u16);
}

/// Writes an entry header and name at `offset` of a directory block.
pub fn write_dirent(block: &mut [u8], offset: usize, ino: u64, rec_len: usize, ftype: u8, name: &[u8]) {
    put_u64(block, offset, ino);
    put_u16(block, offset + 8, rec_len as u16);
    block[offset + 10] = name.len() as u8;
    block[offset + 11] = ftype;
    block[offset + DIRENT_HEADER..offset + DIRENT_HEADER + name.len()].copy_from_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        // Long enough for the 8-byte path, checked against the bytewise
        // definition.
        let data: std::vec::Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut crc = !0u32;
        for &b in &data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
            }
        }
        assert_eq!(crc32c(&data), !crc);
    }

    #[test]
    fn superblock_round_trip_and_checks() {
        let g = Geometry::new(1 << 18, 1 << 16).unwrap();
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
        assert_eq!(Superblock::decode(&[0; BLOCK_SIZE]), Err(FormatError::BadMagic));
    }

    #[test]
    fn geometry_layout() {
        let g = Geometry::new(BITS_PER_BITMAP_BLOCK + 1, 33).unwrap();
        assert_eq!(g.bitmap_blocks, 2);
        assert_eq!(g.inode_table_start, 3);
        assert_eq!(g.inode_table_blocks, 3);
        assert_eq!(g.data_start, 6);
        assert_eq!(g.inode_location(1), Ok((3, 0)));
        assert_eq!(g.inode_location(17), Ok((4, 0)));
        assert_eq!(g.inode_location(18), Ok((4, INODE_SIZE)));
        assert!(g.inode_location(0).is_err());
        assert!(g.inode_location(34).is_err());
        assert!(Geometry::new(MIN_BLOCKS - 1, 16).is_err());
        assert!(Geometry::new(MIN_BLOCKS, 16 * MIN_BLOCKS).is_err());
    }

    #[test]
    fn inode_round_trip() {
        let mut inode = DiskInode::FREE;
        inode.mode = mode::S_IFREG | 0o644;
        inode.nlink = 1;
        inode.size = 5;
        inode.flags = INODE_INLINE | INODE_USER_FLAGS;
        inode.data[..5].copy_from_slice(b"hello");
        inode.mtime = Timestamp { sec: -5, nsec: 999_999_999 };
        inode.xattr_block = 0x1234_5678_9abc;
        let mut slot = [0u8; INODE_SIZE];
        inode.encode(&mut slot);
        assert_eq!(DiskInode::decode(&slot), Ok(inode));
        slot[130] ^= 0x40;
        assert_eq!(DiskInode::decode(&slot), Err(FormatError::BadChecksum));
        assert_eq!(DiskInode::decode(&[0; INODE_SIZE]), Ok(DiskInode::FREE));
    }

    #[test]
    fn inode_field_checks() {
        let mut inode = DiskInode::FREE;
        inode.mode = mode::S_IFREG;
        inode.flags = INODE_INLINE;
        inode.size = INLINE_DATA_MAX as u64 + 1;
        let mut slot = [0u8; INODE_SIZE];
        inode.encode(&mut slot);
        assert!(matches!(DiskInode::decode(&slot), Err(FormatError::BadField(_))));
        inode.flags = 0;
        inode.extent_count = INODE_EXTENTS as u32 + 1;
        inode.encode(&mut slot);
        assert!(matches!(DiskInode::decode(&slot), Err(FormatError::BadField(_))));
        inode.mode = 0o070000;
        inode.extent_count = 0;
        inode.encode(&mut slot);
        assert!(matches!(DiskInode::decode(&slot), Err(FormatError::BadField(_))));
        inode.mode = mode::S_IFDIR;
        for (flags, ok) in [(INODE_USER_FLAGS, true), (64, false), (0x8000, false)] {
            inode.flags = flags;
            inode.encode(&mut slot);
            let unknown = Err(FormatError::BadField("unknown inode flags"));
            assert_eq!(DiskInode::decode(&slot), if ok { Ok(inode) } else { unknown }, "{flags:#x}");
        }
    }

    #[test]
    fn directory_block_entries() {
        let mut block = [0u8; BLOCK_SIZE];
        init_dir_block(&mut block);
        let first = dirent_size(3);
        write_dirent(&mut block, HEADER_SIZE, 5, first, file_type::REG, b"abc");
        let rest = BLOCK_SIZE - HEADER_SIZE - first;
        write_dirent(&mut block, HEADER_SIZE + first, 6, rest, file_type::DIR, b"subdir");
        BlockHeader { kind: BlockKind::Directory, blkno: 9, owner: 1 }.seal(&mut block);
        let entries: std::vec::Vec<_> =
            dir_entries(&block, 9, 1).unwrap().map(|e| e.unwrap()).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].ino, entries[0].name), (5, &b"abc"[..]));
        assert_eq!((entries[1].ino, entries[1].name), (6, &b"subdir"[..]));
        assert_eq!(dir_entries(&block, 10, 1).err(), Some(FormatError::BadHeader));
        assert_eq!(dir_entries(&block, 9, 2).err(), Some(FormatError::BadHeader));

        // A rec_len that runs off the block is reported, not followed.
        block[HEADER_SIZE + 8] = 0xff;
        block[HEADER_SIZE + 9] = 0x7f;
        BlockHeader { kind: BlockKind::Directory, blkno: 9, owner: 1 }.seal(&mut block);
        let mut it = dir_entries(&block, 9, 1).unwrap();
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn extent_block_round_trip() {
        let g = Geometry::new(1024, 64).unwrap();
        let extents = [
            Extent { logical: 0, physical: g.data_start, len: 4, flags: 0 },
            Extent { logical: 10, physical: g.data_start + 8, len: 1, flags: EXTENT_UNWRITTEN },
        ];
        let mut block = [0u8; BLOCK_SIZE];
        ExtentBlock::encode(&mut block, 100, 3, 0, &extents);
        let eb = ExtentBlock::decode(&block, 100, 3).unwrap();
        assert_eq!((eb.count, eb.next), (2, 0));
        assert_eq!(eb.extent(1), extents[1]);
        for e in extents {
            assert_eq!(e.check(&g), Ok(()));
        }
        let outside = Extent { logical: 0, physical: 1, len: 1, flags: 0 };
        assert!(outside.check(&g).is_err());
    }

    #[test]
    fn bitmap_bits() {
        let mut bits = [0u8; 16];
        assign_bit(&mut bits, 9, true);
        assert!(test_bit(&bits, 9) && !test_bit(&bits, 8));
        assign_bit(&mut bits, 9, false);
        assert!(!test_bit(&bits, 9));
        assert_eq!(bitmap_position(BITS_PER_BITMAP_BLOCK + 3), (1, 3));
    }

    #[test]
    fn file_type_from_mode() {
        assert_eq!(file_type::from_mode(mode::S_IFDIR | 0o755), file_type::DIR);
        assert_eq!(file_type::from_mode(mode::S_IFREG), file_type::REG);
        assert_eq!(file_type::from_mode(mode::S_IFLNK), file_type::LNK);
    }
}
