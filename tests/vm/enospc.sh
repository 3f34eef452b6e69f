#!/bin/bash
# On the 64 MiB $DEV2: fill the data blocks with dd until ENOSPC, then fill
# the inode table (mkfs -N 64) until ENOSPC; exact errnos and counts, the
# written data intact, everything back to the mkfs counts after removal, and
# fsck clean after each part; and a file whose extents need an extent block
# made at ENOSPC (the blocks kept for metadata let its inode be written
# and the file be removed); an allocation whose extents need a new tree
# node, when only blocks whose freeing is not committed remain, stores them
# from the blocks it set aside (negative control: without the reservation
# its inode fails to be logged); write faults into blocks whose freeing is
# not committed yet wait for the commit (faults_into_freed).
. "$(dirname "$0")/lib.sh"
load
M=$MNT

echo "== out of data blocks"
mkfs.rexfs -q -f "$DEV2"
mount_rexfs "$DEV2"
mkfs_blocks=$(free_blocks) mkfs_inodes=$(free_inodes) root0=$(blocks_of "$M")
rc=0
dd if=/dev/zero of="$M/fill" bs=1M 2>/tmp/enospc-dd.err || rc=$?
cat /tmp/enospc-dd.err
[ "$rc" != 0 ] || die "dd filled a 64 MiB filesystem without an error"
grep -q "No space left on device" /tmp/enospc-dd.err || die "dd failed, but not with ENOSPC"
sync
free=$(free_blocks)
avail=$(stat -f -c %a "$M")
[ "$avail" -lt 16 ] || die "$avail blocks available after ENOSPC"
size=$(stat -c %s "$M/fill")
[ "$size" -gt $((mkfs_blocks * 4096 * 9 / 10)) ] || die "only $size bytes written of $((mkfs_blocks * 4096)) free"
expect_eq $((size % 4096)) 0 "size $size modulo 4096"
expect_eq "$(blocks_of "$M/fill")" $((size / 4096)) "blocks of the file of $size bytes"
expect_eq $((mkfs_blocks - free)) $((size / 4096 + $(blocks_of "$M") - root0)) \
	"blocks used (statfs) vs the file's and the root directory's"
echo "wrote $size bytes; $free blocks free"
cmp -n "$size" "$M/fill" /dev/zero
drop_caches
cmp -n "$size" "$M/fill" /dev/zero
rm "$M/fill"
sync
expect_eq "$(free_blocks)" $((mkfs_blocks - ($(blocks_of "$M") - root0))) "free blocks after rm (mkfs count less the root directory's blocks)"
expect_eq "$(free_inodes)" "$mkfs_inodes" "free inodes after rm"
check_fsck "$DEV2"

echo "== out of inodes"
mkfs.rexfs -q -f -N 64 "$DEV2"
mount_rexfs "$DEV2"
expect_eq "$(stat -f -c '%c %d' "$M")" "64 63" "total and free inodes of mkfs -N 64"
mkfs_blocks=$(free_blocks) root0=$(blocks_of "$M")
py - "$M" <<'PY'
import errno, os, sys
from helpers import errno_of, fail
m = sys.argv[1]
count = 0
while True:
    try:
        os.close(os.open(f"{m}/f{count}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except OSError as e:
        if e.errno != errno.ENOSPC:
            fail(f"create #{count + 1}: {errno.errorcode[e.errno]}, expected ENOSPC")
        break
    count += 1
    if count > 1000: fail("no ENOSPC after 1000 creates")
print(f"created {count} files, then ENOSPC")
if count != 63: fail(f"created {count} files, expected 63 (64 inodes less the root)")
if os.path.lexists(f"{m}/f63"): fail("the failed create left a name behind")
for what, res in (("mkdir", errno_of(os.mkdir, f"{m}/dir")),
                  ("symlink", errno_of(os.symlink, "f0", f"{m}/lnk"))):
    if res != "ENOSPC": fail(f"{what} without free inodes: {res}, expected ENOSPC")
if sorted(os.listdir(m)) != sorted(f"f{i}" for i in range(63)): fail("listing of the 63 files")
if os.statvfs(m).f_ffree != 0: fail(f"statfs: {os.statvfs(m).f_ffree} free inodes")
for i in range(63):
    os.unlink(f"{m}/f{i}")
if os.listdir(m): fail(f"left after removing all: {os.listdir(m)}")
PY
sync
expect_eq "$(free_inodes)" 63 "free inodes after removing all"
expect_eq "$(free_blocks)" $((mkfs_blocks - ($(blocks_of "$M") - root0))) "free blocks after removing all"
check_fsck "$DEV2"

echo "== extents that need an extent block, allocated at ENOSPC"
mkfs.rexfs -q -f "$DEV2"
mount_rexfs "$DEV2"
mkfs_blocks=$(free_blocks) root0=$(blocks_of "$M")
# Free space in 20 holes of 16 blocks and the rest: a preallocation of
# everything takes more extents than the inode holds.
for i in $(seq 0 39); do head -c 65536 /dev/zero >"$M/frag$i"; done
sync
for i in $(seq 0 2 38); do rm "$M/frag$i"; done
avail=$(stat -f -c %a "$M")
xfs_io -f -c "falloc 0 $((avail * 4096))" "$M/big"
expect_errno ENOSPC fallocate "$M/big" "$((avail * 4096))" 4096
extents=$(xfs_io -c "fiemap" "$M/big" | grep -Ec '\]: [0-9]+\.\.' || true)
[ "$extents" -gt 5 ] || die "the preallocation took $extents extents, expected more than the inode's 5"
expect_eq "$(stat -f -c %a "$M")" 0 "blocks available after ENOSPC"
# Writing the inode needs an extent block, from the blocks kept for metadata.
remount "$DEV2"
blocks=$(blocks_of "$M/big")
[ "$blocks" -gt "$avail" ] || die "after a remount the file has $blocks blocks: its $avail data blocks and no extent block"
rm "$M/big" "$M"/frag*
sync
expect_eq "$(free_blocks)" $((mkfs_blocks - ($(blocks_of "$M") - root0))) "free blocks after removing all"
echo "a preallocation of $extents extents at ENOSPC written and removed"
check_fsck "$DEV2"

# extents_into_freed on|off: a file of 173 one-block extents (the inode's 5
# and a full tree leaf of 168) with three-block holes between them, a
# 1 MiB file, then data filling the rest, and attribute blocks all but 10
# of the blocks kept for metadata, all committed; one process removes the
# 1 MiB file and preallocates the first 40 holes before the journal's
# 5-second timer commits the removal: only those 10 blocks are free and not
# busy. "on": the preallocation set aside the blocks its extent tree may
# grow by, so its data waits for the commit (busy_commit_waits) instead of
# taking them, and its inode is logged; "off"
# (unsafe_skip_metadata_reservation): the data takes them, the leaf's split
# finds only busy blocks and dirty_inode logs its failure.
extents_into_freed() {
	local protection=$1 d waits extents failed
	fresh_fs "$DEV2"
	d=/sys/kernel/debug/rexfs/$(basename "$DEV2")
	[ "$protection" = on ] || echo 1 >"$d/unsafe_skip_metadata_reservation"
	py - "$M/frag" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(173):
    os.pwrite(fd, b"x" * 4096, i * 4 * 4096)
os.fsync(fd)
os.close(fd)
PY
	extents=$(xfs_io -c "fiemap" "$M/frag" | grep -Ec '\]: [0-9]+\.\.' || true)
	expect_eq "$extents" 173 "extents of the file written every fourth block"
	head -c 1M /dev/zero >"$M/freed"
	dd if=/dev/zero of="$M/fill" bs=1M 2>/dev/null && die "dd filled $DEV2 without ENOSPC"
	sync
	py - "$M" "$(free_blocks)" <<'PY'
import os, sys
m, free = sys.argv[1], int(sys.argv[2])
for i in range(free - 10):
    open(f"{m}/attr{i}", "w").close()
    os.setxattr(f"{m}/attr{i}", "user.pad", b"x" * 1000)
PY
	sync
	expect_eq "$(free_blocks)" 10 "free blocks after the attribute blocks"
	waits=$(cat "$d/busy_commit_waits")
	mark_dmesg "extents-into-freed-$protection"
	py - "$M/freed" "$M/frag" <<'PY'
import os, sys
os.unlink(sys.argv[1])
fd = os.open(sys.argv[2], os.O_WRONLY)
os.posix_fallocate(fd, 0, 40 * 4 * 4096)
os.close(fd)
PY
	waits=$(($(cat "$d/busy_commit_waits") - waits))
	failed=$(dmesg_since "extents-into-freed-$protection" | grep -c "logging failed" || true)
	echo "protection $protection: busy_commit_waits +$waits, $failed inode logging failures"
	echo 0 >"$d/unsafe_skip_metadata_reservation"
	if [ "$protection" = off ]; then
		((failed > 0)) || die "negative control: no inode logging failed without the reservation"
	else
		((waits > 0)) || die "the preallocation did not wait for the commit of the freed blocks"
		expect_eq "$failed" 0 "inode logging failures"
	fi
	remount "$DEV2"
	extents=$(xfs_io -c "fiemap -v" "$M/frag" | grep -c "0x800" || true)
	((extents >= 40)) || die "after a remount the file has $extents unwritten extents, expected 40 or more"
	echo "$extents unwritten extents after a remount"
	check_fsck "$DEV2"
}

echo "== extents stored when only busy blocks are free"
extents_into_freed on
extents_into_freed off

echo "== write faults into blocks just freed"
faults_into_freed "$DEV2"
