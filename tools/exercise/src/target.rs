// SPDX-License-Identifier: GPL-2.0
//! The file under test: its descriptors and the primitive operations on it,
//! each failing with a [`StepError`] that names the system call.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::sys::{self, AlignedBuf, Mapping};

/// The largest direct I/O, in bytes.
pub const MAX_DIRECT_LEN: usize = 64 << 10;

/// A failed system call of an operation, with its errno kept.
#[derive(Debug)]
pub struct StepError {
    /// The system call or step that failed (`pwrite`, `msync`, ...).
    pub step: &'static str,
    /// Its error.
    pub error: io::Error,
}

impl StepError {
    /// True for the errors that mean "this filesystem (or kernel) does not
    /// do that": `EOPNOTSUPP` and `EINVAL` (what filesystems without the
    /// fallocate mode or without clone and dedupe answer), `EXDEV` (no
    /// sharing between these files), `ENOTTY` (an unknown ioctl) and
    /// `ENOSYS` (no such system call).
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self.error.raw_os_error(),
            Some(libc::EOPNOTSUPP | libc::EINVAL | libc::EXDEV | libc::ENOTTY | libc::ENOSYS)
        )
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.error)
    }
}

impl std::error::Error for StepError {}

/// Attaches the name of the failing step to an `io::Result`.
trait Step<T> {
    /// Wraps the error in a [`StepError`] for `step`.
    fn step(self, step: &'static str) -> Result<T, StepError>;
}

impl<T> Step<T> for io::Result<T> {
    fn step(self, step: &'static str) -> Result<T, StepError> {
        self.map_err(|error| StepError { step, error })
    }
}

/// The file under test.
#[derive(Debug)]
pub struct Target {
    path: PathBuf,
    file: File,
    /// A second descriptor opened with `O_DIRECT`, on first use.
    direct: Option<File>,
    /// The buffer of direct I/O.
    direct_buf: AlignedBuf,
    page_size: u64,
}

impl Target {
    /// Creates (or truncates to empty) the file at `path`.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            direct: None,
            direct_buf: AlignedBuf::new(MAX_DIRECT_LEN),
            page_size: sys::page_size(),
        })
    }

    /// The system's page size.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The file's size, by `fstat`.
    pub fn size(&self) -> Result<u64, StepError> {
        self.file.metadata().map(|m| m.len()).step("fstat")
    }

    /// `pwrite`s all of `data` at `offset`.
    pub fn pwrite(&self, offset: u64, data: &[u8]) -> Result<(), StepError> {
        self.file.write_all_at(data, offset).step("pwrite")
    }

    /// `pread`s up to `len` bytes at `offset`, until `len` or EOF.
    pub fn pread(&self, offset: u64, len: usize) -> Result<Vec<u8>, StepError> {
        let mut buf = vec![0; len];
        let done = self.pread_into(offset, &mut buf)?;
        buf.truncate(done);
        Ok(buf)
    }

    /// `pread`s into `buf` at `offset` until it is full or at EOF; returns
    /// the number of bytes read.
    pub fn pread_into(&self, offset: u64, buf: &mut [u8]) -> Result<usize, StepError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).step("pread"),
            }
        }
        Ok(done)
    }

    /// `ftruncate`s to `size`.
    pub fn truncate(&self, size: u64) -> Result<(), StepError> {
        self.file.set_len(size).step("ftruncate")
    }

    /// `fsync`.
    pub fn fsync(&self) -> Result<(), StepError> {
        self.file.sync_all().step("fsync")
    }

    /// `fdatasync`.
    pub fn fdatasync(&self) -> Result<(), StepError> {
        self.file.sync_data().step("fdatasync")
    }

    /// `fdatasync`, then `posix_fadvise(DONTNEED)`: drops the file's cached
    /// pages so that the next reads come from the disk.
    pub fn invalidate(&self) -> Result<(), StepError> {
        self.fdatasync()?;
        sys::drop_cached_pages(&self.file).step("posix_fadvise(DONTNEED)")
    }

    /// `fallocate` with `mode`.
    pub fn fallocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), StepError> {
        sys::fallocate(&self.file, mode, offset, len).step("fallocate")
    }

    /// `FICLONERANGE`: shares `len` bytes of `src` (this file or another)
    /// at `src_offset` with this file at `offset`.
    pub fn clone_range(
        &self,
        offset: u64,
        src: &Target,
        src_offset: u64,
        len: u64,
    ) -> Result<(), StepError> {
        sys::clone_range(&src.file, src_offset, &self.file, offset, len).step("ioctl(FICLONERANGE)")
    }

    /// `FIDEDUPERANGE` of `len` bytes of `src` (this file or another) at
    /// `src_offset` with this file at `offset`: true if the kernel found
    /// them the same (and shared them), false if they differ.
    pub fn dedupe_range(
        &self,
        offset: u64,
        src: &Target,
        src_offset: u64,
        len: u64,
    ) -> Result<bool, StepError> {
        sys::dedupe_range(&src.file, src_offset, &self.file, offset, len)
            .step("ioctl(FIDEDUPERANGE)")
    }

    /// `copy_file_range`s `len` bytes of `src` (this file or another) at
    /// `src_offset` to this file at `offset`, call after call until all are
    /// copied or one copies nothing (the source's EOF); returns how many
    /// bytes were copied in all.
    pub fn copy_range(
        &self,
        offset: u64,
        src: &Target,
        src_offset: u64,
        len: u64,
    ) -> Result<u64, StepError> {
        let mut done = 0;
        while done < len {
            let left = usize::try_from(len - done).unwrap_or(usize::MAX);
            match sys::copy_file_range(
                &src.file,
                src_offset + done,
                &self.file,
                offset + done,
                left,
            ) {
                Ok(0) => break,
                Ok(n) => done += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).step("copy_file_range"),
            }
        }
        Ok(done)
    }

    /// Maps the whole pages covering `offset..offset + len` (`len > 0`);
    /// returns the mapping and the index of `offset` in it.
    fn map(&self, offset: u64, len: u64, writable: bool) -> Result<(Mapping, usize), StepError> {
        let start = offset - offset % self.page_size;
        let end = (offset + len).next_multiple_of(self.page_size);
        let map_len = usize::try_from(end - start).expect("mapping length");
        let mapping = Mapping::new(&self.file, start, map_len, writable).step("mmap")?;
        Ok((mapping, (offset - start) as usize))
    }

    /// Stores `data` at `offset` through a shared mapping, then `msync`s it
    /// if `sync`. The range must lie inside the file.
    pub fn map_write(&self, offset: u64, data: &[u8], sync: bool) -> Result<(), StepError> {
        let (mut mapping, at) = self.map(offset, data.len() as u64, true)?;
        mapping.write(at, data);
        if sync {
            mapping.sync().step("msync")?;
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset` (inside the file of size `size`)
    /// through a mapping. Returns them and, if the mapped pages reach past
    /// EOF, the bytes from EOF to the end of its page, which must be zeros.
    pub fn map_read(
        &self,
        offset: u64,
        len: u64,
        size: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), StepError> {
        let (mapping, at) = self.map(offset, len, false)?;
        let mut bytes = vec![0; len as usize];
        mapping.read(at, &mut bytes);
        let mapped_end = (offset + len).next_multiple_of(self.page_size);
        let mut past_eof = vec![0; mapped_end.saturating_sub(size) as usize];
        if !past_eof.is_empty() {
            mapping.read(at + (size - offset) as usize, &mut past_eof);
        }
        Ok((bytes, past_eof))
    }

    /// The `O_DIRECT` descriptor, opened on first use.
    fn direct(&mut self) -> Result<&File, StepError> {
        if self.direct.is_none() {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(sys::O_DIRECT)
                .open(&self.path)
                .step("open(O_DIRECT)")?;
            self.direct = Some(file);
        }
        Ok(self.direct.as_ref().expect("opened above"))
    }

    /// Writes `data` (a multiple of 4096 bytes, at most
    /// [`MAX_DIRECT_LEN`]) at `offset` (a multiple of 4096) with `O_DIRECT`.
    pub fn direct_write(&mut self, offset: u64, data: &[u8]) -> Result<(), StepError> {
        self.direct()?;
        self.direct_buf[..data.len()].copy_from_slice(data);
        let (file, buf) = (
            self.direct.as_ref().expect("opened"),
            &self.direct_buf[..data.len()],
        );
        let done = file.write_at(buf, offset).step("pwrite(O_DIRECT)")?;
        if done != data.len() {
            let error = io::Error::other(format!("wrote {done} bytes of {}", data.len()));
            return Err(StepError {
                step: "pwrite(O_DIRECT)",
                error,
            });
        }
        Ok(())
    }

    /// Reads up to `len` bytes (a multiple of 4096, at most
    /// [`MAX_DIRECT_LEN`]) at `offset` (a multiple of 4096) with one
    /// `O_DIRECT` `pread`: short only at EOF.
    pub fn direct_read(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, StepError> {
        self.direct()?;
        let (file, buf) = (
            self.direct.as_ref().expect("opened"),
            &mut self.direct_buf[..len],
        );
        let done = file.read_at(buf, offset).step("pread(O_DIRECT)")?;
        Ok(buf[..done].to_vec())
    }
}
