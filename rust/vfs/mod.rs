// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's VFS, page cache, buffer and iomap C
//! APIs, for a block-device filesystem written in Rust.
//!
//! Everything that touches a raw kernel pointer lives here. A filesystem
//! implements the base trait [`FileSystem`] and one operations trait per C
//! table it fills; each trait is defined beside the table and the
//! trampolines that call it:
//!
//! | trait | C tables | file |
//! |---|---|---|
//! | [`FileSystem`] | (types, constants, reading the super block) | `super_block.rs` |
//! | [`MountOptions`] | `fs_parameter_spec` (`parse_param`) | `mount_options.rs` |
//! | [`SuperOps`] | `super_operations` | `super_ops.rs` |
//! | [`DirOps`] | `inode_operations`, `file_operations` of directories | `dir.rs` |
//! | [`InodeOps`] | attributes of every inode type; symlinks, special files | `inode_ops.rs` |
//! | [`FileOps`] | `file_operations`, `inode_operations` of regular files (`remap_file_range`'s locks: `remap.rs`) | `file.rs` |
//! | [`VmOps`] | `vm_operations_struct` | `fault.rs` |
//! | [`IomapOps`] | `iomap_ops`, `iomap_write_ops`, `iomap_dio_ops` | `iomap.rs` |
//! | [`WritebackOps`] | `address_space_operations`, `iomap_writeback_ops` | `aops.rs` |
//! | [`XattrOps`] | `xattr_handler`s, `listxattr` | `xattr.rs` |
//! | [`ExportOps`] | `export_operations` | `export.rs` |
//!
//! The filesystem gives each new inode the [`InodeTables`] of its type
//! (`InodeTables::directory`, `regular_file`, `symlink`, `special`), and
//! registers itself with [`Registration`].
//!
//! The files depend on each other in one direction, from the handles up to
//! the tables:
//!
//! ```text
//! bindings, buffer, debugfs, mount_options, trace
//!   <- super_block <- journal, inode <- lock, open_file, page_cache
//!     <- super_ops, xattr, export, iomap, remap
//!       <- aops, fault, inode_ops
//!         <- file <- dir
//!           <- registration
//! ```
//!
//! A handle's methods that need a higher file are defined there (for
//! example `Inode::lock` in `lock.rs`, `Inode::zero_range` in `iomap.rs`).

mod aops;
mod bindings;
mod buffer;
mod dax;
mod debugfs;
mod dir;
mod export;
mod fault;
mod file;
mod inode;
mod inode_ops;
mod iomap;
mod journal;
mod lock;
mod mount_options;
mod open_file;
mod page_cache;
mod registration;
mod remap;
mod super_block;
mod super_ops;
mod trace;
mod xattr;

pub(crate) use aops::{IoendQueue, WritebackCache, WritebackOps};
pub(crate) use buffer::Buffer;
pub(crate) use dax::DaxDevice;
pub(crate) use debugfs::{Counter, DebugDir, DebugFile, DelayKnob, UnsafeSwitch};
pub(crate) use dir::{
    DirEmitter, DirOps, NewInodeKind, RenameFlag, RenameFlags, TmpFile, TmpFileAttached,
};
pub(crate) use export::ExportOps;
pub(crate) use fault::{Fault, FaultRetry, VmFaultResult, VmOps};
pub(crate) use file::{FallocFlag, FallocMode, FileOps, Kiocb, UserBuffer};

pub(crate) use inode::{
    Attrs, Idmap, Inode, InodeFlag, InodeFlags, InodeParams, InodeTables, Owner,
};
pub(crate) use inode_ops::InodeOps;
pub(crate) use iomap::{
    DioWriteFlag, DioWriteFlags, InlineData, IomapFlag, IomapFlags, IomapOps, MapKind, Mapped,
    Mapping,
};
pub(crate) use journal::{CommitSeal, Handle, Journal};
pub(crate) use kernel::iov::{IovIterDest, IovIterSource};
pub(crate) use lock::{InodeLockGuard, InvalidateGuard, LockMode, NoFsScope};
pub(crate) use mount_options::{MountOptions, OptionSpec, OptionValue, ParsedOption};
pub(crate) use open_file::OpenFile;
pub(crate) use registration::Registration;
pub(crate) use remap::{RemapFlag, RemapRequest};
pub(crate) use super_block::{FileSystem, Fresh, SuperBlock};
pub(crate) use super_ops::{Shutdown, StatFs, SuperOps, TrimRange};
pub(crate) use trace::{trace_iomap_stale, trace_wb_refetch};
pub(crate) use xattr::{XattrList, XattrNamespace, XattrOps, XattrSetFlags};

/// The current wall-clock time: seconds since the epoch and nanoseconds.
pub(crate) fn now() -> (i64, u32) {
    let mut ts = kernel::bindings::timespec64::default();
    // SAFETY: `ts` is valid for writes.
    unsafe { kernel::bindings::ktime_get_real_ts64(&mut ts) };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// A random number, for the generation of a new inode.
pub(crate) fn random_u32() -> u32 {
    // SAFETY: no preconditions.
    unsafe { kernel::bindings::get_random_u32() }
}
