// SPDX-License-Identifier: GPL-2.0

//! Inodes, the slab cache that holds them with the filesystem's per-inode
//! data, and the operation tables an inode gets ([`InodeTables`], built by
//! the files of the tables).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::bindings as vfs_bindings;
use super::super_block::{FileSystem, SuperBlock};
use core::{
    marker::PhantomData,
    mem::{offset_of, MaybeUninit},
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::bindings;
use kernel::{
    error::to_result,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// The attributes of an inode that a filesystem stores: mode, link count,
/// owner, size, sectors, times and generation.
pub(crate) use vfs_bindings::rvfs_inode_attrs as Attrs;

kernel::impl_flags!(
    /// Inode flags (`FS_*_FL`): `chattr`, `FS_IOC_GETFLAGS` and
    /// `FS_IOC_SETFLAGS`, and the flags of `FS_IOC_FSGETXATTR`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub(crate) struct InodeFlags(u32);

    /// One inode flag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum InodeFlag {
        /// Changes are written synchronously (`chattr +S`).
        Sync = bindings::FS_SYNC_FL,
        /// The inode may not change (`chattr +i`).
        Immutable = bindings::FS_IMMUTABLE_FL,
        /// The file may only be appended to (`chattr +a`).
        Append = bindings::FS_APPEND_FL,
        /// `dump(8)` skips the file (`chattr +d`).
        NoDump = bindings::FS_NODUMP_FL,
        /// The access time is not updated (`chattr +A`).
        NoAtime = bindings::FS_NOATIME_FL,
        /// Directory changes are written synchronously (`chattr +D`).
        DirSync = bindings::FS_DIRSYNC_FL,
        /// File data is accessed directly, without the page cache (`chattr +x`).
        Dax = bindings::FS_DAX_FL,
    }
);

impl InodeFlags {
    /// The flags of `raw`, or `None` if it has a bit this type does not know.
    pub(super) fn known(raw: u32) -> Option<Self> {
        (raw & !Self::all_bits() == 0).then_some(Self(raw))
    }
}

/// The inode flags that the VFS enforces through `i_flags`, with their
/// `S_*` bit.
const ENFORCED_FLAGS: [(InodeFlag, u32); 4] = [
    (InodeFlag::Immutable, bindings::S_IMMUTABLE),
    (InodeFlag::Append, bindings::S_APPEND),
    (InodeFlag::Sync, bindings::S_SYNC),
    (InodeFlag::NoAtime, bindings::S_NOATIME),
];

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
            vfs_bindings::rvfs_inode_cache_create(
                T::INODE_CACHE_NAME.as_char_ptr(),
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

/// The slab constructor of [`InodeCache`].
///
/// # Safety
///
/// Called by the slab allocator on a new object of the cache.
unsafe extern "C" fn inode_init_once<D>(object: *mut c_void) {
    let object = object.cast::<InodeWithData<D>>();
    // SAFETY: the slab passes a new object of the cache's type.
    unsafe { bindings::inode_init_once(Opaque::cast_into(ptr::addr_of!((*object).inode))) };
}

/// `super_operations::alloc_inode`.
///
/// # Safety
///
/// Called by the VFS on a super block of `T`, while `T` is registered.
pub(super) unsafe extern "C" fn alloc_inode<T: FileSystem>(
    sb: *mut bindings::super_block,
) -> *mut bindings::inode {
    // SAFETY: the cache exists while the filesystem is registered.
    let inode = unsafe { vfs_bindings::rvfs_alloc_inode_sb(sb, InodeCache::get()) };
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
///
/// # Safety
///
/// Called by the VFS on an unused inode made by [`alloc_inode`].
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

    /// The inode of a positive `dentry`, or `None`.
    ///
    /// # Safety
    ///
    /// `dentry` must belong to a super block of `T` and stay positive for
    /// `'a`.
    pub(super) unsafe fn from_dentry<'a>(dentry: *mut bindings::dentry) -> Option<&'a Self> {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { vfs_bindings::rvfs_dentry_inode(dentry) };
        // SAFETY: a positive dentry holds a reference to its initialised inode.
        (!inode.is_null()).then(|| unsafe { Self::from_raw(inode) })
    }

    pub(super) fn as_raw(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The page cache of the inode.
    pub(super) fn mapping(&self) -> *mut bindings::address_space {
        // SAFETY: `i_mapping` of a live inode is set at allocation.
        unsafe { (*self.as_raw()).i_mapping }
    }

    /// Returns inode `ino` of `sb` from the inode cache, or a new locked
    /// inode that the caller must initialise from disk.
    pub(crate) fn get_or_new(
        sb: &SuperBlock<T>,
        ino: u64,
    ) -> Result<Result<ARef<Self>, NewInode<T>>> {
        // SAFETY: the super block is live; `iget_locked` returns a
        // referenced inode, or NULL on allocation failure.
        let ptr = unsafe { bindings::iget_locked(sb.as_raw(), ino) };
        let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
        // SAFETY: `ptr` is a valid inode we hold a reference to.
        if unsafe { vfs_bindings::rvfs_inode_is_new(ptr.as_ptr()) } {
            // INVARIANT: a new inode from `iget_locked` is locked (I_NEW) and
            // ours to initialise.
            Ok(Err(NewInode(ptr, PhantomData)))
        } else {
            // SAFETY: an inode not in I_NEW state is fully initialised by
            // `NewInode::init`, so its data is valid; we own the reference.
            Ok(Ok(unsafe { ARef::from_raw(ptr.cast()) }))
        }
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
        unsafe { vfs_bindings::rvfs_inode_set_size(self.as_raw(), size) };
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

    /// Evicts the inode as soon as nothing uses it, instead of caching it
    /// (`d_mark_dontcache`): it is read again from disk on its next use.
    pub(crate) fn mark_dontcache(&self) {
        // SAFETY: a live inode; the function only sets flags on it and its
        // dentries, under their locks.
        unsafe { bindings::d_mark_dontcache(self.as_raw()) };
    }

    /// Whether the file's data is accessed with DAX (`S_DAX`, set only
    /// while the inode is new).
    pub(crate) fn is_dax(&self) -> bool {
        self.i_flags() & bindings::S_DAX != 0
    }

    /// Makes the VFS enforce the inode flags of `flags` that have an
    /// `i_flags` bit, and no others of those. The caller holds `i_rwsem`.
    pub(super) fn enforce_flags(&self, flags: InodeFlags) {
        // SAFETY: a live inode; the caller holds `i_rwsem`, as
        // `inode_set_flags` asks.
        unsafe { set_enforced_flags(self.as_raw(), flags) };
    }

    /// Sets the space used, in bytes (`i_blocks`).
    pub(crate) fn set_bytes(&self, bytes: u64) {
        // SAFETY: `inode_set_bytes` takes `i_lock` itself.
        unsafe { bindings::inode_set_bytes(self.as_raw(), bytes as i64) };
    }

    /// The attributes a filesystem stores.
    pub(crate) fn attrs(&self) -> Attrs {
        let mut attrs = Attrs::default();
        // SAFETY: reading the attributes of a live inode.
        unsafe { vfs_bindings::rvfs_inode_get_attrs(self.as_raw(), &mut attrs) };
        attrs
    }

    /// Sets the change time, and the modification time if `mtime`, to now.
    pub(crate) fn touch(&self, mtime: bool) {
        // SAFETY: time updates of a live inode.
        unsafe { vfs_bindings::rvfs_inode_touch(self.as_raw(), mtime) };
    }

    /// Marks the inode dirty, so that writeback calls `write_inode`.
    pub(crate) fn mark_dirty(&self) {
        // SAFETY: marking a live inode dirty.
        unsafe { vfs_bindings::rvfs_mark_inode_dirty(self.as_raw()) };
    }

    /// Waits for direct I/O in flight (`inode_dio_wait`).
    pub(crate) fn dio_wait(&self) {
        // SAFETY: a live inode.
        unsafe { bindings::inode_dio_wait(self.as_raw()) };
    }

    /// Checks that the file may grow to `size` bytes (`inode_newsize_ok`):
    /// `EFBIG` past the caller's `RLIMIT_FSIZE` (with `SIGXFSZ`) or the
    /// largest file the filesystem takes.
    pub(crate) fn check_new_size(&self, size: i64) -> Result {
        // SAFETY: the inode is live; the function only reads it and the
        // current task's limits.
        to_result(unsafe { bindings::inode_newsize_ok(self.as_raw(), size) })
    }

    /// Writes the inode's dirty metadata (`sync_inode_metadata`).
    pub(crate) fn sync_metadata(&self) -> Result {
        // SAFETY: syncing a live inode.
        to_result(unsafe { bindings::sync_inode_metadata(self.as_raw(), 1) })
    }
}

/// Sets the `i_flags` bits of the inode flags `flags` and clears the others
/// of [`ENFORCED_FLAGS`], as `ext4_set_inode_flags` does.
///
/// # Safety
///
/// `inode` is live, and new (`I_NEW`) or locked (`i_rwsem`).
unsafe fn set_enforced_flags(inode: *mut bindings::inode, flags: InodeFlags) {
    let (set, mask) = ENFORCED_FLAGS
        .iter()
        .fold((0, 0), |(set, mask), &(flag, bit)| {
            (
                if flags.contains(flag) { set | bit } else { set },
                mask | bit,
            )
        });
    // SAFETY: guaranteed by the caller; `set` is within `mask`.
    unsafe { bindings::inode_set_flags(inode, set, mask) };
}

/// What a new inode gets from its type: its operation tables, and what they
/// need of it. Made by the files of the tables (`InodeTables::directory` in
/// `dir.rs`, `InodeTables::regular_file` in `file.rs`, ...); the filesystem
/// picks one per inode type.
pub(crate) struct InodeTables {
    pub(super) iops: &'static bindings::inode_operations,
    /// `None`: left as `init_special_inode` sets it.
    pub(super) fops: Option<&'static bindings::file_operations>,
    /// `None`: the empty address space operations of a new inode.
    pub(super) aops: Option<&'static bindings::address_space_operations>,
    /// The page cache may hold folios larger than a page.
    pub(super) large_folios: bool,
    /// Regular files: the data is accessed with DAX (`S_DAX`).
    pub(super) dax: bool,
    /// Symbolic links: the target, which `i_link` points to.
    pub(super) link: Option<KVec<u8>>,
    /// Device nodes, FIFOs and sockets: the device number.
    pub(super) rdev: Option<u32>,
}

/// The attributes of an inode being initialised.
pub(crate) struct InodeParams<'a, T: FileSystem> {
    /// Mode, nlink, owner, size, sectors, times and generation.
    pub(crate) attrs: Attrs,
    /// Inode flags, of which the VFS enforces some.
    pub(crate) flags: InodeFlags,
    /// Where the owner comes from.
    pub(crate) owner: Owner<'a, T>,
    /// The operation tables of the inode's type.
    pub(crate) tables: InodeTables,
}

/// A new, locked inode from [`Inode::get_or_new`], to be initialised with
/// [`NewInode::init`]. Dropping it marks it bad and releases it
/// (`iget_failed`).
///
/// # Invariants
///
/// The inode is in state I_NEW, of type `T`, and we own a reference to it.
pub(crate) struct NewInode<T: FileSystem>(NonNull<bindings::inode>, PhantomData<T>);

impl<T: FileSystem> NewInode<T> {
    /// Fills in the inode and its filesystem data and makes it visible.
    pub(crate) fn init(
        self,
        params: InodeParams<'_, T>,
        data: impl PinInit<T::InodeData, Error>,
    ) -> Result<ARef<Inode<T>>> {
        let inode = self.0.as_ptr();
        let container = container_of::<T>(inode);
        let InodeParams {
            attrs,
            flags,
            owner,
            mut tables,
        } = params;
        if let Some(link) = tables.link.as_mut() {
            link.push(0, GFP_KERNEL)?;
        }
        // SAFETY: the inode is locked (I_NEW) and exclusively ours until
        // `unlock_new_inode`; `data` is not initialised yet and is pinned in
        // the slab object. On failure `self` is dropped, which releases the
        // inode with `iget_failed`. The operation tables are `'static`; the
        // link target lives in the container, so `i_link` stays valid as
        // long as the inode.
        unsafe {
            data.__init((*container).data.as_mut_ptr())?;
            (*container).initialized = true;
            vfs_bindings::rvfs_inode_set_attrs(inode, &attrs);
            set_enforced_flags(inode, flags);
            if let Owner::Inherit(idmap, dir) = owner {
                bindings::inode_init_owner(idmap.0, inode, dir.as_raw(), attrs.mode);
                bindings::simple_inode_init_ts(inode);
            }
            if let Some(rdev) = tables.rdev {
                bindings::init_special_inode(inode, (*inode).i_mode, rdev);
            }
            if let Some(link) = tables.link.take() {
                let link = (*container).link.insert(link);
                (*inode).__bindgen_anon_5.i_link = link.as_mut_ptr().cast();
            }
            if let Some(aops) = tables.aops {
                (*(*inode).i_mapping).a_ops = aops;
            }
            if tables.large_folios {
                vfs_bindings::rvfs_mapping_set_large_folios(inode);
            }
            if tables.dax {
                (*inode).i_flags |= bindings::S_DAX;
            }
            (*inode).i_op = tables.iops;
            if let Some(fops) = tables.fops {
                (*inode).__bindgen_anon_3.i_fop = fops;
            }
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
