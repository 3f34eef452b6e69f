#!/bin/bash
# DAX against a punch and a truncate while DAX pages are pinned (races.py
# dax-pin-punch, dax-pin-truncate), on /dev/pmem0 mounted -o dax=always and
# filled: an O_DIRECT write to a dm-delay device over /dev/vdb, whose buffer
# is a shared mapping of a DAX file, pins the file's pages (GUP) for the
# delay, while the pinned range is punched (or the file truncated to where
# it begins) and another file is written as soon as there is space. The
# layout break waits for the pin before any block goes: the cut returns
# after the write, the write copies the file's old data, the other file gets
# the blocks only then, and a mapping faulted in before shows zeroes (or
# SIGBUS past the new end). Negative control: unsafe_late_dax_break_layout
# (the blocks go first: the other file takes them during the DMA, and the
# direct write copies its data).
# timeout: 600
. "$(dirname "$0")/lib.sh"
[ -b /dev/pmem0 ] || die "no /dev/pmem0: the VM needs --pmem"
# No udev in the guest: libdevmapper makes the /dev/mapper node itself.
export DM_DISABLE_UDEV=1 REXFS_PIN_DM=rexfs-dax-pin REXFS_PIN_DEV=$DEV2
# Each write waits 10 s in dm-delay: time for the cut, a journal commit
# and the other file's write under TCG.
dmsetup create "$REXFS_PIN_DM" --table "0 $(blockdev --getsz "$DEV2") delay $DEV2 0 10000"
trap 'dmsetup remove --retry "$REXFS_PIN_DM" >/dev/null 2>&1 || true' EXIT
race_test dax-pin-punch unsafe_late_dax_break_layout /dev/pmem0 dax=always
race_test dax-pin-truncate unsafe_late_dax_break_layout /dev/pmem0 dax=always
