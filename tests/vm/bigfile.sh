#!/bin/bash
# A file of 1 GiB + 1 MiB: 300 MiB of 0xab at 0, a hole up to 1 GiB, 1 MiB of
# 0xcd at 1 GiB. Exact size; only the data is allocated (st_blocks, and
# statfs agrees); every byte right from the page cache, from disk after
# dropping the caches, and after a remount; fsck clean.
#
# timeout: 600
. "$(dirname "$0")/lib.sh"
SIZE=$(((1 << 30) + (1 << 20)))
fresh_fs
F=$MNT/big
b0=$(free_blocks) root0=$(blocks_of "$MNT")

t=$(now)
xfs_io -f -c "pwrite -q -S 0xab -b 1m 0 300m" -c "pwrite -q -S 0xcd 1g 1m" -c fsync "$F"
echo "write 301 MiB + fsync: $(since "$t")s"
expect_eq "$(stat -c %s "$F")" "$SIZE" "size"
sectors=$(stat -c %b "$F")
lo=$(((301 << 20) / 512)) hi=$(((302 << 20) / 512))
[ "$sectors" -ge "$lo" ] && [ "$sectors" -le "$hi" ] ||
	die "st_blocks $sectors, expected $lo..$hi (301 MiB of data + extent blocks; the hole unallocated)"
echo "st_blocks $sectors (data: $lo)"
sync
expect_eq "$((b0 - $(free_blocks)))" "$((sectors / 8 + $(blocks_of "$MNT") - root0))" \
	"blocks used according to statfs vs st_blocks of the file and the root directory"

# verify WHEN: every byte of the file, streamed and compared in 1 MiB pieces.
verify() {
	local t
	t=$(now)
	helper expect-content "$F" "$SIZE" 0:$((300 << 20)):0xab $((1 << 30)):$((1 << 20)):0xcd
	echo "content right $1: $(since "$t")s"
}
verify "from the page cache"
drop_caches
verify "from disk"
remount
verify "after remount"
expect_eq "$(stat -c '%s %b' "$F")" "$SIZE $sectors" "size and st_blocks after remount"
check_fsck
