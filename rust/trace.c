// SPDX-License-Identifier: GPL-2.0
/*
 * rexfs tracepoints (trace.h) as plain functions for the Rust side.
 */
#define CREATE_TRACE_POINTS
#include "trace.h"
#include "trace_glue.h"

void rvfs_trace_iomap_stale(u64 ino, s64 offset, u64 length, u64 cookie, u64 generation)
{
	trace_rexfs_iomap_stale(ino, offset, length, cookie, generation);
}

void rvfs_trace_wb_refetch(u64 ino, s64 pos, u64 cookie, u64 generation)
{
	trace_rexfs_wb_refetch(ino, pos, cookie, generation);
}
