// SPDX-License-Identifier: GPL-2.0

//! The rexfs filesystem, in safe Rust over [`crate::vfs`].

mod dir;
mod extent_map;
mod inode;
mod super_block;

use crate::format;
use crate::vfs::{self, DirEmitter, FileSystem, Fresh, Inode, StatFs, SuperBlock};
use kernel::{prelude::*, sync::aref::ARef};

pub(crate) use inode::InodeInfo;
pub(crate) use super_block::SbInfo;

/// The rexfs filesystem type.
pub(crate) struct Rexfs;

impl FileSystem for Rexfs {
    const NAME: &'static CStr = c"rexfs";
    const MAGIC: u64 = format::SUPER_MAGIC as u64;
    const BLOCK_SIZE: u32 = format::BLOCK_SIZE as u32;
    const MAX_BYTES: i64 = (format::MAX_FILE_BLOCKS << format::BLOCK_SHIFT) as i64;

    type Data = SbInfo;
    type InodeData = InodeInfo;

    fn fill_super(sb: &SuperBlock<Self, Fresh>) -> Result<SbInfo> {
        SbInfo::read(sb)
    }

    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>> {
        let root = inode::iget(sb, sb.data().root_ino())?;
        if !root.data().is_dir() {
            return Err(corrupted(sb, format_args!("root inode is not a directory")));
        }
        Ok(root)
    }

    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs> {
        Ok(sb.data().statfs())
    }

    fn lookup(dir: &Inode<Self>, name: &[u8]) -> Result<Option<ARef<Inode<Self>>>> {
        dir::lookup(dir, name)
    }

    fn read_dir(dir: &Inode<Self>, emitter: &mut DirEmitter<'_>) -> Result {
        dir::read_dir(dir, emitter)
    }
}

/// Logs why the filesystem on `sb` is corrupted and returns `-EFSCORRUPTED`.
fn corrupted<S>(sb: &SuperBlock<Rexfs, S>, why: core::fmt::Arguments<'_>) -> Error {
    pr_err!("{}: corrupted: {}\n", sb.id(), why);
    EUCLEAN
}

/// Shorthand for the crate's filesystem types.
type RexInode = vfs::Inode<Rexfs>;
