// SPDX-License-Identifier: GPL-2.0

//! Filesystem type registration, mounting through `fs_context`, and the
//! super block and directory operation tables.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h).

use super::bindings as rexfs_bindings;
use super::dir::DirEmitter;
use super::inode::{self, Inode};
use super::super_block::{Fresh, SuperBlock};
use core::marker::PhantomData;
use core::ptr;
use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    sync::aref::ARef,
    types::Opaque,
};

/// A block-device filesystem type.
///
/// Only one filesystem type per module may be registered (see
/// [`Registration::new`]).
pub(crate) trait FileSystem: Sized + Send + Sync + 'static {
    /// Name of the filesystem type, as given to `mount -t`.
    const NAME: &'static CStr;
    /// The `f_type` reported by `statfs(2)`.
    const MAGIC: u64;
    /// Block size of the filesystem; the device's logical block size must not
    /// be larger.
    const BLOCK_SIZE: u32;
    /// Largest file size in bytes.
    const MAX_BYTES: i64;

    /// Per-mount data, owned by the super block.
    type Data: Send + Sync;
    /// Per-inode data, owned by the inode.
    type InodeData: Send + Sync;

    /// Reads and checks the on-disk super block of a device being mounted.
    fn fill_super(sb: &SuperBlock<Self, Fresh>) -> Result<Self::Data>;

    /// Returns the root directory inode of a mounted filesystem.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>>;

    /// Reports filesystem statistics.
    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs>;

    /// Looks `name` up in directory `dir`; `None` if it does not exist.
    fn lookup(dir: &Inode<Self>, name: &[u8]) -> Result<Option<ARef<Inode<Self>>>>;

    /// Emits the entries of directory `dir` from the emitter's position on.
    fn read_dir(dir: &Inode<Self>, emitter: &mut DirEmitter<'_>) -> Result;
}

/// Filesystem statistics, as returned by `statfs(2)`.
pub(crate) struct StatFs {
    /// Total data blocks.
    pub(crate) blocks: u64,
    /// Free data blocks.
    pub(crate) free_blocks: u64,
    /// Total inodes.
    pub(crate) files: u64,
    /// Free inodes.
    pub(crate) free_files: u64,
    /// Longest file name.
    pub(crate) name_len: u64,
}

/// A registered filesystem type; unregistered on drop.
///
/// # Invariants
///
/// `fs_type` is registered with the VFS for as long as this object lives, and
/// the inode cache (see [`inode::InodeCache`]) exists for as long as it is.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: FileSystem> {
    #[pin]
    fs_type: Opaque<bindings::file_system_type>,
    _p: PhantomData<T>,
}

// SAFETY: `Registration` only holds the registered `file_system_type`, which
// the VFS accesses under its own locks; it may be dropped on any thread.
unsafe impl<T: FileSystem> Send for Registration<T> {}
// SAFETY: `&Registration` gives no access to anything.
unsafe impl<T: FileSystem> Sync for Registration<T> {}

impl<T: FileSystem> Registration<T> {
    /// Creates the inode cache and registers filesystem type `T` with the VFS.
    pub(crate) fn new(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            fs_type <- Opaque::try_ffi_init(|fs_type: *mut bindings::file_system_type| {
                inode::InodeCache::create::<T>()?;
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
                    inode::InodeCache::destroy();
                }
                ret
            }),
            _p: PhantomData,
        })
    }

    const CONTEXT_OPS: rexfs_bindings::fs_context_operations =
        rexfs_bindings::fs_context_operations {
            get_tree: Some(Self::get_tree),
            // SAFETY: all-zero is valid for the remaining (optional) callbacks.
            ..unsafe { core::mem::zeroed() }
        };

    pub(super) const SUPER_OPS: bindings::super_operations = bindings::super_operations {
        alloc_inode: Some(inode::alloc_inode::<T>),
        free_inode: Some(inode::free_inode::<T>),
        statfs: Some(Self::statfs),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const DIR_INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        lookup: Some(Self::lookup),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const DIR_FILE_OPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read: Some(bindings::generic_read_dir),
        iterate_shared: Some(Self::iterate_shared),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    unsafe extern "C" fn init_fs_context(fc: *mut bindings::fs_context) -> c_int {
        let fc = fc.cast::<rexfs_bindings::fs_context>();
        // SAFETY: the VFS passes a valid `fs_context` being set up; `ops` is
        // ours to set and `CONTEXT_OPS` is a promoted `'static` constant.
        unsafe { (*fc).ops = &Self::CONTEXT_OPS };
        0
    }

    unsafe extern "C" fn get_tree(fc: *mut rexfs_bindings::fs_context) -> c_int {
        // SAFETY: `fc` is the valid context the VFS passes to `get_tree`.
        unsafe { rexfs_bindings::get_tree_bdev(fc, Some(Self::fill_super)) }
    }

    unsafe extern "C" fn fill_super(
        sb_ptr: *mut bindings::super_block,
        _fc: *mut rexfs_bindings::fs_context,
    ) -> c_int {
        from_result(|| {
            // SAFETY: `get_tree_bdev` passes a new, exclusively owned super
            // block whose device is open.
            unsafe {
                (*sb_ptr).s_magic = T::MAGIC as _;
                (*sb_ptr).s_op = &Self::SUPER_OPS;
                (*sb_ptr).s_maxbytes = T::MAX_BYTES;
                (*sb_ptr).s_time_gran = 1;
            }
            // SAFETY: as above; `s_fs_info` is not set yet, which is what
            // the `Fresh` state promises.
            let fresh = unsafe { SuperBlock::<T, Fresh>::from_raw(sb_ptr) };
            fresh.set_block_size(T::BLOCK_SIZE)?;
            let data = KBox::new(T::fill_super(fresh)?, GFP_KERNEL)?;
            // SAFETY: as above. From here on `s_fs_info` owns `data`, which
            // `kill_sb` frees.
            unsafe { (*sb_ptr).s_fs_info = KBox::into_raw(data).cast() };

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

    unsafe extern "C" fn kill_sb(sb_ptr: *mut bindings::super_block) {
        // SAFETY: the VFS passes a super block being torn down; after
        // `kill_block_super` no inode or callback uses `s_fs_info` any more.
        unsafe {
            bindings::kill_block_super(sb_ptr);
            let data = (*sb_ptr).s_fs_info.cast::<T::Data>();
            if !data.is_null() {
                drop(KBox::from_raw(data));
            }
        }
    }

    unsafe extern "C" fn statfs(
        dentry: *mut bindings::dentry,
        buf: *mut bindings::kstatfs,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the dentry passed to `statfs` belongs to a mounted
            // super block of this type.
            let sb = unsafe { SuperBlock::<T>::from_raw((*dentry).d_sb) };
            let stat = T::statfs(sb)?;
            let buf = buf.cast::<rexfs_bindings::kstatfs>();
            // SAFETY: `buf` is valid for writes; the VFS zeroed it.
            unsafe {
                (*buf).f_type = T::MAGIC as _;
                (*buf).f_bsize = T::BLOCK_SIZE as _;
                (*buf).f_frsize = T::BLOCK_SIZE as _;
                (*buf).f_blocks = stat.blocks;
                (*buf).f_bfree = stat.free_blocks;
                (*buf).f_bavail = stat.free_blocks;
                (*buf).f_files = stat.files;
                (*buf).f_ffree = stat.free_files;
                (*buf).f_namelen = stat.name_len as _;
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn lookup(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        _flags: c_uint,
    ) -> *mut bindings::dentry {
        // SAFETY: `dir` is a referenced directory inode of this filesystem.
        let dir = unsafe { Inode::<T>::from_raw(dir) };
        let mut len = 0u32;
        // SAFETY: the dentry's name is stable while the VFS holds the parent
        // locked for lookup; the returned pointer is valid for `len` bytes.
        let name = unsafe {
            let ptr = rexfs_bindings::rexfs_dentry_name(dentry, &mut len);
            core::slice::from_raw_parts(ptr, len as usize)
        };
        let inode = match T::lookup(dir, name) {
            Ok(Some(inode)) => ARef::into_raw(inode).as_ptr().cast(),
            Ok(None) => ptr::null_mut(),
            Err(e) => return e.to_ptr(),
        };
        // SAFETY: `dentry` is the valid, unhashed dentry being looked up;
        // `d_splice_alias` consumes the inode reference (or NULL).
        unsafe { bindings::d_splice_alias(inode, dentry) }
    }

    unsafe extern "C" fn iterate_shared(
        file: *mut bindings::file,
        ctx: *mut bindings::dir_context,
    ) -> c_int {
        // SAFETY: `file` is an open directory of this filesystem, so its
        // inode is referenced for the duration of the call.
        let dir = unsafe { Inode::<T>::from_raw((*file).f_inode) };
        // SAFETY: `ctx` is valid and exclusively ours for the call.
        let mut emitter = unsafe { DirEmitter::from_raw(ctx) };
        from_result(|| T::read_dir(dir, &mut emitter).map(|()| 0))
    }
}

#[pinned_drop]
impl<T: FileSystem> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: per the type invariant, `fs_type` is registered.
        unsafe { bindings::unregister_filesystem(self.fs_type.get()) };
        inode::InodeCache::destroy();
    }
}
