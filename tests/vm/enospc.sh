#!/bin/bash
# On the 64 MiB $DEV2: fill the data blocks with dd until ENOSPC, then fill
# the inode table (mkfs -N 64) until ENOSPC; exact errnos and counts, the
# written data intact, everything back to the mkfs counts after removal, and
# fsck clean after each part; and a file whose extents need an extent block
# made at ENOSPC (the blocks kept for metadata let its inode be written
# and the file be removed); write faults into blocks whose freeing is not
# committed yet wait for the commit (faults_into_freed).
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

echo "== write faults into blocks just freed"
faults_into_freed "$DEV2"
