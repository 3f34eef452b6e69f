// SPDX-License-Identifier: GPL-2.0

//! The lock order of rexfs, and rexfs's own locks.
//!
//! # Lock order
//!
//! This is the one place the order is written down; keep it true. The VFS
//! part (freeze protection, `i_rwsem`, `invalidate_lock`, the folio lock,
//! `mmap_lock`) is the kernel's (see [`crate::vfs::InodeLockGuard`] and the
//! other guards in `vfs/lock.rs`); below the folio lock come the locks of
//! this file.
//!
//! ```text
//! sb_start_write
//!   -> i_rwsem (write(2), truncate, fallocate, namespace operations,
//!      setxattr)
//!     -> mapping->invalidate_lock
//!       -> jbd2 handle (Txn: every metadata change)
//!         -> folio lock (iomap write, page_mkwrite, writeback)
//!           -> ExtentMapLock (an inode's extents, its copy-on-write
//!              extents, and their generation)
//!             -> AllocatorLock (bitmap, refcount table, inode-table
//!                slots, free counts, blocks set aside, orphan list)
//!               -> buffer lock (one metadata block, under the handle's
//!                  write access to it)
//!
//! i_rwsem (setxattr, removexattr; getxattr and listxattr start below it)
//!   -> jbd2 handle -> XattrLock (an inode's extended attribute block)
//!     -> AllocatorLock -> buffer lock
//!
//! mmap_lock -> sb_start_pagefault -> invalidate_lock -> jbd2 handle
//!   -> folio lock -> ...
//!   -> DAX entry lock (fs/dax.c, a DAX file's fault) -> ExtentMapLock -> ...
//!
//! sb_start_intwrite (evict of an unlinked inode) -> jbd2 handle
//!   -> ExtentMapLock -> ...
//!
//! remap_file_range (clone, dedupe; vfs/remap.rs): sb_start_write
//!   -> i_rwsem of both files (by address) -> invalidate_lock of both
//!     (by address) -> [inode_dio_wait, writeback of both ranges, the
//!     dedupe compare: two folio locks, by index]
//!     -> jbd2 handle -> ExtentMapLock of one file at a time -> ...
//! ```
//!
//! The jbd2 handle (see `vfs/journal.rs`) is started before the folio lock
//! and every lock of this file, and is per task: a function that needs one
//! while its caller holds one joins it, so the first start reserves the
//! credits of all. No handle is started under a folio lock (`page_mkwrite`
//! starts one before `iomap_page_mkwrite` locks the folio, and
//! `iomap_begin` joins it, unless every block of the folio is allocated:
//! then `iomap_begin` allocates nothing; writeback allocates nothing), and nothing waits
//! for writeback while it holds one (truncate and punch drop the page cache
//! first): the unwritten conversion at I/O completion starts a handle of
//! its own. Waiting for a commit waits for every running handle, so only
//! a task that holds none waits for one (an allocation that found only
//! blocks whose freeing is not committed, and a write fault retrying one
//! under `mmap_lock`, `invalidate_lock` shared: no handle is held across
//! a copy from user memory, so no handle waits for those). The commit
//! seals the blocks changed by `Txn::modify_sealed` in jbd2's `t_frozen`
//! trigger, under the journal head's state spinlock: the trigger only
//! checksums the bytes it is given, and takes no lock.
//!
//! `invalidate_lock` is taken exclusively by everything that changes which
//! blocks back the page cache or what it may cache: truncate, fallocate,
//! write(2) when it converts inline data or zeroes the tail of the old
//! last block, a write giving back blocks it allocated and did not reach
//! (`iomap_end`), and a write fault that converts inline data without
//! retrying. So blocks allocated under a fault's shared hold stay
//! allocated until it drops it. Faults that only fill or dirty the page cache take it shared
//! (`page_mkwrite`; `filemap_fault` and readahead inside the page cache).
//!
//! - Freeze protection ranks above everything of the filesystem's:
//!   `sb_start_write` (taken by the VFS, or by a write fault that retries
//!   with `i_rwsem`) before `i_rwsem`, `sb_start_pagefault` before
//!   `invalidate_lock`, `sb_start_intwrite` before the extent-map lock.
//! - Never take `i_rwsem` inside a fault, never hold `invalidate_lock`
//!   across a copy from or to user memory.
//! - Inline data moves into a block (the first write past the inline size,
//!   direct I/O, fallocate, truncate up, a write fault) under
//!   `invalidate_lock` exclusively and folio 0's lock, and under `i_rwsem`
//!   except in a fault that may not drop its lock. A write fault that may
//!   drops the fault lock first (with the file pinned) and then takes
//!   `sb_start_write -> i_rwsem -> invalidate_lock`, as write(2) does, and
//!   asks for a retry. A buffered write that mapped the inline data before
//!   a conversion sees the generation moved and maps again.
//! - `iomap_begin` runs under the folio lock (write, page_mkwrite,
//!   writeback) and under `invalidate_lock` shared (readahead), so it takes
//!   only the extent-map lock and what ranks below it.
//! - Direct I/O holds `i_rwsem` (shared to read, exclusively to write) and
//!   nothing below it while `iomap_dio_rw` pins the user buffer, which may
//!   be a mapping of the same file: the fault it takes there needs
//!   `invalidate_lock` and the folio lock. A direct read releases `i_rwsem`
//!   to fault its buffer in (write faults, which may convert an inline file
//!   under its `i_rwsem`) and for its buffered fallback. An asynchronous
//!   direct read or pure overwrite outlives `i_rwsem` holding no lock:
//!   truncate, fallocate and remaps wait for it (`inode_dio_wait`) before
//!   they change or free its blocks.
//! - A remap holds both files' `i_rwsem` and `invalidate_lock`
//!   exclusively from before the prep's writeback to the end: no write,
//!   no fault (`page_mkwrite` takes `invalidate_lock` shared) and no direct
//!   I/O reaches either range between the dedupe compare and the remap,
//!   and the writeback made every page table entry of the ranges read-only,
//!   so a store must fault. It never holds two inodes' extent-map locks:
//!   it reads the source's extents, then changes the destination's.
//!   Copy-on-write completion (writeback's, on the completion queue, or a
//!   direct write's) starts a handle of its own, as unwritten conversion.
//! - A handle that may allocate metadata sets blocks aside as it starts and
//!   gives back the rest as it stops ([`super::txn::Txn::start`]), under
//!   the allocator lock: like starting a handle, neither happens under a
//!   lock that ranks below the handle.
//! - Directory blocks change only under the directory's `i_rwsem`, which the
//!   VFS holds for every namespace operation.
//! - [`XattrLock`] ranks beside [`ExtentMapLock`], not above or below it:
//!   the two are never held together. It is never taken under
//!   `invalidate_lock` or a folio lock; what runs there and needs the
//!   attribute block's number (the block count for `i_blocks`,
//!   `write_inode`) reads it without the lock, and a change marks the inode
//!   dirty after it. Setting an attribute allocates and frees the block
//!   under it, so it ranks above the allocator.
//! - The three locks of this file are held in a `memalloc_nofs` scope
//!   (their guards enter it), since reclaim may write back inodes, which
//!   takes them.
//! - An extent tree is read at its map's first use, under the extent-map
//!   lock ([`ExtentMapLock::loaded`]): buffer reads, which rank below it,
//!   and nothing else. `open(2)` of a regular file comes first, so a fault
//!   or writeback under a folio lock finds it read.
//! - The extent-map generation is bumped under the extent-map lock before
//!   every change of the map, and sampled under it into each mapping's
//!   cookie; `iomap_valid` and writeback compare it without the lock.
//!
//! Each lock is made by one constructor here, so each is one lockdep class.

use super::alloc::Allocator;
use super::extent_map::{ExtentChain, ExtentMap};
use super::RexSb;
use crate::vfs::NoFsScope;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Mutex, MutexGuard},
};

/// What the extent-map lock protects: the map, where its extents beyond
/// the inode are stored, and the copy-on-write map.
struct MapState {
    map: ExtentMap,
    chain: ExtentChain,
    /// Staging blocks of writes into shared blocks, by file block (XFS's
    /// COW fork): not on disk but in the refcount table, and put in place
    /// of the shared blocks when the write completes.
    cow: ExtentMap,
}

/// An inode's extent map, its copy-on-write map, and their generation,
/// behind the extent-map lock: a change of either bumps it.
///
/// The extents past the inode's are read from the extent tree at the map's
/// first use ([`Self::loaded`], as XFS's `xfs_iread_extents`), not when the
/// inode is read: a `stat` reads no extent block. Whatever reads or changes
/// extents goes through the [`LoadedMap`] that `loaded` returns.
#[pin_data]
pub(crate) struct ExtentMapLock {
    #[pin]
    state: Mutex<MapState>,
    /// Bumped before every change of the map, under the lock.
    generation: AtomicU64,
    /// The map holds every extent (the extent tree, if any, was read). Set
    /// once, under the lock.
    loaded: AtomicBool,
}

/// The extent map of an inode with every extent in it. Only
/// [`ExtentMapLock::loaded`] makes one, so holding one proves the extent
/// tree was read.
#[derive(Clone, Copy)]
pub(crate) struct LoadedMap<'a>(&'a ExtentMapLock);

impl ExtentMapLock {
    /// The lock of `map`, whose extents beyond the inode are stored in
    /// `chain` (and not in `map` yet if `chain` says its tree is unread).
    pub(super) fn new(map: ExtentMap, chain: ExtentChain) -> impl PinInit<Self> {
        let loaded = !chain.is_unread();
        pin_init!(ExtentMapLock {
            state <- new_mutex!(
                MapState { map, chain, cow: ExtentMap::new() },
                "ExtentMapLock"
            ),
            generation: AtomicU64::new(0),
            loaded: AtomicBool::new(loaded),
        })
    }

    /// The map with every extent in it: the extent tree of inode `ino` is
    /// read (and checked) the first time. A read that fails changes
    /// nothing, and the next use reads again.
    pub(super) fn loaded(&self, sb: &RexSb, ino: u64) -> Result<LoadedMap<'_>> {
        if !self.loaded.load(Ordering::Acquire) {
            let _nofs = NoFsScope::enter();
            let mut state = self.state.lock();
            let MapState { map, chain, .. } = &mut *state;
            if chain.is_unread() {
                map.read_tree(sb, ino, chain)?;
            }
            self.loaded.store(true, Ordering::Release);
        }
        Ok(LoadedMap(self))
    }

    /// The current generation of the map, read without the lock.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Blocks the map takes: data blocks, and the extent blocks that store
    /// it (as the inode says while its tree is unread).
    pub(super) fn blocks(&self) -> u64 {
        let _nofs = NoFsScope::enter();
        let state = self.state.lock();
        state.chain.stored_counts(&state.map).1
    }

    /// The number of blocks the map is stored in beyond the inode: extent
    /// blocks, or extent tree nodes read (none while the tree is unread:
    /// storing an unread map changes none).
    pub(super) fn storage_blocks(&self) -> u32 {
        let _nofs = NoFsScope::enter();
        self.state.lock().chain.block_count() as u32
    }

    /// Regular files: whether the data is in the inode (an inline file has
    /// no extent tree to read).
    pub(super) fn is_inline(&self) -> bool {
        let _nofs = NoFsScope::enter();
        self.state.lock().map.inline
    }

    /// Whether writes into shared blocks left staging blocks.
    pub(super) fn has_cow(&self) -> bool {
        let _nofs = NoFsScope::enter();
        !self.state.lock().cow.is_empty()
    }

    /// Stores the map: `f` gets the map with its generation, and the chain
    /// of extent blocks or the tree to bring up to date. `f` changes no
    /// mapping (the generation stays): it takes the map's record of what
    /// changed since the last store. An unread map has no change to store.
    pub(super) fn store<R>(&self, f: impl FnOnce(&mut ExtentMap, u64, &mut ExtentChain) -> R) -> R {
        let _nofs = NoFsScope::enter();
        let mut state = self.state.lock();
        let MapState { map, chain, .. } = &mut *state;
        f(map, self.generation.load(Ordering::Relaxed), chain)
    }
}

impl LoadedMap<'_> {
    /// Reads the map under its lock; `f` also gets the generation the map
    /// has while locked, to put into mappings as their cookie.
    pub(super) fn read<R>(self, f: impl FnOnce(&ExtentMap, u64) -> R) -> R {
        let _nofs = NoFsScope::enter();
        let state = self.0.state.lock();
        f(&state.map, self.0.generation.load(Ordering::Relaxed))
    }

    /// Changes the map: bumps the generation, then runs `f` under the lock
    /// with the new generation. Every change of the map goes through here,
    /// so no mapping made before the change passes `iomap_valid` or the
    /// writeback check afterwards.
    pub(super) fn change<R>(self, f: impl FnOnce(&mut ExtentMap, u64) -> R) -> R {
        let _nofs = NoFsScope::enter();
        let mut state = self.0.state.lock();
        let generation = self.0.generation.fetch_add(1, Ordering::AcqRel) + 1;
        f(&mut state.map, generation)
    }

    /// Reads the map and the copy-on-write map under their lock, as
    /// [`Self::read`].
    pub(super) fn read_with_cow<R>(self, f: impl FnOnce(&ExtentMap, &ExtentMap, u64) -> R) -> R {
        let _nofs = NoFsScope::enter();
        let state = self.0.state.lock();
        f(
            &state.map,
            &state.cow,
            self.0.generation.load(Ordering::Relaxed),
        )
    }

    /// Changes the map or the copy-on-write map, as [`Self::change`].
    pub(super) fn change_with_cow<R>(
        self,
        f: impl FnOnce(&mut ExtentMap, &mut ExtentMap, u64) -> R,
    ) -> R {
        let _nofs = NoFsScope::enter();
        let mut state = self.0.state.lock();
        let generation = self.0.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let MapState { map, cow, .. } = &mut *state;
        f(map, cow, generation)
    }

    /// The number of blocks the map is stored in beyond the inode.
    pub(super) fn storage_blocks(self) -> u32 {
        self.0.storage_blocks()
    }
}

/// The allocator of a mount, behind the allocator lock.
#[pin_data]
pub(crate) struct AllocatorLock {
    #[pin]
    allocator: Mutex<Allocator>,
}

impl AllocatorLock {
    pub(super) fn new(allocator: Allocator) -> impl PinInit<Self> {
        pin_init!(AllocatorLock { allocator <- new_mutex!(allocator, "AllocatorLock") })
    }

    /// Takes the lock, in a `memalloc_nofs` scope.
    pub(super) fn lock(&self) -> AllocatorGuard<'_> {
        let nofs = NoFsScope::enter();
        AllocatorGuard {
            guard: self.allocator.lock(),
            _nofs: nofs,
        }
    }
}

/// The allocator lock, held; the `memalloc_nofs` scope is left after the
/// lock is released (fields drop in order).
pub(crate) struct AllocatorGuard<'a> {
    guard: MutexGuard<'a, Allocator>,
    _nofs: NoFsScope,
}

impl Deref for AllocatorGuard<'_> {
    type Target = Allocator;

    fn deref(&self) -> &Allocator {
        &self.guard
    }
}

impl DerefMut for AllocatorGuard<'_> {
    fn deref_mut(&mut self) -> &mut Allocator {
        &mut self.guard
    }
}

/// An inode's extended attribute block number, and the lock its users hold.
#[pin_data]
pub(crate) struct XattrLock {
    /// Held while the block is read or changed, and while `block` changes.
    #[pin]
    lock: Mutex<()>,
    /// The block, 0 for none.
    block: AtomicU64,
}

impl XattrLock {
    /// The attributes of an inode whose block is `block` (0 for none).
    pub(super) fn new(block: u64) -> impl PinInit<Self> {
        pin_init!(XattrLock { lock <- new_mutex!((), "XattrLock"), block: AtomicU64::new(block) })
    }

    /// The block, without the lock, to write the inode or count its
    /// blocks: a change marks the inode dirty and accounts its blocks after
    /// it, so a stale block number is corrected.
    pub(super) fn block_number(&self) -> u64 {
        self.block.load(Ordering::Acquire)
    }

    /// Takes the lock, in a `memalloc_nofs` scope.
    pub(super) fn lock(&self) -> XattrGuard<'_> {
        let nofs = NoFsScope::enter();
        XattrGuard {
            _guard: self.lock.lock(),
            _nofs: nofs,
            xattrs: self,
        }
    }
}

/// The [`XattrLock`], held: the block number is stable, and may be changed.
pub(crate) struct XattrGuard<'a> {
    _guard: MutexGuard<'a, ()>,
    _nofs: NoFsScope,
    xattrs: &'a XattrLock,
}

impl XattrGuard<'_> {
    /// The block, 0 for none.
    pub(super) fn block(&self) -> u64 {
        self.xattrs.block.load(Ordering::Relaxed)
    }

    /// Sets the block.
    pub(super) fn set_block(&mut self, block: u64) {
        self.xattrs.block.store(block, Ordering::Release);
    }
}
