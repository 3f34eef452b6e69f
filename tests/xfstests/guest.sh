#!/bin/bash
# Runs xfstests on rexfs inside the QEMU guest; scripts/xfstests.sh starts it.
#
#   tests/xfstests/guest.sh OUT XFSTESTS_DIR PATCH [CHECK ARGUMENTS...]
#
# OUT is the run's output directory (the read-write share of scripts/vm.sh);
# XFSTESTS_DIR a built xfstests tree on the host, seen here through the
# read-only root share; PATCH the patch to fstests applied to the copy run
# here (tests/xfstests/fstests-rexfs.patch), or "none". The devices are
# those of local.config: /dev/vda (TEST_DEV), /dev/vdb (SCRATCH_DEV) and
# /dev/vdc (LOGWRITES_DEV, for dm-log-writes); or, with XFSTESTS_DAX=1 in
# the environment (scripts/xfstests.sh sets it), the pmem devices /dev/pmem0
# (TEST_DEV) and /dev/pmem1 (SCRATCH_DEV), mounted with -o dax, which is
# checked here before ./check starts (a file made on the test device must
# have STATX_ATTR_DAX). Writes OUT/results/ (xfstests'
# RESULT_BASE: check.log, check.time and per test .full, .out.bad, .dmesg),
# OUT/check.out (what ./check printed), OUT/patch.log (the patch applied)
# and OUT/fsck-*.log; exits with ./check's status. The whole kernel log,
# OUT/kmsg.log, is streamed out of the guest by scripts/vm.sh (for every
# boot; nothing to start here).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
usage="usage: guest.sh OUT XFSTESTS_DIR PATCH|none [CHECK ARGUMENTS...]"
out=${1:?$usage}
src=${2:?$usage}
fstests_patch=${3:?$usage}
shift 3

# mkfs.rexfs and fsck.rexfs for util-linux's mkfs and fsck front ends.
export PATH=$REPO/tools/bin:$PATH
# The devices and mount options (local.config, which ./check reads again
# for every test: the mode goes in the environment).
case ${XFSTESTS_DAX:-0} in
0 | 1) export XFSTESTS_DAX=${XFSTESTS_DAX:-0} ;;
*) echo "guest.sh: XFSTESTS_DAX=$XFSTESTS_DAX: 0 or 1 expected" >&2; exit 2 ;;
esac
. "$HERE/local.config"
for dev in "$TEST_DEV" "$SCRATCH_DEV" ${LOGWRITES_DEV:+"$LOGWRITES_DEV"}; do
	[ -b "$dev" ] || { echo "guest.sh: no $dev (XFSTESTS_DAX=$XFSTESTS_DAX)" >&2; exit 2; }
done
echo "guest.sh: XFSTESTS_DAX=$XFSTESTS_DAX TEST_DEV=$TEST_DEV SCRATCH_DEV=$SCRATCH_DEV" \
	"LOGWRITES_DEV=${LOGWRITES_DEV:-} MOUNT_OPTIONS='${MOUNT_OPTIONS:-}'" \
	"TEST_FS_MOUNT_OPTS='${TEST_FS_MOUNT_OPTS:-}' MKFS_OPTIONS='$MKFS_OPTIONS'"

# The guest's root is the host's, read-only. scripts/vm.sh mounts tmpfs over
# /tmp, /var/tmp, /var/lib and /root and keeps what they hide under
# /run/host; a tree the host keeps there is found at that path.
[ -x "$src/check" ] || src=/run/host$src
[ -x "$src/check" ] || { echo "guest.sh: no xfstests at $2" >&2; exit 2; }
if [ "$fstests_patch" != none ]; then
	[ -r "$fstests_patch" ] || fstests_patch=/run/host$fstests_patch
	[ -r "$fstests_patch" ] || { echo "guest.sh: no patch at $3" >&2; exit 2; }
fi

# xfstests writes into its own tree (core files, stray outputs of some
# tests): run a copy in the guest's memory. Object files and git history
# are not needed to run it.
xfstests=/var/tmp/xfstests
rm -rf "$xfstests"
mkdir -p "$xfstests"
tar -C "$src" --exclude=./.git --exclude='*.o' -cf - . | tar -C "$xfstests" -xf -
# The rexfs cases of common/ (tests/xfstests/fstests-rexfs.patch), applied
# to this copy only; the patch changes shell code, so the binaries the
# user built stay valid. scripts/xfstests.sh checked that it applies.
if [ "$fstests_patch" != none ]; then
	"$HERE/apply-patch.sh" "$xfstests" "$fstests_patch" 2>&1 | tee "$out/patch.log" ||
		{ echo "guest.sh: $fstests_patch does not apply to the copy of $src" >&2; exit 2; }
fi

# Mount points, on a tmpfs over the read-only /mnt.
mount -t tmpfs -o size=16m xfstests-mnt /mnt
mkdir -p "$TEST_DIR" "$SCRATCH_MNT"

# The users some tests switch to (_require_user, _require_group): added to
# copies of /etc/passwd and /etc/group bound over the read-only originals.
# No shadow entries: root's su needs no password.
etc=/run/xfstests-etc
mkdir -p "$etc"
cp /etc/passwd /etc/group "$etc/"
add_user() { # NAME UID
	grep -q "^$1:" "$etc/passwd" || echo "$1:*:$2:$2:xfstests:/var/tmp:/bin/bash" >>"$etc/passwd"
	grep -q "^$1:" "$etc/group" || echo "$1:x:$2:" >>"$etc/group"
}
add_user fsgqa 20001
add_user fsgqa2 20002
add_user 123456-fsgqa 123456
mount --bind "$etc/passwd" /etc/passwd
mount --bind "$etc/group" /etc/group

# Loopback, for the tests that talk to a server of their own (the locktest
# of generic/131 and others).
ip link set lo up
# A host name: the guest boots without one ("(none)"), and tests that put
# it in device names (generic/459's LVM volume group) refuse the parentheses.
hostname rexfs-guest

# The module, as tests/vm/lib.sh loads it, and a fresh test filesystem made
# with the same MKFS_OPTIONS as the scratch filesystems (so that "-J none"
# there holds for both); the scratch device is made by the tests that use it.
grep -qw rexfs /proc/modules || insmod "$REPO/rexfs.ko"
# shellcheck disable=SC2086 # MKFS_OPTIONS is a list of options
mkfs.rexfs $MKFS_OPTIONS "$TEST_DEV"
# With DAX, the test device mounted as ./check will mount it must give its
# files DAX (statx's STATX_ATTR_DAX, 0x200000): else the run would not test
# what it says.
if [ "$XFSTESTS_DAX" = 1 ]; then
	# shellcheck disable=SC2086 # TEST_FS_MOUNT_OPTS is a list of options
	mount -t "$FSTYP" $TEST_FS_MOUNT_OPTS "$TEST_DEV" "$TEST_DIR" ||
		{ echo "guest.sh: mount -t $FSTYP $TEST_FS_MOUNT_OPTS $TEST_DEV failed" >&2; exit 2; }
	xfs_io -f -c "pwrite -q 0 4k" "$TEST_DIR/dax-probe"
	attrs=$(xfs_io -c "statx -r" "$TEST_DIR/dax-probe" | awk '/^stat.attributes / { print $3 }')
	rm -f "$TEST_DIR/dax-probe"
	grep " $TEST_DIR " /proc/mounts || true
	umount "$TEST_DIR"
	if ((!(${attrs:-0} & 0x200000))); then
		echo "guest.sh: $TEST_DEV mounted with $TEST_FS_MOUNT_OPTS: a file has no STATX_ATTR_DAX (attributes ${attrs:-?})" >&2
		exit 2
	fi
	echo "guest.sh: $TEST_DEV mounted with $TEST_FS_MOUNT_OPTS: files use DAX (statx attributes $attrs)"
fi

mkdir -p "$out/results"
cd "$xfstests"
status=0
HOST_OPTIONS=$HERE/local.config RESULT_BASE=$out/results \
	./check -E "$HERE/exclude" "$@" 2>&1 | tee "$out/check.out" || status=${PIPESTATUS[0]}

# Unmount both devices and check each that holds a rexfs (the scratch
# device holds one only if a test made it), as the last test left them:
# TEST_DEV and SCRATCH_DEV of local.config, the pmem devices with DAX.
umount "$TEST_DIR" 2>/dev/null || true
umount "$SCRATCH_MNT" 2>/dev/null || true
for dev in "$TEST_DEV" "$SCRATCH_DEV"; do
	# The superblock's magic, SUPER_MAGIC of format/src/disk.rs.
	[ "$(od -An -tx4 -N4 "$dev" | tr -d ' ')" = 52455846 ] || continue
	log=$out/fsck-$(basename "$dev").log
	if fsck.rexfs -n "$dev" >"$log" 2>&1; then
		echo "fsck.rexfs -n $dev: clean"
	else
		echo "fsck.rexfs -n $dev: exit $? (see $log)"
	fi
done | tee -a "$out/check.out"
exit "$status"
