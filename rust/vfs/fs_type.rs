// SPDX-License-Identifier: GPL-2.0

//! The [`FileSystem`] trait, filesystem type registration, mounting through
//! `fs_context`, and the super block, directory, symlink and special file
//! operation tables.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h).

use super::bindings as rexfs_bindings;
use super::debugfs::DebugfsDir;
use super::dir::DirEmitter;
use super::export;
use super::file::{self, IoIter, Kiocb};
use super::inode::{self, Idmap, Inode, NewInodeKind};
use super::iomap::{Mapping, WritebackCache};
use super::super_block::{Fresh, SuperBlock};
use super::xattr::{self, XattrList, XattrNamespace, XattrSetFlags};
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

    // Super block.

    /// Reads and checks the on-disk super block of a device being mounted;
    /// returns the initialiser of the per-mount data.
    fn fill_super(sb: &SuperBlock<Self, Fresh>) -> Result<impl PinInit<Self::Data, Error>>;
    /// Returns the root directory inode of a mounted filesystem.
    fn root(sb: &SuperBlock<Self>) -> Result<ARef<Inode<Self>>>;
    /// Called on unmount, after all inodes are written back and evicted.
    fn put_super(sb: &SuperBlock<Self>);
    /// Reports filesystem statistics.
    fn statfs(sb: &SuperBlock<Self>) -> Result<StatFs>;
    /// Writes the filesystem's own dirty state (`wait`: synchronously).
    fn sync_fs(sb: &SuperBlock<Self>, wait: bool) -> Result;
    /// Called on remount before the read-only flag changes to `read_only`.
    fn remount(sb: &SuperBlock<Self>, read_only: bool) -> Result;
    /// Freezing (`FIFREEZE`, snapshots): the VFS has blocked every change
    /// and written everything back; leaves the device consistent.
    fn freeze(sb: &SuperBlock<Self>) -> Result;
    /// Thawing: changes may start again.
    fn unfreeze(sb: &SuperBlock<Self>) -> Result;
    /// Writes the inode to disk (`sync`: and waits for it).
    fn write_inode(inode: &Inode<Self>, sync: bool) -> Result;
    /// The last reference to the inode is gone and its page cache is
    /// truncated; frees it on disk if it has no links left.
    fn evict_inode(inode: &Inode<Self>);

    // Directories. The VFS holds the directories' `i_rwsem`.

    /// Looks `name` up in directory `dir`; `None` if it does not exist.
    fn lookup(dir: &Inode<Self>, name: &[u8]) -> Result<Option<ARef<Inode<Self>>>>;
    /// Emits the entries of directory `dir` from the emitter's position on.
    fn read_dir(dir: &Inode<Self>, emitter: &mut DirEmitter<'_>) -> Result;
    /// Creates an inode of `kind` named `name` in `dir`.
    fn create(
        dir: &Inode<Self>,
        name: &[u8],
        kind: NewInodeKind<'_>,
        mode: u16,
        idmap: Idmap<'_>,
    ) -> Result<ARef<Inode<Self>>>;
    /// `O_TMPFILE`: creates a regular file for `dir` without an entry in it,
    /// with one link, which the VFS drops as it opens the file
    /// (`d_tmpfile`). [`FileSystem::link`] may give it a name later;
    /// otherwise it goes at its last close, as an unlinked open file does.
    /// The VFS does not hold `dir`'s `i_rwsem`.
    fn tmpfile(dir: &Inode<Self>, mode: u16, idmap: Idmap<'_>) -> Result<ARef<Inode<Self>>>;
    /// Adds a hard link `name` in `dir` to `inode` (which has no link if it
    /// is an `O_TMPFILE` file).
    fn link(dir: &Inode<Self>, name: &[u8], inode: &Inode<Self>) -> Result;
    /// Removes the entry `name` of `inode` from `dir` (`rmdir` for directories).
    fn unlink(dir: &Inode<Self>, name: &[u8], inode: &Inode<Self>) -> Result;
    /// Renames; `flags` are `RENAME_*` (NOREPLACE is checked by the VFS);
    /// a whiteout that `RENAME_WHITEOUT` asks for is owned as `idmap` says.
    fn rename(
        old_dir: &Inode<Self>,
        old_name: &[u8],
        old: &Inode<Self>,
        new_dir: &Inode<Self>,
        new_name: &[u8],
        new: Option<&Inode<Self>>,
        flags: u32,
        idmap: Idmap<'_>,
    ) -> Result;

    // Inode flags (`chattr`, `FS_IOC_GETFLAGS`/`FS_IOC_SETFLAGS` and the
    // flags of `FS_IOC_FSGETXATTR`/`FS_IOC_FSSETXATTR`) of regular files
    // and directories, as `FS_*_FL` (see [`super::fs_flags`]).

    /// The inode's flags.
    fn get_flags(inode: &Inode<Self>) -> u32;
    /// Sets the inode's flags to `flags` and persists them; fails with
    /// `EOPNOTSUPP` for a flag the filesystem does not have. The VFS holds
    /// `i_rwsem`, has checked the caller's rights (`CAP_LINUX_IMMUTABLE` to
    /// change `IMMUTABLE` or `APPEND`) and enforces the flags that have an
    /// `i_flags` bit once this returns.
    fn set_flags(inode: &Inode<Self>, flags: u32) -> Result;

    // Regular files.

    /// Sets the size of a regular file (`ATTR_SIZE`, also to the size it
    /// has); `i_rwsem` is held.
    fn truncate(inode: &Inode<Self>, size: i64) -> Result;
    /// `read(2)` of a regular file.
    fn read_iter(iocb: &mut Kiocb<'_, Self>, to: &mut IoIter<'_>) -> Result<isize>;
    /// `write(2)` on a regular file.
    fn write_iter(iocb: &mut Kiocb<'_, Self>, from: &mut IoIter<'_>) -> Result<isize>;
    /// A direct write of `size` bytes at `offset` completed (in the
    /// writer's task); `unwritten`: it wrote into unwritten extents.
    fn dio_write_end(inode: &Inode<Self>, offset: i64, size: u64, unwritten: bool) -> Result;
    /// A page fault on a mapping of a regular file that finds no page
    /// mapped.
    fn fault(fault: file::Fault<'_, Self>) -> file::VmFaultResult {
        fault.filemap_fault()
    }
    /// A write fault on a shared mapping of a regular file.
    fn page_mkwrite(fault: &file::Fault<'_, Self>) -> file::VmFaultResult;
    /// `fallocate(2)` on a regular file; `mode` is `FALLOC_FL_*`.
    fn fallocate(file: &file::OpenFile<Self>, mode: i32, offset: i64, len: i64) -> Result;
    /// Writeback of unwritten blocks in `offset..offset + size` completed:
    /// they now hold data. Runs in task context.
    fn convert_unwritten(inode: &Inode<Self>, offset: i64, size: u64) -> Result;
    /// `fsync(2)` for `start..=end` of the file.
    fn fsync(file: &file::OpenFile<Self>, start: i64, end: i64, datasync: bool) -> Result;
    /// Maps `pos..pos + len` for iomap; `flags` are `IOMAP_*`.
    fn iomap_begin(inode: &Inode<Self>, pos: i64, len: i64, flags: u32) -> Result<Mapping>;
    /// Ends the use of `mapping` after `written` bytes of `pos..pos + len`.
    fn iomap_end(
        inode: &Inode<Self>,
        pos: i64,
        len: i64,
        written: i64,
        flags: u32,
        mapping: &Mapping,
    ) -> Result;
    /// Whether `mapping` (from `iomap_begin`) still describes the extent map.
    fn iomap_valid(inode: &Inode<Self>, mapping: &Mapping) -> bool;
    /// Maps `pos` for writeback, reusing the mapping cached in `cache` if
    /// it is still valid.
    fn writeback_map(inode: &Inode<Self>, cache: &mut WritebackCache, pos: i64) -> Result;

    // Extended attributes, of every inode type. `name` comes without the
    // namespace prefix and is not empty; the VFS has checked permissions.

    /// Calls `read` with the value of attribute `name` of `namespace`;
    /// `ENODATA` if there is none. Runs without `i_rwsem`.
    fn get_xattr<R>(
        inode: &Inode<Self>,
        namespace: XattrNamespace,
        name: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<R>;
    /// Sets attribute `name` of `namespace` to `value`, or removes it
    /// (`None`), as `flags` allow; `i_rwsem` is held.
    fn set_xattr(
        inode: &Inode<Self>,
        namespace: XattrNamespace,
        name: &[u8],
        value: Option<&[u8]>,
        flags: XattrSetFlags,
    ) -> Result;
    /// Adds every attribute of `inode` to `list`. Runs without `i_rwsem`.
    fn list_xattrs(inode: &Inode<Self>, list: &mut XattrList<'_>) -> Result;

    // File handles.

    /// Returns inode `ino` for a file handle made when the inode's
    /// generation was `generation`; `ESTALE` if that inode is gone.
    fn inode_for_handle(sb: &SuperBlock<Self>, ino: u64, generation: u32) -> Result<ARef<Inode<Self>>>;
    /// Returns the parent of directory `dir`, which is not the root.
    fn parent_dir(dir: &Inode<Self>) -> Result<ARef<Inode<Self>>>;
}

/// Filesystem statistics, as returned by `statfs(2)`.
pub(crate) struct StatFs {
    /// Total data blocks.
    pub(crate) blocks: u64,
    /// Free data blocks.
    pub(crate) free_blocks: u64,
    /// Free data blocks that file data may take (`f_bavail`).
    pub(crate) available_blocks: u64,
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
/// `debugfs` is the module's debugfs directory, which the mounts' directories
/// live in (they are gone when the filesystem is unregistered).
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: FileSystem> {
    debugfs: DebugfsDir,
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
            debugfs: DebugfsDir::new_module_dir(T::NAME),
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
            reconfigure: Some(Self::reconfigure),
            // SAFETY: all-zero is valid for the remaining (optional) callbacks.
            ..unsafe { core::mem::zeroed() }
        };

    pub(super) const SUPER_OPS: bindings::super_operations = bindings::super_operations {
        alloc_inode: Some(inode::alloc_inode::<T>),
        free_inode: Some(inode::free_inode::<T>),
        write_inode: Some(Self::write_inode),
        evict_inode: Some(Self::evict_inode),
        put_super: Some(Self::put_super),
        sync_fs: Some(Self::sync_fs),
        freeze_fs: Some(Self::freeze_fs),
        unfreeze_fs: Some(Self::unfreeze_fs),
        statfs: Some(Self::statfs),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const DIR_INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        lookup: Some(Self::lookup),
        create: Some(Self::create),
        link: Some(Self::link),
        unlink: Some(Self::unlink),
        symlink: Some(Self::symlink),
        mkdir: Some(Self::mkdir),
        rmdir: Some(Self::unlink),
        mknod: Some(Self::mknod),
        rename: Some(Self::rename),
        tmpfile: Some(Self::tmpfile),
        setattr: Some(Self::setattr),
        listxattr: Some(xattr::Handlers::<T>::listxattr),
        fileattr_get: Some(Self::fileattr_get),
        fileattr_set: Some(Self::fileattr_set),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const DIR_FILE_OPS: bindings::file_operations = bindings::file_operations {
        llseek: Some(bindings::generic_file_llseek),
        read: Some(bindings::generic_read_dir),
        iterate_shared: Some(Self::iterate_shared),
        fsync: Some(file::fsync::<T>),
        setlease: Some(rexfs_bindings::generic_setlease),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    /// Device nodes, FIFOs and sockets: attributes only (their data goes
    /// through their file operations).
    pub(super) const SPECIAL_INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        setattr: Some(Self::setattr),
        listxattr: Some(xattr::Handlers::<T>::listxattr),
        // SAFETY: all-zero is valid for the remaining (optional) callbacks.
        ..unsafe { core::mem::zeroed() }
    };

    pub(super) const SYMLINK_INODE_OPS: bindings::inode_operations = bindings::inode_operations {
        get_link: Some(bindings::simple_get_link),
        setattr: Some(Self::setattr),
        listxattr: Some(xattr::Handlers::<T>::listxattr),
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

    unsafe extern "C" fn reconfigure(fc: *mut rexfs_bindings::fs_context) -> c_int {
        from_result(|| {
            // SAFETY: reconfiguration passes the context of a mounted super
            // block of this type (`fc->root`).
            let (sb, read_only) = unsafe {
                let sb = SuperBlock::<T>::from_raw((*(*fc).root).d_sb);
                (sb, (*fc).sb_flags & rexfs_bindings::SB_RDONLY as u32 != 0)
            };
            if read_only != sb.is_read_only() {
                T::remount(sb, read_only)?;
            }
            Ok(0)
        })
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
                // Before the first inode: `inode_init_always` sets
                // `IOP_XATTR` on the inodes of a super block with handlers.
                (*sb_ptr).s_xattr = xattr::Handlers::<T>::table();
                (*sb_ptr).s_export_op = export::ExportOps::<T>::table();
                (*sb_ptr).s_maxbytes = T::MAX_BYTES;
                (*sb_ptr).s_time_gran = 1;
            }
            // SAFETY: as above; `s_fs_info` is not set yet, which is what
            // the `Fresh` state promises.
            let fresh = unsafe { SuperBlock::<T, Fresh>::from_raw(sb_ptr) };
            fresh.set_block_size(T::BLOCK_SIZE)?;
            let data = KBox::pin_init(T::fill_super(fresh)?, GFP_KERNEL)?;
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

    unsafe extern "C" fn kill_sb(sb_ptr: *mut bindings::super_block) {
        // SAFETY: the VFS passes a super block being torn down.
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

    unsafe extern "C" fn write_inode(
        inode: *mut bindings::inode,
        wbc: *mut bindings::writeback_control,
    ) -> c_int {
        let wbc = wbc.cast::<rexfs_bindings::writeback_control>();
        // SAFETY: writeback passes a referenced inode of this filesystem
        // and a valid `writeback_control`.
        let (inode, sync) = unsafe {
            (
                Inode::<T>::from_raw(inode),
                (*wbc).sync_mode == bindings::writeback_sync_modes_WB_SYNC_ALL,
            )
        };
        from_result(|| T::write_inode(inode, sync).map(|()| 0))
    }

    unsafe extern "C" fn evict_inode(inode_ptr: *mut bindings::inode) {
        // SAFETY: the VFS passes an inode being evicted: no other user is
        // left, so its page cache can be truncated and the inode cleared.
        unsafe {
            bindings::truncate_inode_pages_final(&raw mut (*inode_ptr).i_data);
            if inode::is_initialised::<T>(inode_ptr) && !bindings::is_bad_inode(inode_ptr) {
                T::evict_inode(Inode::<T>::from_raw(inode_ptr));
            }
            bindings::clear_inode(inode_ptr);
        }
    }

    unsafe extern "C" fn put_super(sb: *mut bindings::super_block) {
        // SAFETY: unmount calls `put_super` on a super block whose data is
        // still set up (it is freed later, in `kill_sb`).
        T::put_super(unsafe { SuperBlock::<T>::from_raw(sb) });
    }

    unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: c_int) -> c_int {
        // SAFETY: the VFS passes a mounted super block of this type.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::sync_fs(sb, wait != 0).map(|()| 0))
    }

    unsafe extern "C" fn freeze_fs(sb: *mut bindings::super_block) -> c_int {
        // SAFETY: `freeze_super` passes a mounted, writable super block of
        // this type.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::freeze(sb).map(|()| 0))
    }

    unsafe extern "C" fn unfreeze_fs(sb: *mut bindings::super_block) -> c_int {
        // SAFETY: `thaw_super` passes a mounted, writable, frozen super
        // block of this type.
        let sb = unsafe { SuperBlock::<T>::from_raw(sb) };
        from_result(|| T::unfreeze(sb).map(|()| 0))
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
                (*buf).f_bavail = stat.available_blocks;
                (*buf).f_files = stat.files;
                (*buf).f_ffree = stat.free_files;
                (*buf).f_namelen = stat.name_len as _;
            }
            Ok(0)
        })
    }

    /// The name of `dentry`.
    ///
    /// # Safety
    ///
    /// The dentry's name must be stable for `'a`, as it is while the VFS
    /// holds its parent directory locked.
    unsafe fn name<'a>(dentry: *mut bindings::dentry) -> &'a [u8] {
        let mut len = 0u32;
        // SAFETY: the caller guarantees the name is stable; the returned
        // pointer is valid for `len` bytes.
        unsafe {
            let ptr = rexfs_bindings::rexfs_dentry_name(dentry, &mut len);
            core::slice::from_raw_parts(ptr, len as usize)
        }
    }

    /// The inode of a positive `dentry`, or `None`.
    ///
    /// # Safety
    ///
    /// `dentry` must belong to this filesystem and stay positive for `'a`.
    pub(super) unsafe fn dentry_inode<'a>(dentry: *mut bindings::dentry) -> Option<&'a Inode<T>> {
        // SAFETY: guaranteed by the caller.
        let inode = unsafe { rexfs_bindings::rexfs_dentry_inode(dentry) };
        // SAFETY: a positive dentry holds a reference to its initialised inode.
        (!inode.is_null()).then(|| unsafe { Inode::from_raw(inode) })
    }

    unsafe extern "C" fn lookup(
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        _flags: c_uint,
    ) -> *mut bindings::dentry {
        // SAFETY: `dir` is a referenced directory inode of this filesystem,
        // locked for lookup, which keeps the dentry's name stable.
        let (dir, name) = unsafe { (Inode::<T>::from_raw(dir), Self::name(dentry)) };
        let inode = match T::lookup(dir, name) {
            Ok(Some(inode)) => ARef::into_raw(inode).as_ptr().cast(),
            Ok(None) => ptr::null_mut(),
            Err(e) => return e.to_ptr(),
        };
        // SAFETY: `dentry` is the valid, unhashed dentry being looked up;
        // `d_splice_alias` consumes the inode reference (or NULL).
        unsafe { bindings::d_splice_alias(inode, dentry) }
    }

    /// Creates an inode of `kind` for the negative `dentry` in `dir`.
    ///
    /// # Safety
    ///
    /// The pointers are what the VFS passes to a creating inode operation.
    unsafe fn create_common(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        kind: NewInodeKind<'_>,
    ) -> Result {
        // SAFETY: the VFS holds `dir` locked, so the name is stable.
        let (dir, name) = unsafe { (Inode::<T>::from_raw(dir), Self::name(dentry)) };
        // SAFETY: `idmap` is the mount's idmapping, valid during the call.
        let idmap = unsafe { Idmap::from_raw(idmap) };
        let inode = T::create(dir, name, kind, mode, idmap)?;
        // SAFETY: `dentry` is negative and hashed; `d_instantiate` takes over
        // our reference to the new inode.
        unsafe { bindings::d_instantiate(dentry, ARef::into_raw(inode).as_ptr().cast()) };
        Ok(())
    }

    unsafe extern "C" fn create(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> c_int {
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            Self::create_common(idmap, dir, dentry, mode, NewInodeKind::File).map(|()| 0)
        })
    }

    unsafe extern "C" fn mkdir(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
    ) -> *mut bindings::dentry {
        // SAFETY: forwarding the VFS's arguments.
        match unsafe { Self::create_common(idmap, dir, dentry, mode, NewInodeKind::Dir) } {
            Ok(()) => ptr::null_mut(),
            Err(e) => e.to_ptr(),
        }
    }

    unsafe extern "C" fn symlink(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        target: *const c_char,
    ) -> c_int {
        // SAFETY: `target` is a NUL-terminated string valid during the call.
        let target = unsafe { CStr::from_char_ptr(target) }.to_bytes();
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            let kind = NewInodeKind::Symlink(target);
            Self::create_common(idmap, dir, dentry, bindings::S_IFLNK as u16 | 0o777, kind)
                .map(|()| 0)
        })
    }

    unsafe extern "C" fn mknod(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
        mode: bindings::umode_t,
        rdev: bindings::dev_t,
    ) -> c_int {
        // SAFETY: forwarding the VFS's arguments.
        from_result(|| unsafe {
            Self::create_common(idmap, dir, dentry, mode, NewInodeKind::Special(rdev)).map(|()| 0)
        })
    }

    unsafe extern "C" fn tmpfile(
        idmap: *mut bindings::mnt_idmap,
        dir: *mut bindings::inode,
        file: *mut bindings::file,
        mode: bindings::umode_t,
    ) -> c_int {
        from_result(|| {
            // SAFETY: `vfs_tmpfile` passes a referenced directory inode of
            // this filesystem and the mount's idmapping, valid during the
            // call.
            let (dir, idmap) = unsafe { (Inode::<T>::from_raw(dir), Idmap::from_raw(idmap)) };
            let inode = T::tmpfile(dir, mode, idmap)?;
            // SAFETY: `file` is being opened on a new negative dentry that
            // has no name in `dir`. `d_tmpfile` drops the inode's one link
            // and gives our reference to the dentry; `finish_open_simple`
            // opens the file on it.
            unsafe {
                bindings::d_tmpfile(file, ARef::into_raw(inode).as_ptr().cast());
                to_result(rexfs_bindings::rexfs_finish_open_simple(file))?;
            }
            Ok(0)
        })
    }

    unsafe extern "C" fn link(
        old_dentry: *mut bindings::dentry,
        dir: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the VFS holds `dir` and the source inode locked; the
            // source dentry is positive.
            let (dir, name, inode) = unsafe {
                (
                    Inode::<T>::from_raw(dir),
                    Self::name(dentry),
                    Self::dentry_inode(old_dentry).ok_or(ENOENT)?,
                )
            };
            T::link(dir, name, inode)?;
            let inode: ARef<Inode<T>> = inode.into();
            // SAFETY: `dentry` is negative; `d_instantiate` takes over the
            // reference.
            unsafe { bindings::d_instantiate(dentry, ARef::into_raw(inode).as_ptr().cast()) };
            Ok(0)
        })
    }

    unsafe extern "C" fn unlink(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
        from_result(|| {
            // SAFETY: the VFS holds `dir` and the victim locked; the dentry
            // is positive.
            let (dir, name, inode) = unsafe {
                (
                    Inode::<T>::from_raw(dir),
                    Self::name(dentry),
                    Self::dentry_inode(dentry).ok_or(ENOENT)?,
                )
            };
            T::unlink(dir, name, inode).map(|()| 0)
        })
    }

    unsafe extern "C" fn rename(
        idmap: *mut bindings::mnt_idmap,
        old_dir: *mut bindings::inode,
        old_dentry: *mut bindings::dentry,
        new_dir: *mut bindings::inode,
        new_dentry: *mut bindings::dentry,
        flags: c_uint,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the VFS holds both directories and both inodes locked,
            // so names and inodes are stable; `idmap` is the mount's
            // idmapping, valid during the call.
            unsafe {
                T::rename(
                    Inode::from_raw(old_dir),
                    Self::name(old_dentry),
                    Self::dentry_inode(old_dentry).ok_or(ENOENT)?,
                    Inode::from_raw(new_dir),
                    Self::name(new_dentry),
                    Self::dentry_inode(new_dentry),
                    flags,
                    Idmap::from_raw(idmap),
                )
            }
            .map(|()| 0)
        })
    }

    pub(super) unsafe extern "C" fn setattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        attr: *mut bindings::iattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the VFS holds the inode locked and passes valid
            // arguments; `setattr_prepare` checks permissions and the size.
            unsafe {
                let inode = Self::dentry_inode(dentry).ok_or(ENOENT)?;
                // Nothing of an immutable inode changes (as in ext4). The
                // VFS refuses most changes itself, but not a size change
                // through a file opened before the flag was set.
                if inode.is_immutable() {
                    return Err(EPERM);
                }
                to_result(bindings::setattr_prepare(idmap, dentry, attr))?;
                if (*attr).ia_valid & bindings::ATTR_SIZE != 0 {
                    T::truncate(inode, (*attr).ia_size)?;
                }
                bindings::setattr_copy(idmap, inode.as_raw(), attr);
                inode.mark_dirty();
            }
            Ok(0)
        })
    }

    /// `fileattr_get`, for `FS_IOC_GETFLAGS` and `FS_IOC_FSGETXATTR`.
    pub(super) unsafe extern "C" fn fileattr_get(
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: the VFS passes a positive dentry of this filesystem,
            // referenced during the call.
            let inode = unsafe { Self::dentry_inode(dentry) }.ok_or(ENOENT)?;
            // SAFETY: `fa` is the caller's valid `file_kattr`; the helper
            // sets its flags and the `fsx_xflags` they translate to.
            unsafe { rexfs_bindings::fileattr_fill_flags(fa.cast(), T::get_flags(inode)) };
            Ok(0)
        })
    }

    /// `fileattr_set`, for `FS_IOC_SETFLAGS` and `FS_IOC_FSSETXATTR`.
    /// `vfs_fileattr_set` holds `i_rwsem`, has filled in what the request
    /// left out from [`Self::fileattr_get`] and checked the caller's rights.
    pub(super) unsafe extern "C" fn fileattr_set(
        _idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        fa: *mut bindings::file_kattr,
    ) -> c_int {
        from_result(|| {
            // SAFETY: as in `fileattr_get`.
            let inode = unsafe { Self::dentry_inode(dentry) }.ok_or(ENOENT)?;
            // SAFETY: `fa` is the caller's valid `file_kattr`, which nobody
            // changes during the call.
            let fa = unsafe { &*fa.cast::<rexfs_bindings::file_kattr>() };
            // Only flags are supported, not what `struct fsxattr` has
            // beyond them (extent size hints, project IDs, other xflags).
            // SAFETY: `fa` is a valid `file_kattr`.
            if unsafe { rexfs_bindings::rexfs_fileattr_has_fsx(fa) } {
                return Err(EOPNOTSUPP);
            }
            T::set_flags(inode, fa.flags)?;
            inode.enforce_flags(fa.flags);
            Ok(0)
        })
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
