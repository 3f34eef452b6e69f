#!/bin/bash
# dax: rexfs on the guest's pmem (/dev/pmem0, vm.sh --pmem) with DAX.
# dax=always: write(2) and read(2) in place, statx's DAX attribute, stores
# through a shared mapping of a sparse file (allocating write faults),
# reads of holes through a mapping (zero page), MAP_SYNC accepted, truncate
# and punch of mapped ranges, everything back after a remount; dax=always
# on a device without DAX refused; dax=inode: `chattr +x` on a directory
# passes to the files made in it, which use DAX, and a flag set on a file
# takes effect once the inode is read again; dax=never: no file uses DAX.
# The counters move; fsck clean. DAX write faults into blocks whose freeing
# is not committed yet wait for the commit (faults_into_freed).
. "$(dirname "$0")/lib.sh"
PMEM=/dev/pmem0
[ -b "$PMEM" ] || die "no $PMEM: the VM needs --pmem"
STATX_ATTR_DAX=0x200000
mkfs.rexfs -q -f "$PMEM"
load
D=/sys/kernel/debug/rexfs/$(basename "$PMEM")

# is_dax PATH: whether statx says PATH's data is accessed with DAX.
is_dax() {
	local attrs
	attrs=$(xfs_io -c 'statx -r' "$1" | awk '/^stat.attributes / { print $3 }')
	(((attrs & STATX_ATTR_DAX) != 0))
}
counter() { cat "$D/$1"; }

# dax=always on a virtio disk (no DAX device) is refused.
mkfs.rexfs -q -f "$DEV2"
mark_dmesg dax-refused
if mount -t rexfs -o dax=always "$DEV2" "$MNT" 2>/dev/null; then
	die "dax=always mounted a device without DAX"
fi
dmesg_since dax-refused | grep -q "does not support DAX" || die "no log line for dax=always without DAX"

mount -t rexfs -o dax=always "$PMEM" "$MNT"
grep -q " $MNT rexfs .*dax=always" /proc/mounts || die "dax=always not in /proc/mounts"

# write(2) and read(2) in place.
xfs_io -f -c "pwrite -q -S 0x5a 0 3m" -c "pwrite -q -S 0xa5 1000 5000" "$MNT/written"
is_dax "$MNT/written" || die "written: no STATX_ATTR_DAX under dax=always"
written=$(md5 "$MNT/written")

# Stores through a shared mapping of a sparse file: allocating write faults,
# then reads of the holes left: the zero page.
alloc0=$(counter dax_alloc_faults) holes0=$(counter dax_hole_faults)
py - "$MNT/mapped" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, 8 << 20)
with mmap.mmap(fd, 8 << 20) as m:
    for off in range(0, 4 << 20, 4096):
        m[off:off + 8] = off.to_bytes(8, "little")
    if any(m[(4 << 20) + off] for off in range(0, 4 << 20, 4096)):
        sys.exit("a hole read non-zero through the mapping")
    m.flush()
os.close(fd)
PY
expect_eq "$(blocks_of "$MNT/mapped")" 1024 "blocks after storing into 4 MiB of 8"
(($(counter dax_alloc_faults) > alloc0)) || die "dax_alloc_faults did not move"
(($(counter dax_hole_faults) > holes0)) || die "dax_hole_faults did not move"
mapped=$(md5 "$MNT/mapped")

# MAP_SYNC: accepted on a DAX file of a synchronous pmem device.
py - "$MNT/mapped" <<'PY'
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
MAP_SHARED_VALIDATE, MAP_SYNC = 0x03, 0x80000
fd = os.open(sys.argv[1], os.O_RDWR)
p = libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0)
if p in (None, ctypes.c_void_p(-1).value):
    sys.exit(f"MAP_SYNC mmap failed: {os.strerror(ctypes.get_errno())}")
ctypes.memmove(p, (0).to_bytes(8, "little"), 8)
PY

# Truncate and punch while mapped: the layout breaks, the data is right.
xfs_io -f -c "pwrite -q -S 0x11 0 1m" "$MNT/cut"
py - "$MNT/cut" <<'PY'
import mmap, os, subprocess, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDWR)
with mmap.mmap(fd, 1 << 20) as m:
    m[0:4096] = b"\x22" * 4096
    subprocess.run(["xfs_io", "-c", "fpunch 64k 64k", "-c", "truncate 512k", path], check=True)
    if m[65536:131072] != bytes(65536):
        sys.exit("the punched range does not read as zeroes through the mapping")
    if m[0:4096] != b"\x22" * 4096:
        sys.exit("the store before the punch is gone")
os.close(fd)
PY
expect_eq "$(stat -c %s "$MNT/cut")" 524288 "size after truncate"
cut=$(md5 "$MNT/cut")

echo "dax_pte_faults $(counter dax_pte_faults), dax_pmd_faults $(counter dax_pmd_faults)," \
	"dax_pmd_fallbacks $(counter dax_pmd_fallbacks), dax_hole_faults $(counter dax_hole_faults)," \
	"dax_alloc_faults $(counter dax_alloc_faults)"
umount "$MNT"
mount -t rexfs -o dax=always "$PMEM" "$MNT"
expect_eq "$(md5 "$MNT/written")" "$written" "written after remount"
expect_eq "$(md5 "$MNT/mapped")" "$mapped" "mapped after remount"
expect_eq "$(md5 "$MNT/cut")" "$cut" "cut after remount"
umount "$MNT"

# dax=inode: the flag of a directory passes to new files, which use DAX; a
# flag set on a file in memory takes effect when it is read again.
mount -t rexfs -o dax=inode "$PMEM" "$MNT"
is_dax "$MNT/written" && die "written uses DAX under dax=inode without the flag"
mkdir "$MNT/d"
xfs_io -c "chattr +x" "$MNT/d"
touch "$MNT/d/new"
xfs_io -c lsattr "$MNT/d/new" | grep -q x || die "d/new did not inherit the DAX flag"
is_dax "$MNT/d/new" || die "d/new does not use DAX"
xfs_io -c "chattr +x" "$MNT/written"
drop_caches
is_dax "$MNT/written" || die "written does not use DAX after chattr +x and a cache drop"
umount "$MNT"

# dax=never: the flag stays, DAX does not.
mount -t rexfs -o dax=never "$PMEM" "$MNT"
is_dax "$MNT/d/new" && die "d/new uses DAX under dax=never"
expect_eq "$(md5 "$MNT/written")" "$written" "written under dax=never"
check_fsck "$PMEM"

faults_into_freed "$PMEM" dax=always
