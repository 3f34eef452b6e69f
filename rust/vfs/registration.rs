// SPDX-License-Identifier: GPL-2.0

//! Registering a filesystem type, and mounting through `fs_context`: the
//! super block gets its operation tables here.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h).

use super::bindings as vfs_bindings;
use super::debugfs::DebugfsDir;
use super::export::{ExportOps, ExportTable};
use super::inode::InodeCache;
use super::mount_options;
use super::super_block::{Fresh, SuperBlock};
use super::super_ops::{SuperOps, SuperTable};
use super::xattr::{Handlers, XattrOps};
use core::marker::PhantomData;
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};

/// What a registered filesystem type implements.
pub(crate) trait FileSystemType: SuperOps + XattrOps + ExportOps {}

impl<T: SuperOps + XattrOps + ExportOps> FileSystemType for T {}

/// A registered filesystem type; unregistered on drop.
///
/// # Invariants
///
/// `fs_type` is registered with the VFS for as long as this object lives, and
/// the inode cache (see [`InodeCache`]) exists for as long as it is.
/// `debugfs` is the module's debugfs directory, which the mounts' directories
/// live in (they are gone when the filesystem is unregistered).
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: FileSystemType> {
    debugfs: DebugfsDir,
    #[pin]
    fs_type: Opaque<bindings::file_system_type>,
    _p: PhantomData<T>,
}

// SAFETY: `Registration` only holds the registered `file_system_type`, which
// the VFS accesses under its own locks; it may be dropped on any thread.
unsafe impl<T: FileSystemType> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access to anything.
unsafe impl<T: FileSystemType> Sync for Registration<T> {}

impl<T: FileSystemType> Registration<T> {
    /// Creates the inode cache and registers filesystem type `T` with the
    /// VFS.
    pub(crate) fn new(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            debugfs: DebugfsDir::new_module_dir(T::NAME),
            fs_type <- Opaque::try_ffi_init(|fs_type: *mut bindings::file_system_type| {
                InodeCache::create::<T>()?;
                // SAFETY: `fs_type` is valid for writes; an all-zero
                // `file_system_type` is a valid, empty one.
                unsafe {
                    fs_type.write(core::mem::zeroed());
                    (*fs_type).name = T::NAME.as_char_ptr();
                    (*fs_type).fs_flags = bindings::FS_REQUIRES_DEV as i32;
                    (*fs_type).init_fs_context = Some(Self::init_fs_context);
                    (*fs_type).kill_sb = Some(Self::kill_sb);
                    (*fs_type).owner = module.as_ptr();
                }
                // SAFETY: `fs_type` is initialised and, being pinned, stays at
                // this address until `drop` unregisters it.
                let ret = to_result(unsafe { bindings::register_filesystem(fs_type) });
                if ret.is_err() {
                    InodeCache::destroy();
                }
                ret
            }),
            _p: PhantomData,
        })
    }

    const CONTEXT_OPS: vfs_bindings::fs_context_operations = vfs_bindings::fs_context_operations {
        free: Some(Self::free),
        parse_param: Some(Self::parse_param),
        get_tree: Some(Self::get_tree),
        reconfigure: Some(Self::reconfigure),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// `file_system_type::init_fs_context`: a mount or remount starts, with
    /// the default options.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a valid `fs_context` being set up for `T`.
    unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> c_int {
        from_result(|| {
            let options = KBox::new(T::Options::default(), GFP_KERNEL)?;
            let fc = fc.cast::<vfs_bindings::fs_context>();
            // SAFETY: guaranteed by the caller; `ops` and `fs_private` are
            // ours to set, `CONTEXT_OPS` is a promoted `'static` constant,
            // and `free` frees the options.
            unsafe {
                (*fc).fs_private = KBox::into_raw(options).cast();
                (*fc).ops = &Self::CONTEXT_OPS;
            }
            Ok(0)
        })
    }

    /// The options parsed so far into `fc`.
    ///
    /// # Safety
    ///
    /// `fc` is a valid context set up by `init_fs_context` and not freed,
    /// whose options nothing else references for `'a`.
    unsafe fn options<'a>(fc: *mut vfs_bindings::fs_context) -> &'a mut T::Options {
        // SAFETY: guaranteed by the caller: `fs_private` holds the options
        // `init_fs_context` allocated.
        unsafe { &mut *(*fc).fs_private.cast::<T::Options>() }
    }

    /// `fs_context_operations::free`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a context of `T` it is done with.
    unsafe extern "C" fn free(fc: *mut vfs_bindings::fs_context) {
        // SAFETY: guaranteed by the caller; `fs_private` was set by
        // `init_fs_context` (a context whose `init_fs_context` failed before
        // allocating is freed with a null one) and is not used again.
        unsafe {
            let options = (*fc).fs_private.cast::<T::Options>();
            if !options.is_null() {
                drop(KBox::from_raw(options));
            }
        }
    }

    /// `fs_context_operations::parse_param`: one mount option.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a context of `T` and a parameter for it.
    unsafe extern "C" fn parse_param(
        fc: *mut vfs_bindings::fs_context,
        param: *mut vfs_bindings::fs_parameter,
    ) -> c_int {
        // SAFETY: guaranteed by the caller; the VFS parses one parameter of
        // a context at a time.
        from_result(|| unsafe { mount_options::parse(fc, param, Self::options(fc)) }.map(|()| 0))
    }

    /// `fs_context_operations::get_tree`: mounts a block device.
    ///
    /// # Safety
    ///
    /// Called by the VFS with the valid context of a mount of `T`.
    unsafe extern "C" fn get_tree(fc: *mut vfs_bindings::fs_context) -> c_int {
        // SAFETY: guaranteed by the caller.
        unsafe { vfs_bindings::get_tree_bdev(fc, Some(Self::fill_super)) }
    }

    /// `fs_context_operations::reconfigure`: remounting.
    ///
    /// # Safety
    ///
    /// Called by the VFS with the context of a mounted super block of `T`
    /// (`fc->root`), holding `s_umount`.
    unsafe extern "C" fn reconfigure(fc: *mut vfs_bindings::fs_context) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller; parsing is over.
            let (sb, read_only, options) = unsafe {
                let sb = SuperBlock::<T>::from_raw((*(*fc).root).d_sb);
                let read_only = (*fc).sb_flags & vfs_bindings::SB_RDONLY as u32 != 0;
                (sb, read_only, Self::options(fc))
            };
            T::reconfigure(sb, read_only, options)?;
            Ok(0)
        })
    }

    /// The `fill_super` of `get_tree_bdev`: sets up a new super block of `T`.
    ///
    /// # Safety
    ///
    /// Called by `get_tree_bdev` with a new, exclusively owned super block
    /// whose device is open, and the mount's context of `T`.
    unsafe extern "C" fn fill_super(
        sb_ptr: *mut bindings::super_block,
        fc: *mut vfs_bindings::fs_context,
    ) -> c_int {
        from_result(|| {
            // SAFETY: guaranteed by the caller; the tables are `'static`.
            unsafe {
                (*sb_ptr).s_magic = T::MAGIC as usize;
                (*sb_ptr).s_op = &SuperTable::<T>::OPS;
                // Before the first inode: `inode_init_always` sets
                // `IOP_XATTR` on the inodes of a super block with handlers.
                (*sb_ptr).s_xattr = Handlers::<T>::table();
                (*sb_ptr).s_export_op = ExportTable::<T>::table();
                (*sb_ptr).s_maxbytes = T::MAX_BYTES;
                (*sb_ptr).s_max_links = T::MAX_LINKS;
                (*sb_ptr).s_time_gran = 1;
            }
            // SAFETY: as above; `s_fs_info` is not set yet, which is what
            // the `Fresh` state promises.
            let fresh = unsafe { SuperBlock::<T, Fresh>::from_raw(sb_ptr) };
            fresh.set_block_size(T::BLOCK_SIZE)?;
            // SAFETY: `fc` is the mount's context, its parsing over.
            let options = unsafe { Self::options(fc) };
            let data = KBox::pin_init(T::fill_super(fresh, options)?, GFP_KERNEL)?;
            // SAFETY: as above. From here on `s_fs_info` owns `data`, which
            // `kill_sb` frees; it is never moved out of its allocation.
            unsafe {
                (*sb_ptr).s_fs_info = KBox::into_raw(Pin::into_inner_unchecked(data)).cast();
            }

            // SAFETY: `s_fs_info` now holds `T::Data`.
            let sb = unsafe { SuperBlock::<T>::from_raw(sb_ptr) };
            let root = ARef::into_raw(T::root(sb)?);
            // SAFETY: `root` is a valid inode reference, which `d_make_root`
            // consumes even on failure.
            let dentry = unsafe { bindings::d_make_root(root.as_ptr().cast()) };
            if dentry.is_null() {
                return Err(ENOMEM);
            }
            // SAFETY: as above.
            unsafe { (*sb_ptr).s_root = dentry };
            Ok(0)
        })
    }

    /// `file_system_type::kill_sb`.
    ///
    /// # Safety
    ///
    /// Called by the VFS with a super block of `T` being torn down.
    unsafe extern "C" fn kill_sb(sb_ptr: *mut bindings::super_block) {
        // SAFETY: guaranteed by the caller.
        let data = unsafe { (*sb_ptr).s_fs_info.cast::<T::Data>() };
        // SAFETY: as above; `generic_shutdown_super` (inside
        // `kill_block_super`) writes back and evicts every inode, and only
        // then calls `put_super`; after it nothing uses `s_fs_info`.
        unsafe {
            bindings::kill_block_super(sb_ptr);
            if !data.is_null() {
                drop(KBox::from_raw(data));
            }
        }
    }
}

#[pinned_drop]
impl<T: FileSystemType> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: per the type invariant, `fs_type` is registered.
        unsafe { bindings::unregister_filesystem(self.fs_type.get()) };
        InodeCache::destroy();
    }
}
