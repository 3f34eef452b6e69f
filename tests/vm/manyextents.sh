#!/bin/bash
# A file of 100,000 extents (feature EXTENT_TREE): 4 KiB written at every
# other block, fsync every 5,000 writes; FIEMAP counts them; after a
# remount a stat reads no node of the extent tree, and every written block
# is read back (the first read reads the tree); a block written into a
# hole in the middle; truncated to half, then to 0; st_blocks and statfs
# agree at each step; fsck clean. Prints the time each phase took.
#
# timeout: 1200
. "$(dirname "$0")/lib.sh"
N=100000
fresh_fs
F=$MNT/many
b0=$(free_blocks) root0=$(blocks_of "$MNT")

t=$(now)
py - "$F" "$N" <<'PY'
import os, sys
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(n):
    os.pwrite(fd, i.to_bytes(8, "little") * 512, 2 * i * 4096)
    if (i + 1) % 5000 == 0:
        os.fsync(fd)
os.close(fd)
PY
echo "write $N blocks at every other block + fsync: $(since "$t")s"

# count_extents WHEN EXPECTED: FIEMAP sees EXPECTED extents.
count_extents() {
	local t n
	t=$(now)
	n=$(xfs_io -c "fiemap" "$F" | grep -vc 'hole\|:$')
	expect_eq "$n" "$2" "extents $1"
	echo "FIEMAP $1: $n extents, $(since "$t")s"
}
# check_blocks WHEN: st_blocks holds the data and the tree's nodes, and
# statfs agrees.
check_blocks() {
	local data=$1 blocks
	sync
	blocks=$(blocks_of "$F")
	[ "$blocks" -ge "$data" ] && [ "$blocks" -le $((data + data / 100 + 8)) ] ||
		die "$2: $blocks blocks for $data data blocks"
	expect_eq "$((b0 - $(free_blocks)))" "$((blocks + $(blocks_of "$MNT") - root0))" "statfs $2"
}
count_extents "after writing" "$N"
check_blocks "$N" "after writing"
nodes=$(($(blocks_of "$F") - N))

# The inode is read without its extent tree, which its first use of the
# map reads (the counter of a mount starts at 0): a stat reads none of the
# tree's nodes, a read reads them once.
remount
tree_reads() { cat "$(debugfs_dir)/extent_tree_reads"; }
sectors_read() { awk '{ print $3 }' "/sys/block/$(basename "$DEV")/stat"; }
s0=$(sectors_read)
stat "$F" >/dev/null
read_blocks=$((($(sectors_read) - s0) / 8))
echo "stat after remount: $read_blocks blocks read; the tree has $nodes nodes"
expect_eq "$(tree_reads)" 0 "extent trees read by a stat"
[ "$read_blocks" -lt $((nodes / 4)) ] ||
	die "a stat read $read_blocks blocks, the tree has $nodes nodes"
t=$(now)
py - "$F" "$N" <<'PY'
import os, sys
from helpers import fail
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
for i in range(n):
    want = i.to_bytes(8, "little") * 512
    if os.pread(fd, 4096, 2 * i * 4096) != want:
        fail(f"block {2 * i}: wrong data")
    if i % 9973 == 0 and os.pread(fd, 4096, (2 * i + 1) * 4096) != bytes(4096):
        fail(f"hole at block {2 * i + 1} not zero")
os.close(fd)
PY
echo "read back $N blocks after remount: $(since "$t")s"
expect_eq "$(tree_reads)" 1 "extent trees read by stat and reads"

# A block written into a hole in the middle, read back with its
# neighbours.
xfs_io -c "pwrite -q -S 0x5a $(((N + 1) * 4096)) 4096" -c fsync "$F"
drop_caches
py - "$F" "$N" <<'PY'
import os, sys
from helpers import fail
path, n = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
for block, want in ((n, (n // 2).to_bytes(8, "little") * 512), (n + 1, b"\x5a" * 4096),
                    (n + 2, (n // 2 + 1).to_bytes(8, "little") * 512)):
    if os.pread(fd, 4096, block * 4096) != want:
        fail(f"block {block}: wrong data after the write into the hole at {n + 1}")
os.close(fd)
PY

t=$(now)
truncate -s $((N * 4096)) "$F"
echo "truncate to half: $(since "$t")s"
count_extents "after truncating to half" $((N / 2))
check_blocks $((N / 2)) "after truncating to half"
remount
count_extents "after remount" $((N / 2))

t=$(now)
truncate -s 0 "$F"
echo "truncate to 0: $(since "$t")s"
check_blocks 0 "after truncating to 0"
rm "$F"
sync
expect_eq "$(free_blocks)" "$((b0 - ($(blocks_of "$MNT") - root0)))" \
	"free blocks after removing the file (the root directory keeps its block)"
check_fsck
