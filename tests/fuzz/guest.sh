#!/bin/bash
# Runs in the test VM (scripts/fuzz.sh boots it with scripts/vm.sh): every
# damaged image of a rexfs-fuzz run mounted, walked, written to, unmounted
# and checked with fsck.rexfs -n (tests/fuzz/driver.py says how), one line
# per image in OUT/results.tsv, each image's kernel log lines and fsck
# output in OUT/image-klog.txt.
#
#   tests/fuzz/guest.sh IMAGES OUT [TIMEOUT]
#
# IMAGES: the directory rexfs-fuzz wrote (NNNNN.img, manifest.tsv), read
# through the read-only root share and copied to the guest's tmpfs one at a
# time; OUT: the read-write output share; TIMEOUT: seconds per image
# (default 60). The console gets one line per image. The console log level
# is lowered to 3 meanwhile (critical messages and worse: a run's thousands
# of "corrupted:" lines, each printed at TCG's serial speed, would slow
# it down); the kernel log itself (vm.sh's kmsg.log, /dev/kmsg) keeps
# everything. Exit status: the driver's (0 unless it broke: the verdict
# on the images is rexfs-fuzz report's, on the host).
. "$(dirname "$0")/../vm/lib.sh"
images=$1 out=$2 timeout=${3:-60}

load
echo "guest: $(uname -r), $(grep -c . "$images/manifest.tsv") manifest lines, ${timeout}s per image"
level=$(cut -f1 /proc/sys/kernel/printk)
dmesg -n 3
status=0
py "$REPO/tests/fuzz/driver.py" --images "$images" --out "$out" --timeout "$timeout" || status=$?
dmesg -n "$level"
# The module goes unless an image left it busy (a hang: reported already).
grep -qs rexfs /proc/mounts || rmmod rexfs 2>/dev/null || true
exit "$status"
