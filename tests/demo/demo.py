#!/usr/bin/env python3
"""Small helpers for tests/demo.sh (run inside the VM).

    demo.py mmap-copy SRC DST   DST gets SRC's bytes by stores into a
                                MAP_SHARED mapping, then msync
    demo.py layout FILE         FILE's 4 KiB blocks as runs of zeroes and data
"""
import mmap
import os
import sys

BLOCK = 4096


def size(n):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def mmap_copy(src, dst):
    with open(src, "rb") as f:
        data = f.read()
    fd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, len(data))
        with mmap.mmap(fd, len(data), mmap.MAP_SHARED) as mm:
            mm[:] = data
            mm.flush()
    finally:
        os.close(fd)
    print(f"{dst}: {size(len(data))} stored through a shared mapping, msync'd")


def layout(path):
    runs = []  # [kind, start, end]
    with open(path, "rb") as f:
        off = 0
        while block := f.read(BLOCK):
            kind = "zeroes" if block.count(0) == len(block) else "data"
            if runs and runs[-1][0] == kind:
                runs[-1][2] = off + len(block)
            else:
                runs.append([kind, off, off + len(block)])
            off += len(block)
    print("reads back as: " + ", ".join(f"{kind} {size(a) if a else 0}..{size(b)}" for kind, a, b in runs))


if __name__ == "__main__":
    commands = {"mmap-copy": mmap_copy, "layout": layout}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
