#!/bin/bash
# A writer, a truncater and a syncer race on one file for RACE_SECONDS
# (default 15): the writer pwrite()s 64 KiB of self-describing blocks (each
# 4 KiB block holds its own file offset) at random 4 KiB-aligned offsets below
# 8 MiB, the truncater ftruncate()s to random byte sizes up to 8 MiB, the
# syncer fdatasync()s so that writeback runs during the race. Afterwards every
# block must be zeros or its own pattern (a prefix of it, then zeros, where an
# unaligned truncate cut it), from the page cache and again from disk; no
# blocks allocated past EOF; the module's debugfs counters show the iomap and
# writeback-mapping paths ran; fsck clean.
. "$(dirname "$0")/lib.sh"
SECONDS_RACE=${RACE_SECONDS:-15}
fresh_fs
F=$MNT/race

py - "$F" "$SECONDS_RACE" <<'PY'
import os, random, sys, time, traceback
from helpers import pattern_block
path, duration = sys.argv[1], float(sys.argv[2])
SIZE, BS, WLEN = 8 << 20, 4096, 64 << 10
fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
start = time.monotonic()

def writer(deadline):
    rnd, n = random.Random(1), 0
    while time.monotonic() < deadline:
        off = rnd.randrange((SIZE - WLEN) // BS + 1) * BS
        buf = b"".join(pattern_block(off + i) for i in range(0, WLEN, BS))
        done = os.pwrite(fd, buf, off)
        if done != WLEN:
            raise RuntimeError(f"pwrite at {off:#x}: {done} bytes of {WLEN}")
        n += 1
    return f"writer: {n} writes"

def truncater(deadline):
    rnd, n = random.Random(2), 0
    while time.monotonic() < deadline:
        os.ftruncate(fd, rnd.randrange(SIZE + 1))
        n += 1
    return f"truncater: {n} truncates"

def syncer(deadline):
    n = 0
    while time.monotonic() < deadline:
        os.fdatasync(fd)
        n += 1
        time.sleep(0.005)
    return f"syncer: {n} fdatasyncs"

# The writer runs on alone for the last second, so that the file ends up
# with data to check.
pids = []
for fn, end in ((writer, duration), (truncater, duration - 1), (syncer, duration - 1)):
    pid = os.fork()
    if pid == 0:
        try:
            print(fn(start + end), flush=True)
            os._exit(0)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
    pids.append(pid)
bad = [pid for pid in pids if os.waitpid(pid, 0)[1] != 0]
if bad:
    sys.exit(f"FAILED: {len(bad)} of the racers failed")
PY

# check WHEN: every block zeros or its own pattern; print the counts.
check() {
	py - "$F" "$1" <<'PY'
import sys
from helpers import check_pattern_file, fail
size, full, partial, zero = check_pattern_file(sys.argv[1], 8 << 20)
print(f"{sys.argv[2]}: size {size}: {full} pattern blocks, {partial} cut by a truncate, {zero} zero")
if full < 16: fail("fewer pattern blocks than one write leaves")
PY
}
check "from the page cache"
py -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)' "$F"
drop_caches
check "from disk"
size=$(stat -c %s "$F")
blocks=$(blocks_of "$F")
[ "$blocks" -le $(((size + 4095) / 4096 + 8)) ] ||
	die "$blocks blocks allocated to a file of $size bytes (blocks past EOF after truncate?)"
echo "$blocks blocks allocated for $size bytes"

D=/sys/kernel/debug/rexfs/$(basename "$DEV")
[ -d "$D" ] || die "no debugfs directory $D"
declare -A counter
for c in iomap_begin iomap_stale wb_map_reused wb_map_refetched; do
	[ -f "$D/$c" ] || die "no debugfs counter $D/$c"
	counter[$c]=$(cat "$D/$c")
	[[ ${counter[$c]} =~ ^[0-9]+$ ]] || die "$D/$c: '${counter[$c]}' is not a number"
done
echo "debugfs $D:"
for f in "$D"/*; do echo "  $(basename "$f"): $(cat "$f" 2>/dev/null || echo '(not readable)')"; done
[ "${counter[iomap_begin]}" -gt 0 ] || die "iomap_begin is 0"
[ $((counter[wb_map_reused] + counter[wb_map_refetched])) -gt 0 ] ||
	die "wb_map_reused + wb_map_refetched is 0: writeback never mapped a block"
check_fsck
