#!/bin/bash
# mkfs + mount: the empty root directory lists, stats and reports free space;
# umount and rmmod work; fsck is clean afterwards.
#
# order: 30
. "$(dirname "$0")/lib.sh"
mkfs.rexfs -q -f "$DEV"
load
mount -t rexfs "$DEV" "$MNT"
grep -q "^$DEV $MNT rexfs " /proc/mounts || die "not in /proc/mounts"

ls -la "$MNT"
expect_eq "$(ls -A "$MNT" | wc -l)" 0 "entries in the empty root"
expect_eq "$(ls -a "$MNT" | tr '\n' ' ')" ". .. " "ls -a"
expect_eq "$(stat -c '%F %a %h %u %g' "$MNT")" "directory 755 2 0 0" "root attributes"
expect_eq "$(stat -c %i "$MNT")" 1 "root inode number"

stat -f "$MNT"
expect_eq "$(stat -f -c %s "$MNT")" 4096 "block size"
expect_eq "$(stat -f -c %t "$MNT")" 52455846 "statfs magic"
size_blocks=$(($(blockdev --getsize64 "$DEV") / 4096))
total=$(stat -f -c %b "$MNT")
free=$(stat -f -c %f "$MNT")
[ "$total" -gt $((size_blocks * 95 / 100)) ] && [ "$total" -lt "$size_blocks" ] ||
	die "statfs total $total blocks on a $size_blocks-block device"
expect_eq "$free" "$total" "free blocks of an empty filesystem"
expect_eq "$(stat -f -c %d "$MNT")" "$(($(stat -f -c %c "$MNT") - 1))" "free inodes"
df -h "$MNT"

! ls "$MNT/nonexistent" 2>/dev/null || die "lookup of a missing name succeeded"
umount "$MNT"
rmmod rexfs
fsck.rexfs -f "$DEV" || die "fsck after mount/umount: exit $?"
