#!/bin/bash
# Freed metadata blocks must not come back as stale buffers. Directory,
# extent, symlink and attribute blocks live in the device's buffer cache,
# file data does not: a buffer still dirty when its block is freed would be
# written later over whatever file now owns the block. On the 64 MiB
# $DEV2: dirty many such blocks, free them all before writeback, fill the
# filesystem with a file of a known pattern (which takes the freed blocks),
# fsync it, and read it back from disk.
. "$(dirname "$0")/lib.sh"
fresh_fs "$DEV2"
M=$MNT
# Keep the metadata dirty in memory until it is freed.
writeback=$(cat /proc/sys/vm/dirty_writeback_centisecs)
trap 'echo "$writeback" >/proc/sys/vm/dirty_writeback_centisecs' EXIT
echo 0 >/proc/sys/vm/dirty_writeback_centisecs

py - "$M" <<'PY'
import os, sys
m = sys.argv[1]
# Directory blocks: 3000 long names, a few dozen blocks.
os.mkdir(f"{m}/dir")
for i in range(3000):
    os.close(os.open(f"{m}/dir/{i:0200d}", os.O_CREAT | os.O_WRONLY, 0o644))
# Extent blocks: every other block of a 4 MiB file, one extent each; a
# link writes the inode, and so its extent blocks, into their buffers.
free = os.statvfs(m).f_bfree
fd = os.open(f"{m}/sparse", os.O_CREAT | os.O_WRONLY, 0o644)
for blk in range(0, 1024, 2):
    os.pwrite(fd, b"x" * 4096, blk * 4096)
os.close(fd)
os.link(f"{m}/sparse", f"{m}/sparse-link")
if free - os.statvfs(m).f_bfree <= 512:
    sys.exit("FAILED: the sparse file has no extent blocks")
# Symlink blocks: targets too long for the inode.
for i in range(100):
    os.symlink("t" * 1000, f"{m}/link{i}")
# Attribute blocks, one per file.
for i in range(100):
    path = f"{m}/attrs{i}"
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    os.setxattr(path, "user.a", b"v" * 1000)
PY
rm -rf "$M/dir" "$M"/sparse* "$M"/link* "$M"/attrs*

# Every free block, the freed ones included, into one file of a pattern
# that no metadata block holds; fsync writes its data, then its inode and
# the dirty metadata buffers, which is when a stale one would land on it.
py - "$M/fill" <<'PY'
import errno, os, sys
from helpers import fail
chunk = b"rexfs-block-reuse\n" * (1 << 16)
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
done = 0  # of the chunk: a short write goes on where it stopped
try:
    while True:
        done = (done + os.write(fd, chunk[done:])) % len(chunk)
except OSError as e:
    if e.errno != errno.ENOSPC:
        fail(f"filling: {errno.errorcode[e.errno]}, expected ENOSPC")
os.fsync(fd)
os.close(fd)
PY
size=$(stat -c %s "$M/fill")
want=$(head -c "$size" < <(yes rexfs-block-reuse) | md5sum | cut -d' ' -f1)
expect_eq "$(md5 "$M/fill")" "$want" "the file in the page cache"
drop_caches
expect_eq "$(md5 "$M/fill")" "$want" "the file read back from disk"
echo "$size bytes over the freed metadata blocks read back intact"
check_fsck "$DEV2"
