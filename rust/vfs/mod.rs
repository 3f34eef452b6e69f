// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's VFS and block-buffer C APIs.
//!
//! Everything that touches a raw kernel pointer lives here; the filesystem
//! in [`crate::fs`] implements [`FileSystem`] and works with typed handles
//! ([`SuperBlock`], [`Inode`], [`Buffer`], [`DirEmitter`]).

mod bindings;
mod buffer;
mod dir;
mod fs_type;
mod inode;
mod super_block;

pub(crate) use dir::DirEmitter;
pub(crate) use fs_type::{FileSystem, Registration, StatFs};
pub(crate) use inode::{Inode, InodeParams, InodeType, Timespec};
pub(crate) use super_block::{Fresh, SuperBlock};
