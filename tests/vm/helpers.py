# Python helpers for the in-VM tests. Scripts run them through lib.sh:
# `helper CMD ARGS...` runs a command below; `py - ARGS <<'PY'` runs a
# heredoc that can `from helpers import *`.
#
#   errno OP ARGS...        run one system call; print OK or its errno name
#   dirents DIR             getdents64 of DIR, in order: "ino type name"
#   manifest ROOT           one line per entry under ROOT (see manifest())
#   expect-content FILE SIZE [OFF:LEN:BYTE]...
#                           FILE is SIZE bytes: BYTE over each range, zero elsewhere
#   getflags PATH           FS_IOC_GETFLAGS of PATH, in hex
#   fsgetxattr PATH         FS_IOC_FSGETXATTR of PATH: "xflags extsize projid" (xflags in hex)
import ctypes
import errno
import fcntl
import hashlib
import os
import stat
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.restype = ctypes.c_ssize_t
SYS_getdents64 = 217  # x86-64
SYS_renameat2 = 316
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4
# <linux/fs.h>: _IOR('f', 1, long), _IOW('f', 2, long) (they pass an int),
# _IOR('X', 31, struct fsxattr), _IOW('X', 32, struct fsxattr).
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602
FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR = 0x801C581F, 0x401C5820
FSXATTR = struct.Struct("<5I8x")  # xflags, extsize, nextents, projid, cowextsize
DT_NAMES = {0: "unknown", 1: "fifo", 2: "chr", 4: "dir", 6: "blk", 8: "reg", 10: "lnk", 12: "sock"}


def fail(msg):
    print(f"FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check_errno(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def renameat2(src, dst, flags):
    check_errno(libc.syscall(SYS_renameat2, AT_FDCWD, os.fsencode(src), AT_FDCWD,
                             os.fsencode(dst), ctypes.c_uint(flags)))


def errno_of(fn, *args, **kwargs):
    """Run fn(*args, **kwargs); return "OK" or the errno name of the OSError
    it raised."""
    try:
        fn(*args, **kwargs)
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def _open_close(path, flags, mode=0o644):
    os.close(os.open(path, flags, mode))


def _write(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _fallocate(path, offset, length):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.posix_fallocate(fd, offset, length)
    finally:
        os.close(fd)


def _ioctl(path, request, arg):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        return fcntl.ioctl(fd, request, arg)
    finally:
        os.close(fd)


def get_flags(path):
    """FS_IOC_GETFLAGS of path: its FS_*_FL flags."""
    return struct.unpack("<I", _ioctl(path, FS_IOC_GETFLAGS, bytes(4)))[0]


def set_flags(path, flags):
    """FS_IOC_SETFLAGS of path to the FS_*_FL flags."""
    _ioctl(path, FS_IOC_SETFLAGS, struct.pack("<I", flags))


def get_fsxattr(path):
    """FS_IOC_FSGETXATTR of path: (xflags, extsize, nextents, projid, cowextsize)."""
    return FSXATTR.unpack(_ioctl(path, FS_IOC_FSGETXATTR, bytes(FSXATTR.size)))


def set_fsxattr(path, xflags, extsize=0, projid=0):
    """FS_IOC_FSSETXATTR of path."""
    _ioctl(path, FS_IOC_FSSETXATTR, FSXATTR.pack(xflags, extsize, 0, projid, 0))


OPS = {
    "stat": os.stat,
    "lstat": os.lstat,
    "create": lambda p: _open_close(p, os.O_CREAT | os.O_WRONLY),
    "create_excl": lambda p: _open_close(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY),
    "open_read": lambda p: _open_close(p, os.O_RDONLY),
    "open_write": lambda p: _open_close(p, os.O_WRONLY),
    "open_trunc": lambda p: _open_close(p, os.O_WRONLY | os.O_TRUNC),
    "write": _write,
    "mkdir": os.mkdir,
    "rmdir": os.rmdir,
    "unlink": os.unlink,
    "link": os.link,
    "symlink": os.symlink,  # TARGET PATH
    "readlink": os.readlink,
    "rename": os.rename,
    "renameat2": lambda s, d, flags: renameat2(s, d, int(flags, 0)),
    "truncate": lambda p, n: os.truncate(p, int(n, 0)),
    "chmod": lambda p, m: os.chmod(p, int(m, 8)),
    "chown": lambda p, u, g: os.chown(p, int(u), int(g)),
    "utime": os.utime,
    "fallocate": lambda p, off, n: _fallocate(p, int(off, 0), int(n, 0)),
    "setxattr": lambda p, name, value: os.setxattr(p, name, value.encode()),
    "setflags": lambda p, flags: set_flags(p, int(flags, 0)),
    "fssetxattr": lambda p, xflags, extsize="0": set_fsxattr(p, int(xflags, 0), int(extsize, 0)),
}


def read_dents(fd, bufsize=65536, calls=None):
    """getdents64 on fd: yields (ino, d_off, d_type, name) in order; stops at
    the end of the directory or after `calls` system calls."""
    buf = ctypes.create_string_buffer(bufsize)
    n_calls = 0
    while calls is None or n_calls < calls:
        n = check_errno(libc.syscall(SYS_getdents64, fd, buf, bufsize))
        n_calls += 1
        if n == 0:
            return
        raw = buf.raw[:n]
        pos = 0
        while pos < n:
            ino, off, reclen, typ = struct.unpack_from("<QqHB", raw, pos)
            name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
            yield ino, off, typ, os.fsdecode(name)
            pos += reclen


def dirents(path, bufsize=65536):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return list(read_dents(fd, bufsize))
    finally:
        os.close(fd)


def getxattr_sized(path, name, size):
    """getxattr(2) of path's attribute name into a buffer of size bytes:
    the value, or its length if size is 0 (os.getxattr sizes the buffer
    itself, so it never sees ERANGE)."""
    buf = ctypes.create_string_buffer(size) if size else None
    n = check_errno(libc.getxattr(os.fsencode(path), name.encode(), buf, ctypes.c_size_t(size)))
    return buf.raw[:n] if size else n


def listxattr_sized(path, size):
    """listxattr(2) of path into a buffer of size bytes: the raw list of
    NUL-terminated names, or its length if size is 0."""
    buf = ctypes.create_string_buffer(size) if size else None
    n = check_errno(libc.listxattr(os.fsencode(path), buf, ctypes.c_size_t(size)))
    return buf.raw[:n] if size else n


def xattrs(path):
    """path's extended attributes (not following a symlink): {name: value}."""
    return {name: os.getxattr(path, name, follow_symlinks=False)
            for name in os.listxattr(path, follow_symlinks=False)}


def md5_file(path):
    h = hashlib.md5()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def manifest(root):
    """Sorted lines, one per entry under root (root itself is "."): path,
    type, inode number, size, link count, permission bits, owner, group,
    mtime in ns, the md5 of a file's content or a symlink's target, and the
    extended attributes, if any (names and the md5 of each value)."""
    lines = []
    paths = ["."]
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    for rel in paths:
        p = os.path.join(root, rel)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            kind, extra = "file", "md5=" + md5_file(p)
        elif stat.S_ISDIR(st.st_mode):
            kind, extra = "dir", "-"
        elif stat.S_ISLNK(st.st_mode):
            target = os.fsencode(os.readlink(p))
            shown = repr(target) if len(target) <= 64 else "md5:" + hashlib.md5(target).hexdigest()
            kind, extra = "symlink", f"target={shown}"
        else:
            kind, extra = f"mode{stat.S_IFMT(st.st_mode):o}", "-"
        attrs = xattrs(p)
        if attrs:
            extra += " xattrs=" + ",".join(f"{name}:{hashlib.md5(value).hexdigest()}"
                                           for name, value in sorted(attrs.items()))
        lines.append(f"{rel!r} {kind} ino={st.st_ino} size={st.st_size} nlink={st.st_nlink} "
                     f"mode={stat.S_IMODE(st.st_mode):o} uid={st.st_uid} gid={st.st_gid} "
                     f"mtime={st.st_mtime_ns} {extra}")
    return sorted(lines)


def expect_content(path, size, segments, chunk=1 << 20):
    """Check that path is `size` bytes long and holds byte b over each
    (off, len, b) of segments and zeros elsewhere; read in `chunk` pieces."""
    st_size = os.stat(path).st_size
    if st_size != size:
        fail(f"{path}: size {st_size}, expected {size}")
    cache = {}

    def expected(start, n):
        # Fast path: one segment (or none) covers the whole piece.
        fill = 0
        covered = []
        for off, ln, b in segments:
            lo, hi = max(off, start), min(off + ln, start + n)
            if lo < hi:
                covered.append((lo, hi, b))
        if len(covered) == 1 and covered[0][:2] == (start, start + n):
            fill = covered[0][2]
        elif covered:
            piece = bytearray(n)
            for lo, hi, b in covered:
                piece[lo - start:hi - start] = bytes([b]) * (hi - lo)
            return bytes(piece)
        key = (fill, n)
        if key not in cache:
            cache[key] = bytes([fill]) * n
        return cache[key]

    buf = bytearray(chunk)
    view = memoryview(buf)
    pos = 0
    with open(path, "rb", buffering=0) as f:
        while pos < size:
            n = f.readinto(view[:min(chunk, size - pos)])
            if n == 0:
                fail(f"{path}: unexpected end of file at {pos}")
            want = expected(pos, n)
            got = buf if n == len(buf) else buf[:n]
            if got != want:  # bytearray == bytes is a memcmp
                i = next(i for i in range(n) if got[i] != want[i])
                fail(f"{path}: byte {pos + i:#x} is {got[i]:#04x}, expected {want[i]:#04x}")
            pos += n
        if f.read(1):
            fail(f"{path}: data past {size}")


# Self-describing 4 KiB blocks: 16-byte units of (file offset, magic), so no
# block of any offset is all zeros and a block at the wrong place shows.
PATTERN_MAGIC = 0x4B4C4253_46584552  # "REXFSBLK"


def pattern_block(off):
    return struct.pack("<QQ", off, PATTERN_MAGIC) * 256


def check_pattern_file(path, max_size):
    """Every 4 KiB block of path is zeros, or a prefix of pattern_block(its
    offset) followed by zeros (an unaligned truncate cut it). Returns the
    counts (size, full, partial, zero)."""
    data = open(path, "rb").read()
    if len(data) > max_size:
        fail(f"{path}: size {len(data)} > {max_size}")
    full = partial = zero = 0
    for off in range(0, len(data), 4096):
        block = data[off:off + 4096]
        end = len(block.rstrip(b"\0"))
        if end == 0:
            zero += 1
            continue
        want = pattern_block(off)
        if block[:end] != want[:end]:
            i = next(i for i in range(end) if block[i] != want[i])
            found = struct.unpack_from("<QQ", block + bytes(16), i - i % 16)
            fail(f"{path}: block at {off:#x}, byte {i}: found unit (offset {found[0]:#x}, "
                 f"magic {found[1]:#x}), expected offset {off:#x}")
        if end == len(block) or block == want[:len(block)]:
            full += 1
        else:
            partial += 1
    return len(data), full, partial, zero


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "errno":
        print(errno_of(OPS[args[0]], *args[1:]))
    elif cmd == "dirents":
        for ino, _, typ, name in dirents(args[0]):
            print(ino, DT_NAMES.get(typ, typ), name)
    elif cmd == "manifest":
        print("\n".join(manifest(args[0])))
    elif cmd == "expect-content":
        segs = []
        for s in args[2:]:
            off, ln, b = (int(x, 0) for x in s.split(":"))
            segs.append((off, ln, b))
        expect_content(args[0], int(args[1], 0), segs)
    elif cmd == "getflags":
        print(hex(get_flags(args[0])))
    elif cmd == "fsgetxattr":
        xflags, extsize, _, projid, _ = get_fsxattr(args[0])
        print(hex(xflags), extsize, projid)
    else:
        fail(f"helpers.py: unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
