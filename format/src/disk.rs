// SPDX-License-Identifier: GPL-2.0
//! rexfs on-disk format, version 1.
//!
//! All integers are little endian. The device is an array of 4 KiB blocks:
//!
//! ```text
//! block 0                      superblock (first 512 bytes used)
//! bitmap_start ..+bitmap_blocks      allocation bitmap, one bit per block
//! inode_table_start ..+inode_table_blocks  inode table, 16 inodes of 256 bytes per block
//! journal_start ..+journal_blocks    the jbd2 journal (feature JOURNAL; none without)
//! refcount_start ..+refcount_blocks  refcount table, one u32 per block (feature REFLINK)
//! data_start ..block_count     data, directory, extent and extended attribute blocks
//! ```
//!
//! Every metadata structure carries a CRC-32C: the superblock and each inode
//! in a field of their own, every other metadata block in a [`BlockHeader`].
//! A checksum is computed over the structure with its checksum field zeroed.
//!
//! Each on-disk object is defined in a file of its own next to this one
//! (`crc.rs`, `superblock.rs`, `block.rs`, `bitmap.rs`, `extent.rs`,
//! `inode.rs`, `journal.rs`, `dir.rs`, `xattr.rs`, `refcount.rs`, and
//! `btree.rs`, the B+tree of extent trees and directory indexes) and
//! re-exported here, so that every name of the format is a name of this
//! module. This file keeps what they share: the format-wide constants,
//! [`FormatError`] and the little-endian field helpers.
//!
//! # Verification
//!
//! A checksum catches random damage, not a bad value written with a good
//! checksum. So every structure is checked field by field when it is read,
//! as XFS's `*_verify` functions do, by the functions below, which the
//! module and fsck share. Each rule fails with a [`FormatError`] whose
//! [`reason`](FormatError::reason) names it, for a log line such as
//! `rexfs: vda: corrupted: inode 12: directory with one link`:
//!
//! - superblock: [`Superblock::decode`] (geometry, counts, unused bytes);
//!   journal superblock: [`JournalSuperblock::decode`];
//! - every block with a header: [`BlockHeader::verify`] (kind, number,
//!   checksum, reserved bytes); bitmap blocks: [`verify_bitmap_block`];
//!   refcount table blocks: [`verify_refcount_block`];
//! - inodes: [`DiskInode::decode`] (the rules of every slot, whatever its
//!   state), [`DiskInode::verify`] (those of an in-use inode read into
//!   memory: links, parent, attribute block, extent count, symlink),
//!   [`DiskInode::check_linked`] (one a directory entry names),
//!   [`DiskInode::check_free_slot`];
//! - extents: [`Extent::check`], [`ExtentBlock::decode`], the chain with
//!   [`ExtentChainWalk`] (its length bounded by the extent count, so a loop
//!   ends), the whole map with [`ExtentMapVerifier`] (order, directory and
//!   symlink shapes, directory index placement);
//! - B+tree nodes (extent trees, directory indexes): [`verify_node_header`]
//!   and the checks of every node against its parent as [`BTree`] reads it
//!   ([`BTree::check`] walks a whole tree);
//! - directory blocks: [`DirBlock::verify`] (the whole block before any
//!   entry is used), [`DirEntry::check`], [`check_entry_target`] (the inode
//!   an entry names), [`DirEntry::check_slack`] (fsck only);
//! - extended attribute blocks: [`XattrBlock::decode`].
//!
//! Reserved and unused bytes are zero everywhere: the encoders write them
//! so, and the verifiers check it.
//!
//! This file and its submodules are compiled into the kernel module as well
//! as into the `rexfs-format` crate, so they only refer to `core` and to this
//! module (through `super::`, never `crate::`).

// Paths relative to this file, wherever the crate including it lives: the
// kernel module loads this file with `#[path]`, the format crate as `mod
// disk`, and without these attributes the two would look for the submodules
// in different directories.
#[path = "bitmap.rs"]
mod bitmap;
#[path = "block.rs"]
mod block;
#[path = "btree.rs"]
mod btree;
#[path = "crc.rs"]
mod crc;
#[path = "dir.rs"]
mod dir;
#[path = "extent.rs"]
mod extent;
#[path = "inode.rs"]
mod inode;
#[path = "journal.rs"]
mod journal;
#[path = "refcount.rs"]
mod refcount;
#[path = "superblock.rs"]
mod superblock;
#[path = "xattr.rs"]
mod xattr;

pub use bitmap::*;
pub use block::*;
pub use btree::*;
pub use crc::*;
pub use dir::*;
pub use extent::*;
pub use inode::*;
pub use journal::*;
pub use refcount::*;
pub use superblock::*;
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

/// Result type of the decoders of the format.
pub type Result<T> = core::result::Result<T, FormatError>;

// Little-endian field access, for the submodules.

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
