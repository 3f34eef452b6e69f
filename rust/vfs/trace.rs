// SPDX-License-Identifier: GPL-2.0

//! The rexfs tracepoints, defined in C (`rust/trace.h`).

use super::bindings as rexfs_bindings;

/// `rexfs:rexfs_iomap_stale`: `iomap_valid` rejected a mapping.
pub(crate) fn trace_iomap_stale(ino: u64, offset: i64, length: u64, cookie: u64, generation: u64) {
    // SAFETY: the tracepoint wrapper takes plain values.
    unsafe { rexfs_bindings::rexfs_trace_iomap_stale(ino, offset, length, cookie, generation) };
}

/// `rexfs:rexfs_wb_refetch`: writeback dropped a stale cached mapping.
pub(crate) fn trace_wb_refetch(ino: u64, pos: i64, cookie: u64, generation: u64) {
    // SAFETY: the tracepoint wrapper takes plain values.
    unsafe { rexfs_bindings::rexfs_trace_wb_refetch(ino, pos, cookie, generation) };
}
