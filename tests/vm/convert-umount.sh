#!/bin/bash
# Unwritten extents that writeback converts at I/O completion must reach the
# disk with a plain unmount. Unmount, like sync(2), writes an inode before
# it waits for the inode's data (fs/fs-writeback.c), so the conversion
# dirties the inode again after that write, and unmount would evict it
# dirty: rexfs's ->sync_fs writes such inodes (generic/393 lost the data of
# a converted inline file this way). Two kinds of conversion, each in 64
# files: inline data that a truncate past the inode moves into a block, and
# buffered writes into preallocated blocks; unmount, mount, compare; three
# rounds.
. "$(dirname "$0")/lib.sh"
load
mkfs.rexfs -q -f "$DEV"
# A round's files: `write` makes them, `verify` compares them after the remount.
files=$(cat <<'PY'
import os, sys
from helpers import fail
m, rnd, step = sys.argv[1], int(sys.argv[2]), sys.argv[3]
FILES, PREALLOC = 64, 1 << 16
def pattern(i):
    return (b"%d-%d." % (rnd, i)) * 1000
for i in range(FILES):
    inline, prealloc = f"{m}/inline{i}", f"{m}/prealloc{i}"
    if step == "write":
        fd = os.open(inline, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        os.write(fd, b"X" * 40)
        os.fsync(fd)
        os.ftruncate(fd, 4)
        os.ftruncate(fd, 4096)  # past the inode: the 4 bytes move to a block
        os.close(fd)
        fd = os.open(prealloc, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
        os.posix_fallocate(fd, 0, PREALLOC)
        os.pwrite(fd, pattern(i), 0)
        os.close(fd)
        continue
    with open(inline, "rb") as f:
        got = f.read()
    if got != b"X" * 4 + bytes(4092):
        fail(f"round {rnd}: {inline} after the remount: {got[:8]!r}..., {len(got)} bytes")
    with open(prealloc, "rb") as f:
        got = f.read()
    want = pattern(i) + bytes(PREALLOC - len(pattern(i)))
    if got != want:
        fail(f"round {rnd}: {prealloc} after the remount: {got[:16]!r}..., {len(got)} bytes")
if step == "verify":
    print(f"round {rnd}: {FILES} converted inline files and {FILES} written preallocations intact")
PY
)
for round in 1 2 3; do
	mount_rexfs
	py -c "$files" "$MNT" "$round" write
	# No sync: the unmount alone must write everything.
	umount "$MNT"
	mount_rexfs
	py -c "$files" "$MNT" "$round" verify
	umount "$MNT"
done
check_fsck "$DEV"
