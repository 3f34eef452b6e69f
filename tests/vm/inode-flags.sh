#!/bin/bash
# O_TMPFILE, RENAME_WHITEOUT and the chattr flags (i, a, S, A, d) with exact
# outcomes: a tmpfile without a link that takes an inode until its last
# close or is linked in with linkat; whiteouts (character devices 0:0) left
# by renameat2, also over a target, and nothing changed when none can be
# made; what each flag forbids, through the VFS and through files opened
# before the flag was set (write, ftruncate, fallocate, a write fault);
# FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR, unsupported flags and fields
# refused; everything again after a remount, and a clean fsck.
#
# timeout: 600
. "$(dirname "$0")/lib.sh"
umask 022
fresh_fs
M=$MNT
# attrs PATH: the flag letters lsattr shows for PATH, sorted ("" for none).
attrs() { lsattr -d "$1" | cut -d' ' -f1 | sed 's/-//g; s/./&\n/g' | LC_ALL=C sort | tr -d '\n'; }
flags() { helper getflags "$1"; }

echo "== O_TMPFILE"
mkdir "$M/tmp"
py - "$M" <<'PY'
import os, random, stat, sys
from helpers import errno_of, fail
m = sys.argv[1]
d = os.path.join(m, "tmp")
data = random.Random(7).randbytes(10000)
sync_counts = lambda: (os.sync(), os.statvfs(m))[1]
before = sync_counts()

# Unnamed and unlinked; its inode and blocks go at the last close.
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
st = os.fstat(fd)
if (st.st_nlink, stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode)) != (0, stat.S_IFREG, 0o600):
    fail(f"tmpfile: nlink {st.st_nlink}, mode {st.st_mode:o}")
if os.listdir(d):
    fail(f"tmpfile: the directory lists {os.listdir(d)}")
os.write(fd, data)
os.fsync(fd)
if os.pread(fd, len(data) + 1, 0) != data:
    fail("tmpfile: data read back differs")
now = sync_counts()
if now.f_ffree != before.f_ffree - 1:
    fail(f"tmpfile: {before.f_ffree - now.f_ffree} inodes taken while open, expected 1")
if now.f_bfree >= before.f_bfree:
    fail("tmpfile: its data took no blocks")
os.close(fd)
after = sync_counts()
if (after.f_ffree, after.f_bfree) != (before.f_ffree, before.f_bfree):
    fail(f"tmpfile: after the close, {before.f_ffree - after.f_ffree} inodes and "
         f"{before.f_bfree - after.f_bfree} blocks still taken")

def link_fd(fd, path):
    """linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/FD: Python calls plain
    link(2), which links the /proc symlink itself, unless given a dir fd."""
    root = os.open("/", os.O_RDONLY)
    try:
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=root, follow_symlinks=True)
    finally:
        os.close(root)

# Linked in (into another directory) through /proc/self/fd: a normal file.
fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o644)
os.write(fd, data)
link_fd(fd, os.path.join(m, "linked"))
st, lst = os.fstat(fd), os.stat(os.path.join(m, "linked"))
if (st.st_nlink, lst.st_nlink, lst.st_ino) != (1, 1, st.st_ino):
    fail(f"linked tmpfile: nlink {st.st_nlink}/{lst.st_nlink}, inode {lst.st_ino} vs {st.st_ino}")
os.close(fd)
if open(os.path.join(m, "linked"), "rb").read() != data:
    fail("linked tmpfile: content")
if sync_counts().f_ffree != before.f_ffree - 1:
    fail("linked tmpfile: inode freed at the close")

# O_EXCL: never linkable.
fd = os.open(d, os.O_TMPFILE | os.O_EXCL | os.O_RDWR, 0o644)
got = errno_of(link_fd, fd, os.path.join(m, "excl"))
if got != "ENOENT":
    fail(f"linkat of an O_TMPFILE|O_EXCL file: {got}, expected ENOENT")
os.close(fd)
if os.path.lexists(os.path.join(m, "excl")) or sync_counts().f_ffree != before.f_ffree - 1:
    fail("O_TMPFILE|O_EXCL file linked or not freed")
print("O_TMPFILE: nlink 0, freed at close; linkat gives it a name; O_EXCL: ENOENT")
PY
linked_md5=$(md5 "$M/linked")

echo "== RENAME_WHITEOUT"
# whiteout PATH: the file type, device number, mode and links of PATH.
whiteout() { stat -c '%F %t:%T %a %h' "$1"; }
WH="character special file 0:0 0 1"
printf 'content of a' >"$M/wa"
ia=$(stat -c %i "$M/wa")
sync
i0=$(free_inodes)
expect_errno OK renameat2 "$M/wa" "$M/wb" 4
expect_eq "$(whiteout "$M/wa")" "$WH" "whiteout left at wa"
expect_eq "$(stat -c %i "$M/wb")|$(cat "$M/wb")" "$ia|content of a" "wb after renaming wa"
expect_eq "$(helper dirents "$M" | awk '$3 == "wa" { print $2 }')" chr "d_type of the whiteout"
sync
expect_eq "$(free_inodes)" $((i0 - 1)) "free inodes after a rename with a whiteout"
# Over an existing target, which is freed.
printf C >"$M/wc"
printf D >"$M/wd"
ic=$(stat -c %i "$M/wc")
sync
i0=$(free_inodes)
expect_errno OK renameat2 "$M/wc" "$M/wd" 4
expect_eq "$(whiteout "$M/wc")" "$WH" "whiteout left at wc"
expect_eq "$(stat -c '%i %h' "$M/wd")|$(cat "$M/wd")" "$ic 1|C" "wd after renaming wc over it"
sync
expect_eq "$(free_inodes)" "$i0" "free inodes after a rename over a target with a whiteout"
# With NOREPLACE; not with EXCHANGE (the VFS refuses that).
printf E >"$M/we"
expect_errno EEXIST renameat2 "$M/we" "$M/wd" 5
expect_eq "$(cat "$M/we")|$(cat "$M/wd")" "E|C" "we and wd after a refused NOREPLACE|WHITEOUT"
expect_errno OK renameat2 "$M/we" "$M/wf" 5
expect_eq "$(whiteout "$M/we")|$(cat "$M/wf")" "$WH|E" "we and wf after NOREPLACE|WHITEOUT"
expect_errno EINVAL renameat2 "$M/wf" "$M/wd" 6
# A directory to another parent: link counts as for a plain rename.
mkdir -p "$M/wp1/sub/x" "$M/wp2"
expect_errno OK renameat2 "$M/wp1/sub" "$M/wp2/sub" 4
expect_eq "$(whiteout "$M/wp1/sub")" "$WH" "whiteout of a directory"
expect_eq "$(stat -c %h "$M/wp1")|$(stat -c %h "$M/wp2")" "2|3" "nlink of wp1|wp2"
expect_eq "$(stat -c %i "$M/wp2/sub/..")" "$(stat -c %i "$M/wp2")" "'..' of wp2/sub"
expect_eq "$(ls "$M/wp2/sub")" x "wp2/sub lists its entry"
expect_errno OK unlink "$M/wa"
printf again >"$M/wa"
expect_eq "$(cat "$M/wa")" again "a file created where a whiteout was removed"

echo "== chattr +i"
head -c 8192 /dev/urandom >"$M/imm"
imm_md5=$(md5 "$M/imm")
chattr +i "$M/imm"
expect_eq "$(attrs "$M/imm")|$(flags "$M/imm")" "i|0x10" "lsattr and FS_IOC_GETFLAGS of imm"
expect_errno EPERM open_write "$M/imm"
expect_errno EPERM write "$M/imm" more
expect_errno EPERM truncate "$M/imm" 0
expect_errno EPERM fallocate "$M/imm" 0 65536
expect_errno EPERM unlink "$M/imm"
expect_errno EPERM rename "$M/imm" "$M/imm2"
expect_errno EPERM link "$M/imm" "$M/imm-link"
expect_errno EPERM setxattr "$M/imm" user.x y
expect_errno EPERM chmod "$M/imm" 600
expect_errno EPERM chown "$M/imm" 1 1
expect_errno OK open_read "$M/imm"
expect_eq "$(md5 "$M/imm")" "$imm_md5" "content of imm"
mkdir "$M/idir"
touch "$M/idir/inside"
chattr +i "$M/idir"
expect_eq "$(attrs "$M/idir")" i "lsattr -d of idir"
expect_errno EPERM create "$M/idir/new"
expect_errno EPERM unlink "$M/idir/inside"
expect_errno EPERM rename "$M/idir/inside" "$M/idir/moved"
expect_errno EPERM rmdir "$M/idir"
expect_errno OK write "$M/idir/inside" "x"
# Files opened before the flag was set: the filesystem refuses their
# writes; a write fault on a shared mapping gets SIGBUS.
py - "$M/pre" <<'PY'
import mmap, os, signal, sys, time
from helpers import errno_of, fail, set_flags
p = sys.argv[1]
data = os.urandom(8192)
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, data)
os.fsync(fd)
ctime = os.stat(p).st_ctime_ns
time.sleep(0.02)
set_flags(p, 0x10)
if os.stat(p).st_ctime_ns <= ctime:
    fail("FS_IOC_SETFLAGS did not change ctime")
for what, fn, args in [("pwrite", os.pwrite, (fd, b"x", 0)), ("ftruncate", os.ftruncate, (fd, 0)),
                       ("fallocate", os.posix_fallocate, (fd, 0, 65536))]:
    got = errno_of(fn, *args)
    if got != "EPERM":
        fail(f"{what} through a file opened before chattr +i: {got}, expected EPERM")
pid = os.fork()
if pid == 0:
    mm = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    mm[100] = 0x55
    os._exit(0)
_, status = os.waitpid(pid, 0)
if not os.WIFSIGNALED(status) or os.WTERMSIG(status) != signal.SIGBUS:
    fail(f"store through a shared mapping of an immutable file: wait status {status:#x}")
if os.pread(fd, 8193, 0) != data:
    fail("content of the immutable file changed")
set_flags(p, 0)
os.pwrite(fd, b"x", 0)
os.close(fd)
print("opened before chattr +i: pwrite, ftruncate, fallocate EPERM, write fault SIGBUS")
PY

echo "== chattr +a"
printf 'start\n' >"$M/app"
chattr +a "$M/app"
expect_eq "$(attrs "$M/app")|$(flags "$M/app")" "a|0x20" "lsattr and FS_IOC_GETFLAGS of app"
printf 'more\n' >>"$M/app"
expect_eq "$(cat "$M/app")" "$(printf 'start\nmore')" "app after an append"
expect_errno EPERM open_write "$M/app"
expect_errno EPERM open_trunc "$M/app"
expect_errno EPERM truncate "$M/app" 0
expect_errno EPERM unlink "$M/app"
expect_errno EPERM rename "$M/app" "$M/app2"
expect_errno EPERM setxattr "$M/app" user.x y
py - "$M/app" <<'PY'
import mmap, os, sys
from helpers import errno_of, fail, set_flags
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_APPEND)
got = errno_of(mmap.mmap, fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
if got != "EACCES": fail(f"shared writable mapping of an append-only file: {got}")
os.write(fd, b"appended\n")
os.close(fd)
# Opened without O_APPEND before the flag was set.
set_flags(p, 0)
fd = os.open(p, os.O_WRONLY)
set_flags(p, 0x20)
got = errno_of(os.pwrite, fd, b"X", 0)
if got != "EPERM": fail(f"overwrite through a file opened before chattr +a: {got}")
os.close(fd)
print("append-only: no shared writable mapping; no overwrite through an older file")
PY
expect_eq "$(cat "$M/app")" "$(printf 'start\nmore\nappended')" "app at the end"

echo "== chattr +S +A +d, unsupported flags and fields"
printf data >"$M/sad"
chattr +SAd "$M/sad"
expect_eq "$(attrs "$M/sad")|$(flags "$M/sad")" "ASd|0xc8" "lsattr and FS_IOC_GETFLAGS of sad"
expect_eq "$(helper fsgetxattr "$M/sad")" "0xe0 0 0" "FS_IOC_FSGETXATTR of sad (SYNC NOATIME NODUMP)"
# NOATIME: a read leaves the access time (relatime would update it).
printf data >"$M/atime"
for f in sad atime; do touch -a -d '2001-01-01 00:00:00 UTC' "$M/$f"; cat "$M/$f" >/dev/null; done
expect_eq "$(stat -c %X "$M/sad")" 978307200 "atime of sad (+A) after a read"
[ "$(stat -c %X "$M/atime")" != 978307200 ] || die "atime of a file without +A not updated by a read"
for flag in c j; do
	out=$(chattr +$flag "$M/sad" 2>&1) && die "chattr +$flag succeeded"
	[[ $out == *"Operation not supported"* ]] || die "chattr +$flag: $out"
done
# EOPNOTSUPP, which Python names ENOTSUP (the same errno on Linux).
expect_errno ENOTSUP setflags "$M/sad" 0x800c8         # + FS_EXTENT_FL
expect_errno ENOTSUP fssetxattr "$M/sad" 0xe1          # + FS_XFLAG_REALTIME
expect_errno ENOTSUP fssetxattr "$M/sad" 0x2e0         # + FS_XFLAG_PROJINHERIT
expect_errno ENOTSUP fssetxattr "$M/sad" 0xe0 65536    # an extent size hint
expect_eq "$(flags "$M/sad")" 0xc8 "flags of sad after refused changes"
# FS_XFLAG_DAX is kept (it takes effect under dax=inode on a DAX device).
expect_errno OK fssetxattr "$M/sad" 0x80e0
expect_eq "$(helper fsgetxattr "$M/sad")" "0x80e0 0 0" "FS_IOC_FSGETXATTR of sad with DAX"
expect_errno OK fssetxattr "$M/sad" 0xe0
# FS_IOC_FSSETXATTR sets the flags it carries: NODUMP and APPEND only.
expect_errno OK fssetxattr "$M/sad" 0x90
expect_eq "$(attrs "$M/sad")|$(flags "$M/sad")" "ad|0x60" "sad after FS_IOC_FSSETXATTR"
chattr -a +SA "$M/sad"
# CAP_LINUX_IMMUTABLE for i and a; the owner may set the others.
chown 65534:65534 "$M/sad"
runas() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
out=$(runas chattr +i "$M/sad" 2>&1) && die "unprivileged chattr +i succeeded"
[[ $out == *"Operation not permitted"* ]] || die "unprivileged chattr +i: $out"
runas chattr -d "$M/sad"
expect_eq "$(attrs "$M/sad")" "AS" "sad after an unprivileged chattr -d"

echo "== remount"
remount
expect_eq "$(attrs "$M/imm")|$(attrs "$M/idir")|$(attrs "$M/app")|$(attrs "$M/sad")" "i|i|a|AS" \
	"flags after remount"
expect_errno EPERM open_write "$M/imm"
expect_errno EPERM unlink "$M/idir/inside"
expect_errno EPERM open_write "$M/app"
expect_eq "$(md5 "$M/linked")|$(stat -c %h "$M/linked")" "$linked_md5|1" "linked tmpfile after remount"
expect_eq "$(ls -A "$M/tmp")" "" "tmp/ after remount"
for w in wc we wp1/sub; do expect_eq "$(whiteout "$M/$w")" "$WH" "$w after remount"; done
expect_eq "$(cat "$M/wb")|$(cat "$M/wd")|$(cat "$M/wf")" "content of a|C|E" "rename targets after remount"
chattr -i -a "$M/imm" "$M/idir" "$M/app"
expect_eq "$(attrs "$M/imm")|$(attrs "$M/idir")|$(attrs "$M/app")" "||" "flags after chattr -i -a"
printf x >>"$M/imm"
truncate -s 0 "$M/app"
rm "$M/imm" "$M/app" "$M/idir/inside"
rmdir "$M/idir"
check_fsck

echo "== RENAME_WHITEOUT without a free inode"
# The rename fails and changes nothing.
mkfs.rexfs -q -f -N 16 "$DEV2"
mount_rexfs "$DEV2"
py - "$M" <<'PY'
import errno, os, sys
from helpers import fail
m = sys.argv[1]
n = 0
while True:
    try:
        with open(os.path.join(m, f"f{n}"), "x") as f:
            f.write(f"file {n}")
    except OSError as e:
        if e.errno != errno.ENOSPC: raise
        break
    n += 1
if n != 15: fail(f"{n} files on a filesystem of 16 inodes")
PY
if0=$(stat -c %i "$M/f0") if1=$(stat -c %i "$M/f1")
expect_errno ENOSPC renameat2 "$M/f0" "$M/new" 4
expect_errno ENOSPC renameat2 "$M/f0" "$M/f1" 4
expect_eq "$(stat -c %i "$M/f0")|$(cat "$M/f0")|$(stat -c %i "$M/f1")|$(cat "$M/f1")" \
	"$if0|file 0|$if1|file 1" "f0 and f1 after renames that could not make a whiteout"
expect_errno ENOENT lstat "$M/new"
expect_eq "$(ls "$M" | wc -l)|$(free_inodes)" "15|0" "entries and free inodes"
check_fsck "$DEV2"
