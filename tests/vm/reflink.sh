#!/bin/bash
# reflink: FICLONE (cp --reflink=always), FICLONERANGE, FIDEDUPERANGE and
# copy_file_range share blocks (no free block used, FIEMAP says shared),
# FALLOC_FL_UNSHARE_RANGE gives them back;
# buffered, mmap and direct writes into one of two files sharing blocks
# copy on write: the other never changes, from the page cache and from
# disk; dedupe of differing data changes nothing, of the same data leaves
# mtime alone; the errors XFS gives; removing the files gives every block
# back. fsck (which checks every reference count) clean after each step.
. "$(dirname "$0")/lib.sh"
fresh_fs
A=$MNT/a B=$MNT/b
D=$(debugfs_dir)
counter() { cat "$D/$1"; }
# fsck_step WHAT: umount, fsck (reference counts included), mount again.
fsck_step() {
	check_fsck >/dev/null || die "fsck after $1"
	mount_rexfs
}
# same PATH1 PATH2 WHAT: equal contents, cached and after a cache drop.
same() {
	cmp "$1" "$2" || die "$3: contents differ (page cache)"
	drop_caches
	cmp "$1" "$2" || die "$3: contents differ (disk)"
}

head -c $((4 << 20)) /dev/urandom >"$A"
sync
# What is free without the files (the root directory keeps its block).
free0=$(($(free_blocks) + $(blocks_of "$A")))
cp "$A" "$MNT/a.orig"
free1=$(free_blocks)
clones0=$(counter clones)

# A clone takes no data block and shares every block.
cp --reflink=always "$A" "$B"
same "$A" "$B" "clone"
expect_eq "$(counter clones)" $((clones0 + 1)) "clones counter"
used=$((free1 - $(free_blocks)))
[ "$used" -le 1 ] || die "the clone used $used blocks"
filefrag -v "$B" | grep -q shared || die "FIEMAP does not report the clone's blocks shared"
fsck_step "clone"

# Buffered write into the clone: the source is unchanged.
cow0=$(counter cow_remapped)
xfs_io -c "pwrite -S 0x11 1m 64k" "$B" >/dev/null
same "$A" "$MNT/a.orig" "source after a buffered write into the clone"
py - "$B" "$MNT/a.orig" <<'PY'
import sys
b, a = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
m = 1 << 20
assert b[m:m + 65536] == b"\x11" * 65536, "written range"
assert b[:m] == a[:m] and b[m + 65536:] == a[m + 65536:], "the rest of the clone"
PY
[ "$(counter cow_remapped)" -ge $((cow0 + 16)) ] || die "cow_remapped did not move by 16 blocks"
fsck_step "buffered copy-on-write"

# One write of 12 MiB into a 16 MiB clone: its staging blocks take several
# allocations (each within the journal credits of one: generic/265-267
# aborted the journal before).
head -c $((16 << 20)) /dev/urandom >"$MNT/big"
cp --reflink=always "$MNT/big" "$MNT/big2"
big_md5=$(md5 "$MNT/big")
sync
staged0=$(counter cow_allocated)
xfs_io -c "pwrite -q -S 0x55 -b 12m 0 12m" -c fsync "$MNT/big2"
[ "$(counter cow_allocated)" -ge $((staged0 + 3072)) ] || die "cow_allocated did not move by 3,072 blocks"
cmp -n $((12 << 20)) "$MNT/big2" <(head -c $((12 << 20)) /dev/zero | tr '\0' '\125') ||
	die "the 12 MiB written into the clone"
cmp -i $((12 << 20)) "$MNT/big" "$MNT/big2" || die "the rest of the clone"
drop_caches
expect_eq "$(md5 "$MNT/big")" "$big_md5" "the source of the clone written into"
rm "$MNT/big" "$MNT/big2"
fsck_step "a large copy-on-write"

# A store through a shared mapping of the source, partial block.
xfs_io -c "mmap -w 0 4m" -c "mwrite -S 0x22 100 5000" -c "msync -s 0 4m" "$A" >/dev/null
py - "$A" "$MNT/a.orig" "$B" <<'PY'
import sys
a, o, b = (open(p, "rb").read() for p in sys.argv[1:4])
assert a[100:5100] == b"\x22" * 5000, "stored range"
assert a[:100] == o[:100] and a[5100:] == o[5100:], "the rest of the source"
assert b[:1 << 20] == o[:1 << 20], "the clone saw the store"
PY
drop_caches
py - "$B" "$MNT/a.orig" <<'PY'
import sys
b, o = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert b[:1 << 20] == o[:1 << 20], "the clone on disk changed by the store"
PY
fsck_step "mmap copy-on-write"

# Direct writes into the source: aligned, and unaligned (through the page
# cache).
cp "$B" "$MNT/b.orig"
xfs_io -d -c "pwrite -S 0x33 2m 128k" "$A" >/dev/null
xfs_io -d -c "pwrite -S 0x44 $((3 << 20)) 1000" "$A" >/dev/null
same "$B" "$MNT/b.orig" "clone after direct writes into the source"
py - "$A" <<'PY'
import sys
a = open(sys.argv[1], "rb").read()
assert a[2 << 20:(2 << 20) + 131072] == b"\x33" * 131072, "aligned direct write"
assert a[3 << 20:(3 << 20) + 1000] == b"\x44" * 1000, "unaligned direct write"
PY
fsck_step "direct copy-on-write"

# FICLONERANGE into the middle of another file, and copy_file_range.
head -c $((1 << 20)) /dev/urandom >"$MNT/c"
xfs_io -c "reflink $A 0 256k 128k" "$MNT/c" >/dev/null
cmp -n 131072 "$A" <(tail -c +$((256 * 1024 + 1)) "$MNT/c") || die "FICLONERANGE data"
xfs_io -f -c "copy_range -s 0 -d 0 -l 1m $A" "$MNT/d" >/dev/null
cmp -n $((1 << 20)) "$A" "$MNT/d" || die "copy_file_range data"
filefrag -v "$MNT/d" | grep -q shared || die "copy_file_range did not share blocks"
fsck_step "clone range"

# Dedupe: differing data changes nothing; the same data is shared, the
# destination's mtime kept.
cp "$A" "$MNT/e"
sync
out=$(xfs_io -c "dedupe $B 0 0 64k" "$MNT/e" 2>&1 || true)
[[ $out == *"did not match"* ]] || die "dedupe of differing data: $out"
cmp "$A" "$MNT/e" || die "dedupe of differing data changed the destination"
mtime=$(stat -c %Y.%y "$MNT/e")
sleep 1
dedupes0=$(counter dedupes_same)
xfs_io -c "dedupe $A 0 0 4m" "$MNT/e" >/dev/null
expect_eq "$(counter dedupes_same)" $((dedupes0 + 1)) "dedupes_same counter"
expect_eq "$(stat -c %Y.%y "$MNT/e")" "$mtime" "mtime after dedupe"
filefrag -v "$MNT/e" | grep -q shared || die "dedupe did not share blocks"
same "$A" "$MNT/e" "dedupe"
fsck_step "dedupe"

# FALLOC_FL_UNSHARE_RANGE: a clone's blocks become its own, same data.
cp --reflink=always "$A" "$MNT/u"
xfs_io -c "funshare 0 4m" "$MNT/u"
! filefrag -v "$MNT/u" | grep -q shared || die "funshare left shared blocks"
same "$A" "$MNT/u" "unshare"
fsck_step "unshare"

# Errors as XFS gives them.
expect_clone_error() {
	local want=$1 out
	shift
	out=$(xfs_io "$@" 2>&1 || true)
	[[ $out == *"$want"* ]] || die "xfs_io $*: expected '$want', got '$out'"
}
expect_clone_error "Invalid argument" -c "reflink $A 100 0 4096" "$MNT/c"
expect_clone_error "Invalid argument" -c "reflink $A 0 4096 8192" "$A"
mkdir "$MNT/dir"
expect_clone_error "Is a directory" -c "reflink $MNT/dir 0 0 4096" "$MNT/c"
chattr +i "$MNT/c"
expect_clone_error "Operation not permitted" -c "reflink $A 0 0 4096" "$MNT/c"
chattr -i "$MNT/c"
chattr +a "$MNT/c"
expect_clone_error "Operation not permitted" -c "reflink $A 0 0 4096" "$MNT/c"
chattr -a "$MNT/c"

# Truncate and punch drop references; removing every file gives all
# blocks back.
# Unaligned: the partial blocks are zeroed through the page cache, which
# copies on write too.
cp --reflink=always "$MNT/e" "$MNT/f"
truncate -s $((1024 * 1024 + 1000)) "$B"
xfs_io -c "fpunch 1000 520000" -c "fzero 600000 10000" "$MNT/e"
same "$MNT/f" "$A" "a clone of a file whose blocks were zeroed in part"
fsck_step "truncate, punch and zero range of shared files"
rm -rf "$MNT"/*
sync
expect_eq "$(free_blocks)" "$free0" "free blocks after removing everything"
check_fsck
