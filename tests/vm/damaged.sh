#!/bin/bash
# Damage found at run time (issue 20), on the named damaged images of
# rexfs-fuzz (`rexfs-fuzz --case NAME --out FILE`, tools/fuzz/src/cases.rs:
# the fuzzer's journaled base image with one field set and its checksum
# recomputed), each written into the guest's /tmp and mounted through a
# loop device, as tests/fuzz/driver.py mounts the fuzzer's images:
#
#   a. dir-nlink-max (/dir1/sub, nlink 4294967295): stat, ls, rmdir of it
#      and rmdir of its subdirectory fail with EUCLEAN, a "corrupted:" line
#      names the inode, no warning (rmdir of the subdirectory used to wrap
#      the count around in drop_nlink); the rest of /dir1 still reads;
#   b. dirent-name-len-zero (/dir1's third block, an entry with name_len
#      0): a lookup of a name in that block, `ls -la /dir1` and `find` of
#      the mount each fail with EUCLEAN within 20 s (a tree walk used to
#      loop for ever), and the log names the directory and the block;
#   c. file-extent-out-of-range (/dir1/sub/deep, an extent past the end),
#      errors=continue (the default): nothing is reported before the file
#      is read (the mount, ls -la of the root); reading it fails with
#      EUCLEAN; the filesystem still creates, writes and reads back a file
#      (after a cache drop); after sync and unmount fsck.rexfs -n reports
#      the errors flag and the extent (exit 4), -y clears the flag (and
#      cannot repair the extent: exit 4), -n no longer reports the flag;
#   d. the same with errors=remount-ro: /proc/mounts shows it, the read
#      fails with EUCLEAN and shuts the filesystem down ("shut down" in the
#      log), a create then fails with EIO; the next mount (default options)
#      logs the journal aborted by an earlier mount and works; after it,
#      fsck.rexfs -n reports the errors flag;
#   e. free-blocks-low (the superblock's free count 2, the bitmap's
#      thousands): a write that needs a data block fails with ENOSPC within
#      20 s (it used to wait for journal commits for ever: the blocks the
#      mount freed stayed "busy"), no warning; fsck.rexfs -y corrects the
#      count, and the write then succeeds;
#   f. on a healthy filesystem, remount,errors=remount-ro and back change
#      /proc/mounts; mount(2) with errors=bogus fails with EINVAL (and
#      mount(8) fails); errors=panic is accepted and shown.
#   g. a file of 400 one-block extents (an extent tree of four nodes),
#      one byte of a tree node flipped on disk: the mount and a stat of
#      the file succeed (the inode is read without its tree); opening it
#      fails with EUCLEAN (the open reads the tree) and the log names the
#      inode, and so does the next open (nothing of the tree was kept); no
#      warning; the rest of the filesystem reads; fsck.rexfs -n reports
#      the inode (exit 4).
#
# What errors=panic does on damage is not tested: it would panic the VM
# that every test shares.
# Needs rexfs-fuzz built on the host (`make tools`).
# timeout: 300
. "$(dirname "$0")/lib.sh"
load

FUZZ=$REPO/tools/target/release/rexfs-fuzz
[ -x "$FUZZ" ] || die "no $FUZZ: run make tools"
WORK=/tmp/damaged
rm -rf "$WORK"
mkdir -p "$WORK"

# The loop devices attached and not yet detached, detached when the test
# ends; the number of image copies made.
loops=() copies=0
cleanup() {
	if grep -qs " $MNT " /proc/mounts; then umount "$MNT" || true; fi
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# make_case NAME: writes the image of case NAME to $WORK/NAME.img and sets
# PATH_IN (the damaged path in the image), INO (the damaged inode, the
# directory's for a directory block) and BLOCK (the damaged directory
# block, or -) from the line rexfs-fuzz prints.
make_case() {
	local line name what
	line=$("$FUZZ" --case "$1" --out "$WORK/$1.img") || die "rexfs-fuzz --case $1"
	echo "rexfs-fuzz: $line"
	read -r name PATH_IN INO BLOCK what <<<"$line"
	expect_eq "$name" "$1" "rexfs-fuzz --case $1: the case named"
	[[ $INO =~ ^[0-9]+$ && $BLOCK =~ ^([0-9]+|-)$ && -n $what ]] ||
		die "rexfs-fuzz --case $1: cannot parse '$line'"
}

# attach IMAGE: a fresh copy of IMAGE on a new loop device, $LOOP; $DEVNAME
# is the name the kernel log gives it.
attach() {
	copies=$((copies + 1))
	local copy=$WORK/copy-$copies.img
	cp --sparse=always "$1" "$copy"
	LOOP=$(losetup --find --show "$copy")
	loops+=("$LOOP")
	DEVNAME=$(basename "$LOOP")
}

# detach: unmounts $MNT if mounted, and detaches $LOOP.
detach() {
	if grep -qs " $MNT " /proc/mounts; then umount "$MNT"; fi
	losetup -d "$LOOP"
	local l kept=()
	for l in "${loops[@]}"; do [ "$l" = "$LOOP" ] || kept+=("$l"); done
	loops=("${kept[@]}")
}

# errno_of OP ARGS...: the errno name of the system call OP of helpers.py
# (OK if it succeeds); the call must return within 20 s.
errno_of() {
	local out rc=0
	out=$(timeout 20 env PYTHONPATH="$VMDIR" PYTHONDONTWRITEBYTECODE=1 \
		python3 "$VMDIR/helpers.py" errno "$@") || rc=$?
	[ "$rc" = 0 ] || die "$1 ${*:2}: helpers.py exit $rc (124: still running after 20 s)"
	echo "$out"
}

# expect_call ERRNO OP ARGS...: the system call OP fails with ERRNO (or
# succeeds if ERRNO is OK), within 20 s.
expect_call() {
	local want=$1
	shift
	expect_eq "$(errno_of "$@")" "$want" "$1 ${*:2}"
	echo "$1 ${*:2}: $want"
}

# expect_euclean CMD ARGS...: the command fails within 20 s, saying
# "Structure needs cleaning" (EUCLEAN).
expect_euclean() {
	local err rc=0
	err=$(timeout 20 "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || die "$*: still running after 20 s"
	[ "$rc" != 0 ] || die "$*: succeeded on damaged metadata"
	grep -q "Structure needs cleaning" <<<"$err" ||
		die "$*: exit $rc, but not EUCLEAN: $(head -3 <<<"$err")"
	echo "$*: exit $rc, $(grep -m1 "Structure needs cleaning" <<<"$err")"
}

# expect_log MARK PATTERN WHAT: the kernel log since MARK has a line
# matching the extended regular expression PATTERN.
expect_log() {
	local log
	log=$(dmesg_since "$1")
	grep -qE "$2" <<<"$log" || {
		tail -20 <<<"$log" >&2
		die "$3: no kernel log line matching '$2' since mark $1"
	}
	echo "log: $(grep -m1 -E "$2" <<<"$log" | sed 's/^\[[^]]*\] //')"
}

# expect_no_warning MARK: no warning, oops, lockdep report or the like in
# the kernel log since MARK, as scripts/check-dmesg.sh sees them (the VM
# runner checks the whole log with it too).
expect_no_warning() {
	dmesg_since "$1" >"$WORK/klog-$1"
	"$REPO/scripts/check-dmesg.sh" "$WORK/klog-$1" || die "kernel warning since mark $1"
}

# mount_options_errno DEV OPTIONS: mount(2) of DEV as rexfs on $MNT with the
# option string OPTIONS: OK (then unmounted) or the errno name.
mount_options_errno() {
	py - "$1" "$MNT" "$2" <<'PY'
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
dev, mnt, options = (a.encode() for a in sys.argv[1:])
if libc.mount(dev, mnt, b"rexfs", 0, options) == 0:
    libc.umount(mnt)
    print("OK")
else:
    print(errno.errorcode[ctypes.get_errno()])
PY
}

# mounts_line: the /proc/mounts line of $MNT.
mounts_line() { grep " $MNT rexfs " /proc/mounts || die "$MNT is not mounted"; }

# run_fsck ARGS...: fsck.rexfs ARGS; its output in FSCK_OUT (also printed),
# its exit status in FSCK_RC.
run_fsck() {
	FSCK_RC=0
	FSCK_OUT=$(fsck.rexfs "$@" 2>&1) || FSCK_RC=$?
	echo "fsck.rexfs $*: exit $FSCK_RC"
	sed 's/^/    /' <<<"$FSCK_OUT"
}

# fsck_says TEXT: the last fsck.rexfs output has a line containing TEXT.
fsck_says() { grep -qF -- "$1" <<<"$FSCK_OUT" || die "fsck.rexfs did not say '$1'"; }

FLAG_SET="superblock: the kernel found damaged metadata (errors flag set)"
FLAG_CLEARED="superblock: errors flag cleared"

echo "== a. dir-nlink-max: a directory with nlink 4294967295"
make_case dir-nlink-max
dir=$MNT$PATH_IN
attach "$WORK/dir-nlink-max.img"
mount_rexfs "$LOOP"
mark_dmesg a-nlink
expect_call EUCLEAN stat "$dir"
expect_euclean ls "$dir"
expect_call EUCLEAN rmdir "$dir/sub2"
expect_call EUCLEAN rmdir "$dir"
expect_log a-nlink "$DEVNAME: corrupted: inode $INO: " "a directory with nlink 4294967295"
expect_no_warning a-nlink
# The rest reads: the damaged directory's parent (getdents64 alone, which
# reads no inode) and a file beside it.
entries=$(helper dirents "$(dirname "$dir")")
grep -q " sub$" <<<"$entries" || die "no entry sub in the parent of $dir"
expect_call OK open_read "$(dirname "$dir")/f00"
detach

echo "== b. dirent-name-len-zero: an entry with name_len 0"
make_case dirent-name-len-zero
dir=$MNT$PATH_IN
[ "$BLOCK" != - ] || die "dirent-name-len-zero: no directory block named"
attach "$WORK/dirent-name-len-zero.img"
mount_rexfs "$LOOP"
mark_dmesg b-dirent
# f00 is in the first block, z (the damaged entry) in the third.
expect_call OK stat "$dir/f00"
expect_call EUCLEAN stat "$dir/z"
expect_euclean ls -la "$dir"
expect_euclean find "$MNT"
expect_log b-dirent "$DEVNAME: corrupted: directory $INO block $BLOCK: " "an entry with name_len 0"
expect_no_warning b-dirent
detach

echo "== c. file-extent-out-of-range, errors=continue (the default)"
make_case file-extent-out-of-range
file=$MNT$PATH_IN
attach "$WORK/file-extent-out-of-range.img"
mark_dmesg c-mount
mount_rexfs "$LOOP"
mounts_line | grep -q "errors=" && die "errors= shown for the default: $(mounts_line)"
# Met when the file is read, not by the mount nor a walk of the root.
ls -la "$MNT" >/dev/null
if dmesg_since c-mount | grep "corrupted:"; then die "damage met before the file was read"; fi
mark_dmesg c-continue
expect_call EUCLEAN open_read "$file"
expect_euclean cat "$file"
expect_log c-continue "$DEVNAME: corrupted: inode $INO: " "an extent past the end"
expect_no_warning c-continue
# The filesystem goes on.
head -c 1M /dev/urandom >"$WORK/data"
cp "$WORK/data" "$MNT/after-damage"
drop_caches
expect_eq "$(md5 "$MNT/after-damage")" "$(md5 "$WORK/data")" "a file written after the damage"
expect_eq "$(cat "$MNT/small")" "a small file, stored in its inode" "/small after the damage"
sync
umount "$MNT"
run_fsck -n "$LOOP"
fsck_says "$FLAG_SET"
fsck_says "inode $INO: extent 0 (file block 0): extent outside the data area"
expect_eq "$FSCK_RC" 4 "fsck.rexfs -n exit"
run_fsck -y "$LOOP"
fsck_says "$FLAG_CLEARED"
expect_eq "$FSCK_RC" 4 "fsck.rexfs -y exit (the extent cannot be repaired)"
run_fsck -n "$LOOP"
grep -qF "errors flag" <<<"$FSCK_OUT" && die "the errors flag is still set after fsck.rexfs -y"
fsck_says "inode $INO: extent 0 (file block 0): extent outside the data area"
detach

echo "== d. file-extent-out-of-range, errors=remount-ro"
attach "$WORK/file-extent-out-of-range.img"
mount -t rexfs -o errors=remount-ro "$LOOP" "$MNT"
mounts_line | grep -q "errors=remount-ro" || die "no errors=remount-ro in $(mounts_line)"
mark_dmesg d-shutdown
expect_call EUCLEAN open_read "$file"
expect_call EIO create "$MNT/after-shutdown"
expect_log d-shutdown "$DEVNAME: corrupted: inode $INO: " "an extent past the end"
expect_log d-shutdown "$DEVNAME: shut down" "errors=remount-ro"
expect_no_warning d-shutdown
umount "$MNT"
mark_dmesg d-remount
mount_rexfs "$LOOP"
expect_log d-remount "$DEVNAME: the journal was aborted .*by an earlier mount" "the mount after the shutdown"
expect_no_warning d-remount
echo again >"$MNT/after-remount"
expect_eq "$(cat "$MNT/after-remount")" again "a file written after the remount"
umount "$MNT"
run_fsck -n "$LOOP"
fsck_says "$FLAG_SET"
expect_eq "$FSCK_RC" 4 "fsck.rexfs -n exit (the extent is still damaged)"
detach

echo "== e. free-blocks-low: a free count far below the bitmap's"
make_case free-blocks-low
attach "$WORK/free-blocks-low.img"
mount_rexfs "$LOOP"
mark_dmesg e-free
block=$(printf '%*s' 4096 '' | tr ' ' x)
expect_call OK create "$MNT/new"
expect_call ENOSPC write "$MNT/new" "$block"
expect_no_warning e-free
umount "$MNT"
run_fsck -y "$LOOP"
fsck_says "superblock: free block count is "
mount_rexfs "$LOOP"
expect_call OK write "$MNT/new" "$block"
umount "$MNT"
check_fsck "$LOOP"
detach

echo "== f. errors= on a healthy filesystem"
truncate -s 64M "$WORK/healthy.img"
mkfs.rexfs -q -f "$WORK/healthy.img"
attach "$WORK/healthy.img"
mount_rexfs "$LOOP"
mounts_line | grep -q "errors=" && die "errors= shown for the default: $(mounts_line)"
mount -o remount,errors=remount-ro "$MNT"
mounts_line | grep -q "errors=remount-ro" || die "no errors=remount-ro after the remount: $(mounts_line)"
echo ok >"$MNT/still-writable"
mount -o remount,errors=continue "$MNT"
mounts_line | grep -q "errors=" && die "errors= still shown after remount,errors=continue: $(mounts_line)"
umount "$MNT"
expect_eq "$(mount_options_errno "$LOOP" errors=bogus)" EINVAL "mount(2) with errors=bogus"
mount -t rexfs -o errors=bogus "$LOOP" "$MNT" 2>/dev/null && die "mount -o errors=bogus succeeded"
# Only the option: nothing here meets damage, which would panic.
mount -t rexfs -o errors=panic "$LOOP" "$MNT"
mounts_line | grep -q "errors=panic" || die "no errors=panic in $(mounts_line)"
umount "$MNT"
check_fsck "$LOOP"
detach

echo "== g. a damaged extent tree node, met at the file's first read"
truncate -s 64M "$WORK/tree.img"
mkfs.rexfs -q -f "$WORK/tree.img"
attach "$WORK/tree.img"
mount_rexfs "$LOOP"
py - "$MNT/fragmented" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
for i in range(400):
    os.pwrite(fd, b"x" * 4096, 2 * i * 4096)
os.close(fd)
PY
echo intact >"$MNT/other"
INO=$(stat -c %i "$MNT/fragmented")
detach
written=$WORK/copy-$copies.img
# A node of the file's tree: a block with the B+tree node magic
# ("RXBT") that the file owns (the block header: magic, CRC, block
# number, owner); one byte of its records flipped, the CRC left alone.
node=$(py - "$written" "$INO" <<'PY'
import struct, sys
path, ino = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    blkno = 0
    while block := f.read(4096):
        magic, _, number, owner = struct.unpack_from("<IIQQ", block)
        if magic == 0x52584254 and number == blkno and owner == ino:
            f.seek(blkno * 4096 + 100)
            f.write(bytes([block[100] ^ 0xff]))
            print(blkno)
            break
        blkno += 1
    else:
        sys.exit(f"no tree node of inode {ino}")
PY
)
echo "flipped byte 100 of block $node, a tree node of inode $INO"
attach "$written"
mount_rexfs "$LOOP"
mark_dmesg g-tree
expect_call OK stat "$MNT/fragmented"
expect_euclean cat "$MNT/fragmented"
expect_log g-tree "$DEVNAME: corrupted: inode $INO extent tree: " "the damaged extent tree"
expect_euclean cat "$MNT/fragmented"
expect_eq "$(cat "$MNT/other")" intact "the other file"
expect_no_warning g-tree
umount "$MNT"
run_fsck -n "$LOOP"
expect_eq "$FSCK_RC" 4 "fsck.rexfs -n exit (the node is damaged)"
fsck_says "inode $INO"
detach
