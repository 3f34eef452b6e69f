#!/bin/bash
# 100,000 files in one directory (indexed: feature DIR_INDEX): create,
# list, look up, remount, list again, remove all; exact names and counts at
# every step; the emptied directory gives its blocks back (its first block
# and its index's root are left); statfs back where it started; fsck
# clean. Prints the time each phase took.
#
# timeout: 1500
. "$(dirname "$0")/lib.sh"
N=100000
fresh_fs
D=$MNT/big
touch "$MNT/keep"   # the root directory never becomes empty
inodes0=$(free_inodes)
mkdir "$D"
sync
blocks0=$(free_blocks) dir_blocks0=$(blocks_of "$D")

t=$(now)
py - "$D" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(f"{d}/file-{i:06d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
PY
echo "create $N files: $(since "$t")s"
expect_eq "$(free_inodes)" $((inodes0 - 1 - N)) "free inodes after creating $N files"

# check_listing WHEN: the directory holds exactly file-000000..file-099999,
# with distinct inode numbers and right d_ino/d_type, and a few random names
# look up as empty regular files.
check_listing() {
	local t
	t=$(now)
	expect_eq "$(ls "$D" | wc -l)" "$N" "ls | wc -l $1"
	echo "ls $1: $(since "$t")s"
	t=$(now)
	py - "$D" "$N" "$1" <<'PY'
import os, random, stat, sys
from helpers import dirents, fail
d, n, when = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ents = [e for e in dirents(d) if e[3] not in (".", "..")]
names = sorted(e[3] for e in ents)
if names != [f"file-{i:06d}" for i in range(n)]:
    fail(f"{when}: {len(names)} names, not file-000000..file-{n - 1:06d}")
inos = {e[0] for e in ents}
if len(inos) != n: fail(f"{when}: {len(inos)} distinct inode numbers for {n} files")
if {e[2] for e in ents} != {8}: fail(f"{when}: d_type other than DT_REG")
byname = {e[3]: e[0] for e in ents}
for i in random.Random(when).sample(range(n), 20):
    name = f"file-{i:06d}"
    st = os.lstat(os.path.join(d, name))
    if not stat.S_ISREG(st.st_mode) or st.st_size != 0 or st.st_nlink != 1 or st.st_ino != byname[name]:
        fail(f"{when}: stat {name}: mode {st.st_mode:o} size {st.st_size} nlink {st.st_nlink} ino {st.st_ino}")
for name in (f"file-{n:06d}", "file-00000", "file-0000000"):
    if os.path.lexists(os.path.join(d, name)): fail(f"{when}: {name} exists")
PY
	echo "readdir + 20 lookups $1: $(since "$t")s"
}
check_listing "after create"
remount
check_listing "after remount"

t=$(now)
py - "$D" "$N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.unlink(f"{d}/file-{i:06d}")
PY
echo "remove $N files: $(since "$t")s"
expect_eq "$(ls -A "$D" | wc -l)" 0 "entries after removing all"
expect_eq "$(ls -a "$D" | tr '\n' ' ')" ". .. " "ls -a after removing all"
expect_eq "$(free_inodes)" $((inodes0 - 1)) "free inodes after removing all"
sync
dir_blocks=$(blocks_of "$D")
[ "$dir_blocks" -le 2 ] || die "the emptied directory kept $dir_blocks blocks"
expect_eq "$(free_blocks)" $((blocks0 - (dir_blocks - dir_blocks0))) "free blocks with the emptied directory"
rmdir "$D"
sync
expect_eq "$(free_inodes)" "$inodes0" "free inodes after rmdir"
expect_eq "$(free_blocks)" $((blocks0 + dir_blocks0)) "free blocks after rmdir"
check_fsck
