// SPDX-License-Identifier: GPL-2.0

//! The module's own bindings for the kernel headers that `kernel::bindings`
//! does not cover (iomap, buffer heads, fs_context) and for the C glue.
//! Generated at build time by `scripts/gen-bindings.sh`.

#![allow(
    dead_code,
    improper_ctypes,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks
)]

include!("../generated/bindings.rs");
