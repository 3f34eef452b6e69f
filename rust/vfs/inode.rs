// SPDX-License-Identifier: GPL-2.0

//! Inodes, and the slab cache that holds them with the filesystem's
//! per-inode data.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use super::bindings as rexfs_bindings;
use super::fs_type::{FileSystem, Registration};
use super::super_block::SuperBlock;
use core::{
    marker::PhantomData,
    mem::{offset_of, MaybeUninit},
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings, c_str,
    prelude::*,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

/// The kernel's inode together with the filesystem's data for it: the
/// object the inode slab cache holds.
///
/// # Invariants
///
/// `data` is initialised if and only if `initialized` is true.
#[repr(C)]
struct InodeWithData<D> {
    inode: Opaque<bindings::inode>,
    initialized: bool,
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
    unsafe { (*container_of::<T>(inode)).initialized = false };
    inode
}

/// `super_operations::free_inode`, called after an RCU grace period.
pub(super) unsafe extern "C" fn free_inode<T: FileSystem>(inode: *mut bindings::inode) {
    let container = container_of::<T>(inode);
    // SAFETY: the inode is unused; `data` is initialised iff `initialized`.
    unsafe {
        if (*container).initialized {
            (*container).data.assume_init_drop();
        }
        bindings::kmem_cache_free(InodeCache::get(), container.cast());
    }
}

fn container_of<T: FileSystem>(inode: *mut bindings::inode) -> *mut InodeWithData<T::InodeData> {
    inode
        .cast::<u8>()
        .wrapping_sub(offset_of!(InodeWithData<T::InodeData>, inode))
        .cast()
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

    fn as_raw(&self) -> *mut bindings::inode {
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

    /// The file size in bytes.
    pub(crate) fn size(&self) -> i64 {
        // SAFETY: reading `i_size`; on 64-bit it is a single load
        // (`i_size_read`).
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_raw()).i_size)) }
    }
}

/// A time stamp, seconds and nanoseconds since the epoch.
#[derive(Clone, Copy)]
pub(crate) struct Timespec {
    /// Seconds.
    pub(crate) sec: i64,
    /// Nanoseconds.
    pub(crate) nsec: u32,
}

/// What kind of inode is being initialised; determines its operations.
pub(crate) enum InodeType {
    /// A directory.
    Dir,
}

/// The attributes of an inode read from disk.
pub(crate) struct InodeParams<D> {
    /// File type.
    pub(crate) typ: InodeType,
    /// Permission bits (the type bits are taken from `typ`).
    pub(crate) mode: u16,
    /// Hard links.
    pub(crate) nlink: u32,
    /// Owner.
    pub(crate) uid: u32,
    /// Group.
    pub(crate) gid: u32,
    /// Size in bytes.
    pub(crate) size: i64,
    /// Allocated 512-byte sectors.
    pub(crate) sectors: u64,
    /// Last access.
    pub(crate) atime: Timespec,
    /// Last data modification.
    pub(crate) mtime: Timespec,
    /// Last status change.
    pub(crate) ctime: Timespec,
    /// Generation number (for file handles).
    pub(crate) generation: u32,
    /// The filesystem's data for the inode.
    pub(crate) data: D,
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

    /// The inode number being initialised.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: `i_ino` was set by `iget_locked`.
        unsafe { (*self.0.as_ptr()).i_ino }
    }

    /// Fills in the inode from `params` and makes it visible.
    pub(crate) fn init(self, params: InodeParams<T::InodeData>) -> ARef<Inode<T>> {
        let inode = self.0.as_ptr();
        let (type_bits, iops, fops) = match params.typ {
            InodeType::Dir => (
                bindings::S_IFDIR,
                &Registration::<T>::DIR_INODE_OPS,
                &Registration::<T>::DIR_FILE_OPS,
            ),
        };
        // SAFETY: the inode is locked (I_NEW) and exclusively ours until
        // `unlock_new_inode`; the operation tables are `'static`.
        unsafe {
            let container = container_of::<T>(inode);
            (*container).data.write(params.data);
            (*container).initialized = true;

            (*inode).i_mode = type_bits as u16 | (params.mode & 0o7777);
            bindings::set_nlink(inode, params.nlink);
            rexfs_bindings::rexfs_inode_set_owner(inode, params.uid, params.gid);
            rexfs_bindings::rexfs_inode_set_size(inode, params.size);
            (*inode).i_blocks = params.sectors;
            rexfs_bindings::rexfs_inode_set_times(
                inode,
                params.atime.sec,
                params.atime.nsec,
                params.mtime.sec,
                params.mtime.nsec,
                params.ctime.sec,
                params.ctime.nsec,
            );
            (*inode).i_generation = params.generation;
            (*inode).i_op = iops;
            (*inode).__bindgen_anon_3.i_fop = fops;
            bindings::unlock_new_inode(inode);
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the inode is initialised; the reference moves from `this`
        // (which is not dropped) to the `ARef`.
        unsafe { ARef::from_raw(this.0.cast()) }
    }
}

impl<T: FileSystem> Drop for NewInode<T> {
    fn drop(&mut self) {
        // SAFETY: the inode is in I_NEW state and we own a reference, which
        // `iget_failed` consumes.
        unsafe { bindings::iget_failed(self.0.as_ptr()) };
    }
}
