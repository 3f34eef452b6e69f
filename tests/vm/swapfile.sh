#!/bin/bash
# Swap files (swap_activate = iomap_swapfile_activate): swapon(2) refuses a
# file with holes; a preallocated file (unwritten extents, which the bmap
# fallback of the kernel takes for holes) becomes swap space, and while it
# is the VFS refuses writes, truncation, fallocate (ETXTBSY) and unlink
# (EPERM). Anonymous pages pushed out with MADV_PAGEOUT must land in the
# blocks FIEMAP reports for the file (read from the raw device) and come
# back intact; after swapoff the file is an ordinary file again.
. "$(dirname "$0")/lib.sh"
fresh_fs
swap=$MNT/swap
# A failed check must not leave the file in use: the next test unmounts.
trap 'swapoff "$swap" 2>/dev/null || true' EXIT

# Swap I/O would go to unallocated blocks. (swapon(8) would refuse the
# file itself: call swapon(2).)
truncate -s 16M "$MNT/holes"
chmod 600 "$MNT/holes"
mkswap -q "$MNT/holes"
mark_dmesg swap-holes
py - "$MNT/holes" <<'PY'
import ctypes, errno, sys
from helpers import fail
libc = ctypes.CDLL(None, use_errno=True)
if libc.swapon(sys.argv[1].encode(), 0) == 0:
    libc.swapoff(sys.argv[1].encode())
    fail("swapon(2) of a file with holes succeeded")
if ctypes.get_errno() != errno.EINVAL:
    fail(f"swapon(2) of a file with holes: {errno.errorcode[ctypes.get_errno()]}, expected EINVAL")
PY
dmesg_since swap-holes | grep -q "holes has unallocated extents" ||
	die "no 'has unallocated extents' from iomap in the kernel log"

fallocate -l 32M "$swap"
chmod 600 "$swap"
mkswap -q "$swap"
swapon "$swap"
grep -q "^$swap " /proc/swaps || die "$swap is not in /proc/swaps"

expect_errno ETXTBSY write "$swap" data
expect_errno ETXTBSY truncate "$swap" 4096
expect_errno ETXTBSY fallocate "$swap" 0 4096
expect_errno EPERM unlink "$swap"

py - "$swap" "$DEV" <<'PY'
import ctypes, mmap, os, sys, time
from helpers import fail
from races import fiemap
swap, dev = sys.argv[1:]
PAGE, PAGES, MADV_PAGEOUT = 4096, 1024, 21
libc = ctypes.CDLL(None, use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

def page(i):
    tag = f"rexfs-swap-page-{i:08d}|".encode()
    return (tag * (PAGE // len(tag) + 1))[:PAGE]

def swapped_pages():
    """Pages in use in the swap file, from /proc/swaps (Used, in KiB)."""
    with open("/proc/swaps") as f:
        used = next(int(line.split()[3]) for line in f if line.split()[0] == swap)
    return used * 1024 // PAGE

def pages_on_disk():
    """The test's pages found, intact, in the swap file's blocks on the device."""
    with open(swap, "rb") as f:
        extents = fiemap(f.fileno())
    buf = mmap.mmap(-1, 1 << 20)
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    found = set()
    for _, physical, length, _ in extents:
        for off in range(0, length, len(buf)):
            got = os.preadv(fd, [buf], physical + off)
            for at in range(0, got, PAGE):
                data = buf[at:at + PAGE]
                if data.startswith(b"rexfs-swap-page-"):
                    i = int(data[16:24])
                    if i < PAGES and data == page(i):
                        found.add(i)
    os.close(fd)
    return found

anon = mmap.mmap(-1, PAGES * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(PAGES):
    anon[i * PAGE:(i + 1) * PAGE] = page(i)
addr = ctypes.addressof(ctypes.c_char.from_buffer(anon))
# A page still in another CPU's LRU batch is skipped: ask again.
for _ in range(5):
    if libc.madvise(addr, PAGES * PAGE, MADV_PAGEOUT) != 0:
        fail(f"madvise(MADV_PAGEOUT): errno {ctypes.get_errno()}")
    swapped = swapped_pages()
    if swapped >= PAGES:
        break
    time.sleep(0.5)
if swapped < PAGES:
    fail(f"MADV_PAGEOUT swapped out {swapped} pages, expected at least {PAGES}")
# The writes are asynchronous: wait for them to reach the device.
deadline = time.monotonic() + 30
while len(found := pages_on_disk()) < PAGES and time.monotonic() < deadline:
    time.sleep(1)
if len(found) < PAGES:
    fail(f"{len(found)} of {PAGES} swapped-out pages in the swap file's blocks")
for i in range(PAGES):
    if anon[i * PAGE:(i + 1) * PAGE] != page(i):
        fail(f"page {i} came back from swap changed")
print(f"{swapped} pages swapped out, all in the file's blocks, all back intact")
PY

swapoff "$swap"
grep -q "^$swap " /proc/swaps && die "$swap still in /proc/swaps after swapoff"
expect_errno OK write "$swap" data
expect_errno OK unlink "$swap"
umount "$MNT"
fsck.rexfs -f -n "$DEV" >/dev/null
