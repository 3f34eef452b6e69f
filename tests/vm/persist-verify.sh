#!/bin/bash
# Second half of persist-write.sh, in a new boot: the tree it fsynced and
# left mounted is all there (names, types, inode numbers, sizes, link counts,
# modes, owners, mtimes, contents, symlink targets, extended attributes), and
# fsck is clean.
#
# reboot: before
. "$(dirname "$0")/lib.sh"
SAVED=$OUT_DIR/rexfs-persist.manifest
[ -f "$SAVED" ] || die "no manifest $SAVED: did persist-write run in the previous boot (REXFS_OUT=$OUT_DIR)?"
load
mount_rexfs
check_manifest "$MNT" "$SAVED"
check_fsck
