#!/bin/bash
# Every namespace operation with exact outcomes (names, inode numbers, link
# counts, errnos, statfs counts, contents), remount read-only and back; then
# a remount that must bring everything back as it was, and a clean fsck.
#
# timeout: 600
. "$(dirname "$0")/lib.sh"
umask 022
fresh_fs
M=$MNT
inodes0=$(free_inodes)
# dotdot DIR: the inode number readdir gives for DIR's ".." entry.
dotdot() { helper dirents "$1" | awk '$3 == ".." { print $1 }'; }

echo "== create, lookup, unlink"
touch "$M/f1"
expect_eq "$(stat -c '%F|%s|%h|%a|%u|%g' "$M/f1")" "regular empty file|0|1|644|0|0" "touch: new file"
expect_errno OK create_excl "$M/new"
expect_errno EEXIST create_excl "$M/new"
expect_eq "$(free_inodes)" $((inodes0 - 2)) "free inodes after two creates"
expect_errno OK unlink "$M/new"
expect_errno ENOENT lstat "$M/new"
expect_errno ENOENT unlink "$M/new"
sync
expect_eq "$(free_inodes)" $((inodes0 - 1)) "free inodes after the unlink"
name255=$(printf 'n%.0s' $(seq 255))
expect_errno OK create_excl "$M/$name255"
expect_eq "$(stat -c %s "$M/$name255")" 0 "size of the file with a 255-byte name"
expect_errno ENAMETOOLONG create "$M/${name255}x"
expect_errno ENAMETOOLONG lstat "$M/${name255}x"
expect_errno ENOTDIR create "$M/f1/x"
touch "$M/Case" "$M/case"
[ "$(stat -c %i "$M/Case")" != "$(stat -c %i "$M/case")" ] || die "Case and case are one inode"
# An unlinked file lives on until its last close.
py - "$M" <<'PY'
import os, sys
from helpers import fail
m = sys.argv[1]
p = os.path.join(m, "orphan")
data = b"still here" * 1000
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, data)
before = os.statvfs(m).f_ffree
os.unlink(p)
if os.path.lexists(p): fail("orphan: name still there after unlink")
if os.fstat(fd).st_nlink != 0: fail(f"orphan: nlink {os.fstat(fd).st_nlink} after unlink")
if os.pread(fd, len(data) + 1, 0) != data: fail("orphan: content changed after unlink")
if os.statvfs(m).f_ffree != before: fail("orphan: inode freed while still open")
os.close(fd)
os.sync()
if os.statvfs(m).f_ffree != before + 1: fail("orphan: inode not freed at the last close")
print("orphan: readable after unlink, freed at close")
PY

echo "== hard links"
printf hello >"$M/a"
mkdir "$M/d1"
ln "$M/a" "$M/b"
ln "$M/a" "$M/d1/c"
ino_a=$(stat -c %i "$M/a")
for n in a b d1/c; do expect_eq "$(stat -c '%i %h' "$M/$n")" "$ino_a 3" "inode and nlink of $n"; done
rm "$M/a"
expect_eq "$(stat -c '%i %h' "$M/b")" "$ino_a 2" "b after unlinking a"
expect_eq "$(cat "$M/d1/c")" hello "content through the other link"
expect_errno EEXIST link "$M/b" "$M/f1"
expect_errno EPERM link "$M/d1" "$M/d1-link"
expect_errno ENOENT link "$M/missing" "$M/x"

echo "== symlinks"
ln -s b "$M/s-short"
expect_eq "$(readlink "$M/s-short")" b "short symlink target"
expect_eq "$(stat -c '%F|%s' "$M/s-short")" "symbolic link|1" "short symlink"
expect_eq "$(cat "$M/s-short")" hello "read through the short symlink"
long_target=$(python3 -c '
import string
s = "".join("%04d-%s/" % (i, string.ascii_letters[i % 52:] + string.digits) for i in range(200))
print(s[:4000], end="")')
expect_eq "${#long_target}" 4000 "length of the long target"
ln -s "$long_target" "$M/s-long"
expect_eq "$(readlink "$M/s-long")" "$long_target" "4000-byte symlink target"
expect_eq "$(stat -c '%F|%s' "$M/s-long")" "symbolic link|4000" "long symlink"
expect_errno ENOENT stat "$M/s-long"
# 3999 bytes that resolve: 1999 "./" then "b".
follow_target=$(printf './%.0s' $(seq 1999))b
ln -s "$follow_target" "$M/s-follow"
expect_eq "$(readlink "$M/s-follow")" "$follow_target" "3999-byte symlink target"
expect_eq "$(cat "$M/s-follow")" hello "read through the long symlink"
expect_errno EEXIST symlink x "$M/s-short"

echo "== mkdir, rmdir, directory link counts"
mkdir "$M/d"
expect_eq "$(stat -c '%F|%h|%a' "$M/d")" "directory|2|755" "new directory"
mkdir "$M/d/s1" "$M/d/s2" "$M/d/s3"
expect_eq "$(stat -c %h "$M/d")" 5 "nlink of d with 3 subdirectories"
touch "$M/d/s1/file"
expect_errno ENOTEMPTY rmdir "$M/d/s1"
expect_errno ENOTEMPTY rmdir "$M/d"
expect_errno EEXIST mkdir "$M/d/s1"
expect_errno ENOTDIR rmdir "$M/f1"
rmdir "$M/d/s3"
expect_eq "$(stat -c %h "$M/d")" 4 "nlink of d after rmdir s3"
expect_errno ENOENT lstat "$M/d/s3"
rm "$M/d/s1/file"
rmdir "$M/d/s1"    # empty again once its only entry is gone
expect_eq "$(stat -c %h "$M/d")" 3 "nlink of d after rmdir s1"
expect_eq "$(ls -a "$M/d" | tr '\n' ' ')" ". .. s2 " "ls -a d"
expect_eq "$(dotdot "$M/d/s2")" "$(stat -c %i "$M/d")" "'..' of d/s2"

echo "== rename"
# A file over a file: the target's inode and blocks are freed.
printf source >"$M/r-src"
head -c 65536 /dev/urandom >"$M/r-dst"
sync
src_ino=$(stat -c %i "$M/r-src")
dst_blocks=$(blocks_of "$M/r-dst")
[ "$dst_blocks" -ge 16 ] || die "a 64 KiB file has $dst_blocks blocks"
i0=$(free_inodes) b0=$(free_blocks)
expect_errno OK rename "$M/r-src" "$M/r-dst"
expect_errno ENOENT lstat "$M/r-src"
expect_eq "$(cat "$M/r-dst")" source "content of the rename target"
expect_eq "$(stat -c '%i %h' "$M/r-dst")" "$src_ino 1" "inode of the rename target"
sync
expect_eq "$(free_inodes)" $((i0 + 1)) "free inodes after rename over a file"
expect_eq "$(free_blocks)" $((b0 + dst_blocks)) "free blocks after rename over a file"

# Across directories.
mkdir "$M/e1" "$M/e2"
printf moved >"$M/e1/m"
ino=$(stat -c %i "$M/e1/m")
expect_errno OK rename "$M/e1/m" "$M/e2/m2"
expect_eq "$(ls -A "$M/e1")" "" "e1 after moving its file out"
expect_eq "$(ls -A "$M/e2")" m2 "e2 after moving a file in"
expect_eq "$(stat -c %i "$M/e2/m2")|$(cat "$M/e2/m2")" "$ino|moved" "moved file"

# A directory to another parent: '..' and both parents' link counts follow.
mkdir -p "$M/p1/child/grand" "$M/p2"
ino_child=$(stat -c %i "$M/p1/child")
expect_errno OK rename "$M/p1/child" "$M/p2/child"
expect_eq "$(stat -c %h "$M/p1")|$(stat -c %h "$M/p2")" "2|3" "nlink of old|new parent"
expect_eq "$(stat -c '%i %h' "$M/p2/child")" "$ino_child 3" "moved directory"
expect_eq "$(stat -c %i "$M/p2/child/..")" "$(stat -c %i "$M/p2")" "stat of p2/child/.."
expect_eq "$(dotdot "$M/p2/child")" "$(stat -c %i "$M/p2")" "readdir '..' of p2/child"
expect_eq "$(dotdot "$M/p2/child/grand")" "$ino_child" "readdir '..' of p2/child/grand"

# Directories over directories; type mismatches; into itself.
mkdir -p "$M/q/src" "$M/q/empty" "$M/q/full/x"
expect_eq "$(stat -c %h "$M/q")" 5 "nlink of q"
expect_errno ENOTEMPTY rename "$M/q/src" "$M/q/full"
expect_errno EISDIR rename "$M/f1" "$M/q/empty"
expect_errno ENOTDIR rename "$M/q/src" "$M/f1"
expect_errno EINVAL rename "$M/q" "$M/q/src/inside"
i0=$(free_inodes)
ino=$(stat -c %i "$M/q/src")
expect_errno OK rename "$M/q/src" "$M/q/empty"
expect_eq "$(ls -A "$M/q" | tr '\n' ' ')" "empty full " "q after rename over an empty directory"
expect_eq "$(stat -c %i "$M/q/empty")|$(stat -c %h "$M/q")" "$ino|4" "renamed directory | nlink of q"
sync
expect_eq "$(free_inodes)" $((i0 + 1)) "free inodes after rename over an empty directory"

# renameat2 flags: RENAME_NOREPLACE (1), RENAME_EXCHANGE (2), RENAME_WHITEOUT (4).
printf X >"$M/x"
printf Y >"$M/y"
ix=$(stat -c %i "$M/x") iy=$(stat -c %i "$M/y")
expect_errno EEXIST renameat2 "$M/x" "$M/y" 1
expect_eq "$(cat "$M/x")$(cat "$M/y")" XY "x and y after a refused NOREPLACE"
expect_errno OK renameat2 "$M/x" "$M/x2" 1
expect_errno ENOENT lstat "$M/x"
expect_eq "$(cat "$M/x2")|$(stat -c %i "$M/x2")" "X|$ix" "x2 after NOREPLACE"
expect_errno OK renameat2 "$M/x2" "$M/y" 2
expect_eq "$(cat "$M/x2")|$(stat -c %i "$M/x2")" "Y|$iy" "x2 after EXCHANGE"
expect_eq "$(cat "$M/y")|$(stat -c %i "$M/y")" "X|$ix" "y after EXCHANGE"
expect_errno ENOENT renameat2 "$M/x2" "$M/nonexistent" 2
# Exchange a directory with a file in another directory.
mkdir -p "$M/xa/dir/sub" "$M/xb"
printf F >"$M/xb/file"
ino_dir=$(stat -c %i "$M/xa/dir") ino_file=$(stat -c %i "$M/xb/file")
expect_errno OK renameat2 "$M/xa/dir" "$M/xb/file" 2
expect_eq "$(stat -c '%F %i' "$M/xa/dir")|$(cat "$M/xa/dir")" "regular file $ino_file|F" "xa/dir after EXCHANGE"
expect_eq "$(stat -c '%F %i' "$M/xb/file")" "directory $ino_dir" "xb/file after EXCHANGE"
expect_eq "$(stat -c %h "$M/xa")|$(stat -c %h "$M/xb")" "2|3" "nlink of xa|xb after EXCHANGE"
expect_eq "$(stat -c %i "$M/xb/file/..")" "$(stat -c %i "$M/xb")" "stat of xb/file/.."
expect_eq "$(dotdot "$M/xb/file")" "$(stat -c %i "$M/xb")" "readdir '..' of xb/file"
# RENAME_WHITEOUT: inode-flags.sh. Unknown flags are refused.
expect_errno EINVAL renameat2 "$M/y" "$M/y2" 8
expect_eq "$(cat "$M/y")" X "y after a refused rename"
expect_errno ENOENT lstat "$M/y2"

echo "== readdir"
L=$M/ls
mkdir "$L"
for n in a "b c" Case case .hidden -dash ü "$name255"; do touch "$L/$n"; done
mkdir "$L/sub"
ln -s a "$L/lnk"
expected=$(printf '%s\n' . .. a "b c" Case case .hidden -dash ü "$name255" sub lnk | LC_ALL=C sort)
expect_eq "$(LC_ALL=C ls -a "$L")" "$expected" "ls -a"
# d_ino and d_type of every entry match lstat; '.' and '..' once each.
py - "$L" <<'PY'
import os, stat, sys
from helpers import dirents, fail
d = sys.argv[1]
ents = dirents(d)
names = [e[3] for e in ents]
if len(names) != len(set(names)): fail(f"duplicate entries: {sorted(names)}")
if names.count(".") != 1 or names.count("..") != 1: fail(f"'.' or '..' missing: {names}")
dt = {stat.S_IFREG: 8, stat.S_IFDIR: 4, stat.S_IFLNK: 10}
for ino, off, typ, name in ents:
    st = os.lstat(os.path.join(d, name))
    if ino != st.st_ino: fail(f"{name}: d_ino {ino}, inode {st.st_ino}")
    if typ != dt[stat.S_IFMT(st.st_mode)]: fail(f"{name}: d_type {typ}, mode {st.st_mode:o}")
print(f"readdir: {len(ents)} entries, d_ino and d_type right")
PY

# 200 files: listings repeat; every d_off resumes at the next entry; deleting
# every other file (also in the middle of a readdir) keeps the survivors'
# positions and returns each survivor exactly once.
mkdir "$M/many"
py - "$M/many" <<'PY'
import os, sys
from helpers import read_dents, fail
d = sys.argv[1]
names = [f"file-{i:03d}" for i in range(200)]
for n in names:
    os.close(os.open(os.path.join(d, n), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
first, second = sorted(os.listdir(d)), sorted(os.listdir(d))
if first != names or second != names: fail("listdir of 200 files is not the 200 names")

def full(bufsize):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return list(read_dents(fd, bufsize))
    finally:
        os.close(fd)

small, big = full(256), full(1 << 16)  # many getdents calls vs one
if [(e[0], e[1], e[3]) for e in small] != [(e[0], e[1], e[3]) for e in big]:
    fail("readdir differs with the buffer size")
order = [e[3] for e in big]
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(len(big) - 1):
    os.lseek(fd, big[i][1], os.SEEK_SET)
    nxt = next(read_dents(fd, 256, calls=1), None)
    if nxt is None or nxt[3] != order[i + 1]:
        fail(f"seek to d_off {big[i][1]} of {order[i]}: got {nxt}, expected {order[i + 1]}")

# Read the first 60 entries, delete every other file, read on.
os.lseek(fd, 0, os.SEEK_SET)
it = read_dents(fd, 256)
seen_before = [next(it)[3] for _ in range(60)]
deleted = set(names[::2])
for n in deleted:
    os.unlink(os.path.join(d, n))
seen_after = [e[3] for e in it]
os.close(fd)
survivors = set(names[1::2])
seen = [n for n in seen_before + seen_after if n in survivors]
if sorted(seen) != sorted(survivors):
    fail(f"survivors seen across the deletion: {len(seen)} ({len(set(seen))} distinct), expected {len(survivors)}")

if sorted(os.listdir(d)) != names[1::2]: fail("listing after deleting every other file")
after = full(1 << 16)
if [e[3] for e in after if e[3] in survivors] != [n for n in order if n in survivors]:
    fail("survivors changed order")
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(1, len(big)):
    if order[i] in survivors:
        os.lseek(fd, big[i - 1][1], os.SEEK_SET)
        nxt = next(read_dents(fd, 256, calls=1), None)
        if nxt is None or nxt[3] != order[i]:
            fail(f"after deletions, seek to the old position of {order[i]} gave {nxt}")
os.close(fd)
print(f"readdir offsets: {len(big)} entries, {len(survivors)} survivors stable")
PY

echo "== chmod, chown, timestamps"
touch "$M/perm"
chmod 640 "$M/perm"
chown 1234:5678 "$M/perm"
expect_eq "$(stat -c '%a %u %g' "$M/perm")" "640 1234 5678" "chmod 640 + chown"
chmod 4755 "$M/perm"
expect_eq "$(stat -c %a "$M/perm")" 4755 "chmod 4755"
chown 4321:8765 "$M/perm"   # the kernel clears set-user-ID on chown
expect_eq "$(stat -c '%a %u %g' "$M/perm")" "755 4321 8765" "chown of a set-user-ID file"
mkdir "$M/sticky"
chmod 1777 "$M/sticky"
expect_eq "$(stat -c '%a %u %g' "$M/sticky")" "1777 0 0" "chmod 1777 of a directory"
chown -h 42:43 "$M/s-short"
expect_eq "$(stat -c '%u %g' "$M/s-short")|$(stat -L -c '%u %g' "$M/s-short")" "42 43|0 0" "lchown"
touch "$M/times"
TZ=UTC touch -d '2001-02-03 04:05:06.123456789' "$M/times"
expect_eq "$(TZ=UTC stat -c '%x|%y' "$M/times")" \
	"2001-02-03 04:05:06.123456789 +0000|2001-02-03 04:05:06.123456789 +0000" "atime|mtime"
touch "$M/times2"
TZ=UTC touch -m -d '1969-07-20 20:17:40.000000001' "$M/times2"
TZ=UTC touch -a -d '2100-01-01 00:00:00.999999999' "$M/times2"
expect_eq "$(TZ=UTC stat -c '%x|%y' "$M/times2")" \
	"2100-01-01 00:00:00.999999999 +0000|1969-07-20 20:17:40.000000001 +0000" "atime|mtime beyond 32 bits"

echo "== truncate (against the same operations on tmpfs)"
ref=/tmp/truncate-ref
: >"$ref"
: >"$M/t"
head -c 65536 /dev/urandom >/tmp/chunk
write_at() { dd if=/tmp/chunk of="$3" bs="$2" count=1 seek="$1" oflag=seek_bytes conv=notrunc status=none; }
# step CMD ARGS...: run "CMD ARGS... FILE" on both files; they must stay equal.
step() {
	"$@" "$M/t"
	"$@" "$ref"
	expect_eq "$(stat -c %s "$M/t")" "$(stat -c %s "$ref")" "size after $*"
	cmp "$M/t" "$ref" || die "content after $*"
}
step write_at 0 13288
step truncate -s 5000
step truncate -s 20000      # 5000..20000 reads as zeros, also in the block that held data
step write_at 9000 300
step truncate -s 100
step truncate -s 4097
step write_at 4090 20       # across a block boundary, extending
step truncate -s 0
step truncate -s 1048699
step write_at 1048000 5000
step truncate -s 8191
step truncate -s 65536
drop_caches
cmp "$M/t" "$ref" || die "truncated file after dropping caches"
echo "truncate: 12 steps equal to tmpfs, also from disk"
xfs_io -f -c "pwrite -q 0 1m" -c fsync "$M/tb"
expect_eq "$(blocks_of "$M/tb")" 256 "blocks of a 1 MiB file"
b0=$(free_blocks)
truncate -s 4097 "$M/tb"
sync
expect_eq "$(blocks_of "$M/tb")" 2 "blocks after truncating to 4097 bytes"
expect_eq "$(free_blocks)" $((b0 + 254)) "free blocks after the truncate"

echo "== statfs"
touch "$M/ten"
sync
b0=$(free_blocks) i0=$(free_inodes)
xfs_io -c "pwrite -q -b 1m 0 10m" -c fsync "$M/ten"
used=$((b0 - $(free_blocks)))
[ "$used" -ge 2560 ] && [ "$used" -le 2570 ] || die "writing 10 MiB used $used blocks"
expect_eq "$used" "$(blocks_of "$M/ten")" "blocks used by the 10 MiB file (statfs vs st_blocks)"
rm "$M/ten"
sync
expect_eq "$(free_blocks)" "$b0" "free blocks after unlinking the 10 MiB file"
expect_eq "$(free_inodes)" $((i0 + 1)) "free inodes after unlinking the 10 MiB file"

echo "== fsync, fdatasync, syncfs"
py - "$M" <<'PY'
import ctypes, hashlib, os, random, sys
from helpers import fail, libc, md5_file
m = sys.argv[1]
p = os.path.join(m, "synced")
data = bytearray(random.Random(1).randbytes(300 << 10))
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, data)
os.fsync(fd)
os.pwrite(fd, b"x" * 5000, 100000)
data[100000:105000] = b"x" * 5000
os.fdatasync(fd)
if libc.syncfs(fd) != 0: fail(f"syncfs: errno {ctypes.get_errno()}")
os.close(fd)
dfd = os.open(m, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dfd)
os.fdatasync(dfd)
os.close(dfd)
os.sync()
if md5_file(p) != hashlib.md5(data).hexdigest(): fail("content of the synced file")
print("fsync, fdatasync, syncfs, directory fsync: ok")
PY

echo "== remount read-only and back"
mount -o remount,ro "$M"
grep -q "^$DEV $M rexfs ro[, ]" /proc/mounts || die "not read-only after remount,ro"
expect_errno EROFS create "$M/ro-new"
expect_errno EROFS open_write "$M/b"
expect_errno EROFS write "$M/b" more
expect_errno EROFS mkdir "$M/ro-dir"
expect_errno EROFS unlink "$M/b"
expect_errno EROFS rename "$M/b" "$M/b2"
expect_errno EROFS chmod "$M/b" 600
expect_errno EROFS truncate "$M/b" 0
expect_errno EROFS symlink b "$M/ro-link"
! touch "$M/ro-new" 2>/dev/null || die "touch succeeded on a read-only mount"
expect_eq "$(cat "$M/b")" hello "read on the read-only mount"
mount -o remount,rw "$M"
grep -q "^$DEV $M rexfs rw[, ]" /proc/mounts || die "not read-write after remount,rw"
touch "$M/rw-new"
printf more >>"$M/rw-new"
expect_eq "$(cat "$M/rw-new")" more "write after remount,rw"
rm "$M/rw-new"

echo "== persistence"
subdirs=$(find "$M" -mindepth 1 -maxdepth 1 -type d | wc -l)
expect_eq "$(stat -c %h "$M")" $((subdirs + 2)) "root nlink with $subdirs subdirectories"
manifest "$M" >/tmp/namespace.manifest
remount
check_manifest "$M" /tmp/namespace.manifest
expect_eq "$(readlink "$M/s-long")" "$long_target" "long symlink target after remount"
expect_eq "$(cat "$M/s-follow")" hello "long symlink followed after remount"
expect_eq "$(dotdot "$M/p2/child")" "$(stat -c %i "$M/p2")" "readdir '..' of p2/child after remount"
expect_eq "$(dotdot "$M/xb/file")" "$(stat -c %i "$M/xb")" "readdir '..' of xb/file after remount"
expect_eq "$(LC_ALL=C ls -a "$L")" "$expected" "ls -a after remount"
expect_eq "$(ls "$M/many" | tr '\n' ' ')" "$(printf 'file-%03d ' $(seq 1 2 199))" "many/ after remount"
cmp "$M/t" "$ref" || die "truncated file after remount"
check_fsck
