#!/usr/bin/env python3
"""The race scenarios of tests/vm/races.py as stress tests, for any
filesystem: no debugfs knobs open the windows; instead each scenario runs
rounds of the same racing operations, started together with a random
stagger, for a time budget, and checks every byte each round wrote.

    stress.py SCENARIO MOUNTPOINT --dev DEV --fstype TYPE [--seconds N] [--seed S]
    stress.py --list

Run inside the test VM by tests/races/guest.sh, on a fresh filesystem on DEV
mounted on MOUNTPOINT. Every file a round leaves is read back and compared
with what the operations must have left, whatever their order: from the page
cache, then from disk with O_DIRECT (after fsync); every few rounds all of
them again after `drop_caches` and again after an unmount and mount (then
deleted). The data is self-describing (16-byte units of a tag naming the
scenario, round and writer, and the file offset, as races.pattern), so a
report says whose data was found where.

Exit status: 0 every byte intact in every round; 1 corruption (or an I/O
that did not complete, or a racer that failed); 2 the scenario could not run
(an unexpected error, or no round was checked); 3 the filesystem lacks what
the scenario needs (reflink or dedupe, asked once with a one-block remap). The last line is
"summary: ...": rounds, how many hit the race window (each scenario says what
that means) and the bytes checked.
"""
import argparse
import bisect
import collections
import ctypes
import errno
import fcntl
import mmap
import os
import pickle
import random
import struct
import subprocess
import sys
import time
import traceback
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vm"))
import races  # noqa: E402  (tests/vm/races.py: the knob-driven scenarios)
from races import (BLOCK, FALLOC_FL_KEEP_SIZE, KiB, MiB, SYNC_FILE_RANGE_WRITE,  # noqa: E402
                   Corruption, aligned, check, direct_write, drop_caches, fallocate, libc, physical_blocks,
                   punch, sync_file)

PAGE = mmap.PAGESIZE
FALLOC_FL_ZERO_RANGE = 0x10
# The drop_caches and remount checks come once the files kept for them reach
# this many bytes, or a quarter of the budget has passed.
RETAIN_BYTES = 48 * MiB
# wb-punch fills the free space only of a filesystem this small (the test
# disks); on a larger one it runs without block reuse forced.
FILL_LIMIT = 4 << 30
# Short writes per giveback round.
GIVEBACK_WRITES = 64


class Skip(Exception):
    """The round cannot be checked (ENOSPC where the scenario needs space)."""


class Error(Exception):
    """The scenario could not run."""


class Unsupported(Exception):
    """The filesystem lacks what the scenario needs (reflink, dedupe)."""


# Data tags: "RX", the scenario, the round and the writer's role.
TAG_MAGIC = 0x5258
ROLES = {1: "first data", 2: "write(2)", 3: "mmap store", 4: "rewrite", 5: "other file", 6: "reserve",
         7: "direct I/O source"}
FIRST, WRITE, STORE, REWRITE, OTHER, RESERVE, SOURCE = range(1, 8)


def pattern(tag, off, length):
    """races.pattern(tag, off, length): 16-byte units of (tag, file offset),
    built with array operations (races.pattern packs each unit in Python,
    seconds per megabyte under TCG)."""
    first = off - off % 16
    units = (off + length - first + 15) // 16
    buf = bytearray(16 * units)
    words = memoryview(buf).cast("Q")
    words[0::2] = array("Q", [tag]) * units
    words[1::2] = array("Q", range(first, first + 16 * units, 16))
    words.release()
    return bytes(buf[off - first:off - first + length])


def page_span(off, length):
    """The page-aligned range around off..off + length."""
    return off - off % PAGE, -(-(off + length) // PAGE) * PAGE


def describe_unit(data):
    """What the 16-byte unit data is: zeros, a tag's data, or raw bytes."""
    if len(data) < 16:
        return f"{data.hex()} (a partial unit)" if data else "nothing (past EOF)"
    if not any(data):
        return "zeros"
    tag, word = struct.unpack("<QQ", data)
    if tag >> 48 != TAG_MAGIC:
        return data.hex()
    scenario = NAMES[(tag >> 40) & 0xFF] if ((tag >> 40) & 0xFF) < len(NAMES) else "?"
    return f"{scenario} round {(tag >> 8) & 0xFFFFFFFF} {ROLES.get(tag & 0xFF, tag & 0xFF)} [{word:#x}]"


def describe_diff(got, want):
    """got != want, in words: the size, then up to four ranges of differing
    4 KiB blocks with the units found and expected where each begins."""
    parts = []
    if len(got) != len(want):
        parts.append(f"size {len(got)}, expected {len(want)}")
    common = min(len(got), len(want))
    ranges, nblocks = [], 0
    for s in range(0, common, BLOCK):
        e = min(s + BLOCK, common)
        if got[s:e] == want[s:e]:
            continue
        nblocks += 1
        i = next(i for i in range(s, e) if got[i] != want[i])
        if ranges and ranges[-1][1] == s:
            ranges[-1][1] = e
        else:
            ranges.append([s, e, i])
    for s, e, i in ranges[:4]:
        # The unit at i may be half right: name the next whole one.
        u = i if i % 16 == 0 or i - i % 16 + 16 >= e else i - i % 16 + 16
        parts.append(f"blocks {s:#x}..{e:#x} differ from byte {i:#x}: at {u:#x} found "
                     f"{describe_unit(bytes(got[u:u + 16]))}, expected {describe_unit(bytes(want[u:u + 16]))}")
    if len(ranges) > 4:
        parts.append(f"and {len(ranges) - 4} more ranges")
    if nblocks:
        parts.append(f"{nblocks} of {-(-common // BLOCK)} blocks differ")
    return "; ".join(parts)


def cached_read(path):
    with open(path, "rb") as f:
        return f.read()


def direct_read(path):
    """path's data read with O_DIRECT (from disk), or None where O_DIRECT is
    refused (EINVAL)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return None
        raise
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return b""
        buf = mmap.mmap(-1, page_span(0, size)[1])
        try:
            try:
                done = os.preadv(fd, [buf], 0)
            except OSError as e:
                if e.errno == errno.EINVAL:
                    return None
                raise Corruption(f"{path}: O_DIRECT read: {e}")
            if done != size:
                raise Corruption(f"{path}: O_DIRECT read returned {done} of {size} bytes")
            return buf[:size]
        finally:
            buf.close()
    finally:
        os.close(fd)


class Child:
    """fn() in a forked child, started when a byte arrives on go_fd; join()
    returns what it returned, or raises what it raised (Corruption and Skip
    as themselves, anything else as Error)."""

    def __init__(self, name, fn, go_fd=None):
        self.name = name
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(r)
            try:
                if go_fd is not None:
                    os.read(go_fd, 1)
                result = ("ok", fn())
            except Corruption as e:
                result = ("corrupt", str(e))
            except Skip as e:
                result = ("skip", str(e))
            except BaseException as e:
                result = ("error", f"{e!r}\n{traceback.format_exc()}")
            try:
                with os.fdopen(w, "wb") as f:
                    f.write(pickle.dumps(result))
            finally:
                os._exit(0)
        os.close(w)
        self.fd = r

    def join(self):
        with os.fdopen(self.fd, "rb") as f:
            data = f.read()
        status = os.waitpid(self.pid, 0)[1]
        if not data:
            raise Error(f"{self.name} died (wait status {status})")
        kind, value = pickle.loads(data)
        if kind == "ok":
            return value
        raise {"corrupt": Corruption, "skip": Skip}.get(kind, Error)(f"{self.name}: {value}")


def join_all(children):
    """Joins every child; returns {name: result}, or raises the gravest
    failure (corruption, then error, then skip) once all have ended."""
    results, failures = {}, []
    for c in children:
        try:
            results[c.name] = c.join()
        except (Corruption, Error, Skip) as e:
            failures.append(e)
    for kind in (Corruption, Error, Skip):
        for e in failures:
            if isinstance(e, kind):
                raise e
    return results


def race(main, loops=None, stop=None):
    """Runs each function of main and of loops ({name: fn}) in its own child,
    all released at once; when every main one has returned, sets stop[0] so
    that the loops end. Returns {name: result}."""
    go_r, go_w = os.pipe()
    try:
        mains = [Child(name, fn, go_r) for name, fn in main.items()]
        others = [Child(name, fn, go_r) for name, fn in (loops or {}).items()]
        os.write(go_w, b"g" * (len(mains) + len(others)))
    finally:
        os.close(go_r)
        os.close(go_w)
    try:
        results = join_all(mains)
    finally:
        if stop is not None:
            stop[0] = 1
        results_loops = join_all(others)
    results.update(results_loops)
    return results


class Lockstep:
    """Moves a child through steps with the parent: the parent's go() lets
    the child's wait() return, the child's done() the parent's wait_done()
    (False once the child has gone). Made before the fork; then the child
    calls in_child(every Lockstep), the parent in_parent()."""

    def __init__(self):
        self.to_child = os.pipe()
        self.to_parent = os.pipe()

    def in_child(self, all_locksteps):
        for ls in all_locksteps:
            ends = (ls.to_child[1], ls.to_parent[0]) if ls is self else ls.to_child + ls.to_parent
            for fd in ends:
                os.close(fd)

    def in_parent(self):
        os.close(self.to_child[0])
        os.close(self.to_parent[1])

    def wait(self):
        if not os.read(self.to_child[0], 1):
            raise Error("the parent went away")

    def done(self):
        os.write(self.to_parent[1], b"d")

    def go(self):
        os.write(self.to_child[1], b"g")

    def wait_done(self):
        return os.read(self.to_parent[0], 1) == b"d"

    def close(self):
        os.close(self.to_child[1])
        os.close(self.to_parent[0])


class Run:
    """One scenario's rounds on one mounted filesystem: the time budget, the
    checks, the files kept for the drop_caches and remount checks, and the
    counts for the summary."""

    def __init__(self, args):
        self.name, self.mnt, self.dev, self.fstype = args.scenario, args.mountpoint, args.dev, args.fstype
        self.seconds, self.seed, self.remounts_allowed = args.seconds, args.seed, not args.no_remount
        self.number = NAMES.index(self.name)
        self.retained = {}  # path: (round, expected bytes)
        self.retained_bytes = 0
        self.counts = collections.Counter()
        self.checked_bytes = 0
        self.est = {}
        self.round = None
        self.remaps = {}  # kind: None if the filesystem has it, else why not

    def path(self, name):
        return os.path.join(self.mnt, name)

    def require_remap(self, kind):
        """Raises Unsupported unless the filesystem can clone (kind "clone")
        or dedupe ("dedupe") a block of one file into another; asks once."""
        if kind not in self.remaps:
            a, b = self.path(f"remap-probe-{kind}"), self.path(f"remap-probe-{kind}-2")
            data = pattern(self.tag(0, FIRST), 0, BLOCK)
            direct_write_full(a, data)
            direct_write_full(b, data)
            afd, bfd = os.open(a, os.O_RDONLY), os.open(b, os.O_RDWR)
            try:
                if kind == "clone":
                    races.clone_range(afd, 0, BLOCK, bfd, 0)
                else:
                    status, _ = races.dedupe_range(afd, 0, BLOCK, bfd, 0)
                    if status < 0:
                        raise OSError(-status, os.strerror(-status))
                self.remaps[kind] = None
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.EXDEV, errno.ENOTTY):
                    raise
                self.remaps[kind] = f"no {kind} on {self.fstype}: {e.strerror}"
            finally:
                os.close(afd)
                os.close(bfd)
                os.unlink(a)
                os.unlink(b)
        if self.remaps[kind]:
            raise Unsupported(self.remaps[kind])

    def tag(self, r, role):
        return (TAG_MAGIC << 48) | (self.number << 40) | ((r & 0xFFFFFFFF) << 8) | role

    def ewma(self, key, value):
        """A running estimate of a duration, for the stagger of racers."""
        self.est[key] = value if key not in self.est else 0.7 * self.est[key] + 0.3 * value
        return self.est[key]

    def count(self, **flags):
        for key, value in flags.items():
            self.counts[key] += int(value)

    def compare(self, path, got, want, when):
        self.checked_bytes += len(want)
        if got != want:
            raise Corruption(f"{os.path.basename(path)} (round {self.retained.get(path, (self.round,))[0]}), "
                             f"{when}: {describe_diff(got, want)}")

    def check(self, path, want):
        """path must hold exactly want: from the page cache, then (after
        fsync) from disk with O_DIRECT. Keeps it for the later checks."""
        self.compare(path, cached_read(path), want, "from the page cache")
        sync_file(path)
        got = direct_read(path)
        if got is None:
            # No O_DIRECT: drop the file's clean pages and read it again.
            self.counts["no O_DIRECT"] += 1
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            got = cached_read(path)
        self.compare(path, got, want, "from disk (O_DIRECT)")
        self.retained[path] = (self.round, want)
        self.retained_bytes += len(want)

    def remount(self):
        for cmd in (["umount", self.mnt], ["mount", "-t", self.fstype, self.dev, self.mnt]):
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if done.returncode != 0:
                raise Error(f"{' '.join(cmd)}: exit {done.returncode}: {done.stdout.strip()}")
        self.counts["remounts"] += 1

    def batch_check(self):
        """Every kept file again after drop_caches and after a remount; then
        they go."""
        if not self.retained:
            return
        if self.remounts_allowed:
            stages = (("after drop_caches", drop_caches), ("after a remount", self.remount))
        else:
            stages = (("after a cache drop of the file", None),)
        for when, prepare in stages:
            if prepare:
                prepare()
            for path, (_, want) in self.retained.items():
                if not prepare:
                    fd = os.open(path, os.O_RDONLY)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    os.close(fd)
                self.compare(path, cached_read(path), want, when)
        for path in self.retained:
            os.unlink(path)
        self.retained.clear()
        self.retained_bytes = 0

    def loop(self, round_fn):
        """Rounds of round_fn(run, r, rng) until the budget would be passed,
        a drop_caches and remount check every quarter of it (or
        RETAIN_BYTES), and one at the end."""
        start = batch_start = time.monotonic()
        round_time = batch_time = 0.0
        batch_every = max(10.0, self.seconds / 4)
        r = 0
        while True:
            elapsed = time.monotonic() - start
            if r and elapsed + 1.2 * round_time + batch_time > self.seconds:
                break
            self.round = r
            t = time.monotonic()
            try:
                note = round_fn(self, r, random.Random(f"{self.seed}:{self.name}:{r}"))
            except Skip as e:
                self.counts["skipped"] += 1
                note = f"skipped: {e}"
            round_time = self.ewma("round", time.monotonic() - t)
            print(f"round {r}: {time.monotonic() - t:.2f} s{': ' + note if note else ''}", flush=True)
            r += 1
            self.counts["rounds"] += 1
            if self.retained_bytes >= RETAIN_BYTES or time.monotonic() - batch_start >= batch_every:
                t = time.monotonic()
                self.batch_check()
                batch_time = time.monotonic() - t
                batch_start = time.monotonic()
        self.batch_check()

    def summary(self):
        c = self.counts
        parts = [f"{c['rounds']} rounds" + (f" ({c['skipped']} skipped: {SKIPPED.get(self.name, '?')})"
                                             if c["skipped"] else "")]
        parts.append(f"{c['hit']} {HIT[self.name]}")
        parts.extend(f"{fmt.format(c[key])}" for key, fmt in EXTRA.get(self.name, ()) if c[key])
        parts.append(f"{self.checked_bytes / MiB:.0f} MiB compared, {c['remounts']} remounts")
        if c["no O_DIRECT"]:
            parts.append(f"{c['no O_DIRECT']} files without O_DIRECT (cache dropped instead)")
        return ", ".join(parts)


# The scenarios. Each is round(run, r, rng): one round, its files checked
# with run.check(); it counts "hit" when the racing operations overlapped as
# the knob-driven scenario of the same name forces them to.

def unwritten(run, r, rng):
    """races.unwritten without the knob. A 4 MiB preallocated (unwritten)
    file; one buffered write(2) of 2 to 3.75 MiB with unaligned ends races a
    process that, a random moment after it begins, stores through a shared
    mapping into the bytes just past the write's end (and just before its
    start), in the same blocks, writes them back (converting them to
    written) and drops their pages. A write that went on with its mapping
    from before would zero the rest of its last block (as unwritten) and
    lose the stores. The bytes are disjoint, so the result is known whatever
    the order. In odd rounds the write's source buffer is a mapping of
    another file, not cached and with readahead off (MADV_RANDOM), so that
    the write faults each page in from disk while it holds its mapping: a
    window of disk reads instead of memory copies. Hit: the store was
    written back and dropped while the write ran."""
    size = 4 * MiB
    path = run.path(f"unwritten-{r}")
    start = rng.randrange(0, 64 * KiB)
    end = rng.randrange(size // 2, size - 256 * KiB)
    after = rng.randrange(16, 128 * KiB)
    before = rng.randrange(0, start + 1)
    written = pattern(run.tag(r, WRITE), start, end - start)
    stores = [(end, pattern(run.tag(r, STORE), end, after))]
    if before:
        stores.append((start - before, pattern(run.tag(r, STORE), start - before, before)))
    cold = r % 2 == 1
    source = run.path(f"unwritten-source-{r}")
    if cold:
        direct_write(source, written + bytes(-len(written) % PAGE), 0)
    delay = rng.uniform(0, 0.6) * run.est.get(f"write{cold}", 0.05)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fallocate(fd, 0, 0, size)

        def write():
            if cold:
                sfd = os.open(source, os.O_RDONLY)
                buf = mmap.mmap(sfd, len(written), prot=mmap.PROT_READ)
                os.close(sfd)
                buf.madvise(mmap.MADV_RANDOM)
            else:
                buf = written
            t0 = time.monotonic()
            done = os.pwrite(fd, buf, start)
            t1 = time.monotonic()
            if cold:
                buf.close()
            if done != len(written):
                raise Corruption(f"short write: {done} of {len(written)} bytes")
            return t0, t1

        def store():
            time.sleep(delay)
            t0 = time.monotonic()
            with mmap.mmap(fd, size) as mm:
                for off, data in stores:
                    mm[off:off + len(data)] = data
                for off, data in stores:
                    lo, hi = page_span(off, len(data))
                    mm.flush(lo, hi - lo)
            for off, data in stores:
                lo, hi = page_span(off, len(data))
                os.posix_fadvise(fd, lo, hi - lo, os.POSIX_FADV_DONTNEED)
            return t0, time.monotonic()

        res = race({"write": write, "store": store})
        (w0, w1), (s0, s1) = res["write"], res["store"]
        run.ewma(f"write{cold}", w1 - w0)
        hit = w0 < s0 and s1 < w1
        run.count(hit=hit)
        os.fsync(fd)
    finally:
        os.close(fd)
        if cold:
            os.unlink(source)
    want = bytearray(size)
    want[start:end] = written
    for off, data in stores:
        want[off:off + len(data)] = data
    run.check(path, bytes(want))
    return f"write {start:#x}..{end:#x}{' from a cold mapping' if cold else ''} {w1 - w0:.3f} s, " \
        f"store+writeback+drop {s1 - s0:.3f} s" + (" inside it" if hit else "")


def shrink(path, length):
    """Frees the last `length` bytes of path, if it exists."""
    try:
        os.truncate(path, max(os.stat(path).st_size - length, 0))
    except FileNotFoundError:
        pass


def direct_write_full(path, data):
    """races.direct_write, but ENOSPC or a short write (a full filesystem)
    skips the round."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o644)
        try:
            done = os.pwrite(fd, aligned(data), 0)
            if done != len(data):
                raise Skip(f"{os.path.basename(path)}: direct write of {done} of {len(data)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise
        raise Skip(f"{os.path.basename(path)}: {e}")


def fill(mnt, path, keep=64 * BLOCK):
    """Preallocates to path all the free space of mnt but about `keep` bytes
    (for metadata), in requests halved on ENOSPC. Returns False (and does
    nothing) on a filesystem larger than FILL_LIMIT."""
    st = os.statvfs(mnt)
    if st.f_blocks * st.f_frsize > FILL_LIMIT:
        return False
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        step = None
        while True:
            st = os.statvfs(mnt)
            free = st.f_bfree * st.f_frsize - keep
            step = free if step is None else min(step, free)
            step -= step % BLOCK
            if step < BLOCK:
                return True
            try:
                fallocate(fd, 0, os.fstat(fd).st_size, step)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                step //= 2
    finally:
        os.close(fd)


def wb_cut(run, r, rng, prefix, prepare):
    """The writeback races without the knob. A 2 MiB file written directly,
    the filesystem filled but for a 2 MiB reserve file, then every block
    dirtied (a folio each) with new data; one process starts writeback of
    the file with sync_file_range, pass after pass (every other block
    before the cut range dirtied again with the same bytes before each, so
    that each pass maps from the start), while another, a random moment
    later, takes the file's blocks away from 256 to 512 KiB of its second
    half, p0..p1 (`prepare(p0, p1, src)`, before the filling, may write the
    file `src` (removed on a skip) and returns the cut: cut(fd) -> {path:
    data} of the files it changed), writes another file
    directly into the space this freed, deletes
    the reserve and rewrites the cut range; then one more pass. Writeback
    that went on with a mapping from before the cut would write the
    rewritten range over the other file (or the cut's). Every file is known
    whatever the order. Hit: the cut began while a sync_file_range was
    running; the other file's blocks are compared with the cut ones
    (FIEMAP) to count rounds of block reuse."""
    size, reserve_size = 2 * MiB, 2 * MiB
    a, b = run.path(f"{prefix}-{r}"), run.path(f"{prefix}-other-{r}")
    reserve, filler = run.path(f"{prefix}-reserve"), run.path("filler")
    src = run.path(f"{prefix}-src-{r}")
    p0 = MiB + rng.randrange(0, 128) * BLOCK
    p1 = p0 + rng.randrange(64, 129) * BLOCK
    dirty = pattern(run.tag(r, WRITE), 0, size)
    rewrite = pattern(run.tag(r, REWRITE), p0, p1 - p0)
    other = pattern(run.tag(r, OTHER), 0, p1 - p0)

    def cleanup(why):
        for p in (a, b, reserve, src):
            if os.path.exists(p):
                os.unlink(p)
        raise Skip(why)

    shrink(filler, size + reserve_size + 2 * MiB)
    try:
        direct_write_full(a, pattern(run.tag(r, FIRST), 0, size))
        direct_write_full(reserve, pattern(run.tag(r, RESERVE), 0, reserve_size))
        cut = prepare(p0, p1, src)
        filled = fill(run.mnt, filler)
    except Skip as e:
        cleanup(f"before the race: {e}")
    delay = rng.uniform(0, 1) * run.est.get("writeback", 0.05)
    stop = mmap.mmap(-1, 1)
    fd = os.open(a, os.O_RDWR)
    try:
        cut_blocks = physical_blocks(fd, p0, p1)
        try:
            for off in range(0, size, BLOCK):
                if os.pwrite(fd, dirty[off:off + BLOCK], off) != BLOCK:
                    raise Skip(f"short write at {off:#x} on a full filesystem")
        except (OSError, Skip) as e:
            if isinstance(e, OSError) and e.errno != errno.ENOSPC:
                raise
            os.close(fd)
            fd = None
            cleanup(f"dirtying the file: {e}")

        def flush():
            # Pass after pass until the cut is done, then one more: every
            # other block before the cut range dirtied again (the same
            # bytes), so that each pass maps from the start of the file.
            calls = array("d")
            while True:
                last = stop[0] != 0
                for off in range(0, p0, 2 * BLOCK):
                    try:
                        os.pwrite(fd, dirty[off:off + BLOCK], off)
                    except OSError as e:
                        if e.errno == errno.ENOSPC:
                            raise Skip(f"ENOSPC overwriting {off:#x}: {e}")
                        raise
                t0 = time.monotonic()
                check(libc.sync_file_range(fd, 0, size, SYNC_FILE_RANGE_WRITE), "sync_file_range")
                calls.extend((t0, time.monotonic()))
                if last:
                    return calls

        def cut_reuse_rewrite():
            time.sleep(delay)
            t0 = time.monotonic()
            changed = cut(fd)
            direct_write_full(b, other)
            os.unlink(reserve)
            for off in range(p0, p1, BLOCK):
                try:
                    done = os.pwrite(fd, rewrite[off - p0:off - p0 + BLOCK], off)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        raise Skip(f"ENOSPC rewriting the cut range: {e}")
                    raise
                if done != BLOCK:
                    raise Skip(f"short rewrite at {off:#x} ({done} bytes) on a full filesystem")
            return t0, changed

        try:
            res = race({"cut": cut_reuse_rewrite}, {"sync_file_range": flush}, stop)
        except Skip as e:
            os.close(fd)
            fd = None
            cleanup(f"in the race: {e}")
        calls, (q0, changed) = res["sync_file_range"], res["cut"]
        passes = [(calls[i], calls[i + 1]) for i in range(0, len(calls), 2)]
        run.ewma("writeback", passes[0][1] - passes[0][0])
        try:
            os.fsync(fd)
        except OSError as e:
            raise Corruption(f"fsync {a}: {e}")
    finally:
        stop.close()
        if fd is not None:
            os.close(fd)
    ofd = os.open(b, os.O_RDONLY)
    taken = len(physical_blocks(ofd, 0, p1 - p0) & cut_blocks)
    os.close(ofd)
    hit = any(f0 < q0 < f1 for f0, f1 in passes)
    run.count(hit=hit, reuse=taken > 0, unfilled=not filled)
    run.check(a, dirty[:p0] + rewrite + dirty[p1:])
    run.check(b, other)
    for path, data in changed.items():
        run.check(path, data)
    return f"cut {p0:#x}..{p1:#x}{' during writeback' if hit else ''} ({len(passes)} writeback passes); " \
        f"the other file took {taken} of the {len(cut_blocks)} blocks cut"


def wb_punch(run, r, rng):
    """wb_cut where the range is punched."""
    def prepare(p0, p1, _src):
        def cut(fd):
            punch(fd, p0, p1 - p0)
            return {}
        return cut
    return wb_cut(run, r, rng, "wb-punch", prepare)


def wb_clone(run, r, rng):
    """wb_cut where a clone (FICLONERANGE) gives the range the blocks of a
    third file, written before the race: the rewrite copies on write, and
    the third file keeps its data. A mapping from before the clone would
    write the rewrite into the file's old blocks, the other file's now."""
    run.require_remap("clone")

    def prepare(p0, p1, src):
        data = pattern(run.tag(r, SOURCE), 0, p1 - p0)
        direct_write_full(src, data)

        def cut(fd):
            sfd = os.open(src, os.O_RDONLY)
            try:
                races.clone_range(sfd, 0, p1 - p0, fd, p0)
            finally:
                os.close(sfd)
            return {src: data}
        return cut
    return wb_cut(run, r, rng, "wb-clone", prepare)


def store_markers(fd, size, targets, at, tag, stop):
    """Stores 16-byte markers (tag, a sequence number) at offset `at` of each
    block of `targets` through a shared mapping of the first `size` bytes of
    fd, pass after pass, until stop[0] is set, then one pass more. Returns
    the start time of each store, the last sequence number and the last
    pass's duration."""
    seq, starts = 0, array("d")
    with mmap.mmap(fd, size) as mm:
        while True:
            last = stop[0] != 0
            t = time.monotonic()
            for off in targets:
                seq += 1
                starts.append(time.monotonic())
                mm[off + at:off + at + 16] = struct.pack("<QQ", tag, seq)
            if last:
                return starts, seq, time.monotonic() - t


def put_last_markers(want, targets, at, tag, seq):
    """The markers the last pass of store_markers left, `seq` its last
    sequence number, put into the expected bytes `want`."""
    last_pass = seq - len(targets)
    for i, off in enumerate(targets):
        want[off + at:off + at + 16] = struct.pack("<QQ", tag, last_pass + i + 1)


def fault_punch(run, r, rng):
    """races.fault_punch without the knob (as generic/344 and 346). A 1 MiB
    file written directly; one process stores 16-byte markers through a
    shared mapping into up to 48 blocks of a range and 8 blocks outside it,
    pass after pass, while another, a random moment later, punches the range
    (zeroes it with FALLOC_FL_ZERO_RANGE in odd rounds); after the punch
    returns, one more pass. A fault that slipped between the punch's cache
    drop and its freeing of the blocks would bring the old data back, or
    lose later stores on writeback. Known result: the old data with the
    range zeroed and, in each target block, the last marker stored. Hit:
    stores began while the punch ran."""
    size = MiB
    path = run.path(f"fault-punch-{r}")
    old = pattern(run.tag(r, FIRST), 0, size)
    h0 = rng.randrange(0, 192) * BLOCK
    h1 = min(size, h0 + rng.randrange(16, 129) * BLOCK)
    zero_range = r % 2 == 1
    inside = list(range(h0, h1, BLOCK))
    outside = [o for o in range(0, size, BLOCK) if not h0 <= o < h1]
    targets = rng.sample(inside, min(len(inside), 48)) + rng.sample(outside, 8)
    at = rng.randrange(0, BLOCK // 16) * 16
    store_tag = run.tag(r, STORE)
    delay = rng.uniform(0, 1) * run.est.get("pass", 0.01) * 2
    direct_write(path, old, 0)
    stop = mmap.mmap(-1, 1)
    fd = os.open(path, os.O_RDWR)
    try:
        def store():
            return store_markers(fd, size, targets, at, store_tag, stop)

        def punch_range():
            time.sleep(delay)
            t0 = time.monotonic()
            if zero_range:
                fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, h0, h1 - h0)
            else:
                punch(fd, h0, h1 - h0)
            return t0, time.monotonic()

        res = race({"punch": punch_range}, {"store": store}, stop)
        p0, p1 = res["punch"]
        starts, seq, pass_time = res["store"]
        run.ewma("pass", pass_time)
        during = sum(1 for t in starts if p0 <= t <= p1)
        run.count(hit=during > 0, stores_during=during, stores=len(starts))
        os.fsync(fd)
    finally:
        os.close(fd)
        stop.close()
    want = bytearray(old)
    want[h0:h1] = bytes(h1 - h0)
    put_last_markers(want, targets, at, store_tag, seq)
    run.check(path, bytes(want))
    return f"{'zero range' if zero_range else 'punch'} {h0:#x}..{h1:#x} {p1 - p0:.3f} s, " \
        f"{during} of {len(starts)} stores during it"


def dio_mmap(run, r, rng):
    """races.dio_mmap without the knob (as generic/647). A 2 MiB file; eight
    O_DIRECT writes and reads (4 KiB to 1 MiB, a quarter of them 512-byte
    aligned sub-page ones) whose buffer is a shared mapping of the same file:
    of the very range transferred, or of another range of it; half of them
    with the mapping's pages dropped first, so the buffer faults in during
    the I/O (the case of generic/647); all while another process drops the
    file's clean pages and reads it. Each must complete (a short transfer
    is continued and counted; an error such as EFAULT is a failure), the
    mapping must then equal the model after every request, and the file
    after all of them. Hit: requests made with a cold buffer."""
    size = 2 * MiB
    path = run.path(f"dio-mmap-{r}")
    data = pattern(run.tag(r, FIRST), 0, size)
    direct_write(path, data, 0)
    ops = []
    for _ in range(8):
        unit = 512 if rng.random() < 0.25 else BLOCK
        length = rng.randrange(1, 17) * 512 if unit == 512 else rng.choice((4, 16, 64, 256, 1024)) * KiB
        off = rng.randrange(0, (size - length) // unit + 1) * unit
        choices = [o for o in range(0, size - length + 1, unit * max(1, length // 4 // unit))
                   if o + length <= off or o >= off + length]
        src = off if rng.random() < 0.5 or not choices else rng.choice(choices)
        ops.append((rng.choice(("write", "read")), off, length, src, rng.random() < 0.5))
    stop = mmap.mmap(-1, 1)
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    try:
        def requests():
            model, shorts, cold = bytearray(data), 0, 0
            with mmap.mmap(fd, size) as mm:
                view = memoryview(mm)
                try:
                    for k, (op, off, length, src, drop) in enumerate(ops):
                        if drop:
                            mm.madvise(mmap.MADV_DONTNEED)
                            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                            cold += 1
                        # A write sends the mapping of src to off; a read
                        # brings off into the mapping of src.
                        moved = bytes(model[src:src + length] if op == "write" else model[off:off + length])
                        pos = 0
                        while pos < length:
                            buf = view[src + pos:src + length]
                            try:
                                done = os.pwrite(fd, buf, off + pos) if op == "write" else \
                                    os.preadv(fd, [buf], off + pos)
                            except OSError as e:
                                raise Corruption(f"request {k}: direct {op} of {length} bytes at {off:#x} "
                                                 f"(buffer: the mapping of {src:#x}) failed after {pos}: {e}")
                            finally:
                                buf.release()
                            if done <= 0:
                                raise Corruption(f"request {k}: direct {op} at {off + pos:#x} returned {done}")
                            pos += done
                            shorts += pos < length
                        if op == "write":
                            model[off:off + length] = moved
                        else:
                            model[src:src + length] = moved
                        seen = view.tobytes()
                        if seen != model:
                            raise Corruption(f"request {k}: after the direct {op} of {length} bytes at "
                                             f"{off:#x} (buffer: the mapping of {src:#x}), the mapping: "
                                             f"{describe_diff(seen, bytes(model))}")
                finally:
                    view.release()
            return bytes(model), shorts, cold

        def dropper():
            n, rnd = 0, random.Random(r)
            dfd = os.open(path, os.O_RDONLY)
            try:
                while not stop[0]:
                    os.posix_fadvise(dfd, 0, 0, os.POSIX_FADV_DONTNEED)
                    os.pread(dfd, 64 * KiB, rnd.randrange(0, size // BLOCK) * BLOCK)
                    n += 1
            finally:
                os.close(dfd)
            return n

        res = race({"requests": requests}, {"dropper": dropper}, stop)
        model, shorts, cold = res["requests"]
        run.count(hit=cold, requests=len(ops), short=shorts)
        os.fsync(fd)
    finally:
        os.close(fd)
        stop.close()
    run.check(path, model)
    return f"{len(ops)} requests ({cold} with a cold buffer, {shorts} short), " \
        f"{res['dropper']} cache drops meanwhile"


def proc_mem_write(mm, off, data):
    """Writes data into the mapping mm at off through /proc/self/mem
    (get_user_pages with FOLL_FORCE: a fault that may not retry)."""
    buf = ctypes.c_char.from_buffer(mm)
    addr = ctypes.addressof(buf)
    del buf
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(addr + off)
        if mem.write(data) != len(data):
            raise Corruption("short write to /proc/self/mem")


def inline(run, r, rng):
    """races.inline without the knobs; on a filesystem without inline data
    these are just small files (rexfs keeps up to 128 bytes in the inode,
    ext4 with -O inline_data about 60 and more in the inode's xattr space).
    Eight files of 40 to 120 bytes, half of them fsynced; for each, two
    processes released together (a few ms of random stagger): one maps it
    and stores 8 bytes in its first 40 (a plain write fault, a write through
    /proc/self/mem, or a write after a read mapped the page); the other
    makes one to three write(2)s and truncates past those bytes, to up to
    300 (moving the data out of the inode, racing the fault's own move).
    Then a direct read of another file into a mapping of a small file. The
    bytes are disjoint: each file's content is known. Hit: both processes
    were in the same file at once."""
    files = []
    for i in range(8):
        size = rng.randrange(40, 121)
        at = rng.randrange(0, 32)
        ops = []
        for _ in range(rng.randrange(1, 4)):
            if rng.random() < 0.5:
                off = rng.randrange(at + 8, 281)
                ops.append(("write", off, pattern(run.tag(r, WRITE), off, rng.randrange(1, 25))))
            else:
                ops.append(("truncate", rng.randrange(at + 8, 301), None))
        f = dict(path=run.path(f"inline-{r}-{i}"), size=size, at=at, ops=ops,
                 how=rng.choice(("fault", "proc-mem", "after-read")),
                 old=pattern(run.tag(r, FIRST), 0, size), store=pattern(run.tag(r, STORE), at, 8))
        # One goes at once, the other a random part of the first's time later.
        first = rng.randrange(2)
        later = rng.uniform(0, 1) * run.est.get(("store", "write+truncate")[first], 0.002)
        f["delays"] = (later, 0.0) if first else (0.0, later)
        with open(f["path"], "wb") as out:
            out.write(f["old"])
            if rng.random() < 0.5:
                os.fsync(out.fileno())
        files.append(f)

    steps = [Lockstep(), Lockstep()]

    def storer():
        steps[0].in_child(steps)
        times = []
        for f in files:
            steps[0].wait()
            time.sleep(f["delays"][0])
            t0 = time.monotonic()
            fd = os.open(f["path"], os.O_RDWR)
            try:
                # The other process never cuts the file below at + 8.
                with mmap.mmap(fd, f["at"] + 8) as mm:
                    if f["how"] == "proc-mem":
                        proc_mem_write(mm, f["at"], f["store"])
                    else:
                        if f["how"] == "after-read" and mm[:f["at"] + 8] != f["old"][:f["at"] + 8]:
                            raise Corruption(f"{f['path']}: data read through the mapping differs")
                        mm[f["at"]:f["at"] + 8] = f["store"]
            finally:
                os.close(fd)
            times.append((t0, time.monotonic()))
            steps[0].done()
        return times

    def changer():
        steps[1].in_child(steps)
        times = []
        for f in files:
            steps[1].wait()
            time.sleep(f["delays"][1])
            t0 = time.monotonic()
            fd = os.open(f["path"], os.O_RDWR)
            try:
                for op, arg, data in f["ops"]:
                    if op == "write":
                        if os.pwrite(fd, data, arg) != len(data):
                            raise Corruption(f"{f['path']}: short write at {arg}")
                    else:
                        os.ftruncate(fd, arg)
            finally:
                os.close(fd)
            times.append((t0, time.monotonic()))
            steps[1].done()
        return times

    children = [Child("store", storer), Child("write+truncate", changer)]
    for s in steps:
        s.in_parent()
    try:
        for _ in files:
            for s in steps:
                s.go()
            if not all([s.wait_done() for s in steps]):
                break
    finally:
        for s in steps:
            s.close()
        res = join_all(children)
    both = sum(1 for (a0, a1), (b0, b1) in zip(res["store"], res["write+truncate"]) if a0 < b1 and b0 < a1)
    for name in res:
        for t0, t1 in res[name]:
            run.ewma(name, t1 - t0)
    run.count(hit=both, files=len(files))

    expected = {}
    for f in files:
        want = bytearray(f["old"])
        want[f["at"]:f["at"] + 8] = f["store"]
        for op, arg, data in f["ops"]:
            if op == "write":
                want.extend(bytes(max(arg - len(want), 0)))
                want[arg:arg + len(data)] = data
            else:
                del want[arg:]
                want.extend(bytes(arg - len(want)))
        expected[f["path"]] = bytes(want)

    # A direct read of another file into a mapping of a small file (a whole
    # page, past its EOF: Python's mmap refuses that).
    source = pattern(run.tag(r, SOURCE), 0, BLOCK)
    source_path, target = run.path(f"inline-source-{r}"), run.path(f"inline-dio-target-{r}")
    direct_write(source_path, source, 0)
    size = rng.randrange(40, 121)
    with open(target, "wb") as out:
        out.write(pattern(run.tag(r, FIRST), 0, size))
    fd, src = os.open(target, os.O_RDWR), os.open(source_path, os.O_RDONLY | os.O_DIRECT)
    addr = libc.mmap(None, PAGE, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_SHARED, fd, 0)
    try:
        if addr == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            done = os.preadv(src, [memoryview((ctypes.c_char * 512).from_address(addr)).cast("B")], 0)
        except OSError as e:
            done = e
        libc.munmap(ctypes.c_void_p(addr), PAGE)
    finally:
        os.close(src)
        os.close(fd)
    if done != 512:
        raise Corruption(f"direct read into a small file's mapping: {done}")
    expected[target] = source[:size]
    expected[source_path] = source

    for path, want in expected.items():
        run.check(path, want)
    return f"{both} of {len(files)} files with both processes in them at once"


def truncate(run, r, rng):
    """tests/vm/race-truncate.sh, in rounds of a few seconds (an eighth of
    the budget, 2 to 8 s), with a model of what must be where. A writer
    pwrite()s 64 KiB of this round's pattern at random 4 KiB-aligned offsets
    below 8 MiB, a truncater ftruncate()s to random byte sizes up to 8 MiB, a
    syncer fdatasync()s (and drops the clean pages every fourth time); the
    writer runs on alone for the last second. Each records when its calls
    began and returned. Every 4 KiB block must be a prefix of its own
    pattern, then zeros; fully written if a write covering it began after
    every truncate that cut into it had returned; zero from the cut of a
    truncate that began after every write covering it had returned; the
    size at least the end of a write that began after the last truncate.
    Hit: rounds (each is many races)."""
    size_max, wlen = 8 * MiB, 64 * KiB
    race_time = max(2.0, min(8.0, run.seconds / 8))
    path = run.path(f"truncate-{r}")
    full = pattern(run.tag(r, WRITE), 0, size_max)
    seeds = [rng.randrange(1 << 30) for _ in range(3)]
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    deadline = time.monotonic() + race_time

    def writer():
        rnd, calls = random.Random(seeds[0]), array("d")
        while time.monotonic() < deadline:
            off = rnd.randrange((size_max - wlen) // BLOCK + 1) * BLOCK
            t0 = time.monotonic()
            done = os.pwrite(fd, full[off:off + wlen], off)
            calls.extend((off, t0, time.monotonic()))
            if done != wlen:
                raise Corruption(f"pwrite at {off:#x}: {done} bytes of {wlen}")
        return calls

    def truncater():
        rnd, calls = random.Random(seeds[1]), array("d")
        while time.monotonic() < deadline - 1:
            size = rnd.randrange(size_max + 1)
            t0 = time.monotonic()
            os.ftruncate(fd, size)
            calls.extend((size, t0, time.monotonic()))
        return calls

    def syncer():
        n = 0
        while time.monotonic() < deadline - 1:
            os.fdatasync(fd)
            n += 1
            if n % 4 == 0:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            time.sleep(0.005)
        return n

    try:
        res = race({"writer": writer, "truncater": truncater, "syncer": syncer})
        os.fsync(fd)
        blocks = os.fstat(fd).st_blocks // (BLOCK // 512)
    finally:
        os.close(fd)
    writes = [tuple(res["writer"][i:i + 3]) for i in range(0, len(res["writer"]), 3)]
    truncs = [tuple(res["truncater"][i:i + 3]) for i in range(0, len(res["truncater"]), 3)]
    data = cached_read(path)
    check_truncate_model(data, full, writes, truncs, wlen)
    if run.fstype == "rexfs" and blocks > -(-len(data) // BLOCK) + 8:
        raise Corruption(f"{blocks} blocks allocated to a file of {len(data)} bytes (blocks past EOF)")
    run.count(hit=1, writes=len(writes), truncates=len(truncs), syncs=res["syncer"])
    run.check(path, data)
    return f"size {len(data)}, {len(writes)} writes, {len(truncs)} truncates, {res['syncer']} fdatasyncs"


def check_truncate_model(data, full, writes, truncs, wlen):
    """The truncate scenario's checks (see truncate()): data is the file,
    full the pattern, writes (offset, began, returned), truncs (size, began,
    returned)."""
    size, nblocks, never = len(data), -(-len(data) // BLOCK), float("-inf")
    last_write_end, last_write_start = [never] * nblocks, [never] * nblocks
    for off, t0, t1 in writes:
        for b in range(int(off) // BLOCK, min((int(off) + wlen) // BLOCK, nblocks)):
            last_write_end[b] = max(last_write_end[b], t1)
            last_write_start[b] = max(last_write_start[b], t0)
    # last_cut[b]: when the last truncate to a size inside or before block b returned.
    by_size, last_cut, cur, j = sorted(truncs), [never] * nblocks, never, 0
    for b in range(nblocks):
        while j < len(by_size) and by_size[j][0] < (b + 1) * BLOCK:
            cur = max(cur, by_size[j][2])
            j += 1
        last_cut[b] = cur
    # The smallest size of the truncates that began after a given moment.
    by_start = sorted(truncs, key=lambda t: t[1])
    starts = [t[1] for t in by_start]
    min_after = [float("inf")] * (len(by_start) + 1)
    for k in range(len(by_start) - 1, -1, -1):
        min_after[k] = min(min_after[k + 1], by_start[k][0])

    for b in range(nblocks):
        o = b * BLOCK
        block = data[o:o + BLOCK]
        want = full[o:o + len(block)]
        end = len(block.rstrip(b"\0"))
        where = f"block {o:#x} (file size {size})"
        if block != want:
            if block[:end] != want[:end]:
                i = next(i for i in range(end) if block[i] != want[i])
                u = o + i - i % 16
                raise Corruption(f"{where}: byte {o + i:#x}: found {describe_unit(data[u:u + 16])}, "
                                 f"expected {describe_unit(full[u:u + 16])} or zeros")
            if last_write_start[b] > last_cut[b]:
                raise Corruption(f"{where}: a write began after every truncate into it had returned, "
                                 f"but only {end} bytes of its pattern are there (lost write)")
        if end and last_write_end[b] == never:
            raise Corruption(f"{where}: data where no write went")
        cut = min_after[bisect.bisect_right(starts, last_write_end[b])]
        if cut < o + len(block) and end > max(cut - o, 0):
            raise Corruption(f"{where}: data up to {o + end:#x}, past the truncate to {cut:#x} that began "
                             f"after every write into the block had returned (stale data)")
    if truncs:
        last = max(t[2] for t in truncs)
        after = [int(off) + wlen for off, t0, _ in writes if t0 > last]
        if after and size < max(after):
            raise Corruption(f"size {size}, but a write after the last truncate ended at {max(after):#x}")
    bound = max([int(off) + wlen for off, _, _ in writes] + [int(t[0]) for t in truncs] + [0])
    if size > bound:
        raise Corruption(f"size {size} larger than any write or truncate made it ({bound})")


def giveback(run, r, rng):
    """races.giveback without the knob. A sparse 1 MiB file; one process
    repeats a buffered write of 16 to 128 KiB at a random offset from a
    buffer readable only for its first 1 to 4 blocks, so that the write
    stops short and gives back the blocks it allocated and did not reach;
    meanwhile another stores 16-byte markers through a shared mapping into
    up to 16 of those blocks and 4 outside the write, pass after pass. A
    give-back that freed a block under a folio a store had dirtied would
    lose the store at writeback. Known result: the write's data in its
    first blocks, in each target block the last marker stored, zeroes
    elsewhere. Hit: stores while a write ran."""
    size = MiB
    path = run.path(f"giveback-{r}")
    span = rng.randrange(4, 33) * BLOCK
    reached = rng.randrange(1, min(5, span // BLOCK)) * BLOCK
    off = rng.randrange(0, (size - span) // BLOCK + 1) * BLOCK
    data = pattern(run.tag(r, WRITE), off, reached)
    inside = list(range(off + reached, off + span, BLOCK))
    outside = [o for o in range(0, size, BLOCK) if not off <= o < off + span]
    targets = rng.sample(inside, min(len(inside), 16)) + rng.sample(outside, 4)
    at = rng.randrange(0, BLOCK // 16) * 16
    store_tag = run.tag(r, STORE)
    buf = libc.mmap(None, span, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if buf in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap")
    ctypes.memmove(buf, data, reached)
    check(libc.munmap(buf + reached, span - reached), "munmap")
    stop = mmap.mmap(-1, 1)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, size)

        def write():
            spans = array("d")
            for _ in range(GIVEBACK_WRITES):
                t = time.monotonic()
                done = libc.pwrite(fd, buf, span, off)
                if done != reached:
                    raise Corruption(f"a write of {span} bytes at {off:#x}, {reached} of them readable, "
                                     f"returned {done}")
                spans.extend((t, time.monotonic()))
            return spans

        def store():
            return store_markers(fd, size, targets, at, store_tag, stop)

        res = race({"write": write}, {"store": store}, stop)
        spans = res["write"]
        starts, seq, _ = res["store"]
        during = sum(1 for t in starts if bisect.bisect_right(spans, t) % 2)
        run.count(hit=during > 0, stores_during=during, stores=len(starts))
        os.fsync(fd)
    finally:
        os.close(fd)
        stop.close()
        libc.munmap(buf, reached)
    want = bytearray(size)
    want[off:off + reached] = data
    put_last_markers(want, targets, at, store_tag, seq)
    run.check(path, bytes(want))
    return f"write {span // KiB} KiB at {off:#x} stopping after {reached // KiB} KiB, " \
        f"{during} of {len(starts)} stores during the writes"


def dedupe_race(run, r, rng, prefix, prepare):
    """Two files holding the same 1 MiB; one process dedupes the source's
    range onto the destination's (FIDEDUPERANGE) while another, a random
    moment later, puts new data into the source: prepare(src, sfd), called
    with the source's path and open file before the race, returns that
    change, change() ->
    (start time, {offset: data}), and what to close after the race.
    Whatever the order, the destination keeps the data compared: the change
    lands before the compare (the ranges differ, nothing is shared) or after
    the remap (copied on write). A change between the compare and the remap
    would link the destination to the new data. Hit: the change began while
    the dedupe ran."""
    run.require_remap("dedupe")
    size = MiB
    src, dst = run.path(f"{prefix}-src-{r}"), run.path(f"{prefix}-dst-{r}")
    data = pattern(run.tag(r, FIRST), 0, size)
    direct_write_full(src, data)
    direct_write_full(dst, data)
    delay = rng.uniform(0, 1) * run.est.get("dedupe", 0.05)
    sfd, dfd = os.open(src, os.O_RDWR), os.open(dst, os.O_RDWR)
    try:
        change, opened = prepare(src, sfd)
        try:
            def dedupe():
                t0 = time.monotonic()
                status, done = races.dedupe_range(sfd, 0, size, dfd, 0)
                return t0, time.monotonic(), status, done

            def later_change():
                time.sleep(delay)
                return change()

            res = race({"dedupe": dedupe, "change": later_change})
        finally:
            if opened is not None:
                opened.close()
    finally:
        os.close(sfd)
        os.close(dfd)
    d0, d1, status, done = res["dedupe"]
    c0, changes = res["change"]
    run.ewma("dedupe", d1 - d0)
    if status < 0 or (status == 0 and done != size):
        raise Error(f"the dedupe returned status {status}, {done} bytes")
    hit = d0 < c0 < d1
    run.count(hit=hit, same=status == 0)
    want = bytearray(data)
    for off, new in changes.items():
        want[off:off + len(new)] = new
    run.check(src, bytes(want))
    run.check(dst, data)
    return f"{'shared' if status == 0 else 'not shared (the data differed)'}" \
        f"{', the change during the dedupe' if hit else ''}"


def dedupe_dio(run, r, rng):
    """races.dedupe_dio without the knob: dedupe_race where the change is a
    direct write of 16 to 64 KiB at a random block of the source."""
    off = rng.randrange(0, MiB // BLOCK - 16) * BLOCK
    new = pattern(run.tag(r, WRITE), off, rng.randrange(4, 17) * BLOCK)

    def prepare(src, _sfd):
        def change():
            t0 = time.monotonic()
            races.direct_write(src, new, off)
            return t0, {off: new}
        return change, None
    return dedupe_race(run, r, rng, "dedupe-dio", prepare)


def dedupe_pte(run, r, rng):
    """races.dedupe_pte without the knob: dedupe_race where the change is a
    store of a page into 1 to 8 random pages of a shared mapping of the
    source, each stored to before the race (the same bytes: the page dirty
    and its PTE writable), then msync. The dedupe must write back and
    write-protect the range before it compares, and keep faults out until
    the remap, or a store lands between them without a fault."""
    pages = sorted(rng.sample(range(MiB // PAGE), rng.randrange(1, 9)))
    new = {p * PAGE: pattern(run.tag(r, STORE), p * PAGE, PAGE) for p in pages}

    def prepare(_src, sfd):
        # Made before the race: the racing child inherits the mapping.
        mm = mmap.mmap(sfd, MiB)
        for off in new:
            mm[off:off + 8] = mm[off:off + 8]

        def change():
            t0 = time.monotonic()
            for off, data in new.items():
                mm[off:off + PAGE] = data
            mm.flush()
            return t0, new
        return change, mm
    return dedupe_race(run, r, rng, "dedupe-pte", prepare)


def cow_fsync(run, r, rng):
    """races.cow_fsync without the knob. A 1 MiB file and its clone
    (FICLONERANGE), both fsynced; 1 to 8 random pieces of 4 to 128 KiB of
    the clone rewritten (copy on write); one process fsyncs the clone while
    another starts its writeback a random moment before (sync_file_range),
    so that fsync meets copy-on-write completions in flight; then the
    filesystem is shut down without a log flush (FS_IOC_SHUTDOWN,
    NOLOGFLUSH: a power cut) and mounted again. fsync returned, so the clone
    must have the rewrites and the source its old data. Hit: the
    sync_file_range was still running when fsync began."""
    run.require_remap("clone")
    if not run.remounts_allowed:
        raise Unsupported("the shutdown needs a remount (--no-remount given)")
    size = MiB
    src, dst = run.path(f"cow-fsync-src-{r}"), run.path(f"cow-fsync-dst-{r}")
    old = pattern(run.tag(r, FIRST), 0, size)
    direct_write_full(src, old)
    want = bytearray(old)
    pieces = []
    for _ in range(rng.randrange(1, 9)):
        off = rng.randrange(0, size // BLOCK) * BLOCK
        length = min(rng.randrange(1, 33) * BLOCK, size - off)
        pieces.append((off, pattern(run.tag(r, REWRITE), off, length)))
        want[off:off + length] = pieces[-1][1]
    delay = rng.uniform(0, 1) * run.est.get("writeback", 0.05)
    fd = os.open(dst, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        sfd = os.open(src, os.O_RDONLY)
        try:
            races.clone_range(sfd, 0, size, fd, 0)
        finally:
            os.close(sfd)
        os.fsync(fd)
        for off, data in pieces:
            os.pwrite(fd, data, off)

        def flush():
            t0 = time.monotonic()
            check(libc.sync_file_range(fd, 0, size, SYNC_FILE_RANGE_WRITE), "sync_file_range")
            return t0, time.monotonic()

        def later_fsync():
            time.sleep(delay)
            t0 = time.monotonic()
            os.fsync(fd)
            return t0

        res = race({"sync_file_range": flush, "fsync": later_fsync})
        fcntl.ioctl(fd, races.FS_IOC_SHUTDOWN, struct.pack("I", races.FS_SHUTDOWN_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)
    (w0, w1), f0 = res["sync_file_range"], res["fsync"]
    run.ewma("writeback", w1 - w0)
    run.remount()
    hit = w0 < f0 < w1
    run.count(hit=hit)
    run.check(dst, bytes(want))
    run.check(src, old)
    return f"{len(pieces)} pieces rewritten{', fsync during writeback' if hit else ''}; shut down, remounted"


SCENARIOS = {"unwritten": unwritten, "wb-punch": wb_punch, "fault-punch": fault_punch, "dio-mmap": dio_mmap,
             "inline": inline, "truncate": truncate, "giveback": giveback, "wb-clone": wb_clone,
             "cow-fsync": cow_fsync, "dedupe-dio": dedupe_dio, "dedupe-pte": dedupe_pte}
NAMES = list(SCENARIOS)
# Every scenario of races.py has its stress version, but those that need a
# DAX mount (pmem), which the stress suite's filesystems do not have.
assert set(races.SCENARIOS) - races.NEEDS_DAX <= set(SCENARIOS), \
    set(races.SCENARIOS) - races.NEEDS_DAX - set(SCENARIOS)
HIT = {"unwritten": "with the store written back and dropped during the write",
       "wb-punch": "with the punch during writeback",
       "fault-punch": "with stores during the punch or zero range",
       "dio-mmap": "requests with a cold buffer",
       "inline": "files with the store and write(2)/truncate at once",
       "truncate": "rounds of writes racing truncates and fdatasync",
       "giveback": "with stores while a short write ran",
       "wb-clone": "with the clone during writeback",
       "cow-fsync": "with fsync during the clone's writeback",
       "dedupe-dio": "with the direct write during the dedupe",
       "dedupe-pte": "with the stores during the dedupe"}
SKIPPED = {"wb-punch": "ENOSPC", "wb-clone": "ENOSPC"}
EXTRA = {"wb-punch": (("reuse", "{} with the other file in punched blocks"),
                      ("unfilled", "{} on a filesystem too large to fill")),
         "wb-clone": (("reuse", "{} with the other file in blocks the clone gave back"),
                      ("unfilled", "{} on a filesystem too large to fill")),
         "dedupe-dio": (("same", "{} shared (the change came after the compare)"),),
         "dedupe-pte": (("same", "{} shared (the change came after the compare)"),),
         "fault-punch": (("stores_during", "{} stores during the punch"),),
         "dio-mmap": (("requests", "{} requests"), ("short", "{} short transfers continued")),
         "inline": (("files", "{} small files"),),
         "truncate": (("writes", "{} writes"), ("truncates", "{} truncates"), ("syncs", "{} fdatasyncs")),
         "giveback": (("stores_during", "{} stores during the writes"),)}
for _name in SKIPPED:
    assert _name in SCENARIOS


def mounted_type(mnt):
    """The type of the filesystem mounted on mnt (the last mount), or None."""
    found, mnt = None, os.path.realpath(mnt)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 2 and fields[1] == mnt:
                found = fields[2]
    return found


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--list", action="store_true", help="print the scenarios' names")
    p.add_argument("scenario", nargs="?", choices=NAMES)
    p.add_argument("mountpoint", nargs="?")
    p.add_argument("--dev", help="the mounted device (for the remounts)")
    p.add_argument("--fstype", help="its filesystem type")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--seed", default=None)
    p.add_argument("--no-remount", action="store_true",
                   help="no drop_caches or remount (any directory; fadvise drops each file's pages instead)")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(NAMES))
        return 0
    if not args.scenario or not args.mountpoint:
        p.error("SCENARIO and MOUNTPOINT are needed")
    if not args.no_remount:
        if not args.dev or not args.fstype:
            p.error("--dev and --fstype are needed for the remounts (or --no-remount)")
        if mounted_type(args.mountpoint) != args.fstype:
            p.error(f"{args.mountpoint} is not a mounted {args.fstype} (found {mounted_type(args.mountpoint)})")
    args.fstype = args.fstype or mounted_type(args.mountpoint)
    if args.seed is None:
        args.seed = str(random.SystemRandom().randrange(1 << 32))
    print(f"{args.scenario} on {args.fstype} ({args.dev}, {args.mountpoint}): {args.seconds:g} s, seed {args.seed}",
          flush=True)
    run = Run(args)
    try:
        run.loop(SCENARIOS[args.scenario])
    except Unsupported as e:
        print(f"summary: not supported: {e}")
        return 3
    except Corruption as e:
        print(f"CORRUPTION in round {run.round}: {e}")
        print(f"summary: CORRUPTION in round {run.round}: {e}; before it: {run.summary()}")
        return 1
    except (Error, OSError, subprocess.SubprocessError) as e:
        traceback.print_exc()
        print(f"summary: ERROR in round {run.round}: {e}; before it: {run.summary()}")
        return 2
    checked = run.counts["rounds"] - run.counts["skipped"]
    print(f"summary: {run.summary()}")
    return 0 if checked > 0 else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
