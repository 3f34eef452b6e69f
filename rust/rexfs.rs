// SPDX-License-Identifier: GPL-2.0

//! rexfs: an extent-based block filesystem on iomap, written in Rust.
//!
//! The crate has three layers:
//! - [`format`]: the on-disk format, shared with the userspace tools;
//! - [`vfs`]: safe abstractions over the kernel's VFS, buffer and iomap APIs,
//!   the only place with `unsafe` code;
//! - [`fs`]: the filesystem itself, safe Rust on top of [`vfs`].

use kernel::prelude::*;

// The format is shared with the userspace tools, which use all of it; the
// module uses the part its features need so far, and `pub` there is
// `pub(crate)` here.
#[allow(dead_code, unreachable_pub)]
#[path = "../format/src/disk.rs"]
mod format;
mod fs;
mod vfs;

module! {
    type: RexfsModule,
    name: "rexfs",
    authors: ["The rexfs developers"],
    description: "rexfs: an extent-based filesystem on iomap, in Rust",
    license: "GPL",
    alias: ["fs-rexfs"],
}

#[pin_data]
struct RexfsModule {
    #[pin]
    fs_type: vfs::Registration<fs::Rexfs>,
}

impl kernel::InPlaceModule for RexfsModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self { fs_type <- vfs::Registration::new(module) })
    }
}
