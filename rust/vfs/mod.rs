// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's VFS, block-buffer and iomap C APIs.
//!
//! Everything that touches a raw kernel pointer lives here; the filesystem
//! in [`crate::fs`] implements [`FileSystem`] and works with typed handles
//! ([`SuperBlock`], [`Inode`], [`Buffer`], [`Kiocb`], [`Fault`], ...).

mod bindings;
mod buffer;
mod debugfs;
mod dir;
mod export;
mod file;
mod fs_type;
mod inode;
mod iomap;
mod super_block;
mod trace;
mod xattr;

pub(crate) use buffer::Buffer;
pub(crate) use debugfs::{Counter, DebugDir, DebugFile, DelayKnob, UnsafeSwitch};
pub(crate) use dir::DirEmitter;
pub(crate) use file::{Fault, FaultRetry, InodeLockGuard, IoIter, Kiocb, OpenFile, VmFaultResult};
pub(crate) use fs_type::{FileSystem, Registration, StatFs};
pub(crate) use inode::{
    Attrs, Idmap, Inode, InodeParams, InodeType, InvalidateGuard, NewInodeKind, Owner,
};
pub(crate) use iomap::{InlineData, MapKind, Mapping, WritebackCache};
pub(crate) use super_block::{Fresh, SuperBlock};
pub(crate) use trace::{trace_iomap_stale, trace_wb_refetch};
pub(crate) use xattr::{XattrList, XattrNamespace, XattrSetFlags};

/// `FALLOC_FL_*` modes of [`FileSystem::fallocate`].
pub(crate) mod falloc {
    pub(crate) use super::bindings::{
        FALLOC_FL_KEEP_SIZE as KEEP_SIZE, FALLOC_FL_PUNCH_HOLE as PUNCH_HOLE,
        FALLOC_FL_ZERO_RANGE as ZERO_RANGE,
    };
}

/// `FS_*_FL` inode flags of [`FileSystem::get_flags`] and
/// [`FileSystem::set_flags`].
pub(crate) mod fs_flags {
    pub(crate) use kernel::bindings::{
        FS_APPEND_FL as APPEND, FS_IMMUTABLE_FL as IMMUTABLE, FS_NOATIME_FL as NOATIME,
        FS_NODUMP_FL as NODUMP, FS_SYNC_FL as SYNC,
    };
}

/// `IOMAP_*` flags of [`FileSystem::iomap_begin`].
pub(crate) mod iomap_flags {
    pub(crate) use super::bindings::{IOMAP_DIRECT as DIRECT, IOMAP_WRITE as WRITE};
}

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

/// A scope in which memory allocations do not recurse into filesystem
/// reclaim (`memalloc_nofs_save`): Rust's allocation flags have no
/// `GFP_NOFS`, so paths that hold filesystem locks reclaim could need
/// (extent map, allocator) allocate inside one of these.
pub(crate) struct NoFsScope(u32);

impl NoFsScope {
    /// Enters the scope until the returned value is dropped.
    pub(crate) fn enter() -> Self {
        // SAFETY: saving the task's allocation scope has no preconditions.
        NoFsScope(unsafe { bindings::rexfs_nofs_save() })
    }
}

impl Drop for NoFsScope {
    fn drop(&mut self) {
        // SAFETY: restoring the flags saved by `enter`, in LIFO order (the
        // value is not `Clone` and scopes nest lexically).
        unsafe { bindings::rexfs_nofs_restore(self.0) };
    }
}
