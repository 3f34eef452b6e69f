#!/bin/bash
# fallocate: preallocation makes unwritten extents (allocated, read as
# zeroes, size kept with KEEP_SIZE); data written into them survives
# writeback and a cache drop (the extents were converted at I/O completion);
# punch and zero free or zero exactly the range, edges untouched;
# unsupported modes fail with EOPNOTSUPP; an unprivileged caller drops
# setuid and setgid. fsck clean.
. "$(dirname "$0")/lib.sh"
fresh_fs
F=$MNT/f
# expect_blocks N WHAT: the file has N data blocks; st_blocks also counts the
# extent block that holds the extents beyond the inode's five, once the
# punches have split the map that far.
expect_blocks() {
	local got
	got=$(blocks_of "$F")
	[ "$got" = "$1" ] || [ "$got" = $(($1 + 1)) ] || die "$2: expected $1 data blocks (+1 extent block), got $got"
}

# Preallocate 4 MiB with KEEP_SIZE: size stays 0, 1024 blocks allocated.
touch "$F"
free0=$(free_blocks)
xfs_io -c "falloc -k 0 4m" "$F"
expect_eq "$(stat -c %s "$F")" 0 "size after falloc -k"
expect_eq "$(blocks_of "$F")" 1024 "blocks after falloc -k"
expect_eq "$((free0 - $(free_blocks)))" 1024 "free blocks used by falloc -k"

# Mode 0 extends the size; the preallocated range reads as zeroes.
xfs_io -c "falloc 0 8m" "$F"
expect_eq "$(stat -c %s "$F")" 8388608 "size after falloc"
expect_eq "$(blocks_of "$F")" 2048 "blocks after falloc"
cmp -n 8388608 "$F" /dev/zero || die "preallocated range does not read as zeroes"

# Write into the unwritten range, sync, drop the cache: the data must come
# back from disk, so the extents were converted when the writeback completed.
xfs_io -c "pwrite -S 0x5a 4096 1m" -c "pwrite -S 0xa5 6m 10000" "$F" >/dev/null
before=$(md5 "$F")
drop_caches
expect_eq "$(md5 "$F")" "$before" "content after writeback and cache drop"
expect_eq "$(blocks_of "$F")" 2048 "blocks after writing into preallocation"
xfs_io -c "pread -v 4090 12" "$F" | grep -q "00 00 00 00 00 00 5a 5a 5a 5a 5a 5a" ||
	die "bytes around the start of the write"

# Punch a hole with unaligned edges: whole blocks freed, edges zeroed.
xfs_io -c "fpunch 10000 20000" "$F"
expect_blocks $((2048 - 4)) "blocks after punching 4 whole blocks (3-6)"
py - "$F" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
assert d[4096:10000] == b"\x5a" * (10000 - 4096), "bytes before the punched range changed"
assert d[10000:30000] == bytes(20000), "punched range is not zero"
assert d[30000:4096 + (1 << 20)] == b"\x5a" * (4096 + (1 << 20) - 30000), "bytes after the range changed"
PY
drop_caches
py - "$F" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
assert d[10000:30000] == bytes(20000) and d[30000] == 0x5a and d[9999] == 0x5a, "punch on disk"
PY

# Zero a range of written data: reads as zeroes, blocks stay allocated.
xfs_io -c "fzero 6m 8192" "$F"
py - "$F" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
assert d[6 << 20:(6 << 20) + 8192] == bytes(8192), "zeroed range is not zero"
PY
expect_blocks $((2048 - 4)) "blocks after zero range"
expect_eq "$(stat -c %s "$F")" 8388608 "size after zero range"
xfs_io -c "fzero 8m 1m" "$F"
expect_eq "$(stat -c %s "$F")" 9437184 "size after zero range past EOF"

# Unsupported modes.
out=$(xfs_io -c "fcollapse 0 4096" "$F" 2>&1 || true)
[[ $out == *"Operation not supported"* ]] || die "fcollapse did not fail with EOPNOTSUPP: $out"
final=$(md5 "$F")
umount "$MNT"
check_fsck
mount_rexfs
expect_eq "$(md5 "$F")" "$final" "content after remount"
expect_blocks $((2048 - 4 + 256)) "blocks after remount"
# Each mode, run by the file's unprivileged owner, drops setuid and setgid
# as a write does.
S=$MNT/setid
touch "$S"
chown 65534:65534 "$S"
for args in "-l 8192" "-p -o 0 -l 4096" "-z -o 0 -l 4096"; do
	chmod 6777 "$S"
	setpriv --reuid=65534 --regid=65534 --clear-groups fallocate $args "$S"
	expect_eq "$(stat -c %a "$S")" 777 "mode after fallocate $args by the unprivileged owner"
done
check_fsck
