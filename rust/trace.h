/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rexfs tracepoints: the events race tests look for to prove which path ran.
 * Rust calls them through the wrappers in trace.c.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM rexfs

#if !defined(_REXFS_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _REXFS_TRACE_H

#include <linux/tracepoint.h>

/* ->iomap_valid rejected a mapping whose extent generation moved. */
TRACE_EVENT(rexfs_iomap_stale,
	TP_PROTO(u64 ino, s64 offset, u64 length, u64 cookie, u64 generation),
	TP_ARGS(ino, offset, length, cookie, generation),
	TP_STRUCT__entry(
		__field(u64, ino)
		__field(s64, offset)
		__field(u64, length)
		__field(u64, cookie)
		__field(u64, generation)
	),
	TP_fast_assign(
		__entry->ino = ino;
		__entry->offset = offset;
		__entry->length = length;
		__entry->cookie = cookie;
		__entry->generation = generation;
	),
	TP_printk("ino %llu offset %lld length %llu cookie %llu generation %llu",
		  __entry->ino, __entry->offset, __entry->length, __entry->cookie,
		  __entry->generation)
);

/* Writeback dropped its cached mapping because the extent generation moved. */
TRACE_EVENT(rexfs_wb_refetch,
	TP_PROTO(u64 ino, s64 pos, u64 cookie, u64 generation),
	TP_ARGS(ino, pos, cookie, generation),
	TP_STRUCT__entry(
		__field(u64, ino)
		__field(s64, pos)
		__field(u64, cookie)
		__field(u64, generation)
	),
	TP_fast_assign(
		__entry->ino = ino;
		__entry->pos = pos;
		__entry->cookie = cookie;
		__entry->generation = generation;
	),
	TP_printk("ino %llu pos %lld cookie %llu generation %llu",
		  __entry->ino, __entry->pos, __entry->cookie, __entry->generation)
);

#endif /* _REXFS_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
