#!/bin/bash
# -o discard, on a loop device over a file of the guest's tmpfs (a loop
# device discards by punching holes in its file, which then read as
# zeroes; the test VM's virtio disks ignore discards): /proc/mounts shows
# the option; a 4 MiB file is written and synced, its blocks noted
# (FIEMAP), the file removed and the removal committed (sync); the next
# allocation (a write + fsync) discards the freed blocks: the image file
# reads zeroes there and takes 4 MiB less space. After a remount with
# nodiscard, /proc/mounts drops the option and freed blocks keep their
# data, until fstrim (FITRIM) discards them (it reports at least those
# 4 MiB); fstrim past the end fails. fsck clean.
. "$(dirname "$0")/lib.sh"
load
IMG=/tmp/discard.img
LOOP=
cleanup() {
	if grep -qs " $MNT " /proc/mounts; then umount "$MNT" || true; fi
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
	rm -f "$IMG"
}
trap cleanup EXIT
truncate -s 64M "$IMG"
LOOP=$(losetup --find --show "$IMG")
mkfs.rexfs -q -f "$LOOP"
mount_rexfs "$LOOP" discard
grep " $MNT rexfs " /proc/mounts | grep -q ",discard" ||
	die "no discard in /proc/mounts: $(grep " $MNT " /proc/mounts)"

# write_and_remove NAME: writes a 4 MiB file of 0xab, syncs it, prints its
# first physical block and block count (one extent), removes it and commits
# the removal; a small file written and fsynced after allocates, which
# returns the committed busy blocks (discarding them with -o discard).
write_and_remove() {
	xfs_io -f -c "pwrite -q -S 0xab 0 4m" -c fsync "$MNT/$1"
	local extent
	extent=$(xfs_io -c "fiemap" "$MNT/$1" | awk 'NR == 2 { print $3 }')
	[[ $extent =~ ^([0-9]+)\.\.([0-9]+)$ ]] || die "$1: one extent expected: $(xfs_io -c fiemap "$MNT/$1")"
	rm "$MNT/$1"
	sync
	xfs_io -f -c "pwrite -q -S 0 0 4k" -c fsync "$MNT/after-$1"
	# FIEMAP's 512-byte units, as 4 KiB blocks.
	echo "$((BASH_REMATCH[1] / 8)) $(((BASH_REMATCH[2] + 1 - BASH_REMATCH[1]) / 8))"
}

# blocks_of_ab BLOCK COUNT: how many of the image's blocks BLOCK.. hold
# 0xab (the removed file's data) and how many zeroes (discarded, or the
# small file's zeroes, which may land there).
blocks_of_ab() {
	py - "$IMG" "$1" "$2" <<'PY'
import sys
path, block, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "rb") as f:
    f.seek(block * 4096)
    blocks = [f.read(4096) for _ in range(count)]
print(sum(b == b"\xab" * 4096 for b in blocks), sum(not any(b) for b in blocks))
PY
}
used_kib() { du -k "$IMG" | cut -f1; }

before=$(used_kib)
read -r block count < <(write_and_remove discarded)
after=$(used_kib)
echo "discard: blocks $block+$count freed; the image used $before KiB, then $after KiB"
expect_eq "$count" 1024 "blocks of the 4 MiB file"
expect_eq "$(blocks_of_ab "$block" "$count")" "0 $count" "blocks of 0xab and of zeroes after the discard"
[ "$after" -le $((before + 64)) ] || die "the image grew from $before to $after KiB: nothing discarded"

mount -o remount,nodiscard "$MNT"
grep " $MNT rexfs " /proc/mounts | grep -q ",discard" && die "discard still in /proc/mounts after nodiscard"
read -r block count < <(write_and_remove kept)
echo "nodiscard: blocks $block+$count freed"
read -r ab zero < <(blocks_of_ab "$block" "$count")
echo "nodiscard: $ab blocks still hold the data, $zero zeroes"
[ "$ab" -ge $((count - 1)) ] || die "only $ab of the $count freed blocks kept their data without discard"

# FITRIM discards every free run: those blocks too.
out=$(fstrim -v "$MNT")
echo "fstrim: $out"
trimmed=$(sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p' <<<"$out")
[ "${trimmed:-0}" -ge $((4 << 20)) ] || die "fstrim trimmed ${trimmed:-nothing}, not the 4 MiB freed"
expect_eq "$(blocks_of_ab "$block" "$count" | cut -d' ' -f1)" 0 "blocks of 0xab after fstrim"
# Past the end: EINVAL, as ext4.
fstrim -o 1G "$MNT" 2>/dev/null && die "fstrim past the end succeeded"
umount "$MNT"
check_fsck "$LOOP"
