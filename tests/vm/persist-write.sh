#!/bin/bash
# First half of a test across a guest reboot (tests/vm/persist-verify.sh is
# the second, run by the host in a second boot on the same disks): make a
# tree on $DEV (directories, 50 files of 0..300 KiB of seeded random data, a
# symlink, a hard link, modes and owners, extended attributes on files and a
# directory), fsync every file and directory,
# save its manifest to $OUT_DIR, and leave the filesystem mounted: the guest
# goes down without unmounting it. Run it last.
#
# The crash tests' real reset: the workload of tests/vm/crash.py
# (rexfs-exercise, namespace churn with files unlinked while open and
# O_TMPFILE files held open, fsynced marker files) runs in $MNT/inflight,
# which the manifest leaves out, and is left running: the guest's init
# resets it (sysrq b, no sync; scripts/vm.sh) with writes in flight. The
# marker log and the workload's output go to $OUT_DIR, which the second
# boot reads.
#
# reboot: after
. "$(dirname "$0")/lib.sh"
SAVED=$OUT_DIR/rexfs-persist.manifest
MARKERS=$OUT_DIR/rexfs-persist-markers.log
WORKLOAD_OUT=$OUT_DIR/rexfs-persist-workload.log
EXERCISE=$REPO/tools/target/release/rexfs-exercise
[ -x "$EXERCISE" ] || die "no $EXERCISE: run 'make tools'"
rm -f "$SAVED" "$MARKERS" "$WORKLOAD_OUT"
# The manifest leaves out the workload's directory (check_manifest of
# persist-verify.sh calls it the same way).
manifest() { helper manifest "$1" | grep -v "^'inflight[/']"; }
fresh_fs
# Made before the tree, so that the fsync of the root below covers it.
mkdir "$MNT/inflight"
py - "$MNT" <<'PY'
import os, random, sys
m = sys.argv[1]
rnd = random.Random(20240601)
dirs = ["d1", "d1/d2", "d1/d2/d3", "e"]
for d in dirs:
    os.mkdir(os.path.join(m, d))
# Sizes around the interesting boundaries (inline data, one block, extents),
# then random ones.
sizes = [0, 1, 128, 129, 4095, 4096, 4097, 65536, 300 << 10]
sizes += [rnd.randrange((300 << 10) + 1) for _ in range(50 - len(sizes))]
files = []
for i, size in enumerate(sizes):
    p = os.path.join(m, ["", *dirs][i % 5], f"file-{i:02d}")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    data = rnd.randbytes(size)
    # Two writes, the second one not at the end, so the file is not written
    # in one piece.
    half = size // 2
    os.pwrite(fd, data[half:], half)
    os.pwrite(fd, data[:half], 0)
    os.close(fd)
    files.append(p)
os.chmod(files[3], 0o600)
os.chmod(files[4], 0o4755)
os.chown(files[5], 1000, 2000)
os.symlink("d1/file-01", os.path.join(m, "link"))
os.link(files[6], os.path.join(m, "e/hard"))
os.utime(files[7], ns=(1_000_000_001, 981_173_106_123_456_789))
# Attributes on an inline file, a file with extents and a directory.
os.setxattr(files[1], "user.big", rnd.randbytes(3000))
os.setxattr(files[8], "user.a", b"1")
os.setxattr(files[8], "trusted.b", b"")
os.setxattr(os.path.join(m, "d1"), "user.dir", b"attribute of a directory")
for p in files:
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
for d in sorted(dirs, key=len, reverse=True) + ["."]:
    fd = os.open(os.path.join(m, d), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
print(f"{len(files)} files, {len(dirs)} directories, a symlink and a hard link, "
      "extended attributes, all fsynced")
PY
manifest "$MNT" >"$SAVED.tmp"
mv "$SAVED.tmp" "$SAVED"
expect_eq "$(wc -l <"$SAVED")" 57 "manifest entries (root, 4 dirs, 50 files, symlink, hard link)"
echo "manifest saved to $SAVED"

# The workload, in a session of its own (not killed when this test ends).
wpid=$(py "$VMDIR/crash.py" workload --dir "$MNT/inflight" --log "$MARKERS" --seed 20240602 \
	--tag reset --exerciser "$EXERCISE" --background "$WORKLOAD_OUT") ||
	die "the workload did not start"
# Running for a while: some markers fsynced (60 s at most), orphans held
# open, the exerciser writing.
markers_so_far() {
	local n
	n=$(grep -c '^new ' "$MARKERS" 2>/dev/null) || true
	echo "${n:-0}"
}
for _ in $(seq 600); do
	[ "$(markers_so_far)" -ge 5 ] && break
	sleep 0.1
done
[ "$(markers_so_far)" -ge 5 ] || die "the workload fsynced $(markers_so_far) markers in 60 s"
sleep 2
if ! kill -0 "$wpid" 2>/dev/null || grep -q '^FAILED' "$WORKLOAD_OUT"; then
	tail -30 "$WORKLOAD_OUT" >&2
	die "the workload stopped"
fi
grep '^workload: t=' "$WORKLOAD_OUT" | tail -1 || true
echo "workload (session $wpid) running: $(markers_so_far) markers fsynced so far;" \
	"leaving $DEV mounted for the reset"
