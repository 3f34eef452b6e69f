#!/bin/bash
# The demo (run inside the VM by `make demo`): what rexfs is for, in five
# timed steps of a few lines each.
#
#   1. mkfs and mount; the same bytes written with write(2) and through a
#      shared mmap, read back from disk after a remount and compared;
#   2. filefrag -v of a preallocated file with one block written: unwritten
#      and written extents;
#   3. the debugfs counters before and after 1,024 buffered writes and a sync;
#   4. seed race 1 (races.py unwritten, as tests/vm/race-unwritten.sh) run
#      live twice, each on a fresh filesystem: with iomap_valid's generation
#      check (the stale mapping caught, the data intact), then with the check
#      switched off through debugfs (the data corrupted);
#   5. fsck.rexfs -n of the demo filesystem.
#
# The demo filesystem is /dev/vda. The race runs on /dev/vdb when the VM
# has one (scripts/run.sh giving it disk1.img), else on a loop device over a
# 64 MiB file in the guest's /tmp. Exit status 0 when every step showed what
# it should; a step that did not says so (UNEXPECTED) and the demo goes on.
set -eEuo pipefail
. "$(dirname "$0")/vm/lib.sh"
DEMO=$REPO/tests/demo
trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

T0=$(now) STEP_T= STEP_N= UNEXPECTED=0
# step N TITLE: ends the previous step (its time), starts step N.
step() {
	end_step
	STEP_T=$(now) STEP_N=$1
	printf '\n== %s/5  %s\n' "$1" "$2"
}
end_step() { [ -z "$STEP_T" ] || printf '   (step %s: %ss)\n' "$STEP_N" "$(since "$STEP_T")"; }
# say TEXT: one line of explanation.
say() { printf '   # %s\n' "$*"; }
# run CMD...: show CMD (repository paths relative), run it, show its output
# (also left in RUN_OUT) indented and its exit status if not 0; returns it.
run() {
	local cmd="$*" rc=0
	printf '   $ %s\n' "${cmd//$REPO\//}"
	RUN_OUT=$("$@" 2>&1) || rc=$?
	[ -z "$RUN_OUT" ] || printf '%s\n' "$RUN_OUT" | sed 's/^/     /'
	[ "$rc" = 0 ] || printf '     (exit status %s)\n' "$rc"
	return "$rc"
}
# ok LINE...: the step showed what it should; further LINEs continue it.
ok() {
	printf '   ok: %s\n' "$1"
	shift
	local line
	for line; do printf '       %s\n' "$line"; done
}
unexpected() { printf '   UNEXPECTED: %s\n' "$*"; UNEXPECTED=$((UNEXPECTED + 1)); }

echo "rexfs demo: Linux $(uname -r), QEMU/TCG; module ${MODULE#"$REPO"/}"

# ---------------------------------------------------------------------------
step 1 "mkfs, mount; write(2) and mmap"
say "rexfs: a block filesystem in Rust on iomap: 4 KiB blocks, a bitmap, an inode table, extents"
run mkfs.rexfs -f -L demo "$DEV"
run insmod "$MODULE"
run mount -t rexfs "$DEV" "$MNT"
REF=/tmp/demo-ref
dd if=/dev/urandom of="$REF" bs=1M count=8 status=none
say "the same 8 MiB of random bytes, once through write(2), once by stores into a MAP_SHARED mapping"
run dd if="$REF" of="$MNT/by-write" bs=1M status=none
run python3 "$DEMO/demo.py" mmap-copy "$REF" "$MNT/by-mmap"
say "remount, so that the read-back comes from the disk, not from the page cache"
run umount "$MNT"
run mount -t rexfs "$DEV" "$MNT"
run md5sum "$REF" "$MNT/by-write" "$MNT/by-mmap"
if cmp -s "$REF" "$MNT/by-write" && cmp -s "$REF" "$MNT/by-mmap"; then
	ok "both files read back from disk byte for byte"
else
	unexpected "a file read back differs from what was written"
fi

# ---------------------------------------------------------------------------
step 2 "unwritten and written extents"
say "preallocate 1 MiB, write 4 KiB at 512 KiB, sync: writeback converts only the block written"
F=$MNT/prealloc
run fallocate -l 1M "$F"
run dd if=/dev/urandom of="$F" bs=4k seek=128 count=1 conv=notrunc status=none
run sync
run filefrag -v "$F"
fiemap=$RUN_OUT
say "unwritten = allocated, never written: reads give zeroes until a write's I/O completes and converts it"
run python3 "$DEMO/demo.py" layout "$F"
if grep -Eq '^ +0: .*unwritten' <<<"$fiemap" && grep -Eq '^ +1: +128\.\. +128:' <<<"$fiemap" &&
	! grep -Eq '^ +1: .*unwritten' <<<"$fiemap"; then
	ok "FIEMAP: unwritten, written, unwritten (contiguous on disk, so filefrag counts one extent)"
else
	unexpected "FIEMAP does not show block 128 written between unwritten extents"
fi

# ---------------------------------------------------------------------------
step 3 "debugfs counters"
DBG=$(debugfs_dir)
say "$DBG/ has one file per counter, delay knob and unsafe switch:"
names=$(ls "$DBG")
{
	echo "counters: $(grep -Ev '^(delay_.*_ms|unsafe_skip_.*)$' <<<"$names" | tr '\n' ' ')"
	echo "delay knobs delay_*_ms: $(sed -n 's/^delay_\(.*\)_ms$/\1/p' <<<"$names" | tr '\n' ' ')"
	echo "switches unsafe_skip_*: $(sed -n 's/^unsafe_skip_//p' <<<"$names" | tr '\n' ' ')"
} | fold -s -w 96 | sed 's/ *$//; s/^/     /'
COUNTERS=(iomap_begin wb_map_reused wb_map_refetched iomap_stale)
declare -A before
for c in "${COUNTERS[@]}"; do before[$c]=$(<"$DBG/$c"); done
say "4 MiB in 1,024 write(2) calls of 4 KiB, then sync; the counters before and after:"
run dd if=/dev/zero of="$MNT/counted" bs=4k count=1024 status=none
run sync
declare -A delta
printf '     %-18s %8s %8s %8s\n' counter before after delta
for c in "${COUNTERS[@]}"; do
	after=$(<"$DBG/$c")
	delta[$c]=$((after - before[$c]))
	printf '     %-18s %8s %8s %+8d\n' "$c" "${before[$c]}" "$after" "${delta[$c]}"
done
say "iomap_begin: a mapping per write(2); wb_map_reused: folios writeback sent out on its cached mapping"
say "wb_map_refetched, iomap_stale: cached mappings found stale, the extent map having changed: step 4"
if [ "${delta[iomap_begin]}" -gt 0 ] && [ "${delta[wb_map_reused]}" -gt 0 ]; then
	ok "iomap_begin and wb_map_reused moved"
else
	unexpected "iomap_begin or wb_map_reused did not move"
fi

# ---------------------------------------------------------------------------
step 4 "a stale-mapping race, live (seed race 1)"
RMNT=/tmp/rexfs-race
mkdir -p "$RMNT"
if [ -b "$DEV2" ]; then
	RDEV=$DEV2
else
	truncate -s 64M /tmp/demo-race.img
	RDEV=$(losetup --find --show /tmp/demo-race.img)
fi
say "write(2) over a preallocated extent sleeps in iomap_valid (a debugfs delay) while an mmap store"
say "1 MiB in is written back, converted and dropped: the write's cached mapping still says unwritten"
TR=/sys/kernel/tracing
EV=$TR/events/rexfs/rexfs_iomap_stale
# race on|off: races.py unwritten on a fresh rexfs on $RDEV, with
# iomap_valid's check (on) or with unsafe_skip_iomap_valid set (off); prints
# races.py's lines and the rexfs_iomap_stale trace events, then the verdict.
race() {
	local mode=$1 d rc=0 delays trace
	mkfs.rexfs -q -f "$RDEV"
	mount -t rexfs "$RDEV" "$RMNT"
	d=/sys/kernel/debug/rexfs/$(basename "$RDEV")
	if [ "$mode" = on ]; then
		say "protection on (a fresh rexfs on $RDEV):"
	else
		say "protection off (a fresh rexfs again): iomap_valid made to accept any mapping"
		printf '   $ %s\n' "echo 1 > $d/unsafe_skip_iomap_valid"
		echo 1 >"$d/unsafe_skip_iomap_valid"
	fi
	if [ -f "$EV/enable" ]; then
		echo >"$TR/trace"
		echo 1 >"$EV/enable"
		echo 1 >"$TR/tracing_on"
	fi
	printf '   $ %s\n' "python3 tests/vm/races.py unwritten $RMNT $d"
	# races.py's lines, its "found X, expected Y" split over lines, in 4-byte words.
	PYTHONUNBUFFERED=1 py "$VMDIR/races.py" unwritten "$RMNT" "$d" 2>&1 |
		sed -u -e 's/ differ: found \([0-9a-f]*\), expected \([0-9a-f]*\)$/ differ:\n  found    \1\n  expected \2/' |
		sed -u -e '/^  \(found\|expected\) /{s/\([0-9a-f]\{8\}\)/\1 /g; s/ $//}' -e 's/^/     | /' || rc=$?
	delays=$(<"$d/delays_injected")
	if [ -f "$EV/enable" ]; then
		echo 0 >"$EV/enable"
		trace=$(grep -o 'rexfs_iomap_stale: .*' "$TR/trace" | head -2 || true)
		printf '%s\n' "${trace:-no rexfs_iomap_stale event}" | sed 's/^/     trace: /'
	fi
	umount "$RMNT"
	case $mode:$rc in
	on:0) ok "window hit (delays_injected $delays); iomap_valid saw the extent-map generation" \
		"(iomap->validity_cookie) move, the write mapped again; every byte right, in cache and on disk" ;;
	on:1) unexpected "corruption with the protection on" ;;
	on:3) unexpected "the data is intact but iomap_stale did not move: the race was not shown" ;;
	off:1) ok "corrupted, as it must be: trusting 'unwritten', the write zero-filled the rest of the block" \
		"its last 100 bytes land in instead of reading back the mmap store (races.py writes 16-byte" \
		"units of writer tag and offset; tag 2 is the store), and fsync wrote the zeroes over it" ;;
	off:0 | off:3) unexpected "nothing lost with the check off (a REXFS_DEBUG=n module ignores the switch)" ;;
	*:2) unexpected "the race window was not hit (TCG timing, or a REXFS_DEBUG=n module): run the demo again" ;;
	*) unexpected "races.py exited $rc" ;;
	esac
}
race on
race off
[ "$RDEV" = "$DEV2" ] || { losetup -d "$RDEV"; rm -f /tmp/demo-race.img; }

# ---------------------------------------------------------------------------
step 5 "fsck"
say "unmount and check the demo filesystem offline: checksums, extents, bitmap, links, free counts"
run umount "$MNT"
if run fsck.rexfs -n -v "$DEV"; then
	ok "clean"
else
	unexpected "fsck.rexfs -n did not find the filesystem clean"
fi
rmmod rexfs
rm -f "$REF"
end_step

echo
if [ "$UNEXPECTED" = 0 ]; then
	echo "rexfs demo: done in $(since "$T0")s (in the guest)"
else
	echo "rexfs demo: $UNEXPECTED UNEXPECTED result(s) above; $(since "$T0")s in the guest"
	exit 1
fi
