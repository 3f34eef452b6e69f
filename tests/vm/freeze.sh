#!/bin/bash
# Freezing (fsfreeze: FIFREEZE and FITHAW), as snapshots use it. On the
# 64 MiB $DEV2: the frozen device holds what was written before the freeze
# (buffered, never synced), its superblock says clean and fsck finds it
# clean. Nothing on the device changes while it is frozen: a write(2), a
# write fault into a shared mapping and the last close of an unlinked file
# wait for the thaw, and sync(2) writes nothing. After the thaw they
# complete, and a remount finds everything.
. "$(dirname "$0")/lib.sh"
fresh_fs "$DEV2"
# sb_state: the superblock's state word on the device (1 clean, 0 in use).
sb_state() { od -An -tu4 -j104 -N4 "$DEV2" | tr -d ' '; }
# device_sum: what the device holds, read past the page cache (data the
# filesystem wrote) and through it (metadata buffers, dirty or not).
device_sum() { { dd if="$DEV2" bs=1M iflag=direct status=none; cat "$DEV2"; } | md5sum | cut -d' ' -f1; }
# still_waiting PID WHAT: PID has not finished after two seconds.
still_waiting() {
	sleep 2
	kill -0 "$1" 2>/dev/null || die "$2 finished on a frozen filesystem"
}
expect_eq "$(sb_state)" 0 "superblock state while mounted"

echo "== freeze after buffered writes"
head -c 3M /dev/urandom >/tmp/freeze-data
cp /tmp/freeze-data "$MNT/data"
printf 'inline\n' >"$MNT/small"
mkdir "$MNT/dir"
touch "$MNT/dir/f"{1..20}
head -c 8192 /dev/zero >"$MNT/mapped"
# A shared writable mapping made before the freeze; it writes once a line
# comes through the FIFO (opening its other end waits for the mapping).
rm -f /tmp/freeze-go /tmp/freeze-ready
mkfifo /tmp/freeze-go
py - "$MNT/mapped" /tmp/freeze-go <<'PY' &
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
assert m[:4] == b"\0" * 4
open(sys.argv[2]).readline()
m[4096:4101] = b"fault"
PY
fault_pid=$!
exec 4>/tmp/freeze-go
fsfreeze -f "$MNT"
expect_eq "$(sb_state)" 1 "superblock state while frozen"
fsck.rexfs -n "$DEV2" >/tmp/freeze-fsck.log 2>&1 || { cat /tmp/freeze-fsck.log; die "fsck of the frozen device"; }
frozen=$(device_sum)

echo "== changes wait while frozen"
printf 'late\n' >"$MNT/late" &
write_pid=$!
echo go >&4
still_waiting "$write_pid" "a write(2)"
still_waiting "$fault_pid" "a write fault"
sync
expect_eq "$(device_sum)" "$frozen" "the frozen device after a write, a write fault and sync"
fsfreeze -u "$MNT"
wait "$write_pid" || die "the write after the thaw"
wait "$fault_pid" || die "the write fault after the thaw"
exec 4>&-
expect_eq "$(sb_state)" 0 "superblock state after the thaw"

echo "== the last close of an unlinked file waits while frozen"
# A process holds the only descriptor of an unlinked 1 MiB file; killed
# while frozen, its exit closes the file, and freeing the inode waits.
py - "$MNT/unlinked" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, os.urandom(1 << 20))
os.fsync(fd)
os.unlink(sys.argv[1])
with open("/tmp/freeze-ready.tmp", "w") as f:
    print(os.getpid(), file=f)
os.rename("/tmp/freeze-ready.tmp", "/tmp/freeze-ready")
time.sleep(600)
PY
holder_shell=$!
for _ in $(seq 100); do [ -e /tmp/freeze-ready ] && break; sleep 0.1; done
[ -e /tmp/freeze-ready ] || die "the holder of the unlinked file did not start"
# py runs python3 in a subshell: kill python itself.
holder_pid=$(cat /tmp/freeze-ready)
sync
inodes=$(free_inodes) blocks=$(free_blocks)
fsfreeze -f "$MNT"
frozen=$(device_sum)
kill -9 "$holder_pid"
still_waiting "$holder_pid" "freeing an unlinked inode"
expect_eq "$(device_sum)" "$frozen" "the frozen device after the last close of an unlinked file"
fsfreeze -u "$MNT"
wait "$holder_shell" 2>/dev/null || true
sync
expect_eq "$(free_inodes)" $((inodes + 1)) "free inodes after the thaw"
expect_eq "$(free_blocks)" $((blocks + 256)) "free blocks after the thaw"

echo "== after a remount"
remount "$DEV2"
expect_eq "$(md5 "$MNT/data")" "$(md5 /tmp/freeze-data)" "data"
expect_eq "$(cat "$MNT/small")|$(cat "$MNT/late")" "inline|late" "small files"
expect_eq "$(ls "$MNT/dir" | wc -l)" 20 "directory entries"
expect_eq "$(dd if="$MNT/mapped" bs=1 skip=4096 count=5 status=none)" fault "the mapped write"
check_fsck "$DEV2"
