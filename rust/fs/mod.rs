// SPDX-License-Identifier: GPL-2.0

//! The rexfs filesystem, in safe Rust over [`crate::vfs`].
//!
//! Each operations trait of the VFS layer is implemented in the file that
//! does the work:
//!
//! | trait | file |
//! |---|---|
//! | [`FileSystem`] (mounting), `MountOptions` | this file, and [`super_block`] |
//! | `SuperOps` | [`super_block`] |
//! | `DirOps` | [`dir`] |
//! | `InodeOps` (truncate, inode flags) | [`attr`] |
//! | `FileOps` (read, write, fallocate, fsync, remap) | [`file`] ([`reflink`]) |
//! | `VmOps` (page faults) | [`mmap`] |
//! | `IomapOps`, `WritebackOps` | [`iomap`] |
//! | `XattrOps` | [`xattr`] |
//! | `ExportOps` | [`inode`] |
//!
//! Damage found in the metadata goes through [`errors`]. The lock order is
//! written in [`lock`]; the on-disk format is [`crate::format`].

mod alloc;
mod attr;
mod btree;
mod dax;
mod dir;
mod dir_index;
mod errors;
mod extent_list;
mod extent_map;
mod file;
mod ialloc;
mod inode;
mod inode_table;
mod iomap;
mod lock;
mod mmap;
mod probes;
mod refcount;
mod reflink;
mod super_block;
mod txn;
mod xattr;

use crate::format;
use crate::vfs::{self, FileSystem, Fresh, SuperBlock};

use errors::corrupted;
use kernel::prelude::*;

pub(crate) use inode::InodeInfo;
pub(crate) use super_block::SbInfo;

/// The rexfs filesystem type.
pub(crate) struct Rexfs;

type RexInode = vfs::Inode<Rexfs>;
type RexSb = SuperBlock<Rexfs>;

impl FileSystem for Rexfs {
    const NAME: &'static CStr = c"rexfs";
    const INODE_CACHE_NAME: &'static CStr = c"rexfs_inode_cache";
    const MAGIC: u64 = format::SUPER_MAGIC as u64;
    const BLOCK_SIZE: u32 = format::BLOCK_SIZE as u32;
    const MAX_BYTES: i64 = (format::MAX_FILE_BLOCKS << format::BLOCK_SHIFT) as i64;
    const MAX_LINKS: u32 = format::MAX_LINKS;

    type Data = SbInfo;
    type InodeData = InodeInfo;
    type Options = super_block::Options;

    fn fill_super(
        sb: &SuperBlock<Self, Fresh>,
        options: &super_block::Options,
    ) -> Result<impl PinInit<SbInfo, Error>> {
        SbInfo::read(sb, options)
    }
}
