#!/bin/bash
# Generate the module's own bindings for the kernel headers that
# kernel::bindings does not cover (see rust/bindings_helper.h).
#
#   gen-bindings.sh OBJTREE HEADER OUTPUT
#
# Uses the clang arguments the kernel used for its own bindings, read from
# OBJTREE/rust/bindings/.bindings_generated.rs.cmd, so that types and
# configuration match exactly. Types that are not allowlisted here resolve to
# kernel::bindings through the `use` line prepended to the output.
set -euo pipefail
objtree=$(cd "$1" && pwd) header=$(realpath "$2") output=$(realpath -m "$3")

cmd=$(head -1 "$objtree/rust/bindings/.bindings_generated.rs.cmd")
clang_args=${cmd#* -- }
clang_args=${clang_args%%; sed*}
clang_args=$(sed -E 's/-Wp,-MMD,[^ ]+//' <<<"$clang_args")

cd "$objtree"
eval bindgen "$header" \
	--use-core --ctypes-prefix ffi --no-layout-tests --no-doc-comments \
	--rust-target 1.85 --with-derive-default --no-recursive-allowlist \
	--allowlist-type "'fs_context.*|fs_parameter.*|fs_param_type|fs_parse_result.*|constant_table|fs_value_type|p_log|fc_log'" \
	--allowlist-type "'buffer_head|bh_end_io_t|bh_state_bits|kstatfs|file_kattr|rvfs_.*'" \
	--allowlist-type "'export_operations|fid|fid__.*|handle_to_path_ctx'" \
	--allowlist-type "'iomap.*|writeback_control|readahead_control|dax_device|dax_holder_operations|fsverity_info'" \
	--allowlist-type "'journal_s|journal_t|jbd2_journal_handle|handle_t|transaction_s|transaction_t|tid_t'" \
	--allowlist-type "'journal_head|transaction_chp_stats_s|transaction_stats_s|journal_superblock_t|journal_superblock_s|journal_header_t|journal_header_s'" \
	--allowlist-type "'jbd2_revoke_table_s|jbd2_inode|jbd2_buffer_trigger_type|passtype'" \
	--opaque-type "'journal_head|transaction_chp_stats_s|transaction_stats_s|jbd2_revoke_table_s|jbd2_inode'" \
	--allowlist-function "'get_tree_bdev|__brelse|sync_dirty_buffer|mark_buffer_dirty|fault_in_iov_iter_.*|filemap_read|invalidate_mapping_pages'" \
	--allowlist-function "'fileattr_fill_flags|generic_encode_ino32_fh|generic_fh_to_.*|generic_setlease'" \
	--allowlist-function "'iomap_.*|rvfs_.*|jbd2_.*|__fs_parse|fs_param_is_enum'" \
	--allowlist-function "'fs_dax_get_by_bdev|fs_put_dax|dax_iomap_rw|dax_iomap_fault|dax_finish_sync_fault'" \
	--allowlist-function "'dax_break_layout|dax_break_layout_final|dax_writeback_mapping_range|dax_zero_range|dax_truncate_page|dax_zero_page_range|dax_read_lock|dax_read_unlock'" \
	--allowlist-var "'IOMAP_.*|RVFS_.*|RUST_CONST_HELPER_.*'" \
	--opaque-type handle_to_path_ctx \
	--raw-line "'use kernel::bindings::*;'" \
	--raw-line "'use kernel::ffi;'" \
	-o "$output.tmp" -- "$clang_args" -DMODULE
sed -Ei 's/pub const RUST_CONST_HELPER_([a-zA-Z0-9_]*)/pub const \1/g' "$output.tmp"
mv "$output.tmp" "$output"
