#!/bin/bash
# The demo (run inside the VM by `make demo`): make a rexfs, mount it and
# look at it.
set -euo pipefail
. "$(dirname "$0")/vm/lib.sh"
show() { echo; echo "\$ $*"; "$@"; }

show uname -r
show modinfo -F vermagic "$MODULE"
show insmod "$MODULE"
show grep rexfs /proc/filesystems
show mkfs.rexfs -f -L demo "$DEV"
show mount -t rexfs "$DEV" "$MNT"
show grep rexfs /proc/mounts
show ls -la "$MNT"
show stat "$MNT"
show df -h "$MNT"
show umount "$MNT"
show fsck.rexfs -fv "$DEV"
show rmmod rexfs
echo; echo "rexfs demo: done"
