#!/usr/bin/env python3
"""Deterministic race scenarios (run inside the test VM by race_test in
lib.sh, once with the protection on and once with it switched off).

    races.py SCENARIO MOUNTPOINT DEBUGFS_DIR

Each scenario opens its race window with a one-shot debugfs delay knob (the
knob reads 0 once the delay has begun), or holds a direct write in a
dm-delay device (dax-pin-*), drives the racing operations into the window,
checks that they ran inside it, and then checks every byte from the page
cache and again from disk. Exit status: 0 the data is intact and the
protection's own evidence shows (a counter moved, a fault waited);
1 corruption (or an I/O that did not complete); 2 the window was not hit
(inconclusive); 3 the data is intact but the protection never acted; 4 a
check that is not about the data failed (a counter that had to move did
not), or the scenario stopped on an unexpected error: never taken for
corruption, so that a negative control cannot pass by crashing.
"""
import ctypes
import errno
import fcntl
import mmap
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import time
import traceback

KiB, MiB = 1 << 10, 1 << 20
BLOCK = 4 * KiB
# What one PMD maps: DAX maps a PMD of a file with one entry when the file
# offset, the address and the block on the device are all multiples of it.
PMD = 2 * MiB
# Long enough for the racing side to run under TCG.
DELAY_MS = 3000

FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
SYNC_FILE_RANGE_WRITE = 2
FS_IOC_FIEMAP = 0xC020660B

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int64]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED = 0x10
libc.pwrite.restype = ctypes.c_ssize_t
libc.pwrite.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64]


class Corruption(Exception):
    """The data is not what the operations wrote, or an I/O failed."""


class Missed(Exception):
    """The racing operations did not run inside the window."""


class Failed(Exception):
    """A check that is not about the data failed (a counter that had to
    move did not), or the scenario cannot run."""


def check(ret, what):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def fallocate(fd, mode, off, length):
    check(libc.fallocate(fd, mode, off, length), f"fallocate(mode {mode:#x}, {off:#x}, {length:#x})")


def punch(fd, off, length):
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length)


def fiemap(fd):
    """The extents of fd as (logical, physical, length, flags) tuples."""
    count = 64
    buf = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, 0, 0, count, 0) + bytes(56 * count))
    fcntl.ioctl(fd, FS_IOC_FIEMAP, buf, True)
    mapped = struct.unpack_from("=I", buf, 20)[0]
    return [struct.unpack_from("=QQQ16xI", buf, 32 + 56 * i)[:4] for i in range(mapped)]


def physical_blocks(fd, start, end):
    """The disk blocks behind file bytes start..end."""
    blocks = set()
    for logical, physical, length, _ in fiemap(fd):
        lo, hi = max(logical, start), min(logical + length, end)
        blocks.update(range((physical + lo - logical) // BLOCK, (physical + hi - logical) // BLOCK))
    return blocks


def pattern(tag, off, length):
    """Bytes of file range off..off + length written by `tag`: 16-byte units
    of (tag, offset), so data at the wrong place or of the wrong writer shows."""
    first = off - off % 16
    units = b"".join(struct.pack("<QQ", tag, o) for o in range(first, off + length, 16))
    return units[off - first:off - first + length]


def zeroes_or(seen, data):
    """Whether every byte of `seen` is zero or the byte of `data` at its
    place: what a read racing a write of `data` over a hole may see (the
    write unmaps the zero page before its copy, and a read still copying
    faults again onto the block being written)."""
    return all(b in (0, d) for b, d in zip(seen, data, strict=True))


def aligned(data):
    """data in page-aligned memory, as O_DIRECT needs."""
    buf = mmap.mmap(-1, max(len(data), mmap.PAGESIZE))
    buf[:len(data)] = data
    return memoryview(buf)[:len(data)]


def direct_write(path, data, off, flags=0):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT | flags, 0o644)
    try:
        if os.pwrite(fd, aligned(data), off) != len(data):
            raise Corruption(f"{path}: short direct write")
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def remount(mnt):
    """Unmounts mnt and mounts its device again with the same dax= option:
    a cold start from disk. Nothing may hold a file of it open or mapped."""
    mnt = os.path.realpath(mnt)
    with open("/proc/mounts") as f:
        dev, options = [(e[0], e[3]) for e in (line.split() for line in f) if len(e) > 3 and e[1] == mnt][-1]
    dax = [o for o in options.split(",") if o == "dax" or o.startswith("dax=")]
    subprocess.run(["umount", mnt], check=True)
    subprocess.run(["mount", "-t", "rexfs", *(["-o", ",".join(dax)] if dax else []), dev, mnt], check=True)


def map_aligned(fd, off, length):
    """Maps bytes off..off + length of fd, shared and readable, at an address
    that is a multiple of PMD (a PMD fault needs the address aligned as the
    file offset is): a reservation a PMD longer, the file mapped over its
    aligned part (MAP_FIXED), the rest of the reservation unmapped. Returns
    the address; libc.munmap(address, length) unmaps it."""
    span = length + PMD
    reserved = libc.mmap(None, span, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if reserved in (None, MAP_FAILED):
        raise OSError(ctypes.get_errno(), "mmap of the reservation")
    addr = (reserved + PMD - 1) & ~(PMD - 1)
    if libc.mmap(addr, length, mmap.PROT_READ, mmap.MAP_SHARED | MAP_FIXED, fd, off) != addr:
        e = ctypes.get_errno()
        libc.munmap(reserved, span)
        raise OSError(e, f"mmap of {length:#x} bytes at offset {off:#x} to {addr:#x}")
    if addr > reserved:
        check(libc.munmap(reserved, addr - reserved), "munmap")
    if reserved + span > addr + length:
        check(libc.munmap(addr + length, reserved + span - addr - length), "munmap")
    return addr


def verify(expected, when):
    """expected: {path: bytes}; every file must read back exactly so."""
    for path, want in expected.items():
        with open(path, "rb") as f:
            got = f.read()
        if got == want:
            continue
        if len(got) != len(want):
            raise Corruption(f"{when}: {path}: size {len(got)}, expected {len(want)}")
        i = next(i for i in range(len(want)) if got[i] != want[i])
        end = next((j for j in range(i, len(want), 16) if got[j:j + 16] == want[j:j + 16]), len(want))
        raise Corruption(f"{when}: {path}: bytes {i:#x}..{end:#x} differ: found "
                         f"{got[i:i + 16].hex()}, expected {want[i:i + 16].hex()}")
    print(f"{when}: {len(expected)} file(s) intact")


def verify_twice(expected):
    verify(expected, "from the page cache")
    drop_caches()
    verify(expected, "from disk")


class Probes:
    """The mount's debugfs counters and delay knobs."""

    def __init__(self, path):
        self.path = path

    def __getitem__(self, name):
        with open(f"{self.path}/{name}") as f:
            return int(f.read())

    def arm(self, knob, ms=DELAY_MS):
        with open(f"{self.path}/{knob}", "w") as f:
            f.write(str(ms))

    def wait_fired(self, knob, timeout=30):
        """Waits until the delay of `knob` has begun."""
        deadline = time.monotonic() + timeout
        while self[knob] != 0:
            if time.monotonic() > deadline:
                raise Missed(f"{knob} did not fire within {timeout} s")
            time.sleep(0.001)


class Racer:
    """A child process running fn(); finished() tells whether it has
    returned, join() whether it succeeded."""

    def __init__(self, name, fn):
        self.name = name
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                fn()
                code = 0
            except BaseException as e:
                print(f"{name}: {e!r}", flush=True)
            os._exit(code)
        self.status = None

    def finished(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def join(self):
        self.wait()
        if self.status != 0:
            raise Corruption(f"{self.name} failed (wait status {self.status})")

    def wait(self):
        """Waits for the child to end, whatever it returns (a cleanup)."""
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]


def unwritten(mnt, probes):
    """Seed race 1. A buffered write maps a preallocated (unwritten) extent
    and sleeps in iomap_valid on its first folio; meanwhile an mmap store
    lands further into the same extent, writeback converts that block to
    written and the folio is dropped. When the write reaches the block, the
    cached mapping still says unwritten: used anyway, the write would zero
    the rest of the block (as if nothing were on disk) and lose the store.
    iomap_valid sees the generation moved and the write maps again."""
    path = f"{mnt}/unwritten"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fallocate(fd, 0, 0, 2 * MiB)
    written = pattern(1, 0, MiB + 100)
    stored = pattern(2, MiB, BLOCK)
    stale = probes["iomap_stale"]
    probes.arm("delay_iomap_valid_ms")

    def write():
        if os.pwrite(fd, written, 0) != len(written):
            raise Corruption("short write")

    writer = Racer("write", write)
    probes.wait_fired("delay_iomap_valid_ms")
    with mmap.mmap(fd, 2 * MiB) as mm:
        mm[MiB:MiB + BLOCK] = stored
        mm.flush(MiB, BLOCK)
    os.posix_fadvise(fd, MiB, MiB, os.POSIX_FADV_DONTNEED)
    in_window = not writer.finished()
    writer.join()
    if not in_window:
        raise Missed("the write finished before the store was written back and dropped")
    os.fsync(fd)
    os.close(fd)
    print(f"iomap_stale: {probes['iomap_stale'] - stale} new")
    verify_twice({path: written + stored[100:] + bytes(MiB - BLOCK)})
    return probes["iomap_stale"] > stale


def fill_filesystem(mnt):
    """Preallocates every free block of the filesystem."""
    st = os.statvfs(mnt)
    fd = os.open(f"{mnt}/filler", os.O_RDWR | os.O_CREAT, 0o644)
    fallocate(fd, 0, 0, max(st.f_bfree - 64, 0) * BLOCK)
    try:
        while True:
            fallocate(fd, 0, os.fstat(fd).st_size, BLOCK)
    except OSError as e:
        if e.errno != 28:  # ENOSPC
            raise
    os.close(fd)


def wb_race(mnt, probes, path, cut):
    """The writeback races: writeback maps 1 MiB of written blocks at path,
    caches the mapping and sleeps on the first folio; meanwhile cut(fd)
    takes the file's own blocks away from the second half (returning the
    files it wrote, with their data), another file takes the freed blocks,
    and the first file rewrites the half. When writeback goes on, the cached
    mapping still points the rewritten folios at the freed blocks: reused,
    it would write them over the other file. The generation moved, so
    writeback maps them again."""
    other = f"{mnt}/other"
    old = pattern(1, 0, MiB)
    direct_write(path, old, 0)
    fd = os.open(path, os.O_RDWR)
    if len(fiemap(fd)) != 1:
        raise Missed(f"{path} is not one extent: {fiemap(fd)}")
    freed = physical_blocks(fd, MiB // 2, MiB)
    # The other file must land on the freed blocks: fill all the rest,
    # keeping 2 MiB aside for the rewrite.
    direct_write(f"{mnt}/reserve", pattern(9, 0, 2 * MiB), 0)
    fill_filesystem(mnt)
    # Dirty every block as its own folio.
    for off in range(0, MiB, BLOCK):
        os.pwrite(fd, old[off:off + BLOCK], off)
    refetched = probes["wb_map_refetched"]
    probes.arm("delay_wb_map_ms")
    flusher = Racer("sync_file_range", lambda: check(
        libc.sync_file_range(fd, 0, MiB, SYNC_FILE_RANGE_WRITE), "sync_file_range"))
    probes.wait_fired("delay_wb_map_ms")
    expected = cut(fd)
    other_data = pattern(3, 0, MiB // 2)
    direct_write(other, other_data, 0)
    ofd = os.open(other, os.O_RDONLY)
    taken = physical_blocks(ofd, 0, MiB // 2) & freed
    os.close(ofd)
    os.unlink(f"{mnt}/reserve")
    new = pattern(2, MiB // 2, MiB // 2)
    for off in range(0, MiB // 2, BLOCK):
        os.pwrite(fd, new[off:off + BLOCK], MiB // 2 + off)
    in_window = not flusher.finished()
    flusher.join()
    if not taken:
        raise Missed("the other file did not get the freed blocks")
    if not in_window:
        raise Missed("writeback finished before the range was cut and rewritten")
    os.fsync(fd)
    os.close(fd)
    print(f"the other file holds {len(taken)} of the freed blocks; "
          f"wb_map_refetched: {probes['wb_map_refetched'] - refetched} new")
    verify_twice({path: old[:MiB // 2] + new, other: other_data, **expected})
    return probes["wb_map_refetched"] > refetched


def wb_punch(mnt, probes):
    """wb_race where the second half is punched."""
    def cut(fd):
        punch(fd, MiB // 2, MiB // 2)
        return {}
    return wb_race(mnt, probes, f"{mnt}/wb-punch", cut)


FICLONERANGE = 0x4020940D  # _IOW(0x94, 13, struct file_clone_range)


def clone_range(src_fd, src_off, length, dst_fd, dst_off):
    """FICLONERANGE: dst_fd's bytes from dst_off get src_fd's blocks."""
    fcntl.ioctl(dst_fd, FICLONERANGE, struct.pack("qQQQ", src_fd, src_off, length, dst_off))


def wb_clone(mnt, probes):
    """wb_race where a clone gives the second half another file's blocks:
    the rewrite copies on write into staging blocks, which the refetched
    mapping writes; the stale one would also leave the half with the
    source's data."""
    src = f"{mnt}/clone-src"
    src_data = pattern(4, 0, MiB // 2)
    direct_write(src, src_data, 0)

    def cut(fd):
        sfd = os.open(src, os.O_RDONLY)
        clone_range(sfd, 0, MiB // 2, fd, MiB // 2)
        os.close(sfd)
        return {src: src_data}
    return wb_race(mnt, probes, f"{mnt}/wb-clone", cut)


FS_IOC_SHUTDOWN = 0x8004587D  # _IOR('X', 125, __u32)
FS_SHUTDOWN_FLAGS_NOLOGFLUSH = 2


def cow_fsync(mnt, probes):
    """A clone of 1 MiB is rewritten and fsynced while the completion of its
    writeback sleeps before it puts the staging blocks in place
    (delay_cow_finish_ms). The folios stay under writeback until the remap
    is done, so fsync waits for it and commits it; then the filesystem is
    shut down without flushing the journal (a power cut) and mounted again:
    the clone has the new data, the source the old. If the folios'
    writeback ended before the remap, fsync would return with the new data
    in staging blocks the file does not map yet, and the cut would lose it."""
    src, dst = f"{mnt}/cow-src", f"{mnt}/cow-dst"
    old = pattern(1, 0, MiB)
    direct_write(src, old, 0)
    sfd = os.open(src, os.O_RDONLY)
    fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
    clone_range(sfd, 0, MiB, fd, 0)
    os.close(sfd)
    os.fsync(fd)
    new = pattern(2, 0, MiB)
    os.pwrite(fd, new, 0)
    remapped = probes["cow_remapped"]
    probes.arm("delay_cow_finish_ms")
    start = time.monotonic()
    os.fsync(fd)
    took = time.monotonic() - start
    if probes["delay_cow_finish_ms"] != 0:
        raise Missed("fsync did not run a copy-on-write completion")
    fcntl.ioctl(fd, FS_IOC_SHUTDOWN, struct.pack("I", FS_SHUTDOWN_FLAGS_NOLOGFLUSH))
    os.close(fd)
    # A completion still asleep holds the inode: let it fail on the shut
    # down filesystem before the unmount.
    time.sleep(max(0.0, start + DELAY_MS / 1000 + 1 - time.monotonic()))
    cow = probes["cow_remapped"] - remapped
    print(f"fsync took {took:.2f} s; cow_remapped: {cow} new; shut down without a log flush")
    remount(mnt)
    verify_twice({dst: new, src: old})
    return took >= DELAY_MS / 1000 and cow == MiB // BLOCK


FIDEDUPERANGE = 0xC0189436  # _IOWR(0x94, 54, struct file_dedupe_range)


def dedupe_range(src_fd, src_off, length, dst_fd, dst_off):
    """FIDEDUPERANGE with one destination: its status (0: the same, shared;
    1: the data differs) and the bytes deduped."""
    buf = bytearray(struct.pack("QQHHI", src_off, length, 1, 0, 0) +
                    struct.pack("qQQiI", dst_fd, dst_off, 0, 0, 0))
    fcntl.ioctl(src_fd, FIDEDUPERANGE, buf, True)
    _, _, deduped, status, _ = struct.unpack_from("qQQiI", buf, 24)
    return status, deduped


class WindowedDedupe:
    """Two files holding the same 1 MiB of data, and a dedupe of the
    source's onto the destination's in a child, stopped between its compare
    and its remap (delay_dedupe_ms) when the constructor returns. The
    source is opened read-write (`sfd`) for the racing side."""

    def __init__(self, mnt, probes):
        self.src, self.dst = f"{mnt}/dedupe-src", f"{mnt}/dedupe-dst"
        self.data = pattern(1, 0, MiB)
        direct_write(self.src, self.data, 0)
        direct_write(self.dst, self.data, 0)
        self.sfd, self.dfd = os.open(self.src, os.O_RDWR), os.open(self.dst, os.O_RDWR)
        self.probes = probes
        self.same, self.cow = probes["dedupes_same"], probes["cow_remapped"]
        self.ends = os.pipe()

    def start(self):
        def dedupe_and_report():
            status, deduped = dedupe_range(self.sfd, 0, MiB, self.dfd, 0)
            os.write(self.ends[1], struct.pack("dii", time.monotonic(), status, deduped))

        self.probes.arm("delay_dedupe_ms")
        self.deduper = Racer("dedupe", dedupe_and_report)
        self.probes.wait_fired("delay_dedupe_ms")

    def finish(self):
        """Waits for the dedupe, which must have shared the whole MiB;
        closes the files; returns when the dedupe ended."""
        self.deduper.join()
        end, status, deduped = struct.unpack("dii", os.read(self.ends[0], 16))
        os.close(self.sfd)
        os.close(self.dfd)
        if status != 0 or deduped != MiB:
            raise Failed(f"the dedupe of equal ranges returned status {status}, {deduped} bytes")
        return end

    def counters(self):
        return (f"dedupes_same: {self.probes['dedupes_same'] - self.same} new, "
                f"cow_remapped: {self.probes['cow_remapped'] - self.cow} new")

    def copied_on_write(self):
        return self.probes["cow_remapped"] > self.cow


def dedupe_dio(mnt, probes):
    """Two files hold the same 1 MiB; a dedupe compares them and sleeps
    before it shares the blocks (delay_dedupe_ms) while a direct write puts
    new data into the source's first 64 KiB. The dedupe holds the source
    exclusively, so the write waits for the remap and then copies on write:
    the destination keeps the data the dedupe compared, and the source has
    the new data. Without the source's lock the write lands in the source's
    blocks between the compare and the remap, and the destination is linked
    to them: a dedupe changed its data. (Wong and Chinner, 2019.)"""
    dedupe = WindowedDedupe(mnt, probes)
    dedupe.start()
    new = pattern(2, 0, 64 * KiB)
    direct_write(dedupe.src, new, 0)
    dedupe.finish()
    # Issued inside the window, the write waited for the remap if it found
    # the blocks shared (copied on write). Not the two end times: the
    # dedupe's thread may note its own after the write, which it let go.
    waited = dedupe.copied_on_write()
    print(f"the direct write {'waited for' if waited else 'ran inside'} the dedupe; "
          f"{dedupe.counters()}")
    verify_twice({dedupe.src: new + dedupe.data[64 * KiB:], dedupe.dst: dedupe.data})
    return waited


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def dedupe_pte(mnt, probes):
    """As dedupe_dio, but the source changes through a store into a page
    whose PTE was writable before the dedupe began: holding off new faults
    alone would let the store land with no fault at all. The dedupe writes
    back and cleans the source's range before it compares (the PTE made
    read-only: the store faults, seen in the minor-fault count), and holds
    the source's invalidate_lock, so the fault waits for the remap and the
    store copies on write; the destination keeps the data compared.
    Without the source's locks the store's fault goes through, msync writes
    it in place before the remap, and the destination is linked to it."""
    dedupe = WindowedDedupe(mnt, probes)
    data = dedupe.data
    mm = mmap.mmap(dedupe.sfd, MiB)
    # The page made dirty and its PTE writable: the second store of the
    # same bytes must not fault.
    mm[0:8] = data[0:8]
    before = minor_faults()
    mm[8:16] = data[8:16]
    if minor_faults() != before:
        raise Failed("a store into a page just stored to faulted: its PTE was not writable")
    dedupe.start()
    new = pattern(2, 0, BLOCK)
    before = minor_faults()
    mm[0:BLOCK] = new
    store_faults = minor_faults() - before
    mm.flush(0, BLOCK)
    mm.close()
    dedupe.finish()
    # As in dedupe_dio: the store waited if it copied on write.
    waited = dedupe.copied_on_write()
    if store_faults == 0:
        raise Failed("the store inside the dedupe did not fault: the dedupe left the PTE writable")
    print(f"the store faulted ({store_faults} minor fault(s)) and "
          f"{'waited for' if waited else 'ran inside'} the dedupe; {dedupe.counters()}")
    verify_twice({dedupe.src: new + data[BLOCK:], dedupe.dst: data})
    return waited


def fault_punch(mnt, probes):
    """A hole is punched in 1 MiB of data; between dropping the range's page
    cache and freeing its blocks, fallocate sleeps, and an mmap store into
    the range faults. Without invalidate_lock the fault reads the old data
    back into the cache and page_mkwrite maps the old block, which the punch
    then frees: the punched range shows old data and the store is lost on
    writeback (its folio maps a hole). With it, the fault waits for the
    punch and maps the hole afresh. (generic/344 and generic/346)"""
    path = f"{mnt}/fault-punch"
    old = pattern(1, 0, MiB)
    direct_write(path, old, 0)
    fd = os.open(path, os.O_RDWR)
    hole, store_at, stored = (256 * KiB, 512 * KiB), 77 * BLOCK, b"rexfs-mmap-store"
    ends = os.pipe()

    def punch_and_report():
        punch(fd, hole[0], hole[1] - hole[0])
        os.write(ends[1], struct.pack("d", time.monotonic()))

    with mmap.mmap(fd, MiB) as mm:
        probes.arm("delay_fallocate_ms")
        puncher = Racer("punch", punch_and_report)
        probes.wait_fired("delay_fallocate_ms")
        store_start = time.monotonic()
        mm[store_at:store_at + len(stored)] = stored
        store_time = time.monotonic() - store_start
    puncher.join()
    punch_end = struct.unpack("d", os.read(ends[0], 8))[0]
    if store_start >= punch_end:
        raise Missed("the store came after the punch")
    # The store began right after the delay did; a fault that waited for
    # the punch took most of the delay.
    waited = store_time >= DELAY_MS / 2000
    print(f"the store began {punch_end - store_start:.2f} s before the punch returned "
          f"and took {store_time:.2f} s")
    os.fsync(fd)
    os.close(fd)
    want = bytearray(old)
    want[hole[0]:hole[1]] = bytes(hole[1] - hole[0])
    want[store_at:store_at + len(stored)] = stored
    verify_twice({path: bytes(want)})
    return waited


def dio_mmap(mnt, probes):
    """O_DIRECT writes and reads whose buffer is a shared mapping of the
    very range they transfer, 4 KiB and 1 MiB (generic/647). The buffer is
    not faulted in; the direct write's invalidation unmaps it again after a
    fault-in, so only the buffered fallback finishes the write. Every
    request must complete and the data stay."""
    path = f"{mnt}/dio-mmap"
    data = pattern(1, 0, 2 * MiB)
    direct_write(path, data, 0)
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    before = probes["dio_retry"], probes["dio_fallback"]
    with mmap.mmap(fd, 2 * MiB) as mm, memoryview(mm) as buf:
        for off, length in ((0, 4 * KiB), (MiB, MiB)):
            for op in ("write", "read"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                try:
                    if op == "write":
                        done = os.pwrite(fd, buf[off:off + length], off)
                    else:
                        done = os.preadv(fd, [buf[off:off + length]], off)
                except OSError as e:
                    done = e
                if done != length:
                    raise Corruption(f"direct {op} of {length} bytes at {off:#x}: {done}")
                if buf[off:off + length] != data[off:off + length]:
                    raise Corruption(f"direct {op} at {off:#x}: the buffer changed")
    retries, fallbacks = probes["dio_retry"] - before[0], probes["dio_fallback"] - before[1]
    print(f"dio_retry: {retries} new, dio_fallback: {fallbacks} new")
    os.fsync(fd)
    os.close(fd)
    verify_twice({path: data})
    return retries > 0 and fallbacks > 0


def giveback(mnt, probes):
    """A buffered write of 64 KiB into a hole allocates blocks for all of it
    and sleeps in iomap_valid on its first folio; meanwhile an mmap store
    lands in the range's last block, whose folio page_mkwrite maps onto the
    write's new blocks. The write then stops after its first block (the
    rest of its buffer is unmapped) and gives back the blocks it did not
    reach: freed, the block under the dirty folio would be a hole and the
    store lost at writeback. The give-back sees the dirty folio and keeps
    the blocks inside EOF (giveback_kept)."""
    path = f"{mnt}/giveback"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, MiB)
    span, store_at, stored = 64 * KiB, 60 * KiB, b"rexfs-mmap-store"
    first = pattern(1, 0, BLOCK)
    # The write's buffer: its first block readable, the rest unmapped.
    buf = libc.mmap(None, span, mmap.PROT_READ | mmap.PROT_WRITE,
                    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if buf in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    ctypes.memmove(buf, first, BLOCK)
    check(libc.munmap(buf + BLOCK, span - BLOCK), "munmap")
    # The store's block gets a folio of its own now (no readahead): the
    # write's first folio, as large as fits, then stops short of it.
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    os.pread(fd, BLOCK, store_at)
    kept = probes["giveback_kept"]
    probes.arm("delay_iomap_valid_ms")

    def write():
        done = libc.pwrite(fd, buf, span, 0)
        if done != BLOCK:
            raise Corruption(f"the write returned {done}, expected {BLOCK} (short)")

    writer = Racer("write", write)
    probes.wait_fired("delay_iomap_valid_ms")
    with mmap.mmap(fd, MiB) as mm:
        mm[store_at:store_at + len(stored)] = stored
    in_window = not writer.finished()
    writer.join()
    if not in_window:
        raise Missed("the write finished before the store")
    print(f"giveback_kept: {probes['giveback_kept'] - kept} new")
    os.fsync(fd)
    os.close(fd)
    want = bytearray(MiB)
    want[:BLOCK] = first
    want[store_at:store_at + len(stored)] = stored
    verify_twice({path: bytes(want)})
    return probes["giveback_kept"] > kept


def dax_hole(mnt, probes):
    """The DAX seed race (Zwisler and Kara, 2016). A read through a shared
    mapping of a DAX file faults on a hole and sleeps between finding no
    data and mapping the zero page (holding fs/dax.c's entry lock for the
    page); meanwhile write(2) allocates the page's block and writes it. The
    write's mapping says the block is new (IOMAP_F_NEW), so before writing
    it waits for the entry, deletes it and unmaps the zero page: the reader
    then sees the data through its mapping. Without that, the zero page
    stays mapped over the written block and the reader sees zeroes."""
    path = f"{mnt}/dax-hole"
    page = 5 * BLOCK
    data = pattern(1, page, BLOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, MiB)
    to_reader, to_parent = os.pipe(), os.pipe()

    def read_twice():
        with mmap.mmap(fd, MiB, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
            first = mm[page:page + BLOCK]
            os.write(to_parent[1], b"f")
            os.read(to_reader[0], 1)
            again = mm[page:page + BLOCK]
        # The write goes on as soon as the fault has mapped the zero page:
        # the first read may end on the data.
        if not zeroes_or(first, data):
            raise Corruption("the hole read as neither zeroes nor the data written")
        if again != data:
            raise Corruption("after write(2), the mapping still shows zeroes at the written page")

    probes.arm("delay_dax_hole_ms")
    reader = Racer("read fault", read_twice)
    probes.wait_fired("delay_dax_hole_ms")
    faulted_early = select.select([to_parent[0]], [], [], 0)[0]
    start = time.monotonic()
    if os.pwrite(fd, data, page) != BLOCK:
        raise Corruption("short write")
    waited = time.monotonic() - start
    os.read(to_parent[0], 1)
    os.write(to_reader[1], b"g")
    reader.join()
    if faulted_early:
        raise Missed("the read fault finished before write(2) began")
    print(f"write(2) took {waited:.2f} s (the read fault held the page's entry)")
    os.close(fd)
    want = bytearray(MiB)
    want[page:page + BLOCK] = data
    verify({path: bytes(want)}, "through read(2)")
    return waited >= DELAY_MS / 2000


def dax_pmd(mnt, probes):
    """4 KiB zero pages inside a PMD, then write(2) of the whole PMD. A
    shared mapping at a 2 MiB-aligned address reads pages of a hole that is
    the 2 MiB-aligned PMD of a DAX file at 2 MiB; its last page lies past
    EOF, so the PMD fault falls back (dax_pmd_fallbacks) and each read is a
    4 KiB fault that maps the zero page (dax_hole_faults, one entry each).
    A last read fault sleeps before mapping its zero page
    (delay_dax_hole_ms, holding its entry) while write(2) fills the PMD:
    iomap_begin allocates a 2 MiB-aligned extent (alloc_aligned_data_blocks)
    and says the blocks are new (IOMAP_F_NEW), so dax_iomap_iter
    invalidates the range's entries, waiting for the sleeping fault's, and
    unmaps every zero page: the reader then sees the data at each page it
    had read. Without IOMAP_F_NEW the zero pages stay mapped over the
    written extent. (A write fault would not need IOMAP_F_NEW: it replaces
    the zero entry of its own page, and allocates that page only.) After a
    remount, reading the PMD through an aligned mapping is one PMD fault
    (dax_pmd_faults moves, dax_pmd_fallbacks does not)."""
    path = f"{mnt}/dax-pmd"
    at = PMD
    read_first, delayed = (0, 1, 7, 64, 255, 256, 300, 510), 100
    data = pattern(1, at, PMD)
    want = bytes(at) + data
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.ftruncate(fd, at + PMD - BLOCK)
    to_reader, to_parent = os.pipe(), os.pipe()
    names = ("dax_hole_faults", "dax_pte_faults", "dax_pmd_faults", "dax_pmd_fallbacks")

    def counts():
        return {name: probes[name] for name in names}

    def moved(since):
        return ", ".join(f"{name} +{n - since[name]}" for name, n in counts().items())

    def read_pages():
        addr = map_aligned(fd, at, PMD)
        try:
            first = {p: ctypes.string_at(addr + p * BLOCK, BLOCK) for p in read_first}
            os.write(to_parent[1], b"r")
            os.read(to_reader[0], 1)
            first[delayed] = ctypes.string_at(addr + delayed * BLOCK, BLOCK)
            os.write(to_parent[1], b"f")
            os.read(to_reader[0], 1)
            again = {p: ctypes.string_at(addr + p * BLOCK, BLOCK) for p in first}
        finally:
            libc.munmap(addr, PMD)
        if any(first[p] != bytes(BLOCK) for p in read_first):
            raise Corruption("the hole did not read as zeroes")
        # Read as write(2) goes on, once the fault mapped the zero page.
        if not zeroes_or(first[delayed], data[delayed * BLOCK:(delayed + 1) * BLOCK]):
            raise Corruption("the page the delayed fault read shows neither zeroes nor the data written")
        stale = sorted(p for p, page in again.items() if page != data[p * BLOCK:(p + 1) * BLOCK])
        zero = [p for p in stale if again[p] == bytes(BLOCK)]
        if zero:
            raise Corruption(f"after write(2) of the PMD, the mapping still shows the zero page at pages {zero} "
                             f"of the {len(again)} it had read (stale zero pages)")
        if stale:
            raise Corruption(f"after write(2) of the PMD, the mapping shows other data at pages {stale}")

    before = counts()
    reader = Racer("read faults", read_pages)
    os.close(to_parent[1])
    os.close(to_reader[0])
    if os.read(to_parent[0], 1) != b"r":
        reader.join()
        raise Failed("the reader stopped before its reads")
    holes = probes["dax_hole_faults"] - before["dax_hole_faults"]
    print(f"{len(read_first)} reads inside the PMD: {moved(before)}")
    if holes < len(read_first):
        raise Missed(f"{len(read_first)} reads of the hole made {holes} hole faults: not one 4 KiB zero page each")
    probes.arm("delay_dax_hole_ms")
    os.write(to_reader[1], b"g")
    probes.wait_fired("delay_dax_hole_ms")
    faulted_early = select.select([to_parent[0]], [], [], 0)[0]
    start = time.monotonic()
    if os.pwrite(fd, data, at) != PMD:
        raise Corruption("short write")
    waited = time.monotonic() - start
    if os.read(to_parent[0], 1) != b"f":
        reader.join()
        raise Failed("the reader stopped before its last read")
    os.write(to_reader[1], b"g")
    reader.join()
    if faulted_early:
        raise Missed("the read fault finished before write(2) began")
    print(f"write(2) of the PMD took {waited:.2f} s (the sleeping read fault held its page's entry)")
    verify({path: want}, "through read(2)")
    os.close(fd)
    drop_caches()
    remount(mnt)
    verify({path: want}, "after a remount")

    # The PMD of the file is one aligned extent, which one PMD fault maps.
    fd = os.open(path, os.O_RDONLY)
    extents = fiemap(fd)
    if not any(logical <= at and logical + length >= at + PMD and (physical + at - logical) % PMD == 0
               for logical, physical, length, _ in extents):
        raise Failed(f"the PMD at {at:#x} is not in one 2 MiB-aligned extent: {extents}")
    before = counts()
    addr = map_aligned(fd, at, PMD)
    try:
        seen = ctypes.string_at(addr, PMD)
    finally:
        libc.munmap(addr, PMD)
    os.close(fd)
    if seen != data:
        raise Corruption("after the remount, the aligned mapping does not show the data")
    pmd = (probes["dax_pmd_faults"] - before["dax_pmd_faults"]) - \
        (probes["dax_pmd_fallbacks"] - before["dax_pmd_fallbacks"])
    print(f"reading the PMD through an aligned mapping after the remount: {moved(before)}")
    if pmd < 1:
        raise Failed("reading an aligned, allocated PMD through an aligned mapping made no PMD fault")
    return waited >= DELAY_MS / 2000


class DelayedTarget:
    """Where the pinning direct writes of dax-pin-* go: a dm-delay device
    over a scratch disk, made by race-dax-pin.sh (REXFS_PIN_DM, its name;
    REXFS_PIN_DEV, the disk under it). A write sent to it waits its delay
    in dm-delay before it reaches the disk, with the pages of a direct
    write's user buffer pinned (pin_user_pages) all that time."""

    def __init__(self):
        self.name, self.disk = os.environ.get("REXFS_PIN_DM"), os.environ.get("REXFS_PIN_DEV")
        if not self.name or not self.disk:
            raise Failed("no dm-delay device (REXFS_PIN_DM, REXFS_PIN_DEV): run race-dax-pin.sh")
        self.path = f"/dev/mapper/{self.name}"
        table = self.dmsetup("table").split()  # 0 SECTORS delay MAJOR:MINOR OFFSET MS
        if len(table) != 6 or table[2] != "delay":
            raise Failed(f"{self.name} is not a dm-delay device with one delay: {' '.join(table)}")
        self.delay = int(table[5]) / 1000

    def dmsetup(self, command):
        return subprocess.run(["dmsetup", command, self.name], check=True, capture_output=True,
                              text=True).stdout

    def held_writes(self):
        """The writes dm-delay holds now (its status: reads, writes, flushes)."""
        return int(self.dmsetup("status").split()[4])


def direct_read(path, length, off=0):
    """length bytes of path from off, read with O_DIRECT."""
    buf = mmap.mmap(-1, length)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        done = os.preadv(fd, [buf], off)
    finally:
        os.close(fd)
    if done != length:
        raise Corruption(f"{path}: short direct read ({done} of {length} bytes)")
    data = buf[:]
    buf.close()
    return data


def reads_sigbus(mm, off, names):
    """None if reading byte off of the mapping mm kills a child process with
    SIGBUS; else what happened instead."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            os.write(w, mm[off:off + 16])
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 16)
    os.close(r)
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGBUS:
        return None
    return f"reads {whose(got, names)}" if len(got) == 16 else f"ends with wait status {status:#x}"


def whose(unit, names):
    """What a 16-byte unit of pattern() data is, by the tag names in names."""
    if unit == bytes(16):
        return "zeroes"
    tag, off = struct.unpack("<QQ", unit)
    return f"{names.get(tag, f'unknown data (tag {tag:#x})')} of offset {off:#x}"


def first_difference(got, want):
    """The offset of the first 16-byte unit where got and want differ."""
    return next(i for i in range(0, len(want), 16) if got[i:i + 16] != want[i:i + 16])


def dax_pin(mnt, probes, cut):
    """DAX against a punch or truncate while a DAX page is pinned. An
    O_DIRECT write to a dm-delay device whose user buffer is a shared
    mapping of a DAX file pins the file's pages (pin_user_pages, a GUP pin,
    as the DMA needs) until dm-delay lets the write go, seconds later.
    Meanwhile the pinned range is punched (or the file truncated to where
    it begins) and another file is written as soon as there is space; the
    filesystem is full, so that space can only be the blocks the cut frees.
    The layout break (dax_break_layout) unmaps the range and waits until
    the pin drops, before any block goes: the cut returns only after the
    direct write is released, the write copies the file's old data, and
    only then does the other file get the blocks. Afterwards a mapping
    faulted in before the cut shows zeroes over the punched range, or
    SIGBUS past the new end: nothing stale. If the blocks went before the
    pin dropped, the other file would take them while the DMA still reads
    them, and the direct write would copy the other file's data."""
    target = DelayedTarget()
    path, other = f"{mnt}/dax-pin", f"{mnt}/dax-pin-other"
    size, pinned = MiB, 256 * KiB
    # The pinned pages: the first half of the punched range, or of the range
    # past the new end. The filesystem is full, but for the blocks the
    # allocator keeps for metadata (64): of the 128 blocks the cut frees, the
    # other file takes 64 beside those, and the scan from the data start
    # finds the pinned ones first.
    at = 256 * KiB if cut == "punch" else 512 * KiB
    gone = (at, at + 2 * pinned)
    old = pattern(1, 0, size)
    names = {1: "the file's old data", 3: "the other file's data", 7: "the marker (nothing copied)"}
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if os.pwrite(fd, old, 0) != size:
        raise Corruption("short write")
    os.fsync(fd)
    freed = physical_blocks(fd, *gone)
    ofd = os.open(other, os.O_RDWR | os.O_CREAT, 0o644)
    fill_filesystem(mnt)
    # A marker where the direct write lands, which shows if it moved nothing.
    direct_write(target.disk, pattern(7, 0, pinned), 0)
    if target.held_writes():
        raise Failed(f"{target.name} holds writes before the direct write")
    dio_report, cut_report = os.pipe(), os.pipe()

    def write_from_mapping():
        src = os.open(path, os.O_RDONLY)
        dst = os.open(target.path, os.O_WRONLY | os.O_DIRECT)
        with mmap.mmap(src, size, mmap.MAP_SHARED, mmap.PROT_READ) as mm, memoryview(mm) as buf:
            start = time.monotonic()
            done = os.pwrite(dst, buf[at:at + pinned], 0)
            end = time.monotonic()
        os.write(dio_report[1], struct.pack("ddq", start, end, done))

    def cut_range():
        start = time.monotonic()
        if cut == "punch":
            punch(fd, at, gone[1] - at)
        else:
            os.ftruncate(fd, at)
        os.write(cut_report[1], struct.pack("dd", start, time.monotonic()))

    # Mapped and faulted in here too: a mapping the layout break must take down.
    with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
        if mm[:] != old:
            raise Corruption("the mapping does not show the data")
        racers = []
        try:
            writer = Racer("direct write", write_from_mapping)
            racers.append(writer)
            deadline = time.monotonic() + 60
            while not target.held_writes():
                if writer.finished() or time.monotonic() > deadline:
                    writer.join()
                    raise Missed("the direct write was never seen held in dm-delay")
                time.sleep(0.01)
            cutter = Racer(cut, cut_range)
            racers.append(cutter)
            # The other file takes every block there is as soon as there is
            # any, until the cut has returned and nothing is left: blocks the
            # allocator had in reserve first, then the freed ones (a commit
            # makes them reusable; the allocator forces one at ENOSPC).
            written, enospc = 0, 0
            while True:
                try:
                    written += os.pwrite(ofd, pattern(3, written, BLOCK), written)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if cutter.finished():
                        break
                    if time.monotonic() > deadline:
                        raise Missed("the other file found no space within 60 s")
                    enospc += 1
                    time.sleep(0.02)
            other_done = time.monotonic()
            writer.join()
            cutter.join()
        finally:
            # Nothing left running on the filesystem, which is unmounted next.
            for racer in racers:
                racer.wait()
        dio_start, dio_end, done = struct.unpack("ddq", os.read(dio_report[0], 24))
        cut_start, cut_end = struct.unpack("dd", os.read(cut_report[0], 16))
        taken = physical_blocks(ofd, 0, written) & freed
        print(f"direct write of {pinned // KiB} KiB from the mapping: returned after {dio_end - dio_start:.2f} s "
              f"(dm-delay {target.delay:.1f} s); the {cut} began at {cut_start - dio_start:.2f} s and returned at "
              f"{cut_end - dio_start:.2f} s; the other file was written at {other_done - dio_start:.2f} s "
              f"after {enospc} ENOSPC, on {len(taken)} of the {len(freed)} freed blocks")
        if done != pinned:
            raise Corruption(f"the direct write returned {done}, expected {pinned}")
        if cut_start >= dio_end:
            raise Missed(f"the {cut} began after the direct write had returned")
        copied, expected = direct_read(target.disk, pinned), old[at:at + pinned]
        if copied != expected:
            i = first_difference(copied, expected)
            raise Corruption(f"the direct write copied {whose(copied[i:i + 16], names)} at byte {i:#x} of its "
                             f"buffer, not the file's old data: the pinned blocks went during the DMA")
        if not taken:
            raise Missed("the other file did not get the freed blocks")
        # Nothing stale in the mapping faulted in before the cut.
        if mm[:at] != old[:at]:
            raise Corruption(f"after the {cut}, the mapping does not show the data before the cut range")
        if cut == "punch":
            seen = mm[at:gone[1]]
            if seen != bytes(len(seen)):
                i = first_difference(seen, bytes(len(seen)))
                raise Corruption(f"after the punch, the mapping shows {whose(seen[i:i + 16], names)} at "
                                 f"{at + i:#x} in the punched range: a stale mapping")
            if mm[gone[1]:] != old[gone[1]:]:
                raise Corruption("after the punch, the mapping does not show the data after the punched range")
        else:
            instead = reads_sigbus(mm, at, names)
            if instead is not None:
                raise Corruption(f"after the truncate, touching the mapping at the new end {at:#x} {instead}, "
                                 "not SIGBUS: a stale mapping")
    os.close(ofd)
    os.close(fd)
    if cut == "punch":
        want = old[:at] + bytes(gone[1] - at) + old[gone[1]:]
    else:
        want = old[:at]
    verify({path: want, other: pattern(3, 0, written)}, "through read(2)")
    # The cut returned only once the write could have been released.
    waited = cut_end >= dio_start + target.delay - 0.1
    print(f"the {cut} {'waited' if waited else 'did not wait'} for the pinned pages")
    return waited


def sync_file(path):
    """fsync path; a failure (writeback lost the data) is corruption."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        raise Corruption(f"fsync {path}: {e}")
    finally:
        os.close(fd)


def inline_file(path, data):
    """Creates path holding data, small enough to stay in the inode."""
    with open(path, "wb") as f:
        f.write(data)
    if os.stat(path).st_blocks != 0:
        raise Missed(f"{path}: {len(data)} bytes are not inline ({os.stat(path).st_blocks} sectors)")


def inline(mnt, probes):
    """Write faults into shared mappings of files whose data is in the
    inode. The first write must move the data into a block under i_rwsem,
    which ranks above the fault lock: a fault that may retry drops its lock
    first (inline_fault_retry); one that may not (a write through
    /proc/self/mem, get_user_pages without a `locked` pointer) converts
    under it (inline_fault_no_retry); a write to a page a read fault mapped
    read-only reaches only page_mkwrite, which unmaps the page so the write
    faults again through ->fault (inline_mkwrite_unmap). Last, a fault that
    dropped its lock sleeps before converting while write(2) and truncate
    change the file, and a direct read of another file lands in a mapping
    of an inline file. Every file must read back exactly, and the faults
    must not deadlock (the harness's timeout)."""
    names = ("inline_fault_retry", "inline_fault_no_retry", "inline_fault_nowait", "inline_mkwrite_unmap")
    before = {name: probes[name] for name in names}
    expected = {}
    old = pattern(1, 0, 100)

    def mapped_store(name, store):
        """Creates inline file name, maps it shared and calls store(mm)."""
        path = f"{mnt}/{name}"
        inline_file(path, old)
        fd = os.open(path, os.O_RDWR)
        with mmap.mmap(fd, len(old)) as mm:
            store(mm, fd)
        os.close(fd)
        return path

    def overlay(data, off, new):
        return data[:off] + new + data[off + len(new):]

    # A write fault that finds no page: ->fault, retry allowed.
    def store_retry(mm, fd):
        mm[10:20] = b"fault-rtry"
    expected[mapped_store("inline-retry", store_retry)] = overlay(old, 10, b"fault-rtry")

    # A write through /proc/self/mem: no retry allowed.
    def store_proc_mem(mm, fd):
        addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(addr + 30)
            if mem.write(b"proc-mem") != 8:
                raise Corruption("short write to /proc/self/mem")
    expected[mapped_store("inline-proc-mem", store_proc_mem)] = overlay(old, 30, b"proc-mem")

    # A read maps the page read-only; the write then reaches page_mkwrite.
    def store_after_read(mm, fd):
        if mm[0:16] != old[0:16]:
            raise Corruption("inline data read through the mapping differs")
        mm[50:60] = b"after-read"
    expected[mapped_store("inline-after-read", store_after_read)] = overlay(old, 50, b"after-read")

    # A fault that dropped its lock sleeps before converting; write(2)
    # extends the file (still inline) and truncate cuts it meanwhile.
    def store_racing(mm, fd):
        probes.arm("delay_write_fault_ms")

        def store():
            mm[40:48] = b"delayed!"

        storer = Racer("store", store)
        probes.wait_fired("delay_write_fault_ms")
        os.pwrite(fd, b"W" * 20, 100)
        os.ftruncate(fd, 110)
        in_window = not storer.finished()
        storer.join()
        if not in_window:
            raise Missed("the store finished before write(2) and truncate ran")
    racing = mapped_store("inline-racing", store_racing)
    expected[racing] = overlay(old, 40, b"delayed!") + b"W" * 10

    # A direct read of another file into the mapping: its write fault
    # converts the inline file, which takes that file's i_rwsem, so the read
    # must not hold its own across the fault.
    source = pattern(3, 0, 4096)
    direct_write(f"{mnt}/dio-source", source, 0)

    target = f"{mnt}/inline-dio-target"
    inline_file(target, old)
    fd, src = os.open(target, os.O_RDWR), os.open(f"{mnt}/dio-source", os.O_RDONLY | os.O_DIRECT)
    # A whole page, past EOF (Python's mmap refuses that), for the 512
    # bytes O_DIRECT needs at least.
    addr = libc.mmap(None, mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    if addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap")
    try:
        done = os.preadv(src, [memoryview((ctypes.c_char * 512).from_address(addr)).cast("B")], 0)
    except OSError as e:
        done = e
    finally:
        libc.munmap(ctypes.c_void_p(addr), mmap.PAGESIZE)
        os.close(src)
        os.close(fd)
    if done != 512:
        raise Corruption(f"direct read into an inline file's mapping: {done}")
    expected[target] = source[:len(old)]

    for path in expected:
        sync_file(path)
        if os.stat(path).st_blocks == 0:
            raise Corruption(f"{path}: still inline after a write fault")
    counts = {name: probes[name] - before[name] for name in names}
    print(", ".join(f"{name}: {n} new" for name, n in counts.items()))
    verify_twice(expected)
    return counts["inline_fault_retry"] > 0 and counts["inline_fault_no_retry"] > 0 and \
        counts["inline_mkwrite_unmap"] > 0


SCENARIOS = {"unwritten": unwritten, "wb-punch": wb_punch, "wb-clone": wb_clone,
             "cow-fsync": cow_fsync,
             "dedupe-dio": dedupe_dio, "dedupe-pte": dedupe_pte, "fault-punch": fault_punch,
             "dio-mmap": dio_mmap,
             "inline": inline, "giveback": giveback, "dax-hole": dax_hole, "dax-pmd": dax_pmd,
             "dax-pin-punch": lambda mnt, probes: dax_pin(mnt, probes, "punch"),
             "dax-pin-truncate": lambda mnt, probes: dax_pin(mnt, probes, "truncate")}
# Scenarios that need a DAX mount (rexfs -o dax on pmem).
NEEDS_DAX = {"dax-hole", "dax-pmd", "dax-pin-punch", "dax-pin-truncate"}


def main(name, mnt, debugfs):
    try:
        protected = SCENARIOS[name](mnt, Probes(debugfs))
    except Corruption as e:
        print(f"CORRUPTION: {e}")
        return 1
    except Missed as e:
        print(f"MISSED: {e}")
        return 2
    except Failed as e:
        print(f"FAILED: {e}")
        return 4
    except Exception:
        traceback.print_exc()
        print("FAILED: the scenario stopped on an unexpected error")
        return 4
    # Intact; with the protection on, its own evidence must show.
    print("data intact" + ("; the protection acted" if protected else "; the protection did not act"))
    return 0 if protected else 3


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
