#!/usr/bin/env python3
"""Measurements of the rexfs benchmark (tests/bench.sh), each taken by the
tool or inside the one process doing the work, never from process wall time.

  measure.py fio JSON read|write mib|iops
      fio's own throughput from its JSON output: MiB/s (bw_bytes / 2^20)
      or IOPS of the one job in it; fails if fio reported an error or moved
      nothing.
  measure.py xfs_io LOG ops|mib
      xfs_io's own rate from its pwrite report ("... (4.63 MiB/sec and
      1186.2 ops/sec)"); fails on a short write.
  measure.py mmap FILE MIB
      creates FILE, sizes it to MIB MiB (sparse), maps it shared, stores
      into every byte, 1 MiB at a time, then msync(MS_SYNC) over the whole
      mapping; prints MiB/s over the stores and the msync.
  measure.py small_fsync DIR N
      N new files in DIR, each created, given 4 KiB, fsynced and closed
      before the next; prints files per second (a mail spool or a package
      manager: the journal's commit latency, as in ext4's and XFS's
      create+fsync loops).
  measure.py clone SRC DST
      FICLONE of SRC (written and synced) into a new DST, then fsync of
      DST; prints the milliseconds, or "n/a" if the filesystem has no
      reflink.
  measure.py cow_write SRC DST MIB
      clones SRC (MIB MiB, written and synced) into a new DST, syncs, drops
      the caches, then overwrites DST in 1 MiB writes and fsyncs it (every
      block copied on write); prints MiB/s over the writes and the fsync,
      or "n/a" if the filesystem has no reflink.
  measure.py meta DIR N
      N empty files in DIR (which must be empty), in three timed phases:
      create (open O_CREAT|O_EXCL, close) then syncfs; stat, after the
      page, dentry and inode caches were dropped; unlink then syncfs (caches
      dropped before it too). Prints "meta_create OPS", "meta_stat OPS",
      "meta_unlink OPS", in operations per second.

Each prints its value(s) on stdout, one "VALUE" or "ROW VALUE" per line, and
exits 1 with the reason on stderr when there is no valid measurement.
"""
import ctypes
import errno
import fcntl
import json
import mmap
import os
import re
import sys
import time

MIB = 1 << 20


def fail(msg):
    print(f"measure.py: {msg}", file=sys.stderr)
    sys.exit(1)


def fio(path, rw, metric):
    with open(path) as f:
        text = f.read()
    # fio may print notes around the JSON document in the same output.
    m = re.search(r"^\{", text, re.M)
    if not m:
        fail(f"{path}: no JSON document")
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[m.start():])
    except ValueError as e:
        fail(f"{path}: {e}")
    jobs = doc.get("jobs", [])
    if len(jobs) != 1:
        fail(f"{path}: {len(jobs)} jobs, expected 1")
    job = jobs[0]
    if job.get("error", 0):
        fail(f"{path}: job {job.get('jobname')}: error {job['error']}")
    stats = job.get(rw, {})
    if stats.get("io_bytes", 0) <= 0 or stats.get("runtime", 0) <= 0:
        fail(f"{path}: job {job.get('jobname')}: no {rw} I/O")
    if metric == "mib":
        print(f"{stats['bw_bytes'] / MIB:.2f}")
    else:
        print(f"{stats['iops']:.2f}")


# xfs_io scales the unit of its byte rate (cvtstr): bytes, KiB, MiB, ...
UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def xfs_io(path, unit):
    with open(path) as f:
        text = f.read()
    for done, asked in re.findall(r"^(?:wrote|read) (\d+)/(\d+) bytes", text, re.M):
        if done != asked:
            fail(f"{path}: short I/O, {done} of {asked} bytes")
    rates = re.findall(r"\(([\d.]+) (bytes|[KMGT]iB)/sec and ([\d.]+) ops/sec\)", text)
    if len(rates) != 1:
        fail(f"{path}: expected one xfs_io rate, found {len(rates)}")
    value, scale, ops = rates[0]
    if unit == "ops":
        print(f"{float(ops):.2f}")
    else:
        print(f"{float(value) * UNITS[scale] / MIB:.2f}")


def mmap_write(path, mib):
    size = mib * MIB
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, size)
    mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    chunk = b"\xcd" * MIB
    start = time.perf_counter()
    for off in range(0, size, MIB):
        mm[off:off + MIB] = chunk
    mm.flush()  # msync(MS_SYNC) over the whole mapping
    elapsed = time.perf_counter() - start
    mm.close()
    os.close(fd)
    print(f"{mib / elapsed:.2f}")


FICLONE = 0x40049409  # _IOW(0x94, 9, int)
# What a filesystem without reflink answers FICLONE with.
NO_REFLINK = (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTTY, errno.EXDEV)


def ficlone(src, dst):
    """Clones SRC into a new DST; False if the filesystem cannot."""
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.ioctl(dfd, FICLONE, sfd)
    except OSError as e:
        if e.errno in NO_REFLINK:
            return False
        raise
    finally:
        os.close(sfd)
    os.fsync(dfd)
    os.close(dfd)
    return True


def clone(src, dst):
    start = time.perf_counter()
    if not ficlone(src, dst):
        print("n/a")
        return
    print(f"{(time.perf_counter() - start) * 1000:.2f}")


def cow_write(src, dst, mib):
    if not ficlone(src, dst):
        print("n/a")
        return
    drop_caches()
    fd = os.open(dst, os.O_WRONLY)
    chunk = b"\xab" * MIB
    start = time.perf_counter()
    for off in range(0, mib * MIB, MIB):
        os.pwrite(fd, chunk, off)
    os.fsync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    print(f"{mib / elapsed:.2f}")


LIBC = ctypes.CDLL(None, use_errno=True)


def syncfs(fd):
    if LIBC.syncfs(fd) != 0:
        fail(f"syncfs: {os.strerror(ctypes.get_errno())}")


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def small_fsync(path, n):
    if os.listdir(path):
        fail(f"{path} is not empty")
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    block = b"\xa5" * 4096
    start = time.perf_counter()
    for i in range(n):
        fd = os.open(f"s{i:07d}", flags, 0o644, dir_fd=dfd)
        if os.write(fd, block) != len(block):
            fail("short write")
        os.fsync(fd)
        os.close(fd)
    elapsed = time.perf_counter() - start
    os.close(dfd)
    print(f"{n / elapsed:.2f}")


def meta(path, n):
    if os.listdir(path):
        fail(f"{path} is not empty")
    names = [f"f{i:07d}" for i in range(n)]
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    results = []

    drop_caches()
    start = time.perf_counter()
    for name in names:
        os.close(os.open(name, flags, 0o644, dir_fd=dfd))
    syncfs(dfd)
    results.append(("meta_create", time.perf_counter() - start))

    drop_caches()
    start = time.perf_counter()
    for name in names:
        os.stat(name, dir_fd=dfd)
    results.append(("meta_stat", time.perf_counter() - start))

    drop_caches()
    start = time.perf_counter()
    for name in names:
        os.unlink(name, dir_fd=dfd)
    syncfs(dfd)
    results.append(("meta_unlink", time.perf_counter() - start))
    os.close(dfd)

    for row, elapsed in results:
        print(f"{row} {n / elapsed:.2f}")


def main(argv):
    try:
        cmd = argv[1]
        if cmd == "fio" and argv[3] in ("read", "write") and argv[4] in ("mib", "iops"):
            fio(argv[2], argv[3], argv[4])
        elif cmd == "xfs_io" and argv[3] in ("ops", "mib"):
            xfs_io(argv[2], argv[3])
        elif cmd == "mmap":
            mmap_write(argv[2], int(argv[3]))
        elif cmd == "small_fsync":
            small_fsync(argv[2], int(argv[3]))
        elif cmd == "clone":
            clone(argv[2], argv[3])
        elif cmd == "cow_write":
            cow_write(argv[2], argv[3], int(argv[4]))
        elif cmd == "meta":
            meta(argv[2], int(argv[3]))
        else:
            raise IndexError
    except IndexError:
        fail("usage: see the docstring of tests/bench/measure.py")
    except OSError as e:
        fail(str(e))


if __name__ == "__main__":
    main(sys.argv)
