/* SPDX-License-Identifier: GPL-2.0 */
/* Wrappers of the rexfs tracepoints; see trace.h. */
#ifndef REXFS_TRACE_GLUE_H
#define REXFS_TRACE_GLUE_H

#include <linux/types.h>

void rvfs_trace_iomap_stale(u64 ino, s64 offset, u64 length, u64 cookie, u64 generation);
void rvfs_trace_wb_refetch(u64 ino, s64 pos, u64 cookie, u64 generation);

#endif /* REXFS_TRACE_GLUE_H */
