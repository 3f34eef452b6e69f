// SPDX-License-Identifier: GPL-2.0
//! The rexfs on-disk format, defined once.
//!
//! The kernel module includes [`disk`] as a module of its own crate; the
//! userspace tools use it through this crate. It is `no_std`, allocation-free
//! and has no `unsafe`.
#![no_std]

#[cfg(test)]
extern crate std;

mod disk;
pub use disk::*;
