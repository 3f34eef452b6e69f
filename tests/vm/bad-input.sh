#!/bin/bash
# Devices that are not rexfs, or are damaged rexfs, fail to mount with a
# clear errno and one kernel log line saying why, never an oops.
. "$(dirname "$0")/lib.sh"
WORK_ERR=$(mktemp)
load

# expect_mount_fails NAME ERRNO MESSAGE: mount $DEV fails with ERRNO and the
# kernel log says MESSAGE.
expect_mount_fails() {
	mark_dmesg "$1"
	expect_eq "$(mount_errno "$DEV")" "$2" "$1: mount errno"
	dmesg_since "$1" | grep -q "rexfs.*$3" || die "$1: no kernel log line '$3'"
	echo "$1: $2, logged '$(dmesg_since "$1" | grep rexfs | head -1)'"
}

dd if=/dev/zero of="$DEV" bs=1M count=4 status=none
expect_mount_fails zeroed EINVAL "not a rexfs filesystem"

mkfs.ext4 -q -F "$DEV"
expect_mount_fails ext4 EINVAL "not a rexfs filesystem"

# Superblock byte 200 lies in the reserved area: only the checksum catches it.
mkfs.rexfs -q -f "$DEV"
printf '\x01' | dd of="$DEV" bs=1 seek=200 conv=notrunc status=none
expect_mount_fails superblock-crc EUCLEAN "superblock: checksum mismatch"
fsck.rexfs -n "$DEV" >/dev/null && die "fsck missed the superblock corruption"

# The root inode is the first slot of the inode table; flip its nlink.
mkfs.rexfs -q -f "$DEV"
itable=$(python3 -c "
import struct,sys
sb=open('$DEV','rb').read(512)
print(struct.unpack_from('<Q', sb, 56)[0])")
printf '\x07' | dd of="$DEV" bs=1 seek=$((itable * 4096 + 4)) conv=notrunc status=none
expect_mount_fails root-inode-crc EUCLEAN "inode 1: checksum mismatch"
fsck.rexfs -n "$DEV" >/dev/null && die "fsck missed the root inode corruption"

# A filesystem larger than its device (e.g. a truncated image).
mkfs.rexfs -q -f "$DEV"
loop=$(losetup --find --show --sizelimit $((8 << 20)) "$DEV")
mark_dmesg truncated
expect_eq "$(mount_errno "$loop")" EUCLEAN "truncated: mount errno"
dmesg_since truncated | grep -q "rexfs.*device only" || die "truncated: no kernel log line"
losetup -d "$loop"

# A good filesystem still mounts after all that.
mkfs.rexfs -q -f "$DEV"
expect_eq "$(mount_errno "$DEV")" OK "mount after the failures"

# mkfs.rexfs -f and fsck.rexfs -y refuse the mounted device (EBUSY), which
# stays intact.
mount_rexfs
echo data >"$MNT/kept"
sync
mkfs.rexfs -q -f "$DEV" 2>"$WORK_ERR" && die "mkfs.rexfs -f formatted a mounted device"
grep -q "mounted, or in use" "$WORK_ERR" || die "mkfs.rexfs: $(cat "$WORK_ERR")"
fsck.rexfs -y "$DEV" 2>"$WORK_ERR" >&2 && die "fsck.rexfs -y opened a mounted device"
grep -q "mounted, or in use" "$WORK_ERR" || die "fsck.rexfs -y: $(cat "$WORK_ERR")"
echo "mkfs.rexfs -f and fsck.rexfs -y of the mounted device: refused ($(head -1 "$WORK_ERR"))"
expect_eq "$(cat "$MNT/kept")" data "a file of the mounted filesystem"
umount "$MNT"
check_fsck
unload
