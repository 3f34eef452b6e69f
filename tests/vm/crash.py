# The workload and the checks of the crash tests (tests/vm/crash.sh, and the
# real reset of tests/vm/persist-write.sh and persist-verify.sh):
#
#   workload --dir D --log L --seed S [--tag T] [--cut-flag F] [--exerciser PATH]
#            [--background OUTPUT]
#       runs until killed, in D: (a) rexfs-exercise on D/exercise/file, one
#       run after another; (b) namespace churn in D/churn (create, write,
#       truncate, rename, link, unlink, mkdir, rmdir, symlink, setxattr,
#       removexattr) with files unlinked while open and O_TMPFILE files held
#       open (orphans when the cut comes); (c) fsynced marker files in
#       D/markers, each operation written to the log L (see MarkerLog) only
#       once its fsync returned. F is a file crash.sh creates just before it
#       switches the device to drop every write: from then on errors are
#       expected (the filesystem reads back blocks it never wrote) and no
#       marker is changed or recorded. Without --background it runs in the
#       foreground; with it, it forks into a new session (so that one kill
#       of the process group stops it and the exerciser), its output to
#       OUTPUT, and prints the session's id once all three parts run.
#   verify --log L --dir D
#       every marker the log records is in D with exactly the recorded
#       content, read three times: cold after the mount, from the page cache,
#       and after dropping the caches. Prints "markers: verified=N lost=N
#       inflight=N"; exit status 1 if a marker is lost or wrong.
#   disk-state DEV
#       reads the rexfs superblock and the jbd2 superblock of DEV (O_DIRECT)
#       and prints "journal=dirty|clean|none start=B sequence=S
#       fs-state=clean|in-use": dirty means the next mount has transactions
#       to replay.
#   kernel-log
#       reads kernel log lines (those since a mount) on stdin; prints
#       "orphans=N replay-logged=yes|no errors=N" (the orphan inodes the
#       mount freed, whether rexfs logged "replaying the journal"), then
#       each journal or rexfs error line, indented.
#
# A marker is named after the run's tag and its index (r3m17: round 3,
# marker 17) and its content is derived from that name: the bytes at offset
# x of version v are those of 4 KiB block x // 4096 of SHAKE-128("NAME:v:
# block"); it is created as version 0, and each overwrite or append puts a
# new version over its range.
import argparse
import errno
import hashlib
import mmap
import os
import random
import re
import struct
import subprocess
import sys
import threading
import time
import traceback

from helpers import md5_file

BLOCK = 4096
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXERCISER = os.path.join(REPO, "tools/target/release/rexfs-exercise")


def marker_data(mid, version, off, n):
    """Bytes off..off + n of version `version` of marker `mid`."""
    out = bytearray()
    block = off // BLOCK
    start = off - block * BLOCK
    while len(out) < start + n:
        out += hashlib.shake_128(f"{mid}:{version}:{block}".encode()).digest(BLOCK)
        block += 1
    return bytes(out[start:start + n])


class Marker:
    """What the log says of one marker: its path (relative to the workload's
    directory), its committed content (version 0 as created, then each write
    whose fsync returned) and the operation, if any, that was logged but whose
    fsync had not returned when the log ends (in flight at the cut)."""

    def __init__(self, mid, path, size, md5):
        self.mid, self.path = mid, path
        self.size, self.md5 = size, md5
        self.data = None        # the committed content, computed when first needed
        self.pending = None     # ("write", off, len, version) or ("rename", path)
        self.next_version = 1

    @staticmethod
    def put(buf, mid, off, n, version):
        if off + n > len(buf):
            buf.extend(bytes(off + n - len(buf)))
        buf[off:off + n] = marker_data(mid, version, off, n)

    def committed(self):
        if self.data is None:     # nothing committed over version 0 yet
            self.data = bytearray(marker_data(self.mid, 0, 0, self.size))
        return self.data

    def content(self, extra=()):
        """The committed content, with the writes of `extra` on top."""
        buf = bytearray(self.committed())
        for off, n, version in extra:
            self.put(buf, self.mid, off, n, version)
        return bytes(buf)

    def commit_write(self, off, n, version, size, md5):
        self.put(self.committed(), self.mid, off, n, version)
        self.size, self.md5 = size, md5
        self.next_version = version + 1


class MarkerLog:
    """The log of the marker operations, one line each, appended with one
    write(2) per line:

        new ID PATH SIZE MD5      created, written and fsynced: ID is at PATH
        write ID OFF LEN VERSION  about to write LEN bytes of VERSION at OFF
        synced ID SIZE MD5        ... and fsync (or fdatasync) returned
        rename ID PATH            about to rename ID to PATH
        renamed ID PATH           ... and fsync of the directories returned

    An operation logged without its completion was in flight at the cut."""

    def __init__(self, path):
        self.path = path
        self.markers = {}
        self.fd = None

    def load(self):
        if not os.path.exists(self.path):
            return self
        with open(self.path, "rb") as f:
            lines = f.read().split(b"\n")
        # A line cut short by a kill has no newline: it never happened.
        for number, line in enumerate(lines[:-1], 1):
            try:
                self.apply(line.decode().split())
            except (ValueError, KeyError, AssertionError) as e:
                sys.exit(f"{self.path}:{number}: bad record {line!r}: {e!r}")
        return self

    def apply(self, rec):
        op, mid, args = rec[0], rec[1], rec[2:]
        if op == "new":
            assert mid not in self.markers, "marker created twice"
            self.markers[mid] = Marker(mid, args[0], int(args[1]), args[2])
            return
        m = self.markers[mid]
        if op == "write":
            assert m.pending is None
            m.pending = ("write", int(args[0]), int(args[1]), int(args[2]))
        elif op == "synced":
            assert m.pending and m.pending[0] == "write"
            m.commit_write(*m.pending[1:], int(args[0]), args[1])
            m.pending = None
            assert len(m.data) == m.size, "size differs from the model's"
        elif op == "rename":
            assert m.pending is None
            m.pending = ("rename", args[0])
        elif op == "renamed":
            assert m.pending == ("rename", args[0])
            m.path, m.pending = args[0], None
        else:
            raise ValueError(f"unknown operation {op}")

    def check_model(self):
        """The log's own consistency: the content each marker's records
        describe has the size and MD5 the workload recorded."""
        for m in self.markers.values():
            data = m.committed()
            if (len(data), hashlib.md5(data).hexdigest()) != (m.size, m.md5):
                sys.exit(f"{self.path}: marker {m.mid}: the records do not add up to the "
                         "recorded size and MD5 (a bug of crash.py)")

    def record(self, *fields):
        """Appends one record (and applies it to the model)."""
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        fields = [str(f) for f in fields]
        self.apply(fields)
        os.write(self.fd, (" ".join(fields) + "\n").encode())


# ---------------------------------------------------------------- workload


class Workload:
    """The three parts of the workload; see the top of this file."""

    MARKER_DIRS = ("markers/a", "markers/b")
    MAX_MARKERS = 60            # created per run
    MAX_MARKER_SIZE = 128 << 10  # no appends beyond
    CHURN_DIRS = 4
    CHURN_MAX_ENTRIES = 400
    HELD_ORPHANS = 8

    def __init__(self, args):
        self.dir = args.dir
        self.tag = args.tag
        self.seed = args.seed
        self.cut_flag = args.cut_flag
        self.exerciser = args.exerciser
        self.log = MarkerLog(args.log).load()
        self.lock = threading.Lock()
        self.counts = {"markers": 0, "inflight": 0, "churn": 0, "orphans": 0,
                       "errors-after-cut": 0, "exerciser-runs": 0}
        self.exercise_proc = None
        for d in (*self.MARKER_DIRS, "exercise",
                  *(f"churn/c{i}" for i in range(self.CHURN_DIRS))):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)

    def cut(self):
        return self.cut_flag is not None and os.path.exists(self.cut_flag)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] += n

    def problem(self, what):
        """An operation failed. After the cut that can happen (the
        filesystem may read back blocks it never wrote); before it, the test
        fails."""
        if self.cut():
            self.count("errors-after-cut")
            return
        print(f"FAILED: {what} (before the cut)", file=sys.stderr, flush=True)
        if self.exercise_proc:
            self.exercise_proc.kill()
        os._exit(1)

    # -- (c) markers

    def markers(self, rnd):
        own = []
        created = 0
        while not self.cut():
            ops = ["create"] * (5 if created < self.MAX_MARKERS else 0)
            if own:
                ops += ["overwrite"] * 3 + ["append"] + ["rename"]
            if not ops:
                time.sleep(0.2)
                continue
            op = rnd.choice(ops)
            try:
                if op == "create":
                    mid = f"{self.tag}m{created}"
                    created += 1
                    if self.marker_create(rnd, mid):
                        own.append(self.log.markers[mid])
                elif op == "rename":
                    self.marker_rename(rnd, rnd.choice(own))
                else:
                    self.marker_write(rnd, rnd.choice(own), op == "append")
            except OSError as e:
                self.problem(f"marker {op}: {e}")
                return

    def marker_create(self, rnd, mid):
        size = rnd.choice([0, 1, 100, 4095, 4096, 4097, 12288, rnd.randrange(1, 64 << 10),
                           rnd.randrange(1, 16 << 10), rnd.randrange(1, 16 << 10)])
        path = os.path.join(rnd.choice(self.MARKER_DIRS), mid)
        data = marker_data(mid, 0, 0, size)
        fd = os.open(os.path.join(self.dir, path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            # Written in up to three pieces, the last one first.
            cuts = sorted({0, size, *(rnd.randrange(size + 1) for _ in range(2))})
            pieces = list(zip(cuts, cuts[1:]))
            for lo, hi in reversed(pieces):
                os.pwrite(fd, data[lo:hi], lo)
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.cut():
            return False
        self.log.record("new", mid, path, size, hashlib.md5(data).hexdigest())
        self.count("markers")
        return True

    def marker_write(self, rnd, m, append):
        """Overwrites part of m (or appends to it), then fsync or fdatasync."""
        if m.pending:
            return
        if (append and m.size < self.MAX_MARKER_SIZE) or m.size == 0:
            off, n = m.size, rnd.randrange(1, 20000)
        else:
            off = rnd.randrange(m.size)
            if rnd.random() < 0.5:
                off -= off % BLOCK
            n = rnd.randrange(1, min(m.size - off, 3 * BLOCK) + 1)
        version = m.next_version
        self.log.record("write", m.mid, off, n, version)
        fd = os.open(os.path.join(self.dir, m.path), os.O_WRONLY)
        try:
            os.pwrite(fd, marker_data(m.mid, version, off, n), off)
            (os.fdatasync if rnd.random() < 0.4 else os.fsync)(fd)
        finally:
            os.close(fd)
        if self.cut():
            self.count("inflight")
            return
        new = m.content([(off, n, version)])
        self.log.record("synced", m.mid, len(new), hashlib.md5(new).hexdigest())

    def marker_rename(self, rnd, m):
        """Renames m to a new name, in its directory or the other one, and
        fsyncs the directories."""
        if m.pending:
            return
        new = os.path.join(rnd.choice(self.MARKER_DIRS),
                           f"{m.mid}.{m.next_version}-{rnd.randrange(1 << 30):x}")
        self.log.record("rename", m.mid, new)
        os.rename(os.path.join(self.dir, m.path), os.path.join(self.dir, new))
        for d in {os.path.dirname(new), os.path.dirname(m.path)}:
            fd = os.open(os.path.join(self.dir, d), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if self.cut():
            self.count("inflight")
            return
        m.next_version += 1
        self.log.record("renamed", m.mid, new)

    # -- (b) namespace churn

    def churn(self, rnd):
        root = os.path.join(self.dir, "churn")
        entries = sum(len(d) + len(f) for _, d, f in os.walk(root))
        held = []               # descriptors of unlinked or O_TMPFILE files
        serial = 0
        tmpfile = True
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

        def pick_dir(depth_limit=3):
            d, depth = os.path.join(root, f"c{rnd.randrange(self.CHURN_DIRS)}"), 1
            while depth < depth_limit and rnd.random() < 0.5:
                subdirs = [e.path for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
                if not subdirs:
                    break
                d, depth = rnd.choice(subdirs), depth + 1
            return d, depth

        def pick(kinds):
            """A random entry of one of kinds ("file", "dir", "link")
            somewhere in the tree, or None."""
            d, _ = pick_dir()
            found = []
            for e in os.scandir(d):
                kind = ("link" if e.is_symlink() else "dir" if e.is_dir(follow_symlinks=False)
                        else "file")
                if kind in kinds:
                    found.append(e.path)
            return rnd.choice(found) if found else None

        def new_name(prefix):
            nonlocal serial
            serial += 1
            d, depth = pick_dir()
            return os.path.join(d, f"{prefix}{self.tag}-{serial}"), depth

        def fill(fd, size):
            pos = 0
            while pos < size:
                n = min(size - pos, 64 << 10)
                os.write(fd, rnd.randbytes(n))
                pos += n

        def file_size():
            return rnd.choice([0, rnd.randrange(200), rnd.randrange(5000),
                               rnd.randrange(40000), rnd.randrange(300000)])

        def hold(fd):
            held.append(fd)
            self.count("orphans")
            if len(held) > self.HELD_ORPHANS:
                # The last close frees the inode, in the live filesystem.
                os.close(held.pop(rnd.randrange(len(held))))
                self.count("orphans", -1)

        while True:
            full = entries > self.CHURN_MAX_ENTRIES
            ops = {"create": 0 if full else 6, "write": 4, "truncate": 1, "rename": 3,
                   "link": 0 if full else 1, "unlink": 8 if full else 3,
                   "mkdir": 0 if full else 1, "rmdir": 2, "symlink": 0 if full else 1,
                   "setxattr": 2, "removexattr": 1, "orphan": 2, "tmpfile": 1 if tmpfile else 0,
                   "write-orphan": 2 if held else 0, "fsync-dir": 1}
            op = rnd.choices(list(ops), weights=list(ops.values()))[0]
            try:
                if op == "create":
                    path, _ = new_name("f")
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                    try:
                        fill(fd, file_size())
                    finally:
                        os.close(fd)
                    entries += 1
                elif op == "write" and (path := pick({"file"})):
                    fd = os.open(path, os.O_WRONLY)
                    try:
                        size = os.fstat(fd).st_size
                        os.lseek(fd, rnd.randrange(size + 1) if rnd.random() < 0.5 else size,
                                 os.SEEK_SET)
                        fill(fd, rnd.randrange(1, 50000))
                    finally:
                        os.close(fd)
                elif op == "truncate" and (path := pick({"file"})):
                    os.truncate(path, rnd.randrange(os.stat(path).st_size + 8192))
                elif op == "rename" and (path := pick({"file", "link", "dir"})):
                    target = None
                    if rnd.random() < 0.3 and not os.path.isdir(path):
                        target = pick({"file"})     # renamed over an existing file
                    if target is None:
                        target, depth = new_name("r")
                        if os.path.isdir(path) and (depth >= 3 or target.startswith(path + "/")):
                            continue
                    elif target != path:
                        entries -= 1    # renamed over an existing file
                    os.rename(path, target)
                elif op == "link" and (path := pick({"file"})):
                    os.link(path, new_name("l")[0])
                    entries += 1
                elif op == "unlink" and (path := pick({"file", "link"})):
                    os.unlink(path)
                    entries -= 1
                elif op == "mkdir":
                    path, depth = new_name("d")
                    if depth < 3:
                        os.mkdir(path)
                        entries += 1
                elif op == "rmdir" and (path := pick({"dir"})):
                    if not os.listdir(path):
                        os.rmdir(path)
                        entries -= 1
                elif op == "symlink":
                    length = rnd.choice([1, 20, 60, 61, 200, 1000])
                    os.symlink("t" * length, new_name("s")[0])
                    entries += 1
                elif op == "setxattr" and (path := pick({"file", "dir"})):
                    os.setxattr(path, f"user.{rnd.choice('abc')}",
                                rnd.randbytes(rnd.randrange(1000)))
                elif op == "removexattr" and (path := pick({"file", "dir"})):
                    names = os.listxattr(path)
                    if names:
                        os.removexattr(path, rnd.choice(names))
                elif op == "orphan":
                    path, _ = new_name("o")
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
                    fill(fd, rnd.randrange(1, 200000))
                    if rnd.random() < 0.3:
                        os.fsync(fd)
                    os.unlink(path)
                    hold(fd)
                elif op == "tmpfile":
                    d, _ = pick_dir()
                    try:
                        fd = os.open(d, os.O_TMPFILE | os.O_RDWR, 0o600)
                    except OSError as e:
                        if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR):
                            raise
                        tmpfile = False
                        continue
                    fill(fd, rnd.randrange(1, 100000))
                    if rnd.random() < 0.2:
                        # A name after all: linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd
                        # (a dir fd makes Python call linkat rather than link(2)).
                        os.link(f"/proc/self/fd/{fd}", new_name("t")[0], src_dir_fd=root_fd,
                                follow_symlinks=True)
                        entries += 1
                    hold(fd)
                elif op == "write-orphan":
                    fd = rnd.choice(held)
                    os.pwrite(fd, rnd.randbytes(rnd.randrange(1, 30000)), rnd.randrange(300000))
                elif op == "fsync-dir":
                    fd = os.open(pick_dir()[0], os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                self.count("churn")
            except OSError as e:
                self.problem(f"churn {op}: {e}")
                if self.cut():
                    time.sleep(0.05)    # writes vanish now; keep going, slowly

    # -- (a) the exerciser, and the whole

    def guarded(self, part, rnd):
        """Runs a part in its thread; an exception it does not handle is a
        bug of this script, and ends the workload before or after the cut."""
        try:
            part(rnd)
        except BaseException:
            traceback.print_exc()
            print(f"FAILED: {part.__name__}: internal error", file=sys.stderr, flush=True)
            if self.exercise_proc:
                self.exercise_proc.kill()
            os._exit(1)

    def start_exerciser(self, seed, output):
        self.exercise_proc = subprocess.Popen(
            [self.exerciser, "--seed", str(seed), "--ops", "200000", "--max-size", "4M",
             os.path.join(self.dir, "exercise/file")],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.count("exerciser-runs")

    def run(self, ready):
        """Starts the three parts, calls ready(), then watches them, forever."""
        seeds = random.Random(self.seed)
        for part in (self.markers, self.churn):
            rnd = random.Random(seeds.getrandbits(64))
            threading.Thread(target=self.guarded, args=(part, rnd), daemon=True).start()
        exercise_seed = seeds.getrandbits(63)
        self.start_exerciser(exercise_seed, sys.stdout)
        print(f"workload: seed {self.seed}, tag {self.tag}, rexfs-exercise --seed {exercise_seed}",
              flush=True)
        ready()
        start = time.monotonic()
        next_status = start + 1
        while True:
            time.sleep(0.1)
            rc = self.exercise_proc.poll() if self.exercise_proc else None
            if rc == 0:
                exercise_seed = seeds.getrandbits(63)
                self.start_exerciser(exercise_seed, sys.stdout)
            elif rc is not None:
                # After the cut it reads back data that never reached the
                # disk: a mismatch is expected then, and it is not started
                # again. Before the cut the test fails.
                self.problem(f"rexfs-exercise --seed {exercise_seed} exited {rc}")
                self.exercise_proc = None
            if time.monotonic() >= next_status:
                next_status += 1
                with self.lock:
                    counts = " ".join(f"{k}={v}" for k, v in self.counts.items())
                print(f"workload: t={time.monotonic() - start:.1f}s {counts}"
                      f"{' (cut)' if self.cut() else ''}", flush=True)


def cmd_workload(args):
    if not os.access(args.exerciser, os.X_OK):
        sys.exit(f"crash.py: no exerciser {args.exerciser}: run 'make tools'")
    if args.background is None:
        Workload(args).run(lambda: None)
        return
    # Into a session of its own, its output to a file; the parent prints
    # the session id (the process group to kill) once all parts run, or the
    # output if the workload died first.
    sys.stdout.flush()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.setsid()
        out = os.open(args.background, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)

        def ready():
            os.write(w, b"ready\n")
            os.close(w)
        try:
            Workload(args).run(ready)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        started = f.read() == b"ready\n"
    if not started:
        with open(args.background, errors="replace") as f:
            sys.stderr.write(f.read())
        sys.exit("crash.py: the workload died before it started")
    print(pid)


# ------------------------------------------------------------------ verify


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def check_marker(root, m):
    """Checks marker m under root. Returns (fingerprint, None) if it is as
    the log says (with an operation in flight at the cut, as before it or
    as after it, block by block for a write), else (None, why)."""
    names = [m.path] + ([m.pending[1]] if m.pending and m.pending[0] == "rename" else [])
    found = [p for p in names if os.path.lexists(os.path.join(root, p))]
    if not found:
        return None, "missing" + (f" (at neither {names[0]} nor {names[1]})" if len(names) > 1 else "")
    if len(found) > 1:
        return None, f"at both {found[0]} and {found[1]} (rename in flight)"
    path = os.path.join(root, found[0])
    if not os.path.isfile(path) or os.path.islink(path):
        return None, f"{found[0]} is not a regular file"
    if m.pending and m.pending[0] == "write":
        with open(path, "rb") as f:
            data = f.read()
        old = m.content()
        new = m.content([m.pending[1:]])
        if not len(old) <= len(data) <= len(new):
            return None, (f"size {len(data)} with a write in flight: expected "
                          f"{len(old)}..{len(new)}")
        old += bytes(len(new) - len(old))       # an append not yet there reads as zeroes
        for b in range(0, len(data), BLOCK):
            got = data[b:b + BLOCK]
            if got != old[b:b + len(got)] and got != new[b:b + len(got)]:
                return None, (f"block at {b:#x} (write in flight: {m.pending[2]} bytes at "
                              f"{m.pending[1]:#x}) is neither the old nor the new data")
        return (found[0], hashlib.md5(data).hexdigest()), None
    size = os.path.getsize(path)
    digest = md5_file(path)
    if (size, digest) == (m.size, m.md5):
        return (found[0], digest), None
    with open(path, "rb") as f:
        data = f.read()
    want = m.content()
    if size != m.size:
        return None, f"{found[0]}: size {size}, expected {m.size}"
    where = next((i for i in range(size) if data[i] != want[i]), None)
    if where is None:
        return None, f"{found[0]}: changed while it was read"
    return None, f"{found[0]}: wrong data from byte {where:#x} (block {where // BLOCK})"


def cmd_verify(args):
    log = MarkerLog(args.log).load()
    log.check_model()
    markers = log.markers
    inflight = sum(1 for m in markers.values() if m.pending)
    passes = [("cold", None), ("cached", None), ("after drop_caches", drop_caches)]
    first = {}
    lost = {}
    for name, before in passes:
        if before:
            before()
        bad = 0
        for mid, m in markers.items():
            if mid in lost:
                continue
            fingerprint, why = check_marker(args.dir, m)
            if why is None and first.setdefault(mid, fingerprint) != fingerprint:
                why = f"read {fingerprint} here, {first[mid]} before"
            if why is not None:
                lost[mid] = f"{why} (pass: {name})"
                bad += 1
        print(f"verify: pass {name}: {len(markers) - len(lost)} markers as logged"
              + (f", {bad} not" if bad else ""))
    for mid, why in sorted(lost.items()):
        m = markers[mid]
        op = f", {' '.join(map(str, m.pending))} in flight" if m.pending else ""
        print(f"LOST {mid} ({m.path}{op}): {why}")
    print(f"markers: verified={len(markers) - len(lost)} lost={len(lost)} inflight={inflight}")
    sys.exit(1 if lost else 0)


# -------------------------------------------------------------- disk-state

REXFS_MAGIC = 0x52455846
JBD2_MAGIC = 0xC03B3998
SB_STATE, SB_JOURNAL_START, SB_JOURNAL_BLOCKS = 104, 184, 192     # format/src/superblock.rs
JSB_SEQUENCE, JSB_START = 0x18, 0x1C                               # format/src/journal.rs


def cmd_disk_state(args):
    fd = os.open(args.device, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, BLOCK)      # page aligned, as O_DIRECT wants

    def read_block(n):
        if os.preadv(fd, [buf], n * BLOCK) != BLOCK:
            sys.exit(f"crash.py: {args.device}: short read of block {n}")
        return bytes(buf)
    sb = read_block(0)
    if struct.unpack_from("<I", sb, 0)[0] != REXFS_MAGIC:
        sys.exit(f"crash.py: {args.device}: no rexfs superblock")
    state = "clean" if struct.unpack_from("<I", sb, SB_STATE)[0] == 1 else "in-use"
    jstart, jblocks = struct.unpack_from("<QQ", sb, SB_JOURNAL_START)
    if jblocks == 0:
        print(f"journal=none fs-state={state}")
        return
    jsb = read_block(jstart)
    if struct.unpack_from(">I", jsb, 0)[0] != JBD2_MAGIC:
        sys.exit(f"crash.py: {args.device}: no jbd2 superblock at block {jstart}")
    seq, start = struct.unpack_from(">II", jsb, JSB_SEQUENCE)
    print(f"journal={'dirty' if start else 'clean'} start={start} sequence={seq} fs-state={state}")


# ------------------------------------------------------------- kernel-log

ORPHANS_LINE = re.compile(r"rexfs.*: freeing (\d+) orphan inode")
RECOVERY_LINE = re.compile(r"rexfs: .*: replaying the journal")
ERROR_LINE = re.compile(r"JBD2: .*(rror|nvalid|orrupt|[Bb]ad block|[Ff]ailed)|Aborting journal"
                        r"|rexfs: .*(corrupted|failed)")


def cmd_kernel_log(args):
    orphans, recovery, errors = 0, False, []
    for line in sys.stdin:
        if m := ORPHANS_LINE.search(line):
            orphans += int(m.group(1))
        if ERROR_LINE.search(line):
            errors.append(line.rstrip())
        elif RECOVERY_LINE.search(line):
            recovery = True
    print(f"orphans={orphans} replay-logged={'yes' if recovery else 'no'} errors={len(errors)}")
    for line in errors:
        print(f"  {line}")


def main():
    p = argparse.ArgumentParser(description="the crash tests' workload and checks")
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workload", help="run the workload until killed")
    w.add_argument("--dir", required=True, help="directory of the workload, on the filesystem")
    w.add_argument("--log", required=True, help="marker log, outside the filesystem")
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--tag", default="r0", help="prefix of this run's marker names")
    w.add_argument("--cut-flag", help="file that exists once writes are being dropped")
    w.add_argument("--exerciser", default=EXERCISER)
    w.add_argument("--background", metavar="OUTPUT",
                   help="fork into a new session, output to OUTPUT; print its id once running")
    w.set_defaults(fn=cmd_workload)
    v = sub.add_parser("verify", help="check the markers of a log")
    v.add_argument("--log", required=True)
    v.add_argument("--dir", required=True)
    v.set_defaults(fn=cmd_verify)
    d = sub.add_parser("disk-state", help="journal and superblock state of a device")
    d.add_argument("device")
    d.set_defaults(fn=cmd_disk_state)
    k = sub.add_parser("kernel-log", help="orphans freed, recovery and errors in kernel log lines")
    k.set_defaults(fn=cmd_kernel_log)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
