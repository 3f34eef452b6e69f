// SPDX-License-Identifier: GPL-2.0

//! The VFS locks and protections a filesystem takes itself, as guards that
//! release them on drop, and the order the kernel ranks them in.
//!
//! ```text
//! sb_start_write (freeze protection of a change: write(2), a fault that
//!   retries with i_rwsem)
//!   -> i_rwsem (Inode::lock, Inode::lock_shared)
//!     -> mapping->invalidate_lock (Inode::invalidate_lock[_shared])
//!       -> folio lock
//!
//! mmap_lock -> sb_start_pagefault (SuperBlock::start_pagefault)
//!   -> invalidate_lock -> folio lock
//!
//! sb_start_intwrite (SuperBlock::start_internal_write: changes no system
//!   call started, such as freeing an unlinked inode at its last iput)
//! ```
//!
//! `i_rwsem` ranks above `mmap_lock` (a write copies from user memory under
//! it), so a fault never takes `i_rwsem`, and nothing holds
//! `invalidate_lock` across a copy from or to user memory: the copy may
//! fault on a mapping of the same file. See `mm/filemap.c` for the page
//! cache's own order. A filesystem writes its complete order, with its own
//! locks, in one place of its own.
//!
//! Two scopes that are not locks live here too: [`PagefaultsDisabled`] and
//! [`NoFsScope`].
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/pagemap.h`](srctree/include/linux/pagemap.h),
//! [`include/linux/sched/mm.h`](srctree/include/linux/sched/mm.h),
//! [`include/linux/uaccess.h`](srctree/include/linux/uaccess.h).

use super::bindings as vfs_bindings;
use super::inode::Inode;
use super::super_block::{FileSystem, SuperBlock};
use core::marker::PhantomData;

/// Whether a read-write lock is held exclusively or shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockMode {
    /// Held by one task, which may change what the lock protects.
    Exclusive,
    /// Held by any number of readers.
    Shared,
}

/// Holds the inode's `i_rwsem`; releases it on drop.
///
/// # Invariants
///
/// The lock of `inode` is held in `mode`.
pub(crate) struct InodeLockGuard<'a, T: FileSystem> {
    inode: &'a Inode<T>,
    mode: LockMode,
}

impl<T: FileSystem> Inode<T> {
    /// Takes the inode's `i_rwsem` exclusively.
    pub(crate) fn lock(&self) -> InodeLockGuard<'_, T> {
        InodeLockGuard::take(self, LockMode::Exclusive)
    }

    /// Takes the inode's `i_rwsem` shared.
    pub(crate) fn lock_shared(&self) -> InodeLockGuard<'_, T> {
        InodeLockGuard::take(self, LockMode::Shared)
    }

    /// Takes `mapping->invalidate_lock` exclusively: no page cache is
    /// instantiated (faults, reads) while the guard lives.
    pub(crate) fn invalidate_lock(&self) -> InvalidateGuard<'_, T> {
        // SAFETY: the mapping of a live inode.
        unsafe { vfs_bindings::rvfs_invalidate_lock(self.as_raw()) };
        // INVARIANT: taken exclusively above.
        InvalidateGuard {
            inode: self,
            mode: LockMode::Exclusive,
        }
    }

    /// Takes `mapping->invalidate_lock` shared.
    pub(crate) fn invalidate_lock_shared(&self) -> InvalidateGuard<'_, T> {
        // SAFETY: the mapping of a live inode.
        unsafe { vfs_bindings::rvfs_invalidate_lock_shared(self.as_raw()) };
        // INVARIANT: taken shared above.
        InvalidateGuard {
            inode: self,
            mode: LockMode::Shared,
        }
    }
}

impl<'a, T: FileSystem> InodeLockGuard<'a, T> {
    /// The guard of `i_rwsem` of `inode`, which the caller took in `mode`
    /// (with a helper that locks two inodes at once).
    ///
    /// # Safety
    ///
    /// The caller holds the lock in `mode` and leaves its release to the
    /// guard.
    pub(super) unsafe fn assume_held(inode: &'a Inode<T>, mode: LockMode) -> Self {
        // INVARIANT: guaranteed by the caller.
        InodeLockGuard { inode, mode }
    }

    fn take(inode: &'a Inode<T>, mode: LockMode) -> Self {
        Self::acquire(inode, mode);
        // INVARIANT: taken in `mode` above.
        InodeLockGuard { inode, mode }
    }

    fn acquire(inode: &Inode<T>, mode: LockMode) {
        // SAFETY: locking a live inode.
        unsafe {
            match mode {
                LockMode::Exclusive => vfs_bindings::rvfs_inode_lock(inode.as_raw()),
                LockMode::Shared => vfs_bindings::rvfs_inode_lock_shared(inode.as_raw()),
            }
        }
    }

    /// Runs `f` with the lock released, then takes it again in the same
    /// mode.
    pub(crate) fn unlocked<R>(&mut self, f: impl FnOnce() -> R) -> R {
        // SAFETY: the guard holds the lock (type invariant); it is taken
        // again below, before the guard is used or dropped.
        unsafe { self.release() };
        let result = f();
        Self::acquire(self.inode, self.mode);
        result
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The guard holds the lock in the mode it records, and is not used
    /// again until the lock is taken again.
    unsafe fn release(&self) {
        let inode = self.inode.as_raw();
        // SAFETY: the caller guarantees that we hold the lock so.
        unsafe {
            match self.mode {
                LockMode::Exclusive => vfs_bindings::rvfs_inode_unlock(inode),
                LockMode::Shared => vfs_bindings::rvfs_inode_unlock_shared(inode),
            }
        }
    }
}

impl<T: FileSystem> Drop for InodeLockGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock in the mode it records (type
        // invariant) and is gone afterwards.
        unsafe { self.release() };
    }
}

/// Holds `mapping->invalidate_lock`; releases it on drop.
///
/// # Invariants
///
/// The invalidate lock of `inode` is held in `mode`.
pub(crate) struct InvalidateGuard<'a, T: FileSystem> {
    inode: &'a Inode<T>,
    mode: LockMode,
}

impl<'a, T: FileSystem> InvalidateGuard<'a, T> {
    /// The guard of `invalidate_lock` of `inode`, which the caller took in
    /// `mode` (with a helper that locks two mappings at once).
    ///
    /// # Safety
    ///
    /// The caller holds the lock in `mode` and leaves its release to the
    /// guard.
    pub(super) unsafe fn assume_held(inode: &'a Inode<T>, mode: LockMode) -> Self {
        // INVARIANT: guaranteed by the caller.
        InvalidateGuard { inode, mode }
    }

    /// How the lock is held.
    pub(crate) fn mode(&self) -> LockMode {
        self.mode
    }
}

impl<T: FileSystem> Drop for InvalidateGuard<'_, T> {
    fn drop(&mut self) {
        let inode = self.inode.as_raw();
        // SAFETY: the guard holds the lock in the recorded mode.
        unsafe {
            match self.mode {
                LockMode::Exclusive => vfs_bindings::rvfs_invalidate_unlock(inode),
                LockMode::Shared => vfs_bindings::rvfs_invalidate_unlock_shared(inode),
            }
        }
    }
}

/// Which freeze protection a [`FreezeGuard`] holds: the levels of
/// `sb_start_write`, `sb_start_pagefault` and `sb_start_intwrite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreezeLevel {
    Write,
    Pagefault,
    Internal,
}

/// Holds protection against freezing of a super block; released on drop.
///
/// # Invariants
///
/// The protection of `level` is held on `sb`.
pub(crate) struct FreezeGuard<'a, T: FileSystem> {
    sb: &'a SuperBlock<T>,
    level: FreezeLevel,
}

impl<T: FileSystem> SuperBlock<T> {
    fn start_freeze_protection(&self, level: FreezeLevel) -> FreezeGuard<'_, T> {
        let sb = self.as_raw();
        // SAFETY: the super block is live.
        unsafe {
            match level {
                FreezeLevel::Write => vfs_bindings::rvfs_sb_start_write(sb),
                FreezeLevel::Pagefault => vfs_bindings::rvfs_sb_start_pagefault(sb),
                FreezeLevel::Internal => vfs_bindings::rvfs_sb_start_intwrite(sb),
            }
        }
        // INVARIANT: taken above.
        FreezeGuard { sb: self, level }
    }

    /// Protects a change of a file against freezing (`sb_start_write`), as
    /// the VFS does for write(2); taken before `i_rwsem`.
    pub(crate) fn start_write(&self) -> FreezeGuard<'_, T> {
        self.start_freeze_protection(FreezeLevel::Write)
    }

    /// Protects a page fault that changes a file against freezing
    /// (`sb_start_pagefault`); taken under `mmap_lock`.
    pub(crate) fn start_pagefault(&self) -> FreezeGuard<'_, T> {
        self.start_freeze_protection(FreezeLevel::Pagefault)
    }

    /// Protects a change that no system call started (freeing an unlinked
    /// inode at its last `iput`) against freezing (`sb_start_intwrite`):
    /// waits while the filesystem is frozen.
    pub(crate) fn start_internal_write(&self) -> FreezeGuard<'_, T> {
        self.start_freeze_protection(FreezeLevel::Internal)
    }
}

impl<T: FileSystem> Drop for FreezeGuard<'_, T> {
    fn drop(&mut self) {
        let sb = self.sb.as_raw();
        // SAFETY: the guard holds the protection (type invariant).
        unsafe {
            match self.level {
                FreezeLevel::Write => vfs_bindings::rvfs_sb_end_write(sb),
                FreezeLevel::Pagefault => vfs_bindings::rvfs_sb_end_pagefault(sb),
                FreezeLevel::Internal => vfs_bindings::rvfs_sb_end_intwrite(sb),
            }
        }
    }
}

/// A scope in which page faults are disabled (`pagefault_disable`): a copy
/// to or from user memory that would fault fails instead.
pub(crate) struct PagefaultsDisabled(PhantomData<*mut ()>);

impl PagefaultsDisabled {
    /// Disables page faults until the returned value is dropped, on this
    /// task (the value is not `Send`).
    pub(crate) fn enter() -> Self {
        // SAFETY: no preconditions; `drop` enables them again.
        unsafe { vfs_bindings::rvfs_pagefault_disable() };
        PagefaultsDisabled(PhantomData)
    }
}

impl Drop for PagefaultsDisabled {
    fn drop(&mut self) {
        // SAFETY: disabled by `enter`, on this task.
        unsafe { vfs_bindings::rvfs_pagefault_enable() };
    }
}

/// A scope in which memory allocations do not recurse into filesystem
/// reclaim (`memalloc_nofs_save`): Rust's allocation flags have no
/// `GFP_NOFS`, so paths that hold filesystem locks reclaim could need
/// allocate inside one of these.
pub(crate) struct NoFsScope(u32, PhantomData<*mut ()>);

impl NoFsScope {
    /// Enters the scope until the returned value is dropped.
    pub(crate) fn enter() -> Self {
        // SAFETY: saving the task's allocation scope has no preconditions.
        NoFsScope(unsafe { vfs_bindings::rvfs_nofs_save() }, PhantomData)
    }
}

impl Drop for NoFsScope {
    fn drop(&mut self) {
        // SAFETY: restoring the flags saved by `enter`, on the same task
        // (the value is not `Send`), in LIFO order (it is not `Clone` and
        // scopes nest lexically).
        unsafe { vfs_bindings::rvfs_nofs_restore(self.0) };
    }
}
