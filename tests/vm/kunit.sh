#!/bin/bash
# The module's KUnit suites (extent map, allocator, iomap, B+tree) run when it loads;
# each must report every test case ok.
#
# order: 20
. "$(dirname "$0")/lib.sh"
load
for suite in rexfs_extent_list rexfs_extent_map rexfs_alloc rexfs_iomap rexfs_btree; do
	results=/sys/kernel/debug/kunit/$suite/results
	[ -f "$results" ] || die "no KUnit results for $suite"
	cat "$results"
	cases=$(grep -cE '^\s+ok [0-9]+ ' "$results" || true)
	[ "$cases" -gt 0 ] || die "$suite: no passing test case"
	! grep -q 'not ok' "$results" || die "$suite: a test case failed"
	grep -qE "^ok [0-9]+ $suite" "$results" || die "$suite: suite not ok"
	echo "$suite: $cases test cases ok"
done
