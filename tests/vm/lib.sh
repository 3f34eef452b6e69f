# Helpers for the in-VM tests; sourced by each test script.
# Each test runs with `set -euo pipefail`: any failing command fails it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VMDIR=$REPO/tests/vm
export PATH=$REPO/tools/bin:$PATH
MODULE=$REPO/rexfs.ko
DEV=/dev/vda    # 2 GiB
DEV2=/dev/vdb   # 64 MiB
MNT=/tmp/rexfs-mnt
mkdir -p "$MNT"
# Files that must outlive a guest reboot (the host exports REXFS_OUT, a
# read-write share); /tmp is a tmpfs of the guest.
OUT_DIR=${REXFS_OUT:-/tmp}

die() { echo "FAILED: $*" >&2; exit 1; }

load() { grep -qw rexfs /proc/modules || insmod "$MODULE"; }

unload() {
	if grep -qs " $MNT " /proc/mounts; then umount "$MNT"; fi
	if grep -qw rexfs /proc/modules; then rmmod rexfs; fi
}

# mount_errno DEV: try to mount DEV as rexfs on $MNT; print the errno name
# of the failure, or "OK" (and unmount) if it mounted.
mount_errno() {
	python3 - "$1" "$MNT" <<'PY'
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(sys.argv[1].encode(), sys.argv[2].encode(), b"rexfs", 0, None) == 0:
    libc.umount(sys.argv[2].encode())
    print("OK")
else:
    print(errno.errorcode[ctypes.get_errno()])
PY
}

# dmesg_since MARK: kernel log lines after the line containing MARK.
mark_dmesg() { echo "rexfs-test-mark $1" >/dev/kmsg; }
dmesg_since() { dmesg | sed -n "/rexfs-test-mark $1/,\$p" | tail -n +2; }

# expect_eq VALUE EXPECTED [WHAT]: fail the test unless VALUE = EXPECTED.
expect_eq() { [ "$1" = "$2" ] || die "${3:-value}: expected '$2', got '$1'"; }

# py ARGS...: python3 that can `import helpers` (tests/vm/helpers.py);
# `py - ARGS... <<'PY'` runs a heredoc.
py() { PYTHONPATH=$VMDIR PYTHONDONTWRITEBYTECODE=1 python3 "$@"; }
# helper CMD ARGS...: one of the commands of tests/vm/helpers.py.
helper() { py "$VMDIR/helpers.py" "$@"; }

# expect_errno ERRNO OP ARGS...: the system call OP (see OPS in helpers.py)
# fails with ERRNO (a name such as EEXIST), or succeeds if ERRNO is OK.
expect_errno() {
	local want=$1
	shift
	expect_eq "$(helper errno "$@")" "$want" "$1 ${*:2}"
}

# mount_rexfs [DEV [OPTIONS]]: mount DEV (default $DEV) on $MNT, with the
# mount options OPTIONS.
mount_rexfs() { mount -t rexfs ${2:+-o "$2"} "${1:-$DEV}" "$MNT"; }
# remount [DEV]: umount $MNT and mount DEV again: a cold start from disk.
remount() { umount "$MNT"; mount_rexfs "$@"; }
# fresh_fs [DEV [OPTIONS]]: a new filesystem on DEV (default $DEV;
# mkfs.rexfs -q -f), the module loaded, DEV mounted on $MNT with OPTIONS.
fresh_fs() {
	mkfs.rexfs -q -f "${1:-$DEV}"
	load
	mount_rexfs "$@"
}
# drop_caches: write back everything, then drop the clean page cache.
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# statfs free blocks and free inodes of $MNT.
free_blocks() { stat -f -c %f "$MNT"; }
free_inodes() { stat -f -c %d "$MNT"; }
# blocks_of PATH: 4 KiB blocks allocated to PATH (st_blocks / 8).
blocks_of() { echo $(($(stat -c %b "$1") / 8)); }
# md5 PATH: the MD5 of PATH's contents.
md5() { md5sum <"$1" | cut -d' ' -f1; }

# check_fsck [DEV]: umount DEV (default $DEV) if it is mounted, then
# `fsck.rexfs -f`; fail the test with fsck's output unless it exits 0.
check_fsck() {
	local dev=${1:-$DEV} out rc=0
	if grep -qs "^$dev " /proc/mounts; then umount "$dev"; fi
	out=$(fsck.rexfs -f "$dev" 2>&1) || rc=$?
	if [ "$rc" != 0 ]; then
		echo "$out" >&2
		die "fsck.rexfs -f $dev: exit $rc"
	fi
	echo "fsck.rexfs -f $dev: clean"
}

# manifest DIR: one line per entry under DIR (helpers.py manifest()).
manifest() { helper manifest "$1"; }
# check_manifest DIR FILE: DIR's manifest equals the one saved in FILE.
check_manifest() {
	local current
	current=$(manifest "$1")
	if [ "$current" != "$(cat "$2")" ]; then
		diff -u "$2" <(echo "$current") | head -40 >&2 || true
		die "$1 differs from the manifest $2"
	fi
	echo "$1 matches the manifest $2 ($(wc -l <"$2") entries)"
}

# Wall-clock timing: t=$(now); ...; echo "took $(since "$t")s".
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# faults_into_freed DEV [OPTIONS]: a new filesystem on DEV mounted with
# OPTIONS, its data blocks filled by a file and committed (sync); then one
# process removes the file and stores into every page of a new sparse file
# of 7/8 its size through a shared mapping, before the journal's 5-second
# timer commits the removal. The write faults find only blocks whose
# freeing is not committed: they commit and fault again (fault_busy_retry),
# no store fails with SIGBUS; the stores read back after a remount; fsck
# clean.
faults_into_freed() {
	local dev=$1 options=${2:-} counters retries size
	fresh_fs "$dev" "$options"
	counters=/sys/kernel/debug/rexfs/$(basename "$dev")
	retries=$(cat "$counters/fault_busy_retry")
	dd if=/dev/zero of="$MNT/fill" bs=1M 2>/dev/null && die "dd filled $dev without ENOSPC"
	sync
	size=$(($(stat -c %s "$MNT/fill") / 8 * 7 / 4096 * 4096))
	py - "$MNT/fill" "$MNT/stored" "$size" <<'PY'
import mmap, os, sys
fill, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.unlink(fill)
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, size)
with mmap.mmap(fd, size) as m:
    for off in range(0, size, 4096):
        m[off:off + 8] = off.to_bytes(8, "little")
    m.flush()
os.close(fd)
PY
	retries=$(($(cat "$counters/fault_busy_retry") - retries))
	echo "$((size >> 20)) MiB stored into blocks just freed: fault_busy_retry +$retries"
	((retries > 0)) || die "no write fault waited for the commit of the freed blocks"
	remount "$dev" "$options"
	py - "$MNT/stored" "$size" <<'PY'
import sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    for off in range(0, size, 4096):
        page = f.read(4096)
        if page[:8] != off.to_bytes(8, "little") or any(page[8:]):
            sys.exit(f"{path}: the page at {off} is not what was stored")
PY
	check_fsck "$dev"
}

# debugfs_dir: the debugfs directory of the mounted $DEV (counters, knobs).
debugfs_dir() {
	local d=/sys/kernel/debug/rexfs/$(basename "$DEV")
	[ -d "$d" ] || die "no debugfs directory $d"
	echo "$d"
}

# race_test SCENARIO SWITCH: run the race SCENARIO of races.py on a fresh
# filesystem on $DEV2 twice: with the protection on, where the data must be
# intact and the protection seen acting (exit 0); then with the debugfs
# SWITCH turning the protection off, the negative control, where the
# scenario must report corruption (exit 1). A run whose window was not hit
# (exit 2) fails the test, as does a negative control that finds nothing,
# and a scenario that failed a check not about the data or stopped on an
# error (exit 4: never taken for corruption).
#
# race_test SCENARIO SWITCH DEV OPTIONS: the same on DEV, mounted with the
# mount options OPTIONS.
race_test() {
	local scenario=$1 switch=$2 dev=${3:-$DEV2} options=${4:-} mode rc d
	for mode in protected unprotected; do
		fresh_fs "$dev" "$options"
		d=/sys/kernel/debug/rexfs/$(basename "$dev")
		[ "$mode" = unprotected ] && echo 1 >"$d/$switch"
		echo "== $scenario, $mode${switch:+ ($switch=$(cat "$d/$switch"))}"
		rc=0
		py "$VMDIR/races.py" "$scenario" "$MNT" "$d" || rc=$?
		umount "$MNT"
		case $mode:$rc in
		protected:0) check_fsck "$dev" ;;
		protected:1) die "$scenario: corruption with the protection on" ;;
		protected:3) die "$scenario: intact, but the protection never acted: the window was not proven" ;;
		unprotected:1) echo "negative control: corruption caught" ;;
		unprotected:0 | unprotected:3) die "$scenario: the negative control found nothing: the test cannot fail" ;;
		*:2) die "$scenario ($mode): the race window was not hit" ;;
		*:4) die "$scenario ($mode): a check failed, or the scenario stopped on an error (see above)" ;;
		*) die "$scenario ($mode): races.py exited $rc" ;;
		esac
	done
}
