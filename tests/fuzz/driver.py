#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Runs in the test VM (tests/fuzz/guest.sh): each damaged image of a
rexfs-fuzz run, mounted, walked, written to and unmounted, then checked
with fsck.rexfs -n; one line per image in OUT/results.tsv.

    driver.py --images DIR --out DIR [--timeout S] [--fsck PATH] [--fstype T]

(--fstype ext4, with --fsck /sbin/e2fsck and ext4 images, tries the driver
out on a host without rexfs: rexfs images are then all refused, EINVAL.)

For each index of DIR/manifest.tsv, in order:

  - the image DIR/NNNNN.img is copied to the guest's tmpfs (sparse) and
    attached to a loop device; "rexfs-fuzz: image NNNNN begin" goes to the
    kernel log;
  - a child process (its own process group) mounts it (mount(2), errno
    recorded), and if that worked walks the tree: stat and statfs of the
    root; per directory readdir; per entry lstat, listxattr and getxattr of
    each attribute (user.* on regular files and directories only: the VFS
    refuses them elsewhere), readlink of symlinks, reads of regular files
    (up to 1 MiB from the start, 4 KiB at the end, SEEK_DATA and SEEK_HOLE
    from 0; special files are never opened); then writes: creates
    /fuzz-new (6,000 bytes, fsync), sets an attribute on it, mkdir
    /fuzz-dir with a file in it, renames /fuzz-new into it, a symlink,
    appends 100 bytes to up to 12 regular files and sets an attribute on up
    to 12 files and directories found, syncfs(2); then removes everything
    found and made, deepest first (unlink, rmdir: a directory whose listing
    or one of whose entries failed is left), syncfs(2), and umount(2).
    (syncfs rather than sync: it reports writeback and journal errors.)
    Each operation
    that fails is recorded with its errno; one that depends on a failed one
    is skipped;
  - the parent waits at most --timeout seconds (default 60) for the child;
    then it kills it: the image is a hang (a child that does not die, in
    the kernel, stops the run: the rest would hang on its mount);
  - whatever is still mounted is detached (umount -l), the loop device
    too, and fsck.rexfs -n checks the image file (its exit status, or
    "timeout" after 60 s);
  - "rexfs-fuzz: image NNNNN end" goes to the kernel log, and the kernel
    log records written since the begin mark (read from /dev/kmsg by this
    process, so they are the image's whatever the ring buffer's size) are
    counted: "rexfs: DEV: corrupted:" lines, and the first line that
    scripts/check-dmesg.sh would fail (WARNING, BUG, oops, lockdep, hung
    task...). They go to OUT/image-klog.txt, with fsck's output.

OUT/results.tsv columns (tab-separated, a header line first):

  index  mount  first_op  first_errno  failures  ops  corrupted_lines
  klog_problem  hang  fsck_after  seconds

mount: OK or the errno name (setup-failed if the copy or losetup failed);
first_op, first_errno: the first failed operation ("readdir /dir1") and its
errno name, "-" if none; failures: each distinct errno with the first
operation that failed with it, "EUCLEAN:read /big;EROFS:mkdir /fuzz-dir";
ops: operations attempted; klog_problem: "-" or the line; hang: "-", or
what did not finish and where ("timeout at readdir /dir1", "unkillable at
...", "readdir-runaway at ...": a directory listing more than 10,000
entries, "walk-runaway": more than 20,000 entries in all, "timeout at
fsck.rexfs -n"); fsck_after:
fsck.rexfs -n's exit status after the module's run. rexfs-fuzz report
classifies the lines against the manifest.
"""

import argparse
import ctypes
import errno
import json
import os
import re
import select
import signal
import stat
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MNT = b"/tmp/rexfs-fuzz-mnt"
WORK = "/tmp/rexfs-fuzz"
READ_LIMIT = 1 << 20
MAX_ENTRIES_PER_DIR = 10000
MAX_ENTRIES = 20000
FSCK_TIMEOUT = 60
# --fstype: another filesystem, to try the driver out on a host (ext4).
FSTYPE = b"rexfs"

CORRUPTED = re.compile(r"rexfs: \S+: corrupted: ")


def problem_pattern():
    """The pattern of scripts/check-dmesg.sh (its pattern= and pattern+=
    lines), so that an image fails on what the boot's check fails on."""
    text = open(os.path.join(REPO, "scripts/check-dmesg.sh")).read()
    parts = re.findall(r"^pattern\+?='([^']*)'", text, re.M)
    if not parts:
        raise SystemExit("driver.py: no pattern in scripts/check-dmesg.sh")
    return re.compile("".join(parts))


def errname(n):
    return errno.errorcode.get(n, str(n))


def shown(path):
    """A path relative to the mount point, for the results."""
    rel = path[len(MNT):] or b"/"
    return rel.decode("utf-8", "backslashreplace").replace("\t", " ")


# The child: mount, walk, write, remove, unmount. Reports events as JSON
# lines on a pipe.

class Child:
    def __init__(self, dev, wfd):
        self.dev = dev
        self.wfd = wfd
        self.libc = ctypes.CDLL(None, use_errno=True)

    def emit(self, **event):
        os.write(self.wfd, (json.dumps(event) + "\n").encode())

    def attempt(self, op, path, fn, what=None):
        """Runs fn(); returns (True, its value), or (False, None) after
        reporting the failure."""
        name = f"{op} {what if what is not None else shown(path)}"
        self.emit(op=name)
        try:
            return True, fn()
        except OSError as e:
            self.emit(fail=name, errno=e.errno)
            return False, None

    def run(self):
        libc = self.libc
        self.emit(op="mount")
        if libc.mount(self.dev.encode(), MNT, FSTYPE, 0, None) != 0:
            self.emit(mount=errname(ctypes.get_errno()))
            return
        self.emit(mount="OK")
        try:
            self.exercise()
        finally:
            self.emit(op="umount")
            if libc.umount2(MNT, 0) != 0:
                self.emit(fail="umount", errno=ctypes.get_errno())

    def walk(self):
        """Walks the tree; returns its entries (path, mode) in walk order and
        the directories that cannot be emptied."""
        tree = []
        incomplete = set()
        seen = set()
        ok, st = self.attempt("stat", MNT, lambda: os.lstat(MNT))
        if ok:
            seen.add(st.st_ino)
        self.attempt("statfs", MNT, lambda: os.statvfs(MNT))
        stack = [MNT]
        total = 0
        while stack:
            d = stack.pop()
            ok, names = self.attempt("readdir", d, lambda: self.listdir(d))
            if not ok:
                incomplete.add(d)
                continue
            if names is None:
                return None, None
            for name in sorted(names):
                total += 1
                if total > MAX_ENTRIES:
                    self.emit(hang="walk-runaway")
                    return None, None
                p = os.path.join(d, name)
                ok, st = self.attempt("lstat", p, lambda: os.lstat(p))
                if not ok:
                    incomplete.add(d)
                    continue
                tree.append((p, st.st_mode))
                self.xattrs(p, st.st_mode)
                if stat.S_ISLNK(st.st_mode):
                    self.attempt("readlink", p, lambda: os.readlink(p))
                elif stat.S_ISREG(st.st_mode):
                    self.attempt("read", p, lambda: self.read(p))
                elif stat.S_ISDIR(st.st_mode) and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    stack.append(p)
        return tree, incomplete

    def listdir(self, d):
        names = []
        with os.scandir(d) as it:
            for entry in it:
                names.append(entry.name)
                if len(names) > MAX_ENTRIES_PER_DIR:
                    self.emit(hang="readdir-runaway")
                    return None
        return names

    def xattrs(self, p, mode):
        ok, names = self.attempt(
            "listxattr", p, lambda: os.listxattr(p, follow_symlinks=False))
        if not ok:
            return
        for n in names:
            if n.startswith("user.") and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                continue
            self.attempt("getxattr", p,
                         lambda: os.getxattr(p, n, follow_symlinks=False),
                         what=f"{shown(p)} {n}")

    @staticmethod
    def read(p):
        fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return
            total = 0
            while total < READ_LIMIT:
                data = os.read(fd, 65536)
                if not data:
                    break
                total += len(data)
            if st.st_size > READ_LIMIT:
                os.pread(fd, 4096, st.st_size - 4096)
            for whence in (os.SEEK_DATA, os.SEEK_HOLE):
                try:
                    os.lseek(fd, 0, whence)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
        finally:
            os.close(fd)

    @staticmethod
    def create(p, size):
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            data = (b"rexfs-fuzz wrote this\n" * (size // 22 + 1))[:size]
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def append(p):
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.write(fd, b"appended by rexfs-fuzz\n" * 4 + b"12345678")
        finally:
            os.close(fd)

    def exercise(self):
        tree, incomplete = self.walk()
        if tree is None:
            return
        j = lambda *parts: os.path.join(MNT, *parts)
        new, d = j(b"fuzz-new"), j(b"fuzz-dir")
        inner, moved, link = j(b"fuzz-dir", b"inner"), j(b"fuzz-dir", b"moved"), j(b"fuzz-link")
        made = []
        created, _ = self.attempt("create", new, lambda: self.create(new, 6000))
        if created:
            self.attempt("setxattr", new,
                         lambda: os.setxattr(new, "user.fuzz", b"x" * 40))
        mkdir, _ = self.attempt("mkdir", d, lambda: os.mkdir(d))
        if mkdir:
            made.append((d, stat.S_IFDIR))
            if self.attempt("create", inner, lambda: self.create(inner, 10))[0]:
                made.append((inner, stat.S_IFREG))
        if created and mkdir and self.attempt("rename", new, lambda: os.rename(new, moved))[0]:
            made.append((moved, stat.S_IFREG))
        elif created:
            made.append((new, stat.S_IFREG))
        if self.attempt("symlink", link, lambda: os.symlink(b"fuzz-dir/moved", link))[0]:
            made.append((link, stat.S_IFLNK))
        files = [p for p, m in tree if stat.S_ISREG(m)][:12]
        for p in files:
            self.attempt("append", p, lambda: self.append(p))
        targets = [p for p, m in tree if stat.S_ISREG(m) or stat.S_ISDIR(m)][:12]
        for p in targets:
            self.attempt("setxattr", p,
                         lambda: os.setxattr(p, "user.fuzz", b"1", follow_symlinks=False))
        self.attempt("syncfs", MNT, self.syncfs)
        # Remove everything, deepest first; a directory only if all its
        # entries went.
        entries = tree + made
        entries.sort(key=lambda e: (-e[0].count(b"/"), stat.S_ISDIR(e[1])))
        for p, mode in entries:
            parent = os.path.dirname(p)
            if stat.S_ISDIR(mode):
                if p in incomplete:
                    incomplete.add(parent)
                    continue
                if not self.attempt("rmdir", p, lambda: os.rmdir(p))[0]:
                    incomplete.add(parent)
            elif not self.attempt("unlink", p, lambda: os.unlink(p))[0]:
                incomplete.add(parent)
        self.attempt("syncfs", MNT, self.syncfs)

    def syncfs(self):
        """syncfs(2), which reports writeback and journal errors (sync(2)
        does not)."""
        fd = os.open(MNT, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self.libc.syncfs(fd) != 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
        finally:
            os.close(fd)


def child_main(dev, wfd):
    os.setpgid(0, 0)
    child = Child(dev, wfd)
    try:
        child.run()
    except BaseException:
        child.emit(crash=traceback.format_exc())
    finally:
        child.emit(done=True)
        os._exit(0)


# The parent.

class Kmsg:
    """The kernel log records written since the last drain."""

    def __init__(self):
        self.rfd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.rfd, 0, os.SEEK_END)
        self.wfd = os.open("/dev/kmsg", os.O_WRONLY)

    def mark(self, text):
        os.write(self.wfd, f"rexfs-fuzz: {text}\n".encode())

    def drain(self):
        lines = []
        while True:
            try:
                record = os.read(self.rfd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                lines.append("rexfs-fuzz: kernel log records overwritten before they were read")
                continue
            if not record:
                break
            _, _, text = record.decode("utf-8", "backslashreplace").partition(";")
            lines.append(text.split("\n")[0])
        return lines


def run(cmd, timeout):
    """Runs cmd; returns (exit status, output), or ("timeout", output) if
    it ran out of time, or ("stuck", "") if it would not even die (stuck
    in the kernel: subprocess.run would wait for it forever)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode("utf-8", "backslashreplace")
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            return "stuck", ""
        return "timeout", (out or b"").decode("utf-8", "backslashreplace")


def copy_sparse(src, dst):
    """Copies src to dst, leaving its all-zero blocks as holes (the images
    are mostly holes); returns None, or what failed."""
    try:
        with open(src, "rb") as f, open(dst, "wb") as g:
            size = 0
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                for off in range(0, len(chunk), 4096):
                    block = chunk[off:off + 4096]
                    if block.count(0) != len(block):
                        g.seek(size + off)
                        g.write(block)
                size += len(chunk)
            g.truncate(size)
        return None
    except OSError as e:
        return str(e)


def mounted():
    with open("/proc/mounts") as f:
        return any(line.split()[1] == MNT.decode() for line in f)


class Image:
    def __init__(self, index):
        self.index = index
        self.mount = "-"
        self.first_op = "-"
        self.first_errno = "-"
        self.failures = {}  # errno name -> first op, in order
        self.ops = 0
        self.current = "-"
        self.hang = "-"
        self.fsck = "-"
        self.corrupted = 0
        self.problem = "-"
        self.abort = False
        self.notes = []

    def event(self, e):
        if "op" in e:
            self.current = e["op"]
            self.ops += 1
        elif "fail" in e:
            name = errname(e["errno"])
            if self.first_op == "-":
                self.first_op, self.first_errno = e["fail"], name
            self.failures.setdefault(name, e["fail"])
        elif "mount" in e:
            self.mount = e["mount"]
        elif "hang" in e:
            self.hang = f'{e["hang"]} at {self.current}'
        elif "crash" in e:
            self.notes.append("driver child crashed:\n" + e["crash"])
            if self.first_op == "-":
                self.first_op, self.first_errno = self.current, "CRASH"
            self.failures.setdefault("CRASH", self.current)

    def line(self, seconds):
        failures = ";".join(f"{e}:{op}" for e, op in self.failures.items()) or "-"
        cells = [self.index, self.mount, self.first_op, self.first_errno, failures,
                 self.ops, self.corrupted, self.problem, self.hang, self.fsck,
                 f"{seconds:.1f}"]
        return "\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cells)


def exercise(img, index, timeout):
    """Mounts, walks, writes to and unmounts the image file img through a
    child; returns its Image record."""
    r = Image(index)
    code, out = run(["losetup", "--find", "--show", img], 30)
    if code != 0:
        r.mount = "setup-failed"
        r.failures["SETUP"] = f"losetup: {out.strip()}"
        return r
    dev = out.strip()
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        child_main(dev, wfd)
    os.close(wfd)
    deadline = time.monotonic() + timeout
    buf = b""
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([rfd], [], [], min(left, 1.0))
        if not ready:
            continue
        data = os.read(rfd, 65536)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            r.event(json.loads(line))
    os.close(rfd)
    if timed_out:
        r.hang = f"timeout at {r.current}"
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # The child is gone (or dies of SIGKILL) unless it is stuck in the kernel.
    for _ in range(150):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        r.hang = f"unkillable at {r.current}"
        r.abort = True
        r.notes.append(f"the child (pid {pid}) did not die: stopping the run")
        return r
    if mounted():
        code, out = run(["umount", "-l", MNT.decode()], 30)
        r.notes.append(f"left mounted; umount -l: {code} {out.strip()}")
        if code in ("timeout", "stuck"):
            r.hang = r.hang if r.hang != "-" else "timeout at umount -l"
            r.abort = True
            return r
    code, out = run(["losetup", "-d", dev], 30)
    if code != 0:
        r.notes.append(f"losetup -d {dev}: {code} {out.strip()}")
        if code in ("timeout", "stuck"):
            r.hang = r.hang if r.hang != "-" else "timeout at losetup -d"
            r.abort = True
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--fsck", default=os.path.join(REPO, "tools/bin/fsck.rexfs"))
    ap.add_argument("--fstype", default="rexfs")
    args = ap.parse_args()
    global FSTYPE
    FSTYPE = args.fstype.encode()

    pattern = problem_pattern()
    with open(os.path.join(args.images, "manifest.tsv")) as f:
        indices = [int(line.split("\t")[0]) for line in f
                   if line.strip() and not line.startswith("index\t")]
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(MNT, exist_ok=True)
    # Kernel log marks from this process are not rate-limited.
    try:
        with open("/proc/sys/kernel/printk_devkmsg", "w") as f:
            f.write("on\n")
    except OSError:
        pass
    kmsg = Kmsg()
    results = open(os.path.join(args.out, "results.tsv"), "w", buffering=1)
    klog = open(os.path.join(args.out, "image-klog.txt"), "w", buffering=1)
    results.write("index\tmount\tfirst_op\tfirst_errno\tfailures\tops\tcorrupted_lines\t"
                  "klog_problem\thang\tfsck_after\tseconds\n")
    start = time.monotonic()
    n = -1
    for n, index in enumerate(indices):
        t0 = time.monotonic()
        stray = kmsg.drain()
        if stray:
            klog.write("== between images\n" + "".join(f"  {l}\n" for l in stray))
        kmsg.mark(f"image {index:05} begin")
        src = os.path.join(args.images, f"{index:05}.img")
        img = os.path.join(WORK, f"{index:05}.img")
        copied = copy_sparse(src, img)
        if copied is not None:
            r = Image(index)
            r.mount = "setup-failed"
            r.failures["SETUP"] = f"copy: {copied}"
        else:
            r = exercise(img, index, args.timeout)
        fsck_out = ""
        if not r.abort and copied is None:
            r.fsck, fsck_out = run([args.fsck, "-n", img], FSCK_TIMEOUT)
            if r.fsck in ("timeout", "stuck") and r.hang == "-":
                r.hang = "timeout at fsck.rexfs -n"
            if r.fsck == "stuck":
                r.abort = True
                r.notes.append("fsck.rexfs would not die: stopping the run")
        kmsg.mark(f"image {index:05} end")
        lines = kmsg.drain()
        r.corrupted = sum(1 for l in lines if CORRUPTED.search(l))
        bad = [l for l in lines if pattern.search(l)]
        if bad:
            r.problem = bad[0]
        klog.write(f"== image {index:05}: mount {r.mount}, first failure "
                   f"{r.first_errno} at {r.first_op}, fsck {r.fsck}\n")
        klog.write("".join(f"  {l}\n" for l in lines))
        klog.write("".join(f"  fsck: {l}\n" for l in fsck_out.splitlines()[:20]))
        klog.write("".join(f"  note: {l}\n" for n_ in r.notes for l in n_.splitlines()))
        seconds = time.monotonic() - t0
        results.write(r.line(seconds) + "\n")
        what = f"{r.first_errno} at {r.first_op}" if r.first_op != "-" else "no failure"
        print(f"fuzz {index:05} ({n + 1}/{len(indices)}): mount {r.mount}, {what}, "
              f"hang {r.hang}, fsck {r.fsck}, {seconds:.1f}s", flush=True)
        if os.path.exists(img) and not r.abort:
            os.unlink(img)
        if r.abort:
            print(f"fuzz: stopping after image {index:05}: {r.notes[-1]}", flush=True)
            break
    stray = kmsg.drain()
    if stray:
        klog.write("== after the last image\n" + "".join(f"  {l}\n" for l in stray))
    results.close()
    klog.close()
    print(f"fuzz: {n + 1} of {len(indices)} images in {time.monotonic() - start:.0f}s",
          flush=True)


if __name__ == "__main__":
    main()
