#!/bin/bash
# Extended attributes (user.* and trusted.*): set, get, list and remove on
# a file and a directory with exact errnos (XATTR_CREATE and XATTR_REPLACE,
# ENODATA, ERANGE for short buffers and long names, ENOSPC when the block is
# full, the VFS's permission rules, trusted.* hidden from non-root), empty
# and large values, the other inode types, get and list racing set and
# remove; every value byte for byte after a remount; the attribute block in
# st_blocks and statfs, freed with the last attribute and with the file;
# fsck.rexfs -n clean.
. "$(dirname "$0")/lib.sh"
umask 022
fresh_fs
M=$MNT
EXPECTED=/tmp/xattr-expected.json
free0=$(free_blocks) root0=$(blocks_of "$M")

echo "== set, get, list, remove"
py - "$M" "$EXPECTED" <<'PY'
import errno, json, os, random, socket, stat, sys, threading, time
from helpers import errno_of, fail, getxattr_sized, listxattr_sized, xattrs

m, expected_file = sys.argv[1:3]
rnd = random.Random(20261124)
free = lambda: os.statvfs(m).f_bfree
blocks = lambda p: os.lstat(p).st_blocks // 8


def expect(want, what, fn, *args, **kwargs):
    got = errno_of(fn, *args, **kwargs)
    if got != want:
        fail(f"{what}: {got}, expected {want}")


def expect_attrs(p, want, what):
    got = xattrs(p)
    if got != want:
        fail(f"{what}: attributes of {p} are {sorted(got)}, expected {sorted(want)}")


f, d = f"{m}/file", f"{m}/dir"
with open(f, "wb") as fd:
    fd.write(b"inline data")
os.mkdir(d)
for p in (f, d):
    expect_attrs(p, {}, "new inode")
    expect("ENODATA", "get from an inode without attributes", os.getxattr, p, "user.colour")
    expect("ENODATA", "remove from an inode without attributes", os.removexattr, p, "user.colour")
    expect("ENODATA", "XATTR_REPLACE without attributes",
           os.setxattr, p, "user.colour", b"x", os.XATTR_REPLACE)
    free0, blocks0, ctime0 = free(), blocks(p), os.stat(p).st_ctime_ns
    time.sleep(0.02)
    os.setxattr(p, "user.colour", b"beige")
    if (free(), blocks(p)) != (free0 - 1, blocks0 + 1):
        fail(f"{p}: first attribute: {free0 - free()} blocks taken, st_blocks +{blocks(p) - blocks0}")
    if os.stat(p).st_ctime_ns <= ctime0:
        fail(f"{p}: ctime not updated by setxattr")
    if os.getxattr(p, "user.colour") != b"beige":
        fail(f"{p}: user.colour is {os.getxattr(p, 'user.colour')!r}")
    expect("EEXIST", "XATTR_CREATE of an existing attribute",
           os.setxattr, p, "user.colour", b"x", os.XATTR_CREATE)
    expect("ENODATA", "XATTR_REPLACE of a missing attribute",
           os.setxattr, p, "user.shape", b"x", os.XATTR_REPLACE)
    os.setxattr(p, "user.colour", b"green", os.XATTR_REPLACE)
    os.setxattr(p, "user.shape", b"round", os.XATTR_CREATE)
    os.setxattr(p, "user.empty", b"")
    expect_attrs(p, {"user.colour": b"green", "user.shape": b"round", "user.empty": b""}, "set")
    expect("ENODATA", "get of a missing attribute", os.getxattr, p, "user.missing")
    expect("ENODATA", "remove of a missing attribute", os.removexattr, p, "user.missing")
    time.sleep(0.02)
    ctime0 = os.stat(p).st_ctime_ns
    os.removexattr(p, "user.shape")
    if os.stat(p).st_ctime_ns <= ctime0:
        fail(f"{p}: ctime not updated by removexattr")
    expect("ENODATA", "get of a removed attribute", os.getxattr, p, "user.shape")
    expect_attrs(p, {"user.colour": b"green", "user.empty": b""}, "after a removal")
    if (free(), blocks(p)) != (free0 - 1, blocks0 + 1):
        fail(f"{p}: attributes take {free0 - free()} blocks, expected one")
print("user.* on a file and a directory: set, replace, create, get, list, remove")

# The caller's buffer: size 0 asks for the length, a short one is ERANGE.
if getxattr_sized(f, "user.colour", 0) != 5:
    fail(f"getxattr size query: {getxattr_sized(f, 'user.colour', 0)}")
expect("ERANGE", "getxattr into 4 bytes of a 5-byte value", getxattr_sized, f, "user.colour", 4)
if getxattr_sized(f, "user.colour", 5) != b"green":
    fail("getxattr into an exact buffer")
if getxattr_sized(f, "user.empty", 0) != 0 or getxattr_sized(f, "user.empty", 1) != b"":
    fail("getxattr of an empty value")
names = b"user.colour\0user.empty\0"
if listxattr_sized(f, 0) != len(names):
    fail(f"listxattr size query: {listxattr_sized(f, 0)}, expected {len(names)}")
expect("ERANGE", "listxattr into a short buffer", listxattr_sized, f, len(names) - 1)
if listxattr_sized(f, len(names)) != names:
    fail(f"listxattr: {listxattr_sized(f, len(names))!r}")
print("buffer sizes: length queries, exact buffers, ERANGE when short")

# Names: 255 bytes with the prefix at most (the VFS), not empty, a known
# namespace.
long_name = "user." + "n" * 250
os.setxattr(f, long_name, b"long name")
if os.getxattr(f, long_name) != b"long name":
    fail("attribute with a 255-byte name")
os.removexattr(f, long_name)
expect("ERANGE", "256-byte name", os.setxattr, f, long_name + "n", b"x")
expect("ERANGE", "get of a 256-byte name", os.getxattr, f, long_name + "n")
expect("EINVAL", "empty name after the prefix", os.setxattr, f, "user.", b"x")
# Python names EOPNOTSUPP by its alias ENOTSUP.
expect("ENOTSUP", "unknown namespace", os.setxattr, f, "unknown.x", b"x")
print("names: 255 bytes, ERANGE beyond, EINVAL empty, EOPNOTSUPP unknown namespace")

# Values: ~3000 bytes; the largest a block holds; larger: ENOSPC (E2BIG past
# the VFS's 64 KiB).
big = rnd.randbytes(3000)
os.setxattr(f, "user.big", big)
if os.getxattr(f, "user.big") != big:
    fail("3000-byte value")
g = f"{m}/largest"
open(g, "w").close()
# An empty block has 4056 bytes for entries of 4 header bytes, the name and
# the value.
largest = rnd.randbytes(4056 - 4 - 1)
expect("ENOSPC", "a value one byte too large for the block", os.setxattr, g, "user.v", largest + b"!")
os.setxattr(g, "user.v", largest)
if os.getxattr(g, "user.v") != largest:
    fail("largest value")
expect("ENOSPC", "a second attribute in a full block", os.setxattr, g, "user.w", b"")
expect("ENOSPC", "a 5000-byte value", os.setxattr, f, "user.huge", bytes(5000))
expect("E2BIG", "a value over 64 KiB", os.setxattr, f, "user.huge", bytes(65537))
expect_attrs(g, {"user.v": largest}, "after ENOSPC")
print(f"values: {len(big)} and {len(largest)} bytes; ENOSPC, E2BIG beyond")

# Fill a block with the attributes generic/020 sets: 159 fit.
h = f"{m}/full"
open(h, "w").close()
want = {}
while True:
    i = len(want)
    name, value = f"user.attribute_{i}", f"value_{i}".encode()
    res = errno_of(os.setxattr, h, name, value, os.XATTR_CREATE)
    if res == "ENOSPC":
        break
    if res != "OK":
        fail(f"attribute {i}: {res}")
    want[name] = value
if len(want) != 159:
    fail(f"{len(want)} attributes fit in the block, expected 159")
expect_attrs(h, want, "full block")
# 4 bytes are left: a value may grow by as much, with the padding.
expect("ENOSPC", "a longer value in a full block",
       os.setxattr, h, "user.attribute_7", b"value_7-longer")
os.setxattr(h, "user.attribute_7", b"VALUE_7")
want["user.attribute_7"] = b"VALUE_7"
expect_attrs(h, want, "full block after a same-size replace")
if blocks(h) != 1:
    fail(f"full block: st_blocks says {blocks(h)} blocks")
print(f"{len(want)} attributes fill the block, then ENOSPC; nothing lost")

# trusted.*: root only; hidden from the list of others.
os.setxattr(f, "trusted.secret", b"root only")
os.setxattr(d, "trusted.secret", b"")
names = sorted(os.listxattr(f))
if names != ["trusted.secret", "user.big", "user.colour", "user.empty"]:
    fail(f"list as root: {names}")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.setresuid(65534, 65534, 65534)
    out = [sorted(os.listxattr(f)),
           errno_of(os.getxattr, f, "trusted.secret"),
           errno_of(os.setxattr, f, "trusted.other", b"x"),
           errno_of(os.getxattr, f, "user.colour"),
           errno_of(os.setxattr, f, "user.colour", b"x"),
           errno_of(os.removexattr, d, "user.colour")]
    os.write(w, json.dumps(out).encode())
    os._exit(0)
os.close(w)
out = json.loads(os.read(r, 65536))
os.waitpid(pid, 0)
if out != [["user.big", "user.colour", "user.empty"], "ENODATA", "EPERM", "OK", "EACCES", "EACCES"]:
    fail(f"as an unprivileged user: {out}")
print("trusted.*: set and listed by root; unprivileged: hidden, ENODATA, EPERM")

# The other inode types: trusted.* everywhere, user.* not on symlinks and
# device nodes (EPERM), but on sockets.
lnk, fifo, chrdev, sock = f"{m}/lnk", f"{m}/fifo", f"{m}/chr", f"{m}/sock"
os.symlink("file", lnk)
os.mkfifo(fifo)
os.mknod(chrdev, stat.S_IFCHR | 0o600, os.makedev(1, 3))
s = socket.socket(socket.AF_UNIX)
s.bind(sock)
s.close()
for p in (lnk, fifo, chrdev, sock):
    os.setxattr(p, "trusted.t", p.encode(), follow_symlinks=False)
    user = errno_of(os.setxattr, p, "user.u", b"u", follow_symlinks=False)
    if user != ("OK" if p == sock else "EPERM"):
        fail(f"user.* on {p}: {user}")
    want = {"trusted.t": p.encode()} | ({"user.u": b"u"} if p == sock else {})
    expect_attrs(p, want, "other inode types")
    if blocks(p) != 1:
        fail(f"{p}: st_blocks says {blocks(p)} blocks")
if os.getxattr(lnk, "user.colour") != b"green":
    fail("getxattr through a symlink")
print("symlink, fifo, device node, socket: trusted.*; user.* on the socket only")

# An inline file keeps its attributes when it moves into blocks.
with open(f, "ab") as fd:
    fd.write(bytes(10000))
if blocks(f) != 3 + 1:
    fail(f"file of 10011 bytes with attributes: {blocks(f)} blocks, expected 3 + 1")
if os.getxattr(f, "user.big") != big:
    fail("attributes after the inline data moved into blocks")

# get and list see whole values while set and remove change them.
race = f"{m}/race"
open(race, "w").close()
os.setxattr(race, "user.stable", b"s" * 100)
values = [b"a" * 10, b"b" * 2000, b"c" * 3000]
stop = time.monotonic() + 3
seen, errors = set(), []


def reader():
    """Reads until `stop`; records what is wrong in `errors` (a thread
    cannot fail the test itself)."""
    while time.monotonic() < stop and not errors:
        try:
            v = os.getxattr(race, "user.race")
        except OSError as e:
            if e.errno != errno.ENODATA:
                errors.append(f"getxattr: {e}")
            v = None
        if v is not None and v not in values:
            errors.append(f"getxattr during changes: {len(v)} bytes {v[:8]!r}...")
        seen.add(v)
        names = set(os.listxattr(race))
        if names not in ({"user.stable"}, {"user.stable", "user.race"}):
            errors.append(f"listxattr during changes: {names}")
        if os.getxattr(race, "user.stable") != b"s" * 100:
            errors.append("the attribute beside the changing one changed")


threads = [threading.Thread(target=reader) for _ in range(2)]
for t in threads:
    t.start()
changes = 0
while time.monotonic() < stop:
    for v in values:
        os.setxattr(race, "user.race", v)
    os.removexattr(race, "user.race")
    changes += 4
for t in threads:
    t.join()
if errors:
    fail(errors[0])
print(f"{changes} changes raced by get and list: whole values only ({len(seen)} states seen)")

state = {p: {k: v.hex() for k, v in xattrs(p).items()} for p in (f, d, g, h, lnk, fifo, chrdev, sock, race)}
blocks_now = {p: blocks(p) for p in state}
json.dump({"attrs": state, "blocks": blocks_now, "free": free()}, open(expected_file, "w"))
PY

echo "== after a remount"
remount
py - "$M" "$EXPECTED" <<'PY'
import json, os, sys
from helpers import fail, xattrs

m, expected_file = sys.argv[1:3]
saved = json.load(open(expected_file))
for p, want in saved["attrs"].items():
    got = {k: v.hex() for k, v in xattrs(p).items()}
    if got != want:
        fail(f"{p} after a remount: {sorted(got)}, expected {sorted(want)} (or values differ)")
    if os.lstat(p).st_blocks // 8 != saved["blocks"][p]:
        fail(f"{p}: {os.lstat(p).st_blocks // 8} blocks after a remount, expected {saved['blocks'][p]}")
if os.statvfs(m).f_bfree != saved["free"]:
    fail(f"free blocks after a remount: {os.statvfs(m).f_bfree}, expected {saved['free']}")
print(f"{sum(len(a) for a in saved['attrs'].values())} attributes of {len(saved['attrs'])} inodes "
      "identical byte for byte")
PY

echo "== freeing the attribute block"
py - "$M" <<'PY'
import os, sys
from helpers import fail

m = sys.argv[1]
free = lambda: os.statvfs(m).f_bfree
d = f"{m}/dir"
# The last removal frees the block.
before, names = free(), os.listxattr(d)
for name in names[:-1]:
    os.removexattr(d, name)
if free() != before:
    fail("the block was freed before its last attribute")
os.removexattr(d, names[-1])
if free() != before + 1 or os.listxattr(d) or os.lstat(d).st_blocks != 0:
    fail(f"last attribute removed: {free() - before} blocks freed, st_blocks {os.lstat(d).st_blocks}")
# A new first attribute takes a block again; so does a file's first one.
os.setxattr(d, "user.again", b"1")
if free() != before:
    fail("the first attribute after the last one did not take a block")
# Unlinking inodes with attributes frees their blocks.
for name in ("file", "largest", "full", "lnk", "fifo", "chr", "sock", "race"):
    p = f"{m}/{name}"
    before, held = free(), os.lstat(p).st_blocks // 8
    os.unlink(p)
    if free() != before + held:
        fail(f"unlink {name}: {free() - before} blocks freed, it held {held}")
os.rmdir(d)
print("last removal and unlink free the attribute blocks")
PY
expect_eq "$(ls -A "$M")" "" "entries left"
expect_eq "$(free_blocks)" $((free0 - ($(blocks_of "$M") - root0))) \
	"free blocks at the end (mkfs count less the root directory's new blocks)"
umount "$MNT"
fsck.rexfs -n "$DEV" || die "fsck.rexfs -n $DEV: exit $?"
echo "fsck.rexfs -n $DEV: clean"
