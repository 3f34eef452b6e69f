#!/bin/bash
# rexfs-exercise (tools/exercise), the fsx-like exerciser: 100,000 random
# operations with seed 42 on a file and its peer (buffered, mmap and O_DIRECT
# reads and writes; truncate; fallocate, punch and zero range; fsync,
# fdatasync, dropping the cached pages; clone, dedupe and copy_file_range
# between and within the two), each checked against an in-memory model, the
# whole files every 1,000 operations. Fails if the exerciser finds a
# mismatch, an operation fails, or it found one of them unsupported (rexfs
# has them all); fsck (every reference count) clean after. The full operation log of a failed
# run is kept in $OUT_DIR/exercise-ops.log.
#
# timeout: 900
. "$(dirname "$0")/lib.sh"
EXERCISE=$REPO/tools/target/release/rexfs-exercise
[ -x "$EXERCISE" ] || die "no $EXERCISE: run 'make tools'"
OPS_LOG=/tmp/exercise-ops.log

fresh_fs

t=$(now)
rc=0
"$EXERCISE" --seed 42 --ops 100000 --log "$OPS_LOG" "$MNT/exercise-file" >/tmp/exercise.out || rc=$?
cat /tmp/exercise.out
echo "rexfs-exercise: exit $rc after $(since "$t")s"
if [ "$rc" != 0 ]; then
	cp "$OPS_LOG" "$OUT_DIR/exercise-ops.log" 2>/dev/null &&
		echo "operation log: $OUT_DIR/exercise-ops.log"
	die "rexfs-exercise --seed 42 exited $rc"
fi
! grep -q "not supported" /tmp/exercise.out || die "rexfs-exercise found an operation unsupported"
D=$(debugfs_dir)
for c in iomap_begin iomap_stale wb_map_reused wb_map_refetched dio_retry dio_fallback \
	inline_fault_retry inline_fault_no_retry inline_mkwrite_unmap mkwrite_allocated \
	fault_prealloc clones dedupes_same dedupes_differ cow_allocated cow_remapped; do
	echo "  $c: $(cat "$D/$c")"
done
check_fsck
