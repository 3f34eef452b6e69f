#!/bin/bash
# The benchmark (run inside the VM by `make bench`): the same I/O jobs, on the
# same virtual disk, for rexfs, XFS and ext4 in turn, each made fresh before
# its jobs; O_DIRECT jobs also on the raw device. Prints a table of MiB/s and
# writes it to $REXFS_OUT/bench.txt when REXFS_OUT is set.
#
# Under QEMU TCG on a debug kernel (lockdep etc.), best of $REPEAT runs: the numbers are
# noisy and only mean something relative to each other.
#
# It destroys everything on /dev/vda, so it refuses to run outside the guest.
. "$(dirname "$0")/vm/lib.sh"
# lib.sh turns on errexit for tests; here a failing job (rexfs's write path is
# under development) must be recorded as "failed" and the run go on, so every
# failure is handled explicitly instead.
set +e

if ! grep -qE '^[^ ]+ / 9p ' /proc/mounts; then
	echo "bench.sh: the root is not 9p; this is not the test VM and $DEV would be overwritten" >&2
	exit 2
fi

NA_DIRECT="n/a (no O_DIRECT)"
# Runs of each job; the table has the best.
REPEAT=${BENCH_REPEAT:-2}

# The jobs, in table order. Each has a label, a size in MiB (the bytes it
# moves, for MiB/s), the file it uses (a job reading a file reuses the one
# the previous job wrote) and a function job_<name> TARGET running it.
# Jobs named direct_* use O_DIRECT: n/a on a filesystem without it, and the
# only ones also run on the raw device.
JOBS=(seq_write seq_read mmap_write dsync_write direct_write direct_read)
declare -A LABEL=(
	[seq_write]="seq write+fsync (1M, 256M)"
	[seq_read]="cold seq read (1M, 256M)"
	[mmap_write]="mmap write+msync (64M)"
	[dsync_write]="4K RWF_DSYNC write (4M)"
	[direct_write]="O_DIRECT seq write (1M, 256M)"
	[direct_read]="O_DIRECT seq read (1M, 256M)"
)
declare -A SIZE_MIB=(
	[seq_write]=256 [seq_read]=256 [mmap_write]=64
	[dsync_write]=4 [direct_write]=256 [direct_read]=256
)
declare -A FILE=(
	[seq_write]=seq [seq_read]=seq [mmap_write]=mmap
	[dsync_write]=dsync [direct_write]=direct [direct_read]=direct
)

# The whole command is timed, so the fsync is part of the write's cost.
job_seq_write() { xfs_io -f -c "pwrite -b 1m 0 256m" -c fsync "$1"; }
job_seq_read() { xfs_io -c "pread -b 1m 0 256m" "$1"; }
# truncate first: a store into a mapping beyond EOF is a SIGBUS.
job_mmap_write() {
	xfs_io -f -c "truncate 64m" -c "mmap -rw 0 64m" -c "mwrite 0 64m" -c "msync -s 0 64m" "$1"
}
# xfsprogs 6.1's pwrite -D issues each 4 KiB pwritev2() with RWF_DSYNC
# (man xfs_io), i.e. a data-integrity write per block, not one sync at the end.
job_dsync_write() { xfs_io -f -c "pwrite -D -b 4k 0 4m" "$1"; }
job_direct_write() { xfs_io -d -f -c "pwrite -b 1m 0 256m" "$1"; }
job_direct_read() { xfs_io -d -c "pread -b 1m 0 256m" "$1"; }

declare -A RESULT # RESULT[job,column]: MiB/s, "failed" or $NA_DIRECT
FSCK_REPORT="fsck.rexfs: not run"

# short_io LOG: true if xfs_io moved fewer bytes than asked ("read 1048576/
# 268435456 bytes"): it exits 0 on a short read, e.g. of a truncated file.
short_io() {
	awk '$1 ~ /^(read|wrote)$/ && split($2, n, "/") == 2 && n[1] != n[2] { short = 1 }
	     END { exit !short }' "$1"
}

# timed_mib_per_s SIZE_MIB CMD...: run CMD, print SIZE_MIB divided by its
# wall time, or "failed" if it failed or moved less than asked. Its output
# goes to stderr (the console) as a record.
timed_mib_per_s() {
	local size=$1 log=/tmp/bench-job.log start end status seconds mib
	shift
	start=$(date +%s.%N)
	"$@" >"$log" 2>&1
	status=$?
	end=$(date +%s.%N)
	sed 's/^/    /' "$log" >&2
	if [ "$status" != 0 ] || short_io "$log"; then
		echo "    exit status $status" >&2
		echo failed
		return
	fi
	read -r seconds mib <<<"$(awk -v s="$start" -v e="$end" -v m="$size" \
		'BEGIN { t = e - s; printf "%.2f %.1f\n", t, (t > 0 ? m / t : 0) }')"
	echo "    $seconds s" >&2
	echo "$mib"
}

# Every job starts from a clean, empty page cache: reads are cold and no
# writeback left over from the previous job is charged to this one.
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# run_job COLUMN JOB TARGET: run JOB on TARGET (a file or the device)
# $REPEAT times, each from a dropped page cache and, for a write into a
# file, without the file, and record the best MiB/s in COLUMN ("failed" if
# any run failed). The best of several damps what a first run pays and the
# next do not (under TCG: host memory backing the guest's first touch,
# allocations of new slab and folio sizes).
run_job() {
	local column=$1 job=$2 target=$3 i mib best=0
	echo "-- $column: ${LABEL[$job]}"
	for ((i = 0; i < REPEAT; i++)); do
		[[ $job == *_write && -f $target ]] && rm -f "$target"
		drop_caches
		mib=$(timed_mib_per_s "${SIZE_MIB[$job]}" "job_$job" "$target")
		if [ "$mib" = failed ]; then
			best=failed
			break
		fi
		best=$(awk -v a="$best" -v b="$mib" 'BEGIN { print (b > a ? b : a) }')
	done
	RESULT[$job,$column]=$best
	echo "   $column: ${LABEL[$job]}: $best"
}

# direct_io_works: can the filesystem on $MNT do O_DIRECT writes at all?
direct_io_works() { xfs_io -d -f -c "pwrite 0 4k" "$MNT/probe" >/dev/null 2>&1; }

# run_jobs FS: every job on the filesystem mounted on $MNT.
run_jobs() {
	local fs=$1 job direct=yes
	direct_io_works || direct=no
	for job in "${JOBS[@]}"; do
		if [[ $job == direct_* && $direct == no ]]; then
			RESULT[$job,$fs]=$NA_DIRECT
			echo "-- $fs: ${LABEL[$job]}: $NA_DIRECT"
		else
			run_job "$fs" "$job" "$MNT/${FILE[$job]}"
		fi
	done
}

# make_fs FS: a fresh FS on $DEV.
make_fs() {
	case $1 in
	rexfs) load && mkfs.rexfs -q -f "$DEV" ;;
	xfs) mkfs.xfs -f -q "$DEV" ;;
	# Initialise the inode tables and journal now: by default ext4 zeroes
	# them from a kernel thread after mount, which would run during the jobs.
	ext4) mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$DEV" ;;
	esac
}

unmount() {
	umount "$MNT" && return
	echo "bench.sh: umount $MNT failed; detaching it lazily" >&2
	umount -l "$MNT"
}

# bench_fs FS: make and mount FS on $DEV, run every job, unmount. If it
# cannot be made or mounted, every job of FS is "failed".
bench_fs() {
	local fs=$1 job
	echo "== $fs ($(date +%T))"
	if ! make_fs "$fs" || ! mount -t "$fs" "$DEV" "$MNT"; then
		echo "bench.sh: could not make or mount $fs on $DEV" >&2
		for job in "${JOBS[@]}"; do RESULT[$job,$fs]=failed; done
		return
	fi
	run_jobs "$fs"
	unmount
}

# bench_raw: the O_DIRECT jobs on the device itself, the ceiling for the
# filesystems' O_DIRECT numbers. The buffered jobs have no raw counterpart.
bench_raw() {
	local job
	echo "== raw $DEV ($(date +%T))"
	for job in "${JOBS[@]}"; do
		if [[ $job == direct_* ]]; then run_job raw "$job" "$DEV"; fi
	done
}

# check_rexfs: fsck the rexfs the jobs left on $DEV (read-only, with usage
# counts), before the device is reused.
check_rexfs() {
	local out status
	out=$(fsck.rexfs -n -v "$DEV" 2>&1)
	status=$?
	case $status in
	0) FSCK_REPORT="clean" ;;
	4) FSCK_REPORT="errors" ;;
	8) FSCK_REPORT="could not check" ;;
	*) FSCK_REPORT="unexpected" ;;
	esac
	FSCK_REPORT="fsck.rexfs -n -v $DEV after the rexfs jobs: exit $status ($FSCK_REPORT)"
	[ -z "$out" ] || FSCK_REPORT+=$'\n'$(sed 's/^/    /' <<<"$out")
	echo "$FSCK_REPORT"
}

# ratio A B: A/B with 2 decimals, or "-" unless both are numbers.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		num = "^[0-9]+(\\.[0-9]+)?$"
		if (a ~ num && b ~ num && b > 0) printf "%.2f\n", a / b; else print "-"
	}'
}

report() {
	local row="%-30s  %21s  %10s  %10s  %10s  %9s\n" job
	echo "rexfs benchmark on $(uname -r), $(nproc) vCPU, $DEV $(($(blockdev --getsize64 "$DEV") >> 20)) MiB"
	echo "best of $REPEAT runs per job under QEMU TCG on a debug kernel: noisy, compare columns, not machines"
	echo
	printf "$row" job "rexfs MiB/s" "xfs MiB/s" "ext4 MiB/s" "raw MiB/s" rexfs/xfs
	for job in "${JOBS[@]}"; do
		printf "$row" "${LABEL[$job]}" "${RESULT[$job,rexfs]}" "${RESULT[$job,xfs]}" \
			"${RESULT[$job,ext4]}" "${RESULT[$job,raw]:--}" \
			"$(ratio "${RESULT[$job,rexfs]}" "${RESULT[$job,xfs]}")"
	done
	echo
	echo "$FSCK_REPORT"
}

bench_fs rexfs
check_rexfs
unload
bench_fs xfs
bench_fs ext4
bench_raw

report >/tmp/bench.txt
echo
cat /tmp/bench.txt
if [ -n "${REXFS_OUT:-}" ]; then
	cp /tmp/bench.txt "$REXFS_OUT/bench.txt"
fi
