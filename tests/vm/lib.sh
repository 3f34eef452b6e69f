# Helpers for the in-VM tests; sourced by each test script.
# Each test runs with `set -euo pipefail`: any failing command fails it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH=$REPO/tools/bin:$PATH
MODULE=$REPO/rexfs.ko
DEV=/dev/vda
DEV2=/dev/vdb
MNT=/tmp/rexfs-mnt
mkdir -p "$MNT"

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

# expect CMD...: run CMD, fail the test with its output if it fails.
expect_eq() { [ "$1" = "$2" ] || die "${3:-value}: expected '$2', got '$1'"; }
