#!/bin/bash
# File handles (name_to_handle_at, open_by_handle_at; what NFS export
# uses): a file and a nested directory reopened by handle after their
# inodes left the cache and after a remount (a directory's path is rebuilt
# through its parents); ESTALE for an unlinked file and for a handle whose
# generation is not the inode's; new inodes get different generations.
. "$(dirname "$0")/lib.sh"
fresh_fs
mkdir -p "$MNT/d1/d2/d3"
printf 'by handle\n' >"$MNT/d1/file"
printf 'gone\n' >"$MNT/victim"
# handles ACTION: "save" writes the handles to $OUT_DIR/handles; "check"
# opens them (after a cache drop or remount) and checks what they name.
handles() {
	py - "$MNT" "$OUT_DIR/handles" "$1" <<'PY'
import ctypes, errno, os, struct, sys
from helpers import fail
mnt, saved, action = sys.argv[1:]
libc = ctypes.CDLL(None, use_errno=True)
MAX_HANDLE_SZ = 128

def handle_of(path):
    buf = ctypes.create_string_buffer(8 + MAX_HANDLE_SZ)
    struct.pack_into("Ii", buf, 0, MAX_HANDLE_SZ, 0)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), buf, ctypes.byref(mount_id), 0) != 0:
        fail(f"name_to_handle_at {path}: {errno.errorcode[ctypes.get_errno()]}")
    size, _ = struct.unpack_from("Ii", buf, 0)
    return bytes(buf[: 8 + size])

def open_handle(handle, flags):
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = ctypes.create_string_buffer(handle, len(handle))
        fd = libc.open_by_handle_at(mfd, buf, flags)
        return fd if fd >= 0 else -ctypes.get_errno()
    finally:
        os.close(mfd)

def expect_stale(handle, what):
    got = open_handle(handle, os.O_RDONLY)
    if got >= 0:
        os.close(got)
        fail(f"{what}: opened, expected ESTALE")
    if got != -errno.ESTALE:
        fail(f"{what}: {errno.errorcode[-got]}, expected ESTALE")

names = ["d1/file", "d1/d2/d3", "victim"]
if action == "save":
    with open(saved, "wb") as f:
        for name in names:
            h = handle_of(f"{mnt}/{name}")
            f.write(struct.pack("I", len(h)) + h)
    sys.exit(0)
data = open(saved, "rb").read()
handles = {}
for name in names:
    (n,) = struct.unpack_from("I", data, 0)
    handles[name], data = data[4 : 4 + n], data[4 + n :]
fd = open_handle(handles["d1/file"], os.O_RDONLY)
if fd < 0:
    fail(f"open_by_handle_at d1/file: {errno.errorcode[-fd]}")
if os.read(fd, 100) != b"by handle\n":
    fail("d1/file by handle: wrong content")
os.close(fd)
fd = open_handle(handles["d1/d2/d3"], os.O_RDONLY | os.O_DIRECTORY)
if fd < 0:
    fail(f"open_by_handle_at d1/d2/d3: {errno.errorcode[-fd]}")
path = os.readlink(f"/proc/self/fd/{fd}")
os.close(fd)
if path != f"{mnt}/d1/d2/d3":
    fail(f"d1/d2/d3 by handle is at {path!r}")
expect_stale(handles["victim"], "the unlinked file's handle")
# The generation is the last word of the 32-bit handle (ino, gen).
h = bytearray(handles["d1/file"])
struct.pack_into("I", h, 12, struct.unpack_from("I", h, 12)[0] ^ 1)
expect_stale(bytes(h), "d1/file's handle with another generation")
gens = set()
for i in range(8):
    path = f"{mnt}/d1/d2/d3/{action}-{i}"
    open(path, "w").close()
    gens.add(struct.unpack_from("I", handle_of(path), 12)[0])
if len(gens) < 8:
    fail(f"8 new inodes have {len(gens)} different generations")
print(f"{action}: the file and the directory reopened by handle, stale handles refused")
PY
}
handles save
rm "$MNT/victim"
drop_caches
handles check-after-drop
remount
handles check-after-remount
umount "$MNT"
check_fsck "$DEV"
