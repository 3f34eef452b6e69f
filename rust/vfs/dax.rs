// SPDX-License-Identifier: GPL-2.0

//! DAX: file data read, written and mapped in place on a persistent-memory
//! device, without the page cache (`fs/dax.c`).
//!
//! A mount finds the DAX device under its block device ([`DaxDevice`]); the
//! filesystem hands it to iomap through `IomapOps::dax_device`, and iomap
//! then maps DAX requests to device addresses. The DAX data path sits
//! beside what it replaces: reads and writes in `file.rs`
//! (`Kiocb::dax_rw`), faults in `fault.rs` (`Fault::dax_fault`), the
//! layout break before blocks go away in `page_cache.rs`
//! (`Inode::dax_break_layout`), writeback of CPU caches in `aops.rs`.
//!
//! C header: [`include/linux/dax.h`](srctree/include/linux/dax.h).

use super::bindings as vfs_bindings;
use super::super_block::{FileSystem, SuperBlock};
use core::ptr::{self, NonNull};
use kernel::{error::to_result, page::PAGE_SHIFT, prelude::*};

/// The DAX device under a mounted block device (`fs_dax_get_by_bdev`), put
/// back when dropped.
///
/// # Invariants
///
/// `dev` is a DAX device we hold a reference to, and `start` the byte
/// offset of the block device in it, a multiple of the page size.
pub(crate) struct DaxDevice {
    dev: NonNull<vfs_bindings::dax_device>,
    start: u64,
}

// SAFETY: a DAX device reference may be used and put from any thread.
unsafe impl Send for DaxDevice {}
// SAFETY: the DAX functions called through `&DaxDevice` take their own
// locks.
unsafe impl Sync for DaxDevice {}

impl DaxDevice {
    /// The DAX device of `sb`'s block device, if it has one (a pmem device
    /// with struct pages; not every block device does).
    pub(crate) fn of<T: FileSystem, S>(sb: &SuperBlock<T, S>) -> Option<Self> {
        let mut start = 0;
        // SAFETY: the block device is open (type invariant of `sb`). No
        // holder: rexfs takes no notice of memory failures.
        let dev = unsafe {
            vfs_bindings::fs_dax_get_by_bdev(sb.bdev(), &mut start, ptr::null_mut(), ptr::null())
        };
        // INVARIANT: `fs_dax_get_by_bdev` returns a referenced device and a
        // page-aligned start, or NULL.
        NonNull::new(dev).map(|dev| DaxDevice { dev, start })
    }

    pub(super) fn as_raw(&self) -> *mut vfs_bindings::dax_device {
        self.dev.as_ptr()
    }

    /// The device address of byte `addr` of the block device.
    pub(super) fn address(&self, addr: u64) -> u64 {
        self.start + addr
    }

    /// Zeroes `blocks` blocks of `T` from block `first`, in place, a page at
    /// a time (`dax_zero_page_range` refuses more, with `EIO`).
    pub(crate) fn zero_blocks<T: FileSystem>(&self, first: u64, blocks: u64) -> Result {
        let shift = T::BLOCK_SIZE.trailing_zeros();
        let page = self.address(first << shift) >> PAGE_SHIFT;
        let pages = (blocks << shift) >> PAGE_SHIFT;
        // SAFETY: a referenced device (type invariant); the range is inside
        // the filesystem's block device; the device is used inside the DAX
        // SRCU read section, as `dax_zero_page_range` requires.
        unsafe {
            let id = vfs_bindings::dax_read_lock();
            let result = (page..page + pages).try_for_each(|page| {
                to_result(vfs_bindings::dax_zero_page_range(
                    self.as_raw(),
                    page as usize,
                    1,
                ))
            });
            vfs_bindings::dax_read_unlock(id);
            result
        }
    }
}

impl Drop for DaxDevice {
    fn drop(&mut self) {
        // SAFETY: we hold the reference (type invariant), taken without a
        // holder.
        unsafe { vfs_bindings::fs_put_dax(self.as_raw(), ptr::null_mut()) };
    }
}
