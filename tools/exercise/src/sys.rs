// SPDX-License-Identifier: GPL-2.0
//! Safe wrappers over the system calls std does not offer: `mmap`/`msync`/
//! `munmap`, `fallocate`, `posix_fadvise`, the `FICLONERANGE` and
//! `FIDEDUPERANGE` ioctls, `copy_file_range`, the page size, and
//! page-aligned buffers for `O_DIRECT`. The only module of the crate with
//! `unsafe` code.
#![allow(unsafe_code)]

use std::alloc::{self, Layout};
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// The `open` flag for direct I/O.
pub use libc::O_DIRECT;
/// `fallocate` mode flags (`FALLOC_FL_*`).
pub use libc::{FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE};

/// The system's page size in bytes.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// Converts a byte offset or length to `off_t`, failing with `EINVAL`.
fn off_t(value: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(value).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `fallocate(2)` on `file` with `mode` (`FALLOC_FL_*` flags) over
/// `len` bytes at `offset`.
pub fn fallocate(file: &File, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    let (offset, len) = (off_t(offset)?, off_t(len)?);
    // SAFETY: fallocate takes no pointers; the descriptor is borrowed from a
    // live File.
    let ret = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset, len) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` over the whole of `file`: drops its
/// clean, unmapped pages from the page cache, so that later reads come from
/// the disk.
pub fn drop_cached_pages(file: &File) -> io::Result<()> {
    // SAFETY: posix_fadvise takes no pointers; the descriptor is borrowed
    // from a live File.
    let ret = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    // posix_fadvise returns the error number instead of setting errno.
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(ret))
    }
}

/// `ioctl(FICLONERANGE)`: shares the blocks of `len` bytes of `src` at
/// `src_offset` with `dst` at `dst_offset` (`src` and `dst` may be one
/// file). Offsets and length must be multiples of the block size, except a
/// length that reaches the source's EOF.
pub fn clone_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    let arg = libc::file_clone_range {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset,
        src_length: len,
        dest_offset: dst_offset,
    };
    // SAFETY: FICLONERANGE reads one `struct file_clone_range`, which `arg`
    // is (libc's definition), and keeps no pointer to it; both descriptors
    // are borrowed from live Files.
    let ret = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONERANGE, &raw const arg) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `struct file_dedupe_range` of `linux/fs.h`, without its flexible array
/// of `struct file_dedupe_range_info`.
#[repr(C)]
#[allow(dead_code)] // The kernel reads the fields.
struct FileDedupeRange {
    src_offset: u64,
    src_length: u64,
    dest_count: u16,
    reserved1: u16,
    reserved2: u32,
}

/// `struct file_dedupe_range_info`: one destination of a dedupe, and what
/// the kernel found there.
#[repr(C)]
#[allow(dead_code)] // The kernel reads the fields it does not write.
struct FileDedupeRangeInfo {
    dest_fd: i64,
    dest_offset: u64,
    bytes_deduped: u64,
    status: i32,
    reserved: u32,
}

/// A `struct file_dedupe_range` with one destination, as the kernel lays
/// it out: the header, then `info[0]`.
#[repr(C)]
#[allow(dead_code)] // The kernel reads the header.
struct DedupeOne {
    range: FileDedupeRange,
    info: FileDedupeRangeInfo,
}

// The layout of linux/fs.h: the array of destinations right after the
// 24-byte header.
const _: () = assert!(std::mem::size_of::<FileDedupeRange>() == 24);
const _: () = assert!(std::mem::size_of::<FileDedupeRangeInfo>() == 32);
const _: () = assert!(std::mem::offset_of!(DedupeOne, info) == 24);

/// `FIDEDUPERANGE`, `_IOWR(0x94, 54, struct file_dedupe_range)`.
const FIDEDUPERANGE: libc::Ioctl = libc::_IOWR::<FileDedupeRange>(0x94, 54);
/// A dedupe's status: the ranges held the same bytes, and now share blocks.
const FILE_DEDUPE_RANGE_SAME: i32 = 0;
/// A dedupe's status: the ranges differ; nothing changed.
const FILE_DEDUPE_RANGE_DIFFERS: i32 = 1;

/// `ioctl(FIDEDUPERANGE)` of `len` bytes of `src` at `src_offset` with
/// `dst` at `dst_offset` (`src` and `dst` may be one file): true if the
/// kernel found the same bytes in both (`FILE_DEDUPE_RANGE_SAME`, every byte
/// deduped), false if they differ (`FILE_DEDUPE_RANGE_DIFFERS`). A negative
/// status (an error about the destination) is an error.
pub fn dedupe_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<bool> {
    let mut arg = DedupeOne {
        range: FileDedupeRange {
            src_offset,
            src_length: len,
            dest_count: 1,
            reserved1: 0,
            reserved2: 0,
        },
        info: FileDedupeRangeInfo {
            dest_fd: i64::from(dst.as_raw_fd()),
            dest_offset: dst_offset,
            bytes_deduped: 0,
            status: 0,
            reserved: 0,
        },
    };
    // SAFETY: FIDEDUPERANGE reads the header and its `dest_count` (1)
    // entries of `info` and writes their `bytes_deduped` and `status`:
    // `arg` is that header followed by one entry, in the kernel's layout
    // (checked above), live and exclusively borrowed for the call; the
    // kernel keeps no pointer to it. Both descriptors are borrowed from live
    // Files.
    let ret = unsafe { libc::ioctl(src.as_raw_fd(), FIDEDUPERANGE, &raw mut arg) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    let (status, deduped) = (arg.info.status, arg.info.bytes_deduped);
    match status {
        FILE_DEDUPE_RANGE_SAME if deduped == len => Ok(true),
        FILE_DEDUPE_RANGE_SAME => Err(io::Error::other(format!(
            "deduped {deduped:#x} bytes of {len:#x}"
        ))),
        FILE_DEDUPE_RANGE_DIFFERS => Ok(false),
        errno if errno < 0 => Err(io::Error::from_raw_os_error(-errno)),
        _ => Err(io::Error::other(format!("unknown dedupe status {status}"))),
    }
}

/// One `copy_file_range(2)` (the system call, not libc's wrapper): copies
/// up to `len` bytes of `src` at `src_offset` to `dst` at `dst_offset`
/// (`src` and `dst` may be one file; the files' own offsets do not move).
/// Returns how many bytes it copied: 0 at or past the source's EOF, and
/// possibly fewer than asked elsewhere (a remap that stopped at a block
/// boundary), like `write(2)`.
pub fn copy_file_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: usize,
) -> io::Result<usize> {
    let loff_t =
        |value: u64| i64::try_from(value).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL));
    let (mut off_in, mut off_out) = (loff_t(src_offset)?, loff_t(dst_offset)?);
    let flags: libc::c_uint = 0;
    // SAFETY: the kernel reads and advances the two `loff_t` offsets, live
    // locals borrowed for the call, and copies between the files without a
    // user buffer; both descriptors are borrowed from live Files.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_copy_file_range,
            src.as_raw_fd(),
            &raw mut off_in,
            dst.as_raw_fd(),
            &raw mut off_out,
            len,
            flags,
        )
    };
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// A `MAP_SHARED` mapping of a file range, unmapped on drop.
///
/// Its bytes are only reached by copying ([`Mapping::read`],
/// [`Mapping::write`]), never through Rust references: the file's contents
/// may change under a shared mapping, which a `&[u8]` must not see. The
/// caller must not shrink the file below the mapped range while the mapping
/// lives (an access past EOF raises `SIGBUS`).
#[derive(Debug)]
pub struct Mapping {
    addr: NonNull<u8>,
    len: usize,
    writable: bool,
}

impl Mapping {
    /// Maps `len` bytes of `file` at `offset` (a multiple of the page size),
    /// readable, and writable if `writable`.
    pub fn new(file: &File, offset: u64, len: usize, writable: bool) -> io::Result<Self> {
        if len == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        let offset = off_t(offset)?;
        // SAFETY: a fresh mapping chosen by the kernel (NULL hint) cannot
        // overlap memory Rust owns; the descriptor is borrowed from a live
        // File and may be closed afterwards without affecting the mapping.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr = NonNull::new(addr.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Self {
            addr,
            len,
            writable,
        })
    }

    /// Panics unless `start..start + len` lies inside the mapping.
    fn check_bounds(&self, start: usize, len: usize) {
        let end = start.checked_add(len).expect("mapping range overflows");
        assert!(
            end <= self.len,
            "mapping range {start}..{end} outside 0..{}",
            self.len
        );
    }

    /// Copies the mapped bytes at `start` into `dst`.
    pub fn read(&self, start: usize, dst: &mut [u8]) {
        self.check_bounds(start, dst.len());
        // SAFETY: the source range is inside the live mapping (checked
        // above), which is readable and cannot overlap `dst` (memory Rust
        // owns); copying raw bytes creates no reference to the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.addr.as_ptr().add(start),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }

    /// Copies `src` into the mapping at `start`. Panics if the mapping is
    /// read-only.
    pub fn write(&mut self, start: usize, src: &[u8]) {
        assert!(self.writable, "write to a read-only mapping");
        self.check_bounds(start, src.len());
        // SAFETY: the destination range is inside the live mapping (checked
        // above), which is writable (asserted above) and cannot overlap
        // `src`; no reference to the mapping is created.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.addr.as_ptr().add(start), src.len())
        }
    }

    /// `msync(MS_SYNC)` of the whole mapping: writes its dirty pages back
    /// and waits for them.
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: the range is exactly the live mapping, whose address is
        // page-aligned (returned by mmap).
        let ret = unsafe { libc::msync(self.addr.as_ptr().cast(), self.len, libc::MS_SYNC) };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the range mmap returned, once; no reference
        // into it exists (the accessors only copy).
        unsafe { libc::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}

/// A zeroed heap buffer whose address is aligned to [`AlignedBuf::ALIGN`],
/// as `O_DIRECT` requires.
#[derive(Debug)]
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    /// The alignment of the buffer's address, and of direct I/O offsets and
    /// lengths.
    pub const ALIGN: usize = 4096;

    /// A zeroed buffer of `len` bytes (`len > 0`).
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(1), Self::ALIGN).expect("buffer layout");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Self { ptr, layout }
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr points to layout.size() initialized (zeroed) bytes
        // that this buffer owns for its whole life.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in deref; &mut self makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated with exactly this layout and is freed once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffer_is_aligned_and_zeroed() {
        let buf = AlignedBuf::new(3 * AlignedBuf::ALIGN);
        assert_eq!(buf.as_ptr() as usize % AlignedBuf::ALIGN, 0);
        assert_eq!(buf.len(), 3 * AlignedBuf::ALIGN);
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn ioctl_numbers_match_linux_fs_h() {
        assert_eq!(libc::FICLONERANGE, 0x4020_940d);
        assert_eq!(FIDEDUPERANGE, 0xc018_9436);
    }

    #[test]
    fn page_size_is_a_power_of_two() {
        assert!(page_size().is_power_of_two());
    }
}
