// SPDX-License-Identifier: GPL-2.0
//! Temporary image files for the tests of the rexfs tools. The fsck tests
//! include this file too.

use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process;
use std::sync::atomic::{AtomicUsize, Ordering};

use rexfs_format::Superblock;
use rexfs_mkfs::{format, parse_args, Command, Device, Error};

/// An image file in the temporary directory, removed when dropped.
pub struct Image {
    path: PathBuf,
}

impl Image {
    /// A new all-zero image of `size` bytes.
    pub fn new(size: u64) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = env::temp_dir().join(format!("rexfs-test-{}-{n}.img", process::id()));
        File::create(&path)
            .and_then(|f| f.set_len(size))
            .expect("cannot create the image");
        Image { path }
    }

    /// A new image of `size` bytes with a filesystem made with `args`.
    pub fn formatted(size: u64, args: &[&str]) -> Self {
        let image = Image::new(size);
        image.mkfs(args).expect("mkfs failed");
        image
    }

    /// Makes a filesystem on the image as `mkfs.rexfs ARGS IMAGE` would.
    pub fn mkfs(&self, args: &[&str]) -> Result<Superblock, Error> {
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        argv.push(self.path.clone().into());
        let Command::Format(opts) = parse_args(argv)? else {
            panic!("{args:?} do not make a filesystem");
        };
        format(&Device::open(&self.path, true)?, &opts)
    }

    /// Where the image is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the image for reading and writing.
    pub fn open(&self) -> Device {
        Device::open(&self.path, true).expect("cannot open the image")
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
