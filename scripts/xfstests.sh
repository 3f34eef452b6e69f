#!/bin/bash
# Runs xfstests (fstests) on rexfs in a QEMU guest.
#
#   XFSTESTS_DIR=/path/to/xfstests scripts/xfstests.sh [CHECK ARGUMENTS...]
#
# XFSTESTS_DIR is a built xfstests tree (`make` done in it: ./check,
# ltp/fsx, ltp/fsstress); it is not part of this repository and is never
# modified. The arguments go to xfstests' ./check (tests such as
# generic/013, or -g quick); without any, $TESTS, or the default list
# below. rexfs.ko and tools/bin must be built (make module tools). The guest
# (scripts/vm.sh) sees the host's / read-only, so XFSTESTS_DIR and the
# packages xfstests needs at run time come from the host;
# tests/xfstests/guest.sh copies the tree into the guest's memory, applies
# tests/xfstests/fstests-rexfs.patch to that copy (the rexfs cases of
# _scratch_mkfs_sized, _scratch_mkfs_blocksized, _has_metadata_journaling
# and others in common/rc; this script first checks that it applies to
# XFSTESTS_DIR, without changing it) and runs it on /dev/vda (TEST_DEV),
# /dev/vdb (SCRATCH_DEV) and /dev/vdc (LOGWRITES_DEV, the dm-log-writes
# log), sparse files made here and removed afterwards.
#
# XFSTESTS_DAX=1 (`make xfstests XFSTESTS_DAX=1`) runs the same on pmem
# with DAX instead: no disk images; the guest gets two legacy pmem devices
# (scripts/vm.sh --pmem twice, XFSTESTS_PMEM_SIZE each, default 1G, a
# multiple of 128 MiB), /dev/pmem0 (TEST_DEV) and /dev/pmem1 (SCRATCH_DEV),
# both mounted with -o dax (MOUNT_OPTIONS and TEST_FS_MOUNT_OPTS), and no
# LOGWRITES_DEV (the log-writes tests notrun). guest.sh gets the mode in its
# environment and local.config picks the devices and options from it;
# guest.sh checks that files on the test device use DAX before ./check, and
# runs fsck.rexfs on the two pmem devices at the end. The guest's memory is
# XFSTESTS_MEM of RAM (which must then be a multiple of 128 MiB) plus the
# two devices: QEMU's -m is 3072 + 2 x 1024 MiB by default. The output goes
# to out/xfstests-dax/ instead, so a DAX run keeps the disk run's results.
#
# Settings: XFSTESTS_TIMEOUT (seconds for the whole VM, default 7200),
# XFSTESTS_MEM (guest MiB, 3072), XFSTESTS_TEST_SIZE,
# XFSTESTS_SCRATCH_SIZE (disk sizes, 2G each) and XFSTESTS_LOGWRITES_SIZE
# (the scratch size by default), XFSTESTS_DAX and XFSTESTS_PMEM_SIZE (above;
# the disk sizes do not apply then), XFSTESTS_PATCH (the patch to fstests,
# default tests/xfstests/fstests-rexfs.patch; "none" runs the tree as it
# is), KDIR (as for scripts/vm.sh).
#
# Output in out/xfstests/ (out/xfstests-dax/ with XFSTESTS_DAX=1): check.out
# (what ./check printed), results/ (xfstests' RESULT_BASE: check.log, and
# per test .full, .out.bad, .dmesg), patch.log (the patch applied in the
# guest), fsck-*.log (fsck.rexfs -n of each device), kmsg.log
# (the guest's whole kernel log), console.log, dmesg, vm.log. Prints
# ./check's summary and "xfstests: N passed, N failed, N skipped"; exits 0
# only if no test failed and the kernel log is clean.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=$REPO/out/xfstests
DEFAULT_TESTS="generic/013 generic/070 generic/091 generic/127 generic/263 generic/344 generic/346 generic/647"

die() { echo "xfstests.sh: $*" >&2; exit 2; }

case ${XFSTESTS_DAX:-0} in
0) XFSTESTS_DAX=0 ;;
1) OUT=$REPO/out/xfstests-dax ;;
*) die "XFSTESTS_DAX=$XFSTESTS_DAX: 1 (pmem with -o dax) or 0 expected" ;;
esac

[ -n "${XFSTESTS_DIR:-}" ] || die "set XFSTESTS_DIR to a built xfstests tree"
XFSTESTS_DIR=$(cd "$XFSTESTS_DIR" && pwd)
for f in check ltp/fsx ltp/fsstress src/holetest; do
	[ -x "$XFSTESTS_DIR/$f" ] || die "$XFSTESTS_DIR/$f missing: not a built xfstests (run make there)"
done
for f in rexfs.ko tools/bin/mkfs.rexfs tools/bin/fsck.rexfs; do
	[ -e "$f" ] || die "$f missing: run 'make module tools' first"
done
# A module older than its sources would test other code than the tree's.
newer=$(find rust format Kbuild -newer rexfs.ko -type f -print -quit)
[ -z "$newer" ] || die "rexfs.ko is older than $newer: run 'make module tools' first"
# What xfstests' common/config refuses to start without, the front ends
# that run mkfs.rexfs and fsck.rexfs, ip for the guest's loopback and patch
# for fstests-rexfs.patch; the guest uses the host's.
for p in mkfs fsck mount umount perl awk sed bc df xfs_io ip patch; do
	command -v "$p" >/dev/null || die "$p not found (xfstests needs it in the guest, which uses the host's /)"
done
# The patch to fstests: the guest applies it to its copy of the tree; check
# here, before booting, that it applies (or is applied already), changing
# nothing in XFSTESTS_DIR.
fstests_patch=${XFSTESTS_PATCH:-$REPO/tests/xfstests/fstests-rexfs.patch}
if [ "$fstests_patch" != none ]; then
	[ -f "$fstests_patch" ] || die "no patch at $fstests_patch (XFSTESTS_PATCH)"
	fstests_patch=$(cd "$(dirname "$fstests_patch")" && pwd)/$(basename "$fstests_patch")
	tests/xfstests/apply-patch.sh --check "$XFSTESTS_DIR" "$fstests_patch" ||
		die "$(basename "$fstests_patch") does not apply to $XFSTESTS_DIR (XFSTESTS_PATCH=none runs the tree unpatched)"
fi

if (($#)); then
	tests=("$@")
else
	read -r -a tests <<<"${TESTS:-$DEFAULT_TESTS}"
fi

mkdir -p "$OUT"
rm -rf "$OUT/results" "$OUT/check.out" "$OUT"/fsck-*.log "$OUT/kmsg.log" "$OUT/patch.log"
disks=("$OUT/test.img" "$OUT/scratch.img" "$OUT/logwrites.img")
trap 'rm -f "${disks[@]}"' EXIT
rm -f "${disks[@]}"
# The guest's devices, in the order of local.config: the disks vda, vdb and
# vdc, or with DAX the pmem devices pmem0 and pmem1.
devices=()
if [ "$XFSTESTS_DAX" = 1 ]; then
	pmem_size=${XFSTESTS_PMEM_SIZE:-1G}
	devices=(--pmem "$pmem_size" --pmem "$pmem_size")
	where="pmem, 2 x $pmem_size, -o dax"
else
	truncate -s "${XFSTESTS_TEST_SIZE:-2G}" "$OUT/test.img"
	truncate -s "${XFSTESTS_SCRATCH_SIZE:-2G}" "$OUT/scratch.img"
	# The dm-log-writes log (LOGWRITES_DEV): every write made to the scratch
	# device during a test, so as large as the scratch disk.
	truncate -s "${XFSTESTS_LOGWRITES_SIZE:-${XFSTESTS_SCRATCH_SIZE:-2G}}" "$OUT/logwrites.img"
	devices=(--disk "$OUT/test.img" --disk "$OUT/scratch.img" --disk "$OUT/logwrites.img")
	where="virtio disks"
fi

echo "== xfstests ${tests[*]} ($where; QEMU under TCG; log in $OUT/vm.log)"
status=0
scripts/vm.sh --out "$OUT" "${devices[@]}" \
	--timeout "${XFSTESTS_TIMEOUT:-7200}" --mem "${XFSTESTS_MEM:-3072}" \
	-- XFSTESTS_DAX="$XFSTESTS_DAX" tests/xfstests/guest.sh "$OUT" "$XFSTESTS_DIR" "$fstests_patch" "${tests[@]}" \
	>"$OUT/vm.log" 2>&1 || status=$?

# ./check's own summary, then counts in the form the test drivers read.
grep -E '^(Ran|Not run|Failures):|^(Failed [0-9]+ of|Passed all) [0-9]+ tests|^fsck.rexfs ' \
	"$OUT/check.out" 2>/dev/null || true
words() { sed -n "s/^$1: *//p" "$OUT/check.out" 2>/dev/null | tail -1 | wc -w || true; }
# "Ran" lists the tests that were tried, those that were not run included.
ran=$(words Ran) failed=$(words Failures) skipped=$(words 'Not run')
echo "xfstests: $((ran - failed - skipped)) passed, $failed failed, $skipped skipped"

# The whole kernel log, streamed by the guest: vm.sh only sees what was
# left in the ring buffer at the end.
if [ -f "$OUT/kmsg.log" ] && ! scripts/check-dmesg.sh "$OUT/kmsg.log"; then
	[ "$status" != 0 ] || status=126
fi
case $status in
0) ;;
1) echo "xfstests.sh: tests failed; see $OUT/results" >&2 ;;
*)
	echo "xfstests.sh: vm.sh exit $status (124 timeout, 125 guest died, 126 kernel log;" \
		"see $OUT/vm.log, $OUT/console.log)" >&2
	grep -E '^vm.sh|^kernel log|^[0-9]+:|^guest.sh|^apply-patch.sh' "$OUT/vm.log" | head -30 >&2 || true
	;;
esac
exit "$status"
