// SPDX-License-Identifier: GPL-2.0

//! Inodes, and the slab cache that holds them with the filesystem's
//! per-inode data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::bindings as rexfs_bindings;
use super::fs_type::{FileSystem, Registration};
use super::iomap;
use super::super_block::SuperBlock;
use core::{
    marker::PhantomData,
    mem::{offset_of, MaybeUninit},
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings, c_str,
    error::to_result,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

pub(crate) use rexfs_bindings::rexfs_attrs as Attrs;

/// The kernel's inode together with the filesystem's data for it: the
/// object the inode slab cache holds.
///
/// # Invariants
///
/// `data` is initialised if and only if `initialized` is true. `link`, when
/// set, is NUL-terminated and is what the inode's `i_link` points to.
#[repr(C)]
struct InodeWithData<D> {
    inode: Opaque<bindings::inode>,
    initialized: bool,
    link: Option<KVec<u8>>,
    data: MaybeUninit<D>,
}

/// The slab cache of [`InodeWithData`].
///
/// There is one per module, so a module registers at most one filesystem
/// type (which [`InodeCache::create`] enforces).
pub(super) struct InodeCache;

static INODE_CACHE: AtomicPtr<bindings::kmem_cache> = AtomicPtr::new(ptr::null_mut());

impl InodeCache {
    /// Creates the cache for the inodes of `T`.
    pub(super) fn create<T: FileSystem>() -> Result {
        // SAFETY: the name is a static string; the constructor initialises
        // the inode part of each object once, as slab constructors must.
        let cache = unsafe {
            rexfs_bindings::rexfs_inode_cache_create(
                c_str!("rexfs_inode_cache").as_char_ptr(),
                size_of::<InodeWithData<T::InodeData>>() as u32,
                align_of::<InodeWithData<T::InodeData>>() as u32,
                Some(inode_init_once::<T::InodeData>),
            )
        };
        if cache.is_null() {
            return Err(ENOMEM);
        }
        if INODE_CACHE
            .compare_exchange(ptr::null_mut(), cache, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `cache` was just created and is not used by anyone.
            unsafe { bindings::kmem_cache_destroy(cache) };
            return Err(EBUSY);
        }
        Ok(())
    }

    /// Destroys the cache once the inodes freed through RCU are gone.
    pub(super) fn destroy() {
        let cache = INODE_CACHE.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the filesystem is unregistered, so no new inodes are
        // allocated; `rcu_barrier` waits for the pending `free_inode` calls.
        unsafe {
            bindings::rcu_barrier();
            bindings::kmem_cache_destroy(cache);
        }
    }

    fn get() -> *mut bindings::kmem_cache {
        INODE_CACHE.load(Ordering::Acquire)
    }
}

unsafe extern "C" fn inode_init_once<D>(object: *mut c_void) {
    let object = object.cast::<InodeWithData<D>>();
    // SAFETY: the slab passes a new object of the cache's type.
    unsafe { bindings::inode_init_once(Opaque::cast_into(ptr::addr_of!((*object).inode))) };
}

/// `super_operations::alloc_inode`.
pub(super) unsafe extern "C" fn alloc_inode<T: FileSystem>(
    sb: *mut bindings::super_block,
) -> *mut bindings::inode {
    // SAFETY: the cache exists while the filesystem is registered.
    let inode = unsafe { rexfs_bindings::rexfs_alloc_inode_sb(sb, InodeCache::get()) };
    if inode.is_null() {
        return inode;
    }
    // SAFETY: the cache holds `InodeWithData`; whatever the object held
    // before was dropped by `free_inode`.
    unsafe {
        let container = container_of::<T>(inode);
        ptr::addr_of_mut!((*container).initialized).write(false);
        ptr::addr_of_mut!((*container).link).write(None);
    }
    inode
}

/// `super_operations::free_inode`, called after an RCU grace period.
pub(super) unsafe extern "C" fn free_inode<T: FileSystem>(inode: *mut bindings::inode) {
    let container = container_of::<T>(inode);
    // SAFETY: the inode is unused; `data` is initialised iff `initialized`;
    // `link` was initialised by `alloc_inode`.
    unsafe {
        if (*container).initialized {
            (*container).data.assume_init_drop();
        }
        ptr::drop_in_place(ptr::addr_of_mut!((*container).link));
        bindings::kmem_cache_free(InodeCache::get(), container.cast());
    }
}

fn container_of<T: FileSystem>(inode: *mut bindings::inode) -> *mut InodeWithData<T::InodeData> {
    inode
        .cast::<u8>()
        .wrapping_sub(offset_of!(InodeWithData<T::InodeData>, inode))
        .cast()
}

/// Whether `inode`'s filesystem data is initialised.
///
/// # Safety
///
/// `inode` must be a live inode of filesystem type `T`.
pub(super) unsafe fn is_initialised<T: FileSystem>(inode: *mut bindings::inode) -> bool {
    // SAFETY: the caller guarantees the inode lives in an `InodeWithData`.
    unsafe { (*container_of::<T>(inode)).initialized }
}

/// An idmapping of a mount, for setting the owner of new inodes.
#[derive(Clone, Copy)]
pub(crate) struct Idmap<'a>(*mut bindings::mnt_idmap, PhantomData<&'a ()>);

impl Idmap<'_> {
    /// # Safety
    ///
    /// `ptr` must be valid for the returned lifetime.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::mnt_idmap) -> Idmap<'a> {
        Idmap(ptr, PhantomData)
    }
}

/// What kind of inode a namespace operation creates.
#[derive(Clone, Copy)]
pub(crate) enum NewInodeKind<'a> {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link to the target.
    Symlink(&'a [u8]),
    /// A device node, FIFO or socket, with its device number.
    Special(u32),
}

/// The file type of an inode; determines its operations.
pub(crate) enum InodeType {
    /// A regular file, whose data goes through the page cache and iomap.
    File,
    /// A directory.
    Dir,
    /// A symbolic link with its target.
    Symlink(KVec<u8>),
    /// A device node, FIFO or socket, with its device number.
    Special(u32),
}

/// How the owner of an inode being initialised is set.
pub(crate) enum Owner<'a, T: FileSystem> {
    /// From the attributes (an inode read from disk).
    FromAttrs,
    /// From the creating task and directory (`inode_init_owner`), with all
    /// times set to now.
    Inherit(Idmap<'a>, &'a Inode<T>),
}

/// An inode of filesystem type `T` whose filesystem data is initialised.
///
/// # Invariants
///
/// The wrapped inode belongs to a super block of type `T`, lives in an
/// [`InodeWithData`] with initialised data, and is referenced while the
/// `&Inode` lives.
#[repr(transparent)]
pub(crate) struct Inode<T: FileSystem>(Opaque<bindings::inode>, PhantomData<T>);

// SAFETY: inodes are reference counted by the kernel and may be used and
// released on any thread.
unsafe impl<T: FileSystem> Send for Inode<T> {}
// SAFETY: all the methods of `Inode` may be called concurrently.
unsafe impl<T: FileSystem> Sync for Inode<T> {}

// SAFETY: `ihold`/`iput` manage the inode's reference count.
unsafe impl<T: FileSystem> AlwaysRefCounted for Inode<T> {
    fn inc_ref(&self) {
        // SAFETY: `self` holds a reference, so the inode is live.
        unsafe { bindings::ihold(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference.
        unsafe { bindings::iput(obj.as_ptr().cast()) };
    }
}

impl<T: FileSystem> Inode<T> {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must satisfy the type invariants during `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `Inode` is a transparent wrapper; the caller guarantees
        // validity for `'a`.
        unsafe { &*ptr.cast() }
    }

    pub(super) fn as_raw(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is immutable once the inode is hashed.
        unsafe { (*self.as_raw()).i_ino }
    }

    /// The super block the inode belongs to.
    pub(crate) fn super_block(&self) -> &SuperBlock<T> {
        // SAFETY: an initialised inode belongs to a mounted super block of
        // type `T`, which outlives it.
        unsafe { SuperBlock::from_raw((*self.as_raw()).i_sb) }
    }

    /// The filesystem's data for this inode.
    pub(crate) fn data(&self) -> &T::InodeData {
        // SAFETY: the data is initialised (type invariant) and lives as long
        // as the inode.
        unsafe { (*container_of::<T>(self.as_raw())).data.assume_init_ref() }
    }

    /// The file size in bytes (`i_size_read`).
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: on 64-bit, `i_size_read` is a plain load of `i_size`.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_raw()).i_size)) }
    }

    /// Sets the file size in memory (`i_size_write`).
    pub(crate) fn set_size(&self, size: i64) {
        // SAFETY: the callers hold `i_rwsem` or are the iomap write path,
        // the two writers of `i_size`.
        unsafe { rexfs_bindings::rexfs_inode_set_size(self.as_raw(), size) };
    }

    /// The link count.
    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: reading `i_nlink` of a live inode.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_raw()).__bindgen_anon_1.i_nlink)) }
    }

    /// Increments the link count.
    pub(crate) fn inc_nlink(&self) {
        // SAFETY: the VFS holds the inode locked for namespace operations.
        unsafe { bindings::inc_nlink(self.as_raw()) };
    }

    /// Decrements the link count.
    pub(crate) fn drop_nlink(&self) {
        // SAFETY: as for `inc_nlink`.
        unsafe { bindings::drop_nlink(self.as_raw()) };
    }

    /// Sets the link count to zero.
    pub(crate) fn clear_nlink(&self) {
        // SAFETY: as for `inc_nlink`.
        unsafe { bindings::clear_nlink(self.as_raw()) };
    }

    /// `i_flags` (`S_*`).
    fn i_flags(&self) -> u32 {
        // SAFETY: reading `i_flags` of a live inode; writers change it
        // atomically.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_raw()).i_flags)) }
    }

    /// Whether the inode is immutable (`chattr +i`, `S_IMMUTABLE`).
    pub(crate) fn is_immutable(&self) -> bool {
        self.i_flags() & bindings::S_IMMUTABLE != 0
    }

    /// Whether the file may only be appended to (`chattr +a`, `S_APPEND`).
    pub(crate) fn is_append_only(&self) -> bool {
        self.i_flags() & bindings::S_APPEND != 0
    }

    /// Makes the VFS enforce the inode flags `flags` (`FS_*_FL`) that have
    /// an `i_flags` bit, and no others of those. The caller holds
    /// `i_rwsem`.
    pub(super) fn enforce_flags(&self, flags: u32) {
        // SAFETY: a live inode; the caller holds `i_rwsem`, as
        // `inode_set_flags` asks.
        unsafe { set_enforced_flags(self.as_raw(), flags) };
    }

    /// Sets the space used, in bytes (`i_blocks`).
    pub(crate) fn set_bytes(&self, bytes: u64) {
        // SAFETY: `inode_set_bytes` takes `i_lock` itself.
        unsafe { bindings::inode_set_bytes(self.as_raw(), bytes as i64) };
    }

    /// The attributes the on-disk inode stores.
    pub(crate) fn attrs(&self) -> Attrs {
        let mut attrs = Attrs::default();
        // SAFETY: reading the attributes of a live inode.
        unsafe { rexfs_bindings::rexfs_inode_get_attrs(self.as_raw(), &mut attrs) };
        attrs
    }

    /// Sets the change time, and the modification time if `mtime`, to now.
    pub(crate) fn touch(&self, mtime: bool) {
        // SAFETY: time updates of a live inode.
        unsafe { rexfs_bindings::rexfs_inode_touch(self.as_raw(), mtime) };
    }

    /// Marks the inode dirty, so that writeback calls `write_inode`.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: marking a live inode dirty.
        unsafe { rexfs_bindings::rexfs_mark_inode_dirty(self.as_raw()) };
    }

    /// Takes `mapping->invalidate_lock` exclusively: no page cache is
    /// instantiated (faults, reads) while the guard lives.
    pub(crate) fn invalidate_lock(&self) -> InvalidateGuard<'_, T> {
        // SAFETY: the mapping of a live inode.
        unsafe { rexfs_bindings::rexfs_invalidate_lock(self.as_raw()) };
        InvalidateGuard { inode: self, shared: false }
    }

    /// Takes `mapping->invalidate_lock` shared.
    pub(crate) fn invalidate_lock_shared(&self) -> InvalidateGuard<'_, T> {
        // SAFETY: the mapping of a live inode.
        unsafe { rexfs_bindings::rexfs_invalidate_lock_shared(self.as_raw()) };
        InvalidateGuard { inode: self, shared: true }
    }

    /// Takes the inode's `i_rwsem` exclusively.
    pub(crate) fn lock(&self) -> super::file::InodeLockGuard<'_, T> {
        // SAFETY: locking a live inode.
        unsafe { rexfs_bindings::rexfs_inode_lock(self.as_raw()) };
        super::file::InodeLockGuard { inode: self, shared: false }
    }

    /// Waits for direct I/O in flight (`inode_dio_wait`).
    pub(crate) fn dio_wait(&self) {
        // SAFETY: a live inode.
        unsafe { bindings::inode_dio_wait(self.as_raw()) };
    }

    /// Writes back, waits for and drops the page cache of `start..=end`.
    pub(crate) fn flush_and_drop_range(&self, start: i64, end: i64) -> Result {
        self.write_and_wait_range(start, end)?;
        // SAFETY: the caller holds `i_rwsem` and `invalidate_lock`, so no
        // new page cache appears in the range.
        unsafe { bindings::truncate_pagecache_range(self.as_raw(), start, end) };
        Ok(())
    }

    /// Drops the clean, unmapped page cache of `start..=end` that nobody
    /// uses (`invalidate_mapping_pages`); what it cannot drop stays.
    pub(crate) fn invalidate_pages(&self, start: i64, end: i64) {
        let shift = kernel::page::PAGE_SHIFT;
        // SAFETY: the mapping of a live inode; the helper skips what is in
        // use.
        unsafe {
            rexfs_bindings::invalidate_mapping_pages(
                (*self.as_raw()).i_mapping,
                (start >> shift) as _,
                (end >> shift) as _,
            )
        };
    }

    /// Checks that the file may grow to `size` bytes (`inode_newsize_ok`):
    /// `EFBIG` past the caller's `RLIMIT_FSIZE` (with `SIGXFSZ`) or the
    /// largest file the filesystem takes.
    pub(crate) fn check_new_size(&self, size: i64) -> Result {
        // SAFETY: the inode is live; the function only reads it and the
        // current task's limits.
        to_result(unsafe { bindings::inode_newsize_ok(self.as_raw(), size) })
    }

    /// Sets the size to `size` and drops the page cache past it
    /// (`truncate_setsize`).
    pub(crate) fn truncate_setsize(&self, size: i64) {
        // SAFETY: the caller holds `i_rwsem` (setattr).
        unsafe { bindings::truncate_setsize(self.as_raw(), size) };
    }

    /// Zeroes the page cache from `size` to the end of its block
    /// (`iomap_truncate_page`).
    pub(crate) fn truncate_page(&self, size: i64) -> Result {
        iomap::truncate_page(self, size)
    }

    /// Zeroes the page cache over `pos..pos + len` where blocks are mapped
    /// (`iomap_zero_range`).
    pub(crate) fn zero_range(&self, pos: i64, len: i64) -> Result {
        iomap::zero_range(self, pos, len)
    }

    /// Writes the inode's dirty metadata (`sync_inode_metadata`).
    pub(crate) fn sync_metadata(&self) -> Result {
        // SAFETY: syncing a live inode.
        to_result(unsafe { bindings::sync_inode_metadata(self.as_raw(), 1) })
    }

    /// Writes back and waits for the dirty page cache in `start..=end`.
    pub(super) fn write_and_wait_range(&self, start: i64, end: i64) -> Result {
        // SAFETY: the mapping of a live inode.
        to_result(unsafe {
            bindings::filemap_write_and_wait_range((*self.as_raw()).i_mapping, start, end)
        })
    }
}

/// The inode flags (`FS_*_FL`) that the VFS enforces through `i_flags`,
/// with their `S_*` bit.
const ENFORCED_FLAGS: [(u32, u32); 4] = [
    (bindings::FS_IMMUTABLE_FL, bindings::S_IMMUTABLE),
    (bindings::FS_APPEND_FL, bindings::S_APPEND),
    (bindings::FS_SYNC_FL, bindings::S_SYNC),
    (bindings::FS_NOATIME_FL, bindings::S_NOATIME),
];

/// Sets the `i_flags` bits of the inode flags `flags` (`FS_*_FL`) and clears
/// the others of [`ENFORCED_FLAGS`], as `ext4_set_inode_flags` does.
///
/// # Safety
///
/// `inode` is live, and new (`I_NEW`) or locked (`i_rwsem`).
unsafe fn set_enforced_flags(inode: *mut bindings::inode, flags: u32) {
    let (set, mask) = ENFORCED_FLAGS.iter().fold((0, 0), |(set, mask), &(fs, bit)| {
        (if flags & fs != 0 { set | bit } else { set }, mask | bit)
    });
    // SAFETY: guaranteed by the caller; `set` is within `mask`.
    unsafe { bindings::inode_set_flags(inode, set, mask) };
}

/// A locked, uptodate folio of the page cache; unlocked and released on
/// drop.
///
/// # Invariants
///
/// We hold a reference to the folio and its lock.
pub(crate) struct LockedFolio(NonNull<bindings::folio>);

impl LockedFolio {
    /// Marks the folio dirty, for writeback to write.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: a locked folio of a mapping (type invariant).
        unsafe { bindings::folio_mark_dirty(self.0.as_ptr()) };
    }
}

impl Drop for LockedFolio {
    fn drop(&mut self) {
        // SAFETY: we hold the lock and a reference (type invariant).
        unsafe {
            bindings::folio_unlock(self.0.as_ptr());
            rexfs_bindings::rexfs_folio_put(self.0.as_ptr());
        }
    }
}

impl<T: FileSystem> Inode<T> {
    /// Locks the folio at file offset 0, reading it in first if needed.
    pub(crate) fn lock_first_folio(&self) -> Result<LockedFolio> {
        // SAFETY: the mapping of a live inode.
        let mapping = unsafe { (*self.as_raw()).i_mapping };
        loop {
            // SAFETY: as above; the folio is read with our `read_folio`.
            let folio = kernel::error::from_err_ptr(unsafe { rexfs_bindings::rexfs_read_mapping_folio(mapping, 0) })?;
            // SAFETY: `read_mapping_folio` returned a referenced folio.
            let folio = unsafe { NonNull::new_unchecked(folio) };
            // SAFETY: we hold a reference; the helper takes the lock.
            if unsafe { rexfs_bindings::rexfs_folio_lock_in(folio.as_ptr(), mapping) } {
                // INVARIANT: referenced and locked.
                return Ok(LockedFolio(folio));
            }
            // Truncated or reclaimed before we locked it: read it again.
            // SAFETY: we hold the lock and a reference.
            unsafe {
                bindings::folio_unlock(folio.as_ptr());
                rexfs_bindings::rexfs_folio_put(folio.as_ptr());
            }
        }
    }
}

/// Holds `mapping->invalidate_lock`; releases it on drop.
pub(crate) struct InvalidateGuard<'a, T: FileSystem> {
    inode: &'a Inode<T>,
    shared: bool,
}

impl<T: FileSystem> InvalidateGuard<'_, T> {
    /// Whether the lock is held exclusively.
    pub(crate) fn is_exclusive(&self) -> bool {
        !self.shared
    }
}

impl<T: FileSystem> Drop for InvalidateGuard<'_, T> {
    fn drop(&mut self) {
        let inode = self.inode.as_raw();
        // SAFETY: the guard holds the lock in the recorded mode.
        unsafe {
            if self.shared {
                rexfs_bindings::rexfs_invalidate_unlock_shared(inode);
            } else {
                rexfs_bindings::rexfs_invalidate_unlock(inode);
            }
        }
    }
}

/// The attributes of an inode being initialised.
pub(crate) struct InodeParams<'a, T: FileSystem> {
    /// File type, with what it needs.
    pub(crate) typ: InodeType,
    /// Mode, nlink, owner, size, sectors, times and generation.
    pub(crate) attrs: Attrs,
    /// Inode flags (`FS_*_FL`) for the VFS to enforce.
    pub(crate) flags: u32,
    /// Where the owner comes from.
    pub(crate) owner: Owner<'a, T>,
}

/// A new, locked inode from [`SuperBlock::get_or_create_inode`], to be
/// initialised with [`NewInode::init`]. Dropping it marks it bad and
/// releases it (`iget_failed`).
///
/// # Invariants
///
/// The inode is in state I_NEW, of type `T`, and we own a reference to it.
pub(crate) struct NewInode<T: FileSystem>(NonNull<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> NewInode<T> {
    /// # Safety
    ///
    /// `ptr` must satisfy the type invariants.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::inode>) -> Self {
        Self(ptr, PhantomData)
    }

    /// Fills in the inode and its filesystem data and makes it visible.
    pub(crate) fn init(
        self,
        params: InodeParams<'_, T>,
        data: impl PinInit<T::InodeData, Error>,
    ) -> Result<ARef<Inode<T>>> {
        let inode = self.0.as_ptr();
        let container = container_of::<T>(inode);
        // SAFETY: the inode is locked (I_NEW) and exclusively ours until
        // `unlock_new_inode`; `data` is not initialised yet and is pinned in
        // the slab object. On failure `self` is dropped, which releases the
        // inode with `iget_failed`.
        unsafe {
            data.__init((*container).data.as_mut_ptr())?;
            (*container).initialized = true;
            rexfs_bindings::rexfs_inode_set_attrs(inode, &params.attrs);
            set_enforced_flags(inode, params.flags);
            if let Owner::Inherit(idmap, dir) = params.owner {
                bindings::inode_init_owner(idmap.0, inode, dir.as_raw(), params.attrs.mode);
                bindings::simple_inode_init_ts(inode);
            }
        }
        let ops = |iops, fops| (iops as *const _, fops as *const _);
        let (iops, fops) = match params.typ {
            InodeType::Dir => {
                ops(&Registration::<T>::DIR_INODE_OPS, &Registration::<T>::DIR_FILE_OPS)
            }
            InodeType::File => {
                // SAFETY: as above; no page cache exists yet.
                unsafe {
                    (*(*inode).i_mapping).a_ops = &iomap::Tables::<T>::AOPS;
                    rexfs_bindings::rexfs_mapping_set_large_folios(inode);
                }
                ops(&iomap::Tables::<T>::INODE_OPS, &iomap::Tables::<T>::FILE_OPS)
            }
            InodeType::Symlink(mut target) => {
                target.push(0, GFP_KERNEL)?;
                // SAFETY: as above. The target lives in the container, so
                // `i_link` stays valid as long as the inode.
                unsafe {
                    let link = (*container).link.insert(target);
                    (*inode).__bindgen_anon_5.i_link = link.as_mut_ptr().cast();
                }
                (&Registration::<T>::SYMLINK_INODE_OPS as *const _, ptr::null())
            }
            InodeType::Special(rdev) => {
                // SAFETY: as above; `init_special_inode` sets the device
                // file operations for the mode.
                unsafe {
                    bindings::init_special_inode(inode, (*inode).i_mode, rdev);
                    (&Registration::<T>::SPECIAL_INODE_OPS as *const _, (*inode).__bindgen_anon_3.i_fop)
                }
            }
        };
        // SAFETY: as above; the operation tables are `'static`.
        unsafe {
            (*inode).i_op = iops;
            (*inode).__bindgen_anon_3.i_fop = fops;
            bindings::unlock_new_inode(inode);
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the inode is initialised; the reference moves from `this`
        // (which is not dropped) to the `ARef`.
        Ok(unsafe { ARef::from_raw(this.0.cast()) })
    }
}

impl<T: FileSystem> Drop for NewInode<T> {
    fn drop(&mut self) {
        // SAFETY: the inode is in I_NEW state and we own a reference, which
        // `iget_failed` consumes. If its data was initialised, `free_inode`
        // drops it.
        unsafe { bindings::iget_failed(self.0.as_ptr()) };
    }
}
