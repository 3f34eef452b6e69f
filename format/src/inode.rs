// SPDX-License-Identifier: GPL-2.0
//! Inodes, as stored in the inode table, with their mode bits, flags and
//! timestamps.

use super::{
    crc32c_without_field, dirent_size, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64,
    Extent, FormatError, Geometry, Result, BLOCK_SHIFT, BLOCK_SIZE, EXTENT_SIZE,
    FEATURE_INCOMPAT_DAX_FLAG, FEATURE_INCOMPAT_REFLINK, HEADER_SIZE, MAX_FILE_BLOCKS,
};

/// Size of an on-disk inode.
pub const INODE_SIZE: usize = 256;
/// Inodes per inode-table block.
pub const INODES_PER_BLOCK: u64 = (BLOCK_SIZE / INODE_SIZE) as u64;
/// Most links an inode may have, as XFS's `XFS_MAXLINK`: far below
/// `u32::MAX`, so that no link count read from disk overflows when the
/// kernel adds one (the module sets it as the superblock's `s_max_links`).
pub const MAX_LINKS: u32 = (1 << 31) - 1;

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
/// Inode flag (`chattr +x`, `FS_XFLAG_DAX`): under `dax=inode` the file's
/// data is accessed in place on a DAX device; a directory gives the flag to
/// the inodes created in it. Only with
/// [`FEATURE_INCOMPAT_DAX_FLAG`].
pub const INODE_DAX: u16 = 64;
/// Inode flag: the inode may map shared blocks (blocks whose refcount
/// entry counts two references or more, see
/// [`refcount_location`](super::refcount_location)). The module sets it
/// when a clone first shares blocks of the inode and never clears it, so
/// that a write to a file never cloned skips the refcount lookups. Not a
/// user flag; on regular files only (not inline), and only with
/// [`FEATURE_INCOMPAT_REFLINK`].
pub const INODE_SHARED: u16 = 128;
/// The flags users set with `chattr`, on regular files and directories.
pub const INODE_USER_FLAGS: u16 =
    INODE_IMMUTABLE | INODE_APPEND | INODE_SYNC | INODE_NOATIME | INODE_NODUMP | INODE_DAX;

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
    /// Reserved up to the data area: zero.
    pub(super) const RESERVED: usize = 108;
    pub(super) const DATA: usize = 112;
    pub(super) const XATTR_BLOCK: usize = DATA + super::INODE_DATA_AREA;
    pub(super) const NEXT_ORPHAN: usize = XATTR_BLOCK + 8;
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
    /// Directories: the parent directory's inode number, which `..` names.
    /// Other inodes: the directory the inode was made in, kept for
    /// information only (neither rename nor link changes it); 0 for unknown.
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
    /// The next inode of the orphan list (see
    /// [`Superblock::orphan_head`](super::Superblock::orphan_head)), 0 at its
    /// end or for an inode not on it.
    pub next_orphan: u32,
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
        next_orphan: 0,
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

    /// Whether the inode may map shared blocks ([`INODE_SHARED`]).
    pub fn is_shared(&self) -> bool {
        self.flags & INODE_SHARED != 0
    }

    /// Checks the inode's flags against the superblock's incompatible
    /// features `feature_incompat`. Rules: [`INODE_DAX`] only with
    /// [`FEATURE_INCOMPAT_DAX_FLAG`], [`INODE_SHARED`] only with
    /// [`FEATURE_INCOMPAT_REFLINK`].
    pub fn check_features(&self, feature_incompat: u32) -> Result<()> {
        if self.flags & INODE_DAX != 0 && feature_incompat & FEATURE_INCOMPAT_DAX_FLAG == 0 {
            return Err(FormatError::BadField(
                "DAX flag without the dax-flag feature",
            ));
        }
        if self.is_shared() && feature_incompat & FEATURE_INCOMPAT_REFLINK == 0 {
            return Err(FormatError::BadField(
                "shared flag without the reflink feature",
            ));
        }
        Ok(())
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

    /// The orphan list link stored in the inode slot `b`, read without
    /// checking the slot (the caller checked it when it read the inode).
    pub fn next_orphan_of(b: &[u8]) -> u32 {
        get_u32(b, ino_off::NEXT_ORPHAN)
    }

    /// Decodes the inode slot `b` (exactly [`INODE_SIZE`] bytes).
    ///
    /// An all-zero slot is a free inode that was never used. Any other slot
    /// must carry a valid checksum and fields that agree with each other:
    /// the rules that hold for every inode in the table, whatever its state
    /// (in use, an orphan with no link, or just allocated, which has only
    /// its mode and link count set). A free slot (mode 0) is returned as
    /// read; [`DiskInode::check_free_slot`] checks that it is blank.
    ///
    /// Rules, each a [`FormatError::BadField`] of its own:
    /// - the reserved bytes before the data area are zero;
    /// - the file type is known, and so are the flags;
    /// - inline data only on regular files and symlinks, `chattr` flags only
    ///   on regular files and directories, [`INODE_SHARED`] only on
    ///   extent-mapped regular files;
    /// - an inline inode has at most [`INLINE_DATA_MAX`] bytes, no extents,
    ///   and zeroes past its size in the data area;
    /// - an extent-mapped inode has an extent block exactly when its extents
    ///   do not fit in the inode, and zeroes past its extents in the data
    ///   area (so inline bytes are never read as extents);
    /// - the size is at most [`MAX_FILE_BLOCKS`] blocks;
    /// - device special files, FIFOs and sockets have no data (size 0, no
    ///   extents), other inodes no device number;
    /// - timestamps' nanoseconds below 10^9.
    ///
    /// The rules of the link count and those that need the filesystem's
    /// geometry are [`DiskInode::verify`]'s; those of the inode's extents are
    /// [`ExtentMapVerifier`](super::ExtentMapVerifier)'s and
    /// [`ExtentChainWalk`](super::ExtentChainWalk)'s; one for an inode a
    /// directory entry names is [`DiskInode::check_linked`].
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
        if b[RESERVED..DATA].iter().any(|&x| x != 0) {
            return Err(FormatError::BadField("inode reserved bytes not zero"));
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
            next_orphan: get_u32(b, NEXT_ORPHAN),
        };
        inode.check_fields()?;
        Ok(inode)
    }

    fn check_fields(&self) -> Result<()> {
        if self.is_free() {
            return Ok(());
        }
        let bad = |why| Err(FormatError::BadField(why));
        let kind = self.file_type();
        let special = match kind {
            mode::S_IFDIR | mode::S_IFREG | mode::S_IFLNK => false,
            mode::S_IFCHR | mode::S_IFBLK | mode::S_IFIFO | mode::S_IFSOCK => true,
            _ => return bad("unknown file type"),
        };
        if self.flags & !(INODE_INLINE | INODE_USER_FLAGS | INODE_SHARED) != 0 {
            return bad("unknown inode flags");
        }
        if self.is_shared() && (kind != mode::S_IFREG || self.is_inline()) {
            return bad("shared flag on an inode that is no extent-mapped file");
        }
        if self.is_inline() && !matches!(kind, mode::S_IFREG | mode::S_IFLNK) {
            return bad("inline data on a directory or special file");
        }
        if self.flags & INODE_USER_FLAGS != 0 && !matches!(kind, mode::S_IFREG | mode::S_IFDIR) {
            return bad("inode flags on a symlink or special file");
        }
        if self.is_inline() {
            if self.size > INLINE_DATA_MAX as u64 {
                return bad("inline data larger than the inode holds");
            }
            if self.extent_count != 0 || self.extent_block != 0 {
                return bad("inline inode with extents");
            }
            if self.data[self.size as usize..].iter().any(|&x| x != 0) {
                return bad("inline data past the file size not zero");
            }
        } else {
            let count = self.extent_count as usize;
            if (count > INODE_EXTENTS) != (self.extent_block != 0) {
                return bad("extent count does not match the extent chain");
            }
            let used = count.min(INODE_EXTENTS) * EXTENT_SIZE;
            if self.data[used..].iter().any(|&x| x != 0) {
                return bad("inode data area past its extents not zero");
            }
        }
        if self.size > MAX_FILE_BLOCKS << BLOCK_SHIFT {
            return bad("file too large");
        }
        if special && (self.size != 0 || self.extent_count != 0) {
            return bad("special file with data");
        }
        if !special && self.rdev != 0 {
            return bad("device number on an inode that is no device");
        }
        for t in [self.atime, self.mtime, self.ctime, self.crtime] {
            if t.nsec >= 1_000_000_000 {
                return bad("bad timestamp");
            }
        }
        Ok(())
    }

    /// Verifies the fields of an in-use inode that depend on the
    /// filesystem's `geometry` or on its type, beyond [`DiskInode::decode`]'s
    /// rules: for the module when it reads an inode into memory (not for the
    /// allocator's scan of slots: an inode being made has its mode before
    /// its other fields), and for fsck. It calls each `verify_*` rule below.
    pub fn verify(&self, geometry: &Geometry) -> Result<()> {
        self.verify_links()?;
        self.verify_parent(geometry)?;
        self.verify_xattr_block(geometry)?;
        self.verify_extent_count(geometry)?;
        self.verify_symlink()
    }

    /// Rules of the link count: at most [`MAX_LINKS`]; a directory's 0 (an
    /// orphan) or at least 2 (itself and its `.`), and no more than 2 plus
    /// the entries its blocks can hold. (fsck compares the count with the
    /// entries it finds instead, and repairs it.)
    pub fn verify_links(&self) -> Result<()> {
        if self.nlink > MAX_LINKS {
            return Err(FormatError::BadField("link count too large"));
        }
        if self.is_dir() {
            if self.nlink == 1 {
                return Err(FormatError::BadField("directory with one link"));
            }
            // Each subdirectory's entry takes dirent_size(1) bytes or more.
            let per_block = ((BLOCK_SIZE - HEADER_SIZE) / dirent_size(1)) as u64;
            if u64::from(self.nlink) > 2 + (self.size >> BLOCK_SHIFT) * per_block {
                return Err(FormatError::BadField(
                    "directory link count exceeds its entries",
                ));
            }
        }
        Ok(())
    }

    /// Rule: the parent is an inode number (a directory's is never 0; see
    /// [`DiskInode::parent`]).
    pub fn verify_parent(&self, geometry: &Geometry) -> Result<()> {
        let lowest = u64::from(self.is_dir());
        if self.parent < lowest || self.parent > geometry.inode_count {
            return Err(FormatError::BadField("parent out of range"));
        }
        Ok(())
    }

    /// Rule: the extended attribute block, if any, is in the data area.
    pub fn verify_xattr_block(&self, geometry: &Geometry) -> Result<()> {
        if self.xattr_block != 0 && !geometry.is_data_range(self.xattr_block, 1) {
            return Err(FormatError::BadField("xattr block outside the data area"));
        }
        Ok(())
    }

    /// Rule: no more extents than data blocks (each maps at least one of
    /// its own), which bounds what a reader of the extents allocates.
    pub fn verify_extent_count(&self, geometry: &Geometry) -> Result<()> {
        if u64::from(self.extent_count) > geometry.data_blocks() {
            return Err(FormatError::BadField("extent count exceeds the data area"));
        }
        Ok(())
    }

    /// Rules of symlinks: a size of 1 to `BLOCK_SIZE - 1` bytes; an inline
    /// target without NUL (see [`check_symlink_target`] for one in a block).
    pub fn verify_symlink(&self) -> Result<()> {
        if self.file_type() != mode::S_IFLNK {
            return Ok(());
        }
        if self.size == 0 || self.size >= BLOCK_SIZE as u64 {
            return Err(FormatError::BadField("symlink size out of range"));
        }
        if self.is_inline() {
            check_symlink_target(&self.data[..self.size as usize])?;
        }
        Ok(())
    }

    /// The rule for an inode that a directory entry names, for the caller
    /// that reached it through the entry: in use, with a link. (Only an
    /// orphan, which no entry names, has none; a directory has two or more,
    /// which [`DiskInode::decode`] checks.)
    pub fn check_linked(&self) -> Result<()> {
        check_linked_fields(self.mode, self.nlink)
    }

    /// The rule for a free slot (mode 0): blank, every field zero (it was
    /// never used, or freed by writing [`DiskInode::FREE`]).
    pub fn check_free_slot(&self) -> Result<()> {
        if *self != DiskInode::FREE {
            return Err(FormatError::BadField("free inode with fields set"));
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
        put_u32(b, NEXT_ORPHAN, self.next_orphan);
        let crc = crc32c_without_field(b, CRC);
        put_u32(b, CRC, crc);
    }
}

/// [`DiskInode::check_linked`] of an inode of `mode` with `nlink` links.
pub(super) fn check_linked_fields(mode: u16, nlink: u32) -> Result<()> {
    if mode == 0 {
        return Err(FormatError::BadField("directory entry names a free inode"));
    }
    if nlink == 0 {
        return Err(FormatError::BadField(
            "directory entry names an inode with no links",
        ));
    }
    Ok(())
}

/// Rule of a symlink's target, inline or in its block: no NUL byte.
pub fn check_symlink_target(target: &[u8]) -> Result<()> {
    if target.contains(&0) {
        return Err(FormatError::BadField("NUL in symlink target"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FEATURE_INCOMPAT_JOURNAL;

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
        inode.next_orphan = 77;
        let mut slot = [0u8; INODE_SIZE];
        inode.encode(&mut slot);
        assert_eq!(DiskInode::decode(&slot), Ok(inode));
        slot[130] ^= 0x40;
        assert_eq!(DiskInode::decode(&slot), Err(FormatError::BadChecksum));
        assert_eq!(DiskInode::decode(&[0; INODE_SIZE]), Ok(DiskInode::FREE));
    }

    /// A regular file with one extent, linked once.
    fn regular() -> DiskInode {
        let mut inode = DiskInode {
            mode: mode::S_IFREG | 0o644,
            nlink: 1,
            size: 5000,
            blocks: 2,
            parent: 3,
            extent_count: 1,
            ..DiskInode::FREE
        };
        Extent {
            logical: 0,
            physical: 100,
            len: 2,
            flags: 0,
        }
        .encode(&mut inode.data);
        inode
    }

    fn inline(data: &[u8]) -> DiskInode {
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

    fn directory() -> DiskInode {
        DiskInode {
            mode: mode::S_IFDIR | 0o755,
            nlink: 2,
            parent: 1,
            ..DiskInode::FREE
        }
    }

    fn special(kind: u16) -> DiskInode {
        DiskInode {
            mode: kind | 0o600,
            nlink: 1,
            rdev: if matches!(kind, mode::S_IFCHR | mode::S_IFBLK) {
                0x801
            } else {
                0
            },
            ..DiskInode::FREE
        }
    }

    /// What decoding `inode` gives once encoded, its checksum computed.
    fn decode_of(inode: &DiskInode) -> Result<DiskInode> {
        decode_raw(inode, |_| {})
    }

    /// What decoding `inode` gives once encoded, `f` applied and the
    /// checksum recomputed.
    fn decode_raw(inode: &DiskInode, f: impl FnOnce(&mut [u8])) -> Result<DiskInode> {
        let mut slot = [0u8; INODE_SIZE];
        inode.encode(&mut slot);
        f(&mut slot);
        let crc = crc32c_without_field(&slot, ino_off::CRC);
        put_u32(&mut slot, ino_off::CRC, crc);
        DiskInode::decode(&slot)
    }

    fn bad(why: &'static str) -> Result<DiskInode> {
        Err(FormatError::BadField(why))
    }

    fn geometry() -> Geometry {
        Geometry::new(1024, 64, 0).unwrap()
    }

    #[test]
    fn inode_valid_of_every_type() {
        let symlink = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            size: 6,
            ..inline(b"target")
        };
        let mut inodes = [
            regular(),
            inline(b"hello"),
            inline(b""),
            directory(),
            symlink,
            // Just allocated: mode and links only.
            DiskInode {
                mode: mode::S_IFDIR,
                nlink: 2,
                ..DiskInode::FREE
            },
            // Orphans: no link left.
            DiskInode {
                nlink: 0,
                ..regular()
            },
            DiskInode {
                nlink: 0,
                ..directory()
            },
            // Every chattr flag.
            DiskInode {
                flags: INODE_USER_FLAGS,
                ..directory()
            },
            DiskInode {
                flags: INODE_INLINE | INODE_USER_FLAGS,
                ..inline(b"x")
            },
            // A directory with subdirectories filling one block.
            DiskInode {
                nlink: 2 + 254,
                size: BLOCK_SIZE as u64,
                ..directory()
            },
            special(mode::S_IFCHR),
            special(mode::S_IFBLK),
            special(mode::S_IFIFO),
            special(mode::S_IFSOCK),
            DiskInode {
                nlink: MAX_LINKS,
                ..regular()
            },
        ];
        // A FIFO made with a device number keeps it.
        inodes[13].rdev = 5;
        for inode in inodes {
            assert_eq!(decode_of(&inode), Ok(inode), "{inode:?}");
            // The one just allocated is not verified: it is not in use yet.
            if !(inode.is_dir() && inode.parent == 0) {
                assert_eq!(inode.verify(&geometry()), Ok(()), "{inode:?}");
            }
        }
    }

    #[test]
    fn inode_rule_reserved_zero() {
        assert_eq!(
            decode_raw(&regular(), |b| b[ino_off::RESERVED + 3] = 1),
            bad("inode reserved bytes not zero")
        );
    }

    #[test]
    fn inode_rule_file_type() {
        for kind in [0o070000, 0o030000, 0o050000] {
            let inode = DiskInode {
                mode: kind | 0o644,
                ..special(mode::S_IFIFO)
            };
            assert_eq!(decode_of(&inode), bad("unknown file type"));
        }
    }

    #[test]
    fn inode_rule_flags_known() {
        for flags in [256, 0x8000] {
            let inode = DiskInode {
                flags,
                ..directory()
            };
            assert_eq!(decode_of(&inode), bad("unknown inode flags"));
        }
    }

    #[test]
    fn inode_rule_dax_flag_feature() {
        let dax = DiskInode {
            flags: INODE_DAX,
            ..directory()
        };
        assert_eq!(decode_of(&dax), Ok(dax));
        let bad_flag = Err(FormatError::BadField(
            "DAX flag without the dax-flag feature",
        ));
        assert_eq!(dax.check_features(FEATURE_INCOMPAT_JOURNAL), bad_flag);
        assert_eq!(dax.check_features(FEATURE_INCOMPAT_DAX_FLAG), Ok(()));
        assert_eq!(directory().check_features(0), Ok(()));
    }

    #[test]
    fn inode_rule_shared_flag() {
        let shared = DiskInode {
            flags: INODE_SHARED,
            ..regular()
        };
        assert_eq!(decode_of(&shared), Ok(shared));
        assert!(shared.is_shared() && !regular().is_shared());
        let with_user_flags = DiskInode {
            flags: INODE_SHARED | INODE_USER_FLAGS,
            ..regular()
        };
        assert_eq!(decode_of(&with_user_flags), Ok(with_user_flags));
        // Only a file's extents are cloned.
        let dir = DiskInode {
            flags: INODE_SHARED,
            ..directory()
        };
        let inline = DiskInode {
            flags: INODE_INLINE | INODE_SHARED,
            ..inline(b"x")
        };
        let symlink = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            flags: INODE_SHARED,
            size: 300,
            ..regular()
        };
        for inode in [dir, inline, symlink] {
            assert_eq!(
                decode_of(&inode),
                bad("shared flag on an inode that is no extent-mapped file"),
                "{inode:?}"
            );
        }
        // Only with the reflink feature.
        let bad_flag = Err(FormatError::BadField(
            "shared flag without the reflink feature",
        ));
        assert_eq!(shared.check_features(FEATURE_INCOMPAT_JOURNAL), bad_flag);
        assert_eq!(
            shared.check_features(FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_DAX_FLAG),
            bad_flag
        );
        assert_eq!(
            shared.check_features(FEATURE_INCOMPAT_JOURNAL | FEATURE_INCOMPAT_REFLINK),
            Ok(())
        );
        assert_eq!(regular().check_features(0), Ok(()));
    }

    #[test]
    fn inode_rule_inline_type() {
        let dir = DiskInode {
            flags: INODE_INLINE,
            ..directory()
        };
        let fifo = DiskInode {
            flags: INODE_INLINE,
            ..special(mode::S_IFIFO)
        };
        for inode in [dir, fifo] {
            assert_eq!(
                decode_of(&inode),
                bad("inline data on a directory or special file")
            );
        }
    }

    #[test]
    fn inode_rule_user_flags_type() {
        let symlink = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            flags: INODE_INLINE | INODE_IMMUTABLE,
            ..inline(b"t")
        };
        let device = DiskInode {
            flags: INODE_APPEND,
            ..special(mode::S_IFCHR)
        };
        for inode in [symlink, device] {
            assert_eq!(
                decode_of(&inode),
                bad("inode flags on a symlink or special file")
            );
        }
    }

    #[test]
    fn inode_rule_inline_size() {
        let inode = DiskInode {
            size: INLINE_DATA_MAX as u64 + 1,
            ..inline(b"x")
        };
        assert_eq!(
            decode_of(&inode),
            bad("inline data larger than the inode holds")
        );
    }

    #[test]
    fn inode_rule_inline_without_extents() {
        for inode in [
            DiskInode {
                extent_count: 1,
                ..inline(b"x")
            },
            DiskInode {
                extent_block: 100,
                ..inline(b"x")
            },
        ] {
            assert_eq!(decode_of(&inode), bad("inline inode with extents"));
        }
    }

    #[test]
    fn inode_rule_inline_tail_zero() {
        let mut inode = inline(b"abcd");
        inode.size = 1;
        assert_eq!(
            decode_of(&inode),
            bad("inline data past the file size not zero")
        );
    }

    #[test]
    fn inode_rule_extent_chain_presence() {
        let many = DiskInode {
            extent_count: INODE_EXTENTS as u32 + 1,
            ..regular()
        };
        let chain_unneeded = DiskInode {
            extent_block: 200,
            ..regular()
        };
        for inode in [many, chain_unneeded] {
            assert_eq!(
                decode_of(&inode),
                bad("extent count does not match the extent chain")
            );
        }
    }

    #[test]
    fn inode_rule_data_area_past_extents_zero() {
        // An inline file whose INLINE flag became IMMUTABLE: its bytes
        // would be read as extents.
        let inode = DiskInode {
            flags: INODE_IMMUTABLE,
            ..inline(b"hello")
        };
        assert_eq!(
            decode_of(&inode),
            bad("inode data area past its extents not zero")
        );
        let mut inode = regular();
        inode.data[INODE_DATA_AREA - 1] = 1;
        assert_eq!(
            decode_of(&inode),
            bad("inode data area past its extents not zero")
        );
    }

    #[test]
    fn inode_rule_size_limit() {
        let inode = DiskInode {
            size: (MAX_FILE_BLOCKS << BLOCK_SHIFT) + 1,
            ..regular()
        };
        assert_eq!(decode_of(&inode), bad("file too large"));
    }

    #[test]
    fn inode_rule_special_without_data() {
        let sized = DiskInode {
            size: 1,
            ..special(mode::S_IFSOCK)
        };
        let mut mapped = special(mode::S_IFBLK);
        mapped.extent_count = 1;
        mapped.data = regular().data;
        for inode in [sized, mapped] {
            assert_eq!(decode_of(&inode), bad("special file with data"));
        }
    }

    #[test]
    fn inode_rule_device_number() {
        let inode = DiskInode {
            rdev: 0x801,
            ..directory()
        };
        assert_eq!(
            decode_of(&inode),
            bad("device number on an inode that is no device")
        );
    }

    /// What verifying `inode`, decoded, gives.
    fn verify_of(inode: &DiskInode) -> Result<()> {
        decode_of(inode)?.verify(&geometry())
    }

    fn unverified(why: &'static str) -> Result<()> {
        Err(FormatError::BadField(why))
    }

    #[test]
    fn inode_rule_link_limit() {
        // The damage of issue 20: a directory's link count set to
        // 4294967295 (rmdir of a subdirectory then warned in drop_nlink).
        for inode in [directory(), regular()] {
            let inode = DiskInode {
                nlink: u32::MAX,
                size: 1 << 40,
                ..inode
            };
            assert_eq!(verify_of(&inode), unverified("link count too large"));
        }
    }

    #[test]
    fn inode_rule_directory_one_link() {
        let inode = DiskInode {
            nlink: 1,
            ..directory()
        };
        assert_eq!(verify_of(&inode), unverified("directory with one link"));
    }

    #[test]
    fn inode_rule_directory_links_within_entries() {
        let inode = DiskInode {
            nlink: 3,
            ..directory()
        };
        assert_eq!(
            verify_of(&inode),
            unverified("directory link count exceeds its entries")
        );
        let inode = DiskInode {
            nlink: 2 + 255,
            size: BLOCK_SIZE as u64,
            ..directory()
        };
        assert_eq!(
            verify_of(&inode),
            unverified("directory link count exceeds its entries")
        );
    }

    #[test]
    fn inode_rule_timestamps() {
        let inode = DiskInode {
            ctime: Timestamp {
                sec: 0,
                nsec: 1_000_000_000,
            },
            ..regular()
        };
        assert_eq!(decode_of(&inode), bad("bad timestamp"));
    }

    #[test]
    fn inode_rule_parent_in_range() {
        let g = geometry();
        assert_eq!(regular().verify(&g), Ok(()));
        let parentless = DiskInode {
            parent: 0,
            ..regular()
        };
        assert_eq!(parentless.verify(&g), Ok(()));
        for inode in [
            DiskInode {
                parent: 65,
                ..regular()
            },
            DiskInode {
                parent: 0,
                ..directory()
            },
            DiskInode {
                parent: u64::MAX,
                ..directory()
            },
        ] {
            assert_eq!(decode_of(&inode), Ok(inode));
            assert_eq!(
                inode.verify(&g),
                Err(FormatError::BadField("parent out of range"))
            );
        }
    }

    #[test]
    fn inode_rule_xattr_block_in_data_area() {
        let g = geometry();
        let ok = DiskInode {
            xattr_block: g.data_start,
            ..regular()
        };
        assert_eq!(ok.verify(&g), Ok(()));
        for blkno in [1, g.data_start - 1, g.block_count] {
            let inode = DiskInode {
                xattr_block: blkno,
                ..regular()
            };
            assert_eq!(
                inode.verify(&g),
                Err(FormatError::BadField("xattr block outside the data area"))
            );
        }
    }

    #[test]
    fn inode_rule_extent_count_bound() {
        let g = geometry();
        let inode = DiskInode {
            extent_count: g.data_blocks() as u32 + 1,
            extent_block: g.data_start,
            ..regular()
        };
        assert_eq!(decode_of(&inode), Ok(inode));
        assert_eq!(
            inode.verify(&g),
            Err(FormatError::BadField("extent count exceeds the data area"))
        );
    }

    #[test]
    fn inode_rule_symlink_size() {
        let g = geometry();
        let empty = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            ..inline(b"")
        };
        let long = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            size: BLOCK_SIZE as u64,
            ..regular()
        };
        for inode in [empty, long] {
            assert_eq!(decode_of(&inode), Ok(inode));
            assert_eq!(
                inode.verify(&g),
                Err(FormatError::BadField("symlink size out of range"))
            );
        }
    }

    #[test]
    fn inode_rule_symlink_target() {
        let inode = DiskInode {
            mode: mode::S_IFLNK | 0o777,
            ..inline(b"a\0b")
        };
        assert_eq!(
            inode.verify(&geometry()),
            Err(FormatError::BadField("NUL in symlink target"))
        );
        assert_eq!(check_symlink_target(b"/a/b"), Ok(()));
    }

    #[test]
    fn inode_rule_linked_when_named() {
        assert_eq!(regular().check_linked(), Ok(()));
        assert_eq!(directory().check_linked(), Ok(()));
        assert_eq!(
            DiskInode::FREE.check_linked(),
            Err(FormatError::BadField("directory entry names a free inode"))
        );
        let orphan = DiskInode {
            nlink: 0,
            ..regular()
        };
        assert_eq!(
            orphan.check_linked(),
            Err(FormatError::BadField(
                "directory entry names an inode with no links"
            ))
        );
    }

    #[test]
    fn inode_rule_free_slot_blank() {
        assert_eq!(DiskInode::FREE.check_free_slot(), Ok(()));
        let stale = DiskInode {
            nlink: 3,
            ..DiskInode::FREE
        };
        assert_eq!(decode_of(&stale), Ok(stale));
        assert_eq!(
            stale.check_free_slot(),
            Err(FormatError::BadField("free inode with fields set"))
        );
    }
}
