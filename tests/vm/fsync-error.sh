#!/bin/bash
# A writeback error reaches every file open on the inode once (errseq), not
# only the first to fsync (as generic/441 checks): four descriptors of one
# file write, the device turns to dm-error, each writes again and each
# fsync must fail with EIO; the device comes back and a new write is
# fsynced without error.
. "$(dirname "$0")/lib.sh"
load
# No udev in the guest: libdevmapper makes the /dev/mapper node itself.
export DM_DISABLE_UDEV=1
sectors=$(blockdev --getsz "$DEV")
mkfs.rexfs -q -f "$DEV"
dmsetup create rexfs-eio --table "0 $sectors linear $DEV 0"
trap 'umount "$MNT" 2>/dev/null; dmsetup remove rexfs-eio' EXIT
mount_rexfs /dev/mapper/rexfs-eio
py - "$MNT/file" "$sectors" "$DEV" <<'PY'
import errno, os, subprocess, sys
from helpers import fail
path, sectors, dev = sys.argv[1], sys.argv[2], sys.argv[3]
def table(target):
    subprocess.run(["dmsetup", "suspend", "--nolockfs", "rexfs-eio"], check=True)
    subprocess.run(["dmsetup", "load", "rexfs-eio", "--table", f"0 {sectors} {target}"], check=True)
    subprocess.run(["dmsetup", "resume", "rexfs-eio"], check=True)
fds = [os.open(path, os.O_WRONLY | os.O_CREAT, 0o644) for _ in range(4)]
block = b"|" * 4096
for i, fd in enumerate(fds):
    os.pwrite(fd, block, i * 4096)
for fd in fds:
    os.fsync(fd)
table("error")
for i, fd in enumerate(fds):
    os.pwrite(fd, block, i * 4096)
for i, fd in enumerate(fds):
    try:
        os.fsync(fd)
        fail(f"fsync of descriptor {i} after the device failed: no error")
    except OSError as e:
        if e.errno != errno.EIO:
            fail(f"fsync of descriptor {i}: {errno.errorcode[e.errno]}, expected EIO")
print("each of the 4 descriptors saw EIO once")
table(f"linear {dev} 0")
os.pwrite(fds[0], block, 0)
os.fsync(fds[0])
print("after the device came back, a new write was fsynced")
for fd in fds:
    os.close(fd)
PY
