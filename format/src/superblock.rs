// SPDX-License-Identifier: GPL-2.0
//! The superblock, in block 0, and the [`Geometry`] of the fixed regions it
//! records.

use super::{
    crc32c_without_field, div_round_up, get_u32, get_u64, put_u32, put_u64, FormatError, Result,
    BITS_PER_BITMAP_BLOCK, BLOCK_SIZE, INODES_PER_BLOCK, INODE_SIZE, ROOT_INO, SUPER_MAGIC,
    VERSION,
};

/// Bytes of block 0 that the superblock occupies (and its checksum covers).
pub const SUPERBLOCK_SIZE: usize = 512;
/// Smallest filesystem `mkfs` makes and the module mounts, in blocks.
pub const MIN_BLOCKS: u64 = 64;

/// Superblock `state`: the filesystem was unmounted cleanly.
pub const STATE_CLEAN: u32 = 1;

/// Incompatible features this version understands (none yet).
pub const FEATURE_INCOMPAT_SUPPORTED: u32 = 0;
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
    /// First block available for data.
    pub data_start: u64,
}

impl Geometry {
    /// Lays out a filesystem of `block_count` blocks with `inode_count` inodes.
    pub fn new(block_count: u64, inode_count: u64) -> Result<Self> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            Superblock::decode(&[0; BLOCK_SIZE]),
            Err(FormatError::BadMagic)
        );
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
}
