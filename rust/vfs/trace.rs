// SPDX-License-Identifier: GPL-2.0

//! The module's tracepoints, defined in C (`rust/trace.h`) and called
//! through the plain functions of `rust/trace.c`.

use super::bindings as vfs_bindings;

/// `iomap_stale`: `iomap_valid` rejected a mapping whose cookie is not the
/// current generation.
pub(crate) fn trace_iomap_stale(ino: u64, offset: i64, length: u64, cookie: u64, generation: u64) {
    // SAFETY: the tracepoint wrapper takes plain values.
    unsafe { vfs_bindings::rvfs_trace_iomap_stale(ino, offset, length, cookie, generation) };
}

/// `wb_refetch`: writeback dropped a stale cached mapping.
pub(crate) fn trace_wb_refetch(ino: u64, pos: i64, cookie: u64, generation: u64) {
    // SAFETY: the tracepoint wrapper takes plain values.
    unsafe { vfs_bindings::rvfs_trace_wb_refetch(ino, pos, cookie, generation) };
}
