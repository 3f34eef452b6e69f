// SPDX-License-Identifier: GPL-2.0
//! Inodes, as stored in the inode table, with their mode bits, flags and
//! timestamps.

use super::{
    crc32c_without_field, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64, Extent,
    FormatError, Result, BLOCK_SHIFT, BLOCK_SIZE, EXTENT_SIZE, MAX_FILE_BLOCKS,
};

/// Size of an on-disk inode.
pub const INODE_SIZE: usize = 256;
/// Inodes per inode-table block.
pub const INODES_PER_BLOCK: u64 = (BLOCK_SIZE / INODE_SIZE) as u64;

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
        let n = if self.is_inline() {
            0
        } else {
            (self.extent_count as usize).min(INODE_EXTENTS)
        };
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
        let time = |sec, nsec| Timestamp {
            sec: get_u64(b, sec) as i64,
            nsec: get_u32(b, nsec),
        };
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
            mode::S_IFDIR
            | mode::S_IFREG
            | mode::S_IFLNK
            | mode::S_IFCHR
            | mode::S_IFBLK
            | mode::S_IFIFO
            | mode::S_IFSOCK => {}
            _ => return Err(FormatError::BadField("unknown file type")),
        }
        if self.flags & !(INODE_INLINE | INODE_USER_FLAGS) != 0 {
            return Err(FormatError::BadField("unknown inode flags"));
        }
        if self.is_inline() {
            if self.size > INLINE_DATA_MAX as u64
                || self.extent_count != 0
                || self.extent_block != 0
            {
                return Err(FormatError::BadField("inconsistent inline inode"));
            }
        } else if (self.extent_count as usize > INODE_EXTENTS) != (self.extent_block != 0) {
            return Err(FormatError::BadField(
                "extent count does not match the extent chain",
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_round_trip() {
        let mut inode = DiskInode::FREE;
        inode.mode = mode::S_IFREG | 0o644;
        inode.nlink = 1;
        inode.size = 5;
        inode.flags = INODE_INLINE | INODE_USER_FLAGS;
        inode.data[..5].copy_from_slice(b"hello");
        inode.mtime = Timestamp {
            sec: -5,
            nsec: 999_999_999,
        };
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
        assert!(matches!(
            DiskInode::decode(&slot),
            Err(FormatError::BadField(_))
        ));
        inode.flags = 0;
        inode.extent_count = INODE_EXTENTS as u32 + 1;
        inode.encode(&mut slot);
        assert!(matches!(
            DiskInode::decode(&slot),
            Err(FormatError::BadField(_))
        ));
        inode.mode = 0o070000;
        inode.extent_count = 0;
        inode.encode(&mut slot);
        assert!(matches!(
            DiskInode::decode(&slot),
            Err(FormatError::BadField(_))
        ));
        inode.mode = mode::S_IFDIR;
        for (flags, ok) in [(INODE_USER_FLAGS, true), (64, false), (0x8000, false)] {
            inode.flags = flags;
            inode.encode(&mut slot);
            let unknown = Err(FormatError::BadField("unknown inode flags"));
            assert_eq!(
                DiskInode::decode(&slot),
                if ok { Ok(inode) } else { unknown },
                "{flags:#x}"
            );
        }
    }
}
