#!/usr/bin/env python3
"""The scaling workloads of the rexfs benchmark (tests/bench.sh with
BENCH_SCALE=1, `make bench SCALE=1`): per-operation times in a directory of
N entries and in a file of N extents, which should not grow with N. Each
phase is timed inside this process (time.perf_counter around its loop, no
syncfs in it); the 1,000 names or blocks a phase uses are drawn at random,
with a seed fixed by N, so every column gets the same ones.

  scale.py dir DIR N TAG
      makes DIR (which must not exist) and N empty files in it, f0000000,
      f0000001, ... in that order; then, each phase after the caches were
      dropped (sync; drop_caches) and DIR opened again: stat of 1,000
      random names (a lookup from a cold cache); a full listing
      (os.scandir, which must find the N entries); then, with DIR open and
      1,000 random names looked up (os.stat, not timed), unlink of those
      names; then the rest are removed and DIR with them. Prints, in
      microseconds, "scale_dir_create_TAG" (per create),
      "scale_dir_stat_TAG" (per stat), "scale_dir_list_TAG" (per entry
      listed), "scale_dir_unlink_TAG" (per unlink), and in seconds
      "scale_dir_total_TAG": the five timed phases together (creating,
      stat, listing, unlink, removing the rest), which tests/bench.sh shows
      for the largest directory only.
  scale.py extents FILE N TAG
      makes FILE (which must not exist) of 2N 4 KiB blocks with N extents:
      its size set first, then every even block written (4 KiB pwrite each,
      fsync every 5,000 and at the end), the odd ones left holes; FIEMAP
      must then count N extents (no filesystem filled a hole). Then, after
      the caches were dropped and FILE opened again (POSIX_FADV_RANDOM: no
      readahead), 1,000 4 KiB preads of random written blocks; then, on
      FILE opened O_DSYNC, 1,000 4 KiB pwrites into random holes. Every
      block holds its own number, so each read and each written hole, read
      back, is checked. Prints "scale_extents_read_TAG" and
      "scale_extents_dsync_TAG" in microseconds per operation, and removes
      FILE. How long writing FILE took goes to stderr (the run's log).

Each prints "ROW VALUE" lines on stdout, and exits 1 with the reason on
stderr when there is no valid measurement. A run that fails leaves DIR or
FILE behind.
"""
import fcntl
import os
import random
import struct
import sys
import time

from measure import drop_caches

# Operations timed per phase.
OPS = 1000
BLOCK = 4096
# Writes between the fsyncs that write the extent file out as it grows.
FSYNC_EVERY = 5000

FS_IOC_FIEMAP = 0xC020660B  # _IOWR('f', 11, struct fiemap)
FIEMAP_FLAG_SYNC = 0x1
# struct fiemap without its extent array: fm_start, fm_length, fm_flags,
# fm_mapped_extents, fm_extent_count, fm_reserved.
FIEMAP_HEADER = struct.Struct("=QQIIII")


def fail(msg):
    print(f"scale.py: {msg}", file=sys.stderr)
    sys.exit(1)


def open_cold(path, flags):
    """PATH opened after the caches were dropped (nothing of it held open)."""
    drop_caches()
    return os.open(path, flags)


def timed(loop):
    """Seconds LOOP() takes."""
    start = time.perf_counter()
    loop()
    return time.perf_counter() - start


def directory(path, n, tag):
    rng = random.Random(n)
    # The names before the clock starts: formatting them is not the
    # filesystem's time.
    names = [f"f{i:07d}" for i in range(n)]
    os.mkdir(path)
    dirflags = os.O_RDONLY | os.O_DIRECTORY
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    dfd = os.open(path, dirflags)

    def create():
        for name in names:
            os.close(os.open(name, flags, 0o644, dir_fd=dfd))

    create_s = timed(create)
    os.close(dfd)

    looked_up = [names[i] for i in rng.sample(range(n), OPS)]
    dfd = open_cold(path, dirflags)

    def stat():
        for name in looked_up:
            os.stat(name, dir_fd=dfd)

    stat_s = timed(stat)
    os.close(dfd)

    listed = 0
    dfd = open_cold(path, dirflags)

    def listing():
        nonlocal listed
        with os.scandir(dfd) as entries:
            for _entry in entries:
                listed += 1

    list_s = timed(listing)
    os.close(dfd)
    if listed != n:
        fail(f"{path}: the listing found {listed} entries of {n}")

    # Unlink as create runs: with the names looked up before (as `rm`
    # after a listing), so that it times the directory's change, not the
    # reads a cold cache needs (those `stat, cold` times).
    unlinked = rng.sample(range(n), OPS)
    dfd = os.open(path, dirflags)
    for i in unlinked:
        os.stat(names[i], dir_fd=dfd)

    def unlink():
        for i in unlinked:
            os.unlink(names[i], dir_fd=dfd)

    unlink_s = timed(unlink)
    gone = set(unlinked)
    rest = [name for i, name in enumerate(names) if i not in gone]

    def remove_rest():
        for name in rest:
            os.unlink(name, dir_fd=dfd)
        os.close(dfd)
        os.rmdir(path)

    rest_s = timed(remove_rest)

    us = 1e6
    print(f"scale_dir_create_{tag} {create_s * us / n:.3f}")
    print(f"scale_dir_stat_{tag} {stat_s * us / OPS:.3f}")
    print(f"scale_dir_list_{tag} {list_s * us / n:.3f}")
    print(f"scale_dir_unlink_{tag} {unlink_s * us / OPS:.3f}")
    print(f"scale_dir_total_{tag} {create_s + stat_s + list_s + unlink_s + rest_s:.3f}")


def block_data(blkno):
    """A block's contents: its own number, repeated."""
    return struct.pack("<Q", blkno) * (BLOCK // 8)


def mapped_extents(fd):
    """FIEMAP's count of the file's extents (holes are not extents)."""
    buf = bytearray(FIEMAP_HEADER.pack(0, 2**64 - 1, FIEMAP_FLAG_SYNC, 0, 0, 0))
    fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
    return FIEMAP_HEADER.unpack(buf)[3]


def extents(path, n, tag):
    rng = random.Random(n)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    # The size first, so that every write lands inside EOF: XFS adds
    # speculative preallocation (over the holes) only to writes past it.
    os.ftruncate(fd, 2 * n * BLOCK)
    start = time.perf_counter()
    for i in range(n):
        os.pwrite(fd, block_data(2 * i), 2 * i * BLOCK)
        if (i + 1) % FSYNC_EVERY == 0:
            os.fsync(fd)
    os.fsync(fd)
    elapsed = time.perf_counter() - start
    count = mapped_extents(fd)
    os.close(fd)
    print(f"{path}: {n} blocks written in {elapsed:.1f} s, {count} extents (FIEMAP)",
          file=sys.stderr)
    if count != n:
        fail(f"{path}: {count} extents, expected {n}: the holes were not left holes")

    read_blocks = [2 * i for i in rng.sample(range(n), OPS)]
    data = []
    fd = open_cold(path, os.O_RDONLY)
    # Readahead would read the neighbouring holes' pages, differently on
    # each filesystem; each pread is to read its block alone.
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)

    def read():
        for blkno in read_blocks:
            data.append(os.pread(fd, BLOCK, blkno * BLOCK))

    read_s = timed(read)
    os.close(fd)
    for blkno, got in zip(read_blocks, data):
        if got != block_data(blkno):
            fail(f"{path}: block {blkno} does not read back as written")

    holes = [2 * i + 1 for i in rng.sample(range(n), OPS)]
    buffers = [block_data(blkno) for blkno in holes]
    fd = os.open(path, os.O_WRONLY | os.O_DSYNC)

    def dsync_write():
        for blkno, buf in zip(holes, buffers):
            if os.pwrite(fd, buf, blkno * BLOCK) != BLOCK:
                fail(f"{path}: short write into the hole at block {blkno}")

    dsync_s = timed(dsync_write)
    os.close(fd)
    fd = os.open(path, os.O_RDONLY)
    for blkno, buf in zip(holes, buffers):
        if os.pread(fd, BLOCK, blkno * BLOCK) != buf:
            fail(f"{path}: the hole written at block {blkno} does not read back")
    os.close(fd)
    os.unlink(path)

    us = 1e6
    print(f"scale_extents_read_{tag} {read_s * us / OPS:.3f}")
    print(f"scale_extents_dsync_{tag} {dsync_s * us / OPS:.3f}")


def main(argv):
    try:
        cmd, path, n, tag = argv[1:]
        n = int(n)
        if n < OPS:
            raise ValueError
    except ValueError:
        fail(f"usage: scale.py dir|extents PATH N TAG, N at least {OPS}")
    try:
        if cmd == "dir":
            directory(path, n, tag)
        elif cmd == "extents":
            extents(path, n, tag)
        else:
            fail(f"unknown workload {cmd}")
    except OSError as e:
        fail(str(e))


if __name__ == "__main__":
    main(sys.argv)
