#!/bin/bash
# Second half of persist-write.sh, in a new boot: the tree it fsynced and
# left mounted is all there (names, types, inode numbers, sizes, link counts,
# modes, owners, mtimes, contents, symlink targets, extended attributes), and
# fsck is clean.
#
# The crash tests' real reset: the guest went down with the workload of
# tests/vm/crash.py running in $MNT/inflight (its output must show no
# failure before the reset). The journal must hold transactions to replay
# (its jbd2 superblock, read before the mount); after the mount the tree
# must match its manifest and every marker whose fsync had returned must be
# there as logged (crash.py verify); after unmounting, `fsck.rexfs -n` must
# be clean (no inode of the files unlinked while open left behind; the
# mount's "freeing N orphan inodes" is reported) and the kernel log free of
# journal and rexfs errors.
#
# reboot: before
. "$(dirname "$0")/lib.sh"
SAVED=$OUT_DIR/rexfs-persist.manifest
MARKERS=$OUT_DIR/rexfs-persist-markers.log
[ -f "$SAVED" ] || die "no manifest $SAVED: did persist-write run in the previous boot (REXFS_OUT=$OUT_DIR)?"
[ -f "$MARKERS" ] || die "no marker log $MARKERS: did persist-write start its workload?"
WORKLOAD_OUT=$OUT_DIR/rexfs-persist-workload.log
if grep -q '^FAILED' "$WORKLOAD_OUT"; then
	tail -30 "$WORKLOAD_OUT" >&2
	die "the workload failed in the first boot, before the reset"
fi
grep '^workload: t=' "$WORKLOAD_OUT" | tail -1 || true
# The manifest leaves out the workload's directory, as persist-write's did.
manifest() { helper manifest "$1" | grep -v "^'inflight[/']"; }
load
state=$(py "$VMDIR/crash.py" disk-state "$DEV")
echo "$DEV before the mount: $state"
case $state in
*journal=dirty*) ;;
*) die "the journal holds nothing to replay: the guest did not go down with the workload running" ;;
esac
mark_dmesg persist-verify
mount_rexfs
check_manifest "$MNT" "$SAVED"
py "$VMDIR/crash.py" verify --log "$MARKERS" --dir "$MNT/inflight"
umount "$MNT"
fsck.rexfs -n "$DEV" || die "fsck.rexfs -n $DEV after the recovery: exit $?"
echo "fsck.rexfs -n $DEV: clean"
# The kernel log since the mount: "orphans=N replay-logged=... errors=N",
# then the journal and rexfs errors, if any.
klog=$(dmesg_since persist-verify | py "$VMDIR/crash.py" kernel-log)
echo "kernel log since the mount: $(echo "$klog" | head -1)"
[ "$(echo "$klog" | wc -l)" = 1 ] || die "journal or rexfs errors in the kernel log:
$(echo "$klog" | tail -n +2)"
