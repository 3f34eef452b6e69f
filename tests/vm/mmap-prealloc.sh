#!/bin/bash
# Write faults preallocate: 1 MiB stores through a shared mapping of a 64 MiB
# sparse file, then msync: some faults preallocated past their folio
# (fault_prealloc) and most found their blocks allocated (mkwrite_allocated);
# exactly the file's blocks are allocated (nothing past EOF). Stores into the
# first 3 MiB of another: the blocks preallocated past them read as zeroes.
# Single stores 1 MiB apart (MADV_RANDOM, order-0 folios) allocate one block
# each. Every byte right cached, after a cache drop and after a remount;
# fsck clean.
. "$(dirname "$0")/lib.sh"
fresh_fs
D=$(debugfs_dir)
counter() { cat "$D/$1"; }
SIZE=$((64 << 20))
prealloc0=$(counter fault_prealloc) allocated0=$(counter mkwrite_allocated)

# store FILE MIB: 1 MiB of 0xcd at each of the first MIB MiB of FILE, a
# new sparse file of $SIZE bytes, through a shared mapping; msync.
store() {
	py - "$1" "$SIZE" "$2" <<'PY'
import mmap, os, sys
path, size, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, size)
with mmap.mmap(fd, size) as m:
    for off in range(0, mib << 20, 1 << 20):
        m[off:off + (1 << 20)] = b"\xcd" * (1 << 20)
    m.flush()
os.close(fd)
PY
}

store "$MNT/seq" 64
prealloc=$(($(counter fault_prealloc) - prealloc0))
allocated=$(($(counter mkwrite_allocated) - allocated0))
echo "64 MiB of stores: fault_prealloc +$prealloc, mkwrite_allocated +$allocated"
((prealloc > 0)) || die "no write fault preallocated"
((allocated > prealloc)) || die "mkwrite_allocated +$allocated, not above fault_prealloc +$prealloc"
blocks=$(blocks_of "$MNT/seq")
((blocks >= 16384 && blocks <= 16384 + 4)) ||
	die "$blocks blocks for 64 MiB stored (16384 of data, a few extent blocks at most)"

# A fault at block B preallocates at most as many blocks as the run before
# it has (B) past its folio (512 blocks at most): the run never grows past
# twice what was stored plus a folio.
store "$MNT/part" 3
blocks=$(blocks_of "$MNT/part")
echo "3 MiB of 64 stored: $blocks blocks"
((blocks >= 768 && blocks <= 2 * 768 + 512)) || die "$blocks blocks for 3 MiB stored"

py - "$MNT/sparse" "$SIZE" <<'PY'
import mmap, os, sys
path, size = sys.argv[1], int(sys.argv[2])
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, size)
with mmap.mmap(fd, size) as m:
    m.madvise(mmap.MADV_RANDOM)
    for off in range(1 << 19, size, 1 << 20):
        m[off:off + 8] = b"\xcd" * 8
    m.flush()
os.close(fd)
PY
# 64 one-block extents: more than the inode holds, so one extent block too.
expect_eq "$(blocks_of "$MNT/sparse")" 65 "blocks after 64 single stores 1 MiB apart (and an extent block)"

stores=()
for ((i = 0; i < 64; i++)); do stores+=("$(((i << 20) + (1 << 19))):8:0xcd"); done
verify() {
	helper expect-content "$MNT/seq" "$SIZE" "0:$SIZE:0xcd"
	helper expect-content "$MNT/part" "$SIZE" "0:$((3 << 20)):0xcd"
	helper expect-content "$MNT/sparse" "$SIZE" "${stores[@]}"
	echo "content right $1"
}
verify "from the page cache"
drop_caches
verify "from disk"
remount
verify "after remount"
check_fsck
