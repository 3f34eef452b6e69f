// SPDX-License-Identifier: GPL-2.0
//! Block-granular access to a block device or an image file.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use rexfs_format::BLOCK_SIZE;

/// Blocks moved per system call by [`Device::read_region`] and
/// [`Device::write_region`]: 1 MiB.
const CHUNK_BLOCKS: u64 = 256;

/// `O_EXCL` of Linux's `<fcntl.h>`: without `O_CREAT`, a block device
/// that is mounted (or held exclusively) fails to open with `EBUSY`; a
/// regular file ignores it.
const O_EXCL: i32 = 0o200;

/// An open device, addressed in [`BLOCK_SIZE`] blocks.
///
/// I/O errors carry the device name and block number in their message.
pub struct Device {
    file: File,
    name: String,
    size: u64,
}

impl Device {
    /// Opens the device or image at `path`, for writing too if `writable`:
    /// then a block device that is mounted is refused (as mkfs.xfs and
    /// e2fsck refuse it), whatever `-f` says.
    pub fn open(path: &Path, writable: bool) -> io::Result<Self> {
        let name = path.display().to_string();
        let mut file = OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(if writable { O_EXCL } else { 0 })
            .open(path)
            .map_err(|e| {
                let busy = e.kind() == io::ErrorKind::ResourceBusy;
                let why = if busy { " (mounted, or in use)" } else { "" };
                annotate(e, format_args!("cannot open {name}{why}"))
            })?;
        // Seeking to the end gives the size of block devices and files alike.
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| annotate(e, format_args!("{name}: cannot determine the size")))?;
        Ok(Device { file, name, size })
    }

    /// The name the device was opened by, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Size of the device in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Number of whole blocks on the device.
    pub fn block_count(&self) -> u64 {
        self.size / BLOCK_SIZE as u64
    }

    /// Reads `buf.len() / BLOCK_SIZE` blocks starting at block `start`.
    pub fn read_blocks(&self, start: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset(start)).map_err(|e| {
            let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(e.kind(), "beyond the end of the device")
            } else {
                e
            };
            annotate(e, format_args!("{}: cannot read block {start}", self.name))
        })
    }

    /// Writes `buf` (whole blocks) starting at block `start`.
    pub fn write_blocks(&self, start: u64, buf: &[u8]) -> io::Result<()> {
        self.file
            .write_all_at(buf, offset(start))
            .map_err(|e| annotate(e, format_args!("{}: cannot write block {start}", self.name)))
    }

    /// Reads blocks `start..start + count` in large chunks and hands each
    /// block to `f` with its block number.
    pub fn read_region(
        &self,
        start: u64,
        count: u64,
        mut f: impl FnMut(u64, &[u8]),
    ) -> io::Result<()> {
        let mut buf = chunk_buffer(count);
        for (first, n) in chunks(start, count) {
            let chunk = &mut buf[..n as usize * BLOCK_SIZE];
            self.read_blocks(first, chunk)?;
            for (blkno, block) in (first..).zip(chunk.chunks_exact(BLOCK_SIZE)) {
                f(blkno, block);
            }
        }
        Ok(())
    }

    /// Writes blocks `start..start + count` in large chunks; `fill` is given
    /// each block, zeroed, with its block number to fill in.
    pub fn write_region(
        &self,
        start: u64,
        count: u64,
        mut fill: impl FnMut(u64, &mut [u8]),
    ) -> io::Result<()> {
        let mut buf = chunk_buffer(count);
        for (first, n) in chunks(start, count) {
            let chunk = &mut buf[..n as usize * BLOCK_SIZE];
            chunk.fill(0);
            for (blkno, block) in (first..).zip(chunk.chunks_exact_mut(BLOCK_SIZE)) {
                fill(blkno, block);
            }
            self.write_blocks(first, chunk)?;
        }
        Ok(())
    }

    /// Flushes all writes to stable storage.
    pub fn sync(&self) -> io::Result<()> {
        self.file
            .sync_all()
            .map_err(|e| annotate(e, format_args!("{}: cannot sync", self.name)))
    }
}

fn offset(block: u64) -> u64 {
    block * BLOCK_SIZE as u64
}

/// A buffer for the chunks of a region of `count` blocks.
fn chunk_buffer(count: u64) -> Vec<u8> {
    vec![0; count.min(CHUNK_BLOCKS) as usize * BLOCK_SIZE]
}

/// Splits `start..start + count` into `(first block, blocks)` chunks.
fn chunks(start: u64, count: u64) -> impl Iterator<Item = (u64, u64)> {
    (0..count)
        .step_by(CHUNK_BLOCKS as usize)
        .map(move |done| (start + done, (count - done).min(CHUNK_BLOCKS)))
}

/// Prefixes `err`'s message with `context`, keeping its kind.
fn annotate(err: io::Error, context: fmt::Arguments<'_>) -> io::Error {
    io::Error::new(err.kind(), format!("{context}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_region() {
        let c: Vec<_> = chunks(10, 600).collect();
        assert_eq!(c, [(10, 256), (266, 256), (522, 88)]);
        assert_eq!(chunks(5, 0).count(), 0);
    }
}
