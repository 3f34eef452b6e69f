#!/bin/bash
# File leases (fcntl F_SETLEASE, what Samba and NFS delegations use): a read
# lease on a file, a read delegation on a directory, a write lease for the only opener and
# EAGAIN for it while another descriptor is open, and a lease break: an
# open for writing by another process signals the holder and waits until
# it gives the lease up, well before lease-break-time.
. "$(dirname "$0")/lib.sh"
fresh_fs
printf 'leased\n' >"$MNT/file"
echo 20 >/proc/sys/fs/lease-break-time
py - "$MNT" <<'PY'
import fcntl, os, signal, struct, sys, time
from helpers import errno_of, fail
mnt = sys.argv[1]
path = os.path.join(mnt, "file")
LEASE_NAMES = {fcntl.F_RDLCK: "F_RDLCK", fcntl.F_WRLCK: "F_WRLCK", fcntl.F_UNLCK: "F_UNLCK"}

def expect_lease(fd, want, what):
    got = fcntl.fcntl(fd, fcntl.F_GETLEASE)
    if got != want:
        fail(f"{what}: F_GETLEASE {LEASE_NAMES.get(got, got)}, expected {LEASE_NAMES[want]}")

def set_lease(fd, kind, what):
    got = errno_of(fcntl.fcntl, fd, fcntl.F_SETLEASE, kind)
    if got != "OK":
        fail(f"{what}: F_SETLEASE {LEASE_NAMES[kind]}: {got}")

# A read lease on a read-only descriptor, then given up.
fd = os.open(path, os.O_RDONLY)
set_lease(fd, fcntl.F_RDLCK, "read lease")
expect_lease(fd, fcntl.F_RDLCK, "read lease")
set_lease(fd, fcntl.F_UNLCK, "read lease released")
expect_lease(fd, fcntl.F_UNLCK, "read lease released")
os.close(fd)

# A directory takes a read delegation (F_SETDELEG; F_SETLEASE refuses
# directories in the VFS), never a write one.
F_GETDELEG, F_SETDELEG = 1024 + 15, 1024 + 16
def delegation(kind):
    return struct.pack("IHH", 0, kind, 0)
dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
got = errno_of(fcntl.fcntl, dfd, F_SETDELEG, delegation(fcntl.F_RDLCK))
if got != "OK":
    fail(f"directory read delegation: {got}")
_, kind, _ = struct.unpack("IHH", fcntl.fcntl(dfd, F_GETDELEG, delegation(0)))
if kind != fcntl.F_RDLCK:
    fail(f"directory delegation: F_GETDELEG {LEASE_NAMES.get(kind, kind)}, expected F_RDLCK")
got = errno_of(fcntl.fcntl, dfd, F_SETDELEG, delegation(fcntl.F_WRLCK))
if got != "EINVAL":
    fail(f"directory write delegation: {got}, expected EINVAL")
fcntl.fcntl(dfd, F_SETDELEG, delegation(fcntl.F_UNLCK))
os.close(dfd)

# A write lease only for the file's only opener.
fd = os.open(path, os.O_RDWR)
other = os.open(path, os.O_RDONLY)
got = errno_of(fcntl.fcntl, fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
if got != "EAGAIN":
    fail(f"write lease with another descriptor open: {got}, expected EAGAIN")
os.close(other)
set_lease(fd, fcntl.F_WRLCK, "write lease")
expect_lease(fd, fcntl.F_WRLCK, "write lease")

# Broken by another process's open: the holder gets SIGIO, the open waits
# until the holder gives the lease up, and only then returns. SIGIO is
# blocked and taken with sigtimedwait: a Python handler could run only after
# waitpid returned, that is after lease-break-time.
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGIO])
start = time.monotonic()
child = os.fork()
if child == 0:
    os.close(os.open(path, os.O_WRONLY))
    os._exit(0)
if signal.sigtimedwait([signal.SIGIO], 10) is None:
    fail("the lease holder got no SIGIO within 10 s")
if os.waitpid(child, os.WNOHANG) != (0, 0):
    fail("the breaking open returned before the lease was given up")
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
_, status = os.waitpid(child, 0)
waited = time.monotonic() - start
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    fail(f"the breaking open: status {status:#x}")
if waited >= 10:
    fail(f"the breaking open waited {waited:.1f} s: the release did not end the break")
expect_lease(fd, fcntl.F_UNLCK, "write lease after the break")
os.close(fd)
print(f"lease break: open returned after {waited:.2f} s")
PY
umount "$MNT"
fsck.rexfs -f -n "$DEV" >/dev/null
