#!/bin/bash
# The benchmark, run inside the VM by `make bench` (scripts/run.sh bench) on
# the production-config kernel: rexfs, XFS and ext4, each on its own disk and
# mounted for the whole run, and the raw device for the O_DIRECT jobs, in one
# table. Every job runs BENCH_RUNS times on every column, the runs of a job
# interleaved over the columns in rotating order, the page cache dropped
# before each; the table has the best run and the spread of the runs. The
# throughput is the one the tool measured (fio's JSON, xfs_io's report, or a
# timer inside the one process doing the work), never a process's wall time.
#
# Disks (the host writes each out in full first): /dev/vda rexfs, /dev/vdb
# XFS, /dev/vdc ext4, /dev/vdd the raw device. They are destroyed, so this
# refuses to run outside the test VM.
#
# DAX (the dax_* jobs): the guest's legacy pmem device, /dev/pmem0
# (scripts/run.sh boots with --pmem BENCH_PMEM_MIB), shared by the three
# filesystems one after the other: every run of a DAX job on a column makes
# that filesystem afresh on /dev/pmem0 (mkfs.rexfs -q -f; mkfs.xfs -f -q,
# whose default reflink=1 Linux 7.3 accepts with dax on a whole device;
# mkfs.ext4 -F -q -b 4096 with the inode tables and journal initialised),
# mounts it with -o dax, checks that a file made there has STATX_ATTR_DAX
# (XFS would silently mount without DAX on a device that lacks it), runs the
# job's setup (the read job's file) and the job, and unmounts it; after a
# rexfs run, fsck.rexfs -n /dev/pmem0 (reported after the table). The runs
# rotate over the columns as the others do. No raw column: the DAX rows
# compare filesystems. Without /dev/pmem0 their cells read n/a.
#
# Settings, from the host's environment (scripts/run.sh passes BENCH_* on):
#   BENCH_RUNS=3          runs of each job on each column
#   BENCH_RUNTIME=30      seconds of each time-based fio job (random, fsync)
#   BENCH_SEQ_MIB=512     size of each sequential job
#   BENCH_RAND_MIB=2048   file (or device range) of the random jobs
#   BENCH_IOENGINE=libaio the random jobs' engine (libaio or io_uring)
#   BENCH_MMAP_MIB=1024   size of the mmap job (256 MiB ran in 0.25 s; at
#                         1 GiB writeback and dirty throttling run during
#                         the stores, as in a long-running writer)
#   BENCH_DSYNC_MIB=16    size of the RWF_DSYNC job
#   BENCH_META_FILES=10000 files of the metadata job
#   BENCH_SMALL_FILES=2000 files of the create+fsync job
#   BENCH_DAX_MIB=256     size of each DAX job (sequential write, read, mmap);
#                         it must fit in /dev/pmem0 with the filesystem
#   BENCH_CLONE_MIB=1024  size of the file the clone job clones
#   BENCH_COW_MIB=256     size of the clone the copy-on-write job overwrites
#   BENCH_JOBS="..."      only these jobs (names as in JOBS below)
#   BENCH_COLUMNS="..."   only these columns (rexfs xfs ext4 raw)
#   BENCH_JOB_TIMEOUT     seconds one run of a job may take, then it failed
#                         (default 3 x BENCH_RUNTIME + 900)
#   BENCH_SCALE=0         1: the scaling jobs too (`make bench SCALE=1`): per-
#                         operation times in one directory of 1k, 10k and
#                         100k entries and in files of 1k, 10k and 100k
#                         extents (tests/bench/scale.py), their ratios after
#                         the table; the raw column n/a
#   BENCH_SCALE_MILLION=1 with BENCH_SCALE=1, the directory of 1,000,000
#                         entries too (job scale_dir_1m, rows of its own);
#                         rexfs and ext4 are then made with -N 1100000
#   BENCH_SCALE_TIMEOUT=3600 seconds one run of a 1k-100k scaling job may take
#   BENCH_SCALE_MILLION_TIMEOUT=10800 and one run of scale_dir_1m
# From scripts/run.sh: BENCH_PMEM_MIB (the VM's pmem, 1024; not read here),
# BENCH_MODULE (the rexfs.ko built for this kernel)
# and BENCH_MODULE_NOTE (how), BENCH_KERNEL (which kernel this is),
# REXFS_OUT (where the table goes).
#
# Outputs in $REXFS_OUT: bench.txt (the table), bench-results.tsv (every
# run's value), bench-rows.tsv (the rows), bench-logs/ (fio's JSON and each
# run's log).
#
# Adding a job: a `job` line and its `row` lines below, and a function
# job_NAME COLUMN TARGET printing "ROW VALUE" per row (TARGET: the mount
# point, or the raw device; VALUE a number, or n/a where the column lacks
# the feature); see the existing ones. A row's unit ending in "/s" (or IOPS)
# is a rate, any other (ms, us/op) a time, lower better (report.py).
. "$(dirname "$0")/vm/lib.sh"
# lib.sh turns on errexit for tests; here a failing job (rexfs's write path is
# under development) must be recorded as "failed" and the run go on, so every
# failure is handled explicitly instead.
set +e

if ! grep -qE '^[^ ]+ / 9p ' /proc/mounts; then
	echo "bench.sh: the root is not 9p; this is not the test VM and its disks would be overwritten" >&2
	exit 2
fi

BENCH=$REPO/tests/bench
RUNS=${BENCH_RUNS:-3}
RUNTIME=${BENCH_RUNTIME:-30}
SEQ_MIB=${BENCH_SEQ_MIB:-512}
RAND_MIB=${BENCH_RAND_MIB:-2048}
IOENGINE=${BENCH_IOENGINE:-libaio}
MMAP_MIB=${BENCH_MMAP_MIB:-1024}
DSYNC_MIB=${BENCH_DSYNC_MIB:-16}
META_FILES=${BENCH_META_FILES:-10000}
SMALL_FILES=${BENCH_SMALL_FILES:-2000}
DAX_MIB=${BENCH_DAX_MIB:-256}
CLONE_MIB=${BENCH_CLONE_MIB:-1024}
COW_MIB=${BENCH_COW_MIB:-256}
JOB_TIMEOUT=${BENCH_JOB_TIMEOUT:-$((RUNTIME * 3 + 900))}
SCALE=${BENCH_SCALE:-0}
SCALE_MILLION=${BENCH_SCALE_MILLION:-1}
SCALE_TIMEOUT=${BENCH_SCALE_TIMEOUT:-3600}
SCALE_MILLION_TIMEOUT=${BENCH_SCALE_MILLION_TIMEOUT:-10800}
MODULE=${BENCH_MODULE:-$MODULE}
OUTDIR=${REXFS_OUT:-/tmp/bench-out}
LOGDIR=$OUTDIR/bench-logs
ROWS_FILE=$OUTDIR/bench-rows.tsv
RESULTS=$OUTDIR/bench-results.tsv

ALL_COLUMNS=(rexfs xfs ext4 raw)
read -ra COLUMNS <<<"${BENCH_COLUMNS:-${ALL_COLUMNS[*]}}"
declare -A DISK=([rexfs]=/dev/vda [xfs]=/dev/vdb [ext4]=/dev/vdc [raw]=/dev/vdd)
declare -A TARGET=()   # column -> mount point, or the raw device
declare -A BROKEN=()   # column -> why it has no results (not made or mounted)
declare -A DIRECT=()   # column -> yes if O_DIRECT works there
# DAX: the pmem device all the DAX jobs use, where each is mounted, and the
# fsck.rexfs results of the rexfs runs there.
PMEM=/dev/pmem0
DAX_MNT=/tmp/bench/dax
PMEM_MIB=0
[ -b "$PMEM" ] && PMEM_MIB=$(($(blockdev --getsize64 "$PMEM") >> 20))
DAX_FSCK_CLEAN=0
declare -a DAX_FSCK_BAD=()
for col in "${COLUMNS[@]}"; do
	[ -n "${DISK[$col]:-}" ] || { echo "bench.sh: unknown column $col" >&2; exit 2; }
	[ -b "${DISK[$col]}" ] || { echo "bench.sh: no disk ${DISK[$col]} for $col" >&2; exit 2; }
done

# ---- The jobs and the rows of the table, in table order ----

declare -a JOBS=()
# JOB_WHERE: "fs" or "fs raw" (the mounted disks, and the raw one), or "dax"
# (a fresh filesystem on /dev/pmem0 for each run); JOB_ROWS: the rows it
# fills; JOB_DIRECT: uses O_DIRECT (n/a on a filesystem without it);
# JOB_FILES: the files it uses, removed once no later job uses them;
# JOB_SETUP: run once per column first (for a "dax" job: in each run, on
# its fresh filesystem, before the job).
declare -A JOB_WHERE=() JOB_ROWS=() JOB_DIRECT=() JOB_FILES=() JOB_SETUP=()
declare -A ROW_UNIT=() ROW_LABEL=() ROW_GROUP=()
declare -a ROWS=()
GROUP=

# job NAME WHERE [direct] [files=F1,F2] [setup=FUNCTION]
job() {
	local name=$1 arg
	JOBS+=("$name")
	JOB_WHERE[$name]=$2
	for arg in "${@:3}"; do
		case $arg in
		direct) JOB_DIRECT[$name]=1 ;;
		files=*) JOB_FILES[$name]=${arg#files=} ;;
		setup=*) JOB_SETUP[$name]=${arg#setup=} ;;
		esac
	done
}
# row JOB ROW UNIT LABEL: a row of the table, in the current GROUP.
row() {
	ROWS+=("$2")
	JOB_ROWS[$1]+=" $2"
	ROW_UNIT[$2]=$3 ROW_LABEL[$2]=$4 ROW_GROUP[$2]=$GROUP
}

GROUP="sequential, 1 MiB blocks, psync; the writes end with fsync"
job seq_write fs files=seq
row seq_write seq_write MiB/s "buffered write, ${SEQ_MIB} MiB"
job seq_read fs files=seq
row seq_read seq_read MiB/s "buffered read, cold"
job dio_seq_write "fs raw" direct files=dseq
row dio_seq_write dio_seq_write MiB/s "O_DIRECT write, ${SEQ_MIB} MiB"
job dio_seq_read "fs raw" direct files=dseq
row dio_seq_read dio_seq_read MiB/s "O_DIRECT read"

GROUP="random 4 KiB, $IOENGINE iodepth 16, ${RUNTIME} s each, in a ${RAND_MIB} MiB file"
job rand_read fs files=rand setup=setup_rand
row rand_read rand_read IOPS "buffered read, cold"
job dio_rand_read "fs raw" direct files=rand setup=setup_rand
row dio_rand_read dio_rand_read IOPS "O_DIRECT read"
job rand_write fs files=rand setup=setup_rand
row rand_write rand_write IOPS "buffered overwrite + fsync"
job dio_rand_write "fs raw" direct files=rand setup=setup_rand
row dio_rand_write dio_rand_write IOPS "O_DIRECT overwrite + fsync"

GROUP="synchronous 4 KiB appends to a new file"
job fsync_write fs files=fsync
row fsync_write fsync_write ops/s "write + fsync each, ${RUNTIME} s (fio)"
job dsync_write fs files=dsync
row dsync_write dsync_write ops/s "RWF_DSYNC each, ${DSYNC_MIB} MiB (xfs_io)"
job small_fsync fs files=small
row small_fsync small_fsync files/s "create + 4 KiB write + fsync, ${SMALL_FILES} files"

GROUP="mmap"
job mmap_write fs files=mmap
row mmap_write mmap_write MiB/s "stores + msync, ${MMAP_MIB} MiB sparse file"

GROUP="metadata: ${META_FILES} empty files in one directory"
job meta fs files=meta
row meta meta_create ops/s "create + syncfs"
row meta meta_stat ops/s "stat, cold cache"
row meta meta_unlink ops/s "unlink + syncfs"

GROUP="DAX: $PMEM ($( ((PMEM_MIB)) && echo "$PMEM_MIB MiB legacy pmem" || echo none)), mounted -o dax, a fresh filesystem each run"
job dax_seq_write dax
row dax_seq_write dax_seq_write MiB/s "DAX seq write 1M, ${DAX_MIB} MiB, fsync"
job dax_seq_read dax setup=setup_dax_read
row dax_seq_read dax_seq_read MiB/s "DAX seq read 1M"
job dax_mmap_write dax
row dax_mmap_write dax_mmap_write MiB/s "DAX mmap write: stores + msync, ${DAX_MIB} MiB sparse"

GROUP="shared extents (reflink; ext4 has none: n/a)"
job clone fs files=clone-src,clone-dst setup=setup_clone
row clone clone ms "FICLONE of a ${CLONE_MIB} MiB file, + fsync"
job cow_write fs files=cow-src,cow-dst
row cow_write cow_write MiB/s "overwrite of a ${COW_MIB} MiB clone (copy on write), 1 MiB writes + fsync"

# The scaling benchmark (issue 21), with BENCH_SCALE=1: a job per workload
# and size, so that a size that fails or overruns its timeout (the largest
# ones on a filesystem that does not scale) costs only its own rows. The
# rows go by operation, the sizes one under the other; report.py compares
# the 100k rows with the 1k ones (rows named scale_*_1k, scale_*_100k).
if [ "$SCALE" = 1 ]; then
	GROUP="scaling: one directory of N empty files, created in name order; stat and unlink of 1,000 random names"
	for n in 1k 10k 100k; do job scale_dir_$n "fs raw"; done
	for n in 1k 10k 100k; do row scale_dir_$n scale_dir_create_$n us/op "create, $n entries"; done
	for n in 1k 10k 100k; do row scale_dir_$n scale_dir_stat_$n us/op "stat, cold, $n entries"; done
	for n in 1k 10k 100k; do row scale_dir_$n scale_dir_list_$n us/entry "readdir (scandir), cold, $n entries"; done
	for n in 1k 10k 100k; do row scale_dir_$n scale_dir_unlink_$n us/op "unlink, $n entries (names looked up first)"; done

	GROUP="scaling: a file of N 4 KiB extents (every other block written, the others holes); 1,000 random blocks"
	for n in 1k 10k 100k; do job scale_extents_$n "fs raw"; done
	for n in 1k 10k 100k; do row scale_extents_$n scale_extents_read_$n us/op "read 4 KiB, cold, $n extents"; done
	for n in 1k 10k 100k; do
		row scale_extents_$n scale_extents_dsync_$n us/op "O_DSYNC 4 KiB write into a hole, $n extents"
	done

	# Last: a run that failed or overran its timeout leaves up to a million
	# files behind (removing them could take as long), which no later job
	# then meets.
	if [ "$SCALE_MILLION" = 1 ]; then
		GROUP="scaling: one directory of 1,000,000 empty files, as above"
		job scale_dir_1m "fs raw"
		row scale_dir_1m scale_dir_create_1m us/op "create"
		row scale_dir_1m scale_dir_stat_1m us/op "stat, cold"
		row scale_dir_1m scale_dir_list_1m us/entry "readdir (scandir), cold"
		row scale_dir_1m scale_dir_unlink_1m us/op "unlink (names looked up first)"
		row scale_dir_1m scale_dir_total_1m s "create + list + lookup + remove, the whole directory"
	fi
fi

if [ -n "${BENCH_JOBS:-}" ]; then
	read -ra JOBS <<<"$BENCH_JOBS"
	for j in "${JOBS[@]}"; do
		[ -n "${JOB_WHERE[$j]:-}" ] || { echo "bench.sh: unknown job $j" >&2; exit 2; }
	done
fi
# is_dax_job JOB: JOB runs on /dev/pmem0, not on the mounted disks.
is_dax_job() { [ "${JOB_WHERE[$1]}" = dax ]; }
# DISKS_USED: some job runs on the disks (else they are not made or
# mounted); DAX_USED: some job runs on /dev/pmem0. MKFS_INODES: mkfs.rexfs's
# and mkfs.ext4's inode count, for the million-entry directory above their
# default (one per 16 KiB: 196,608 on a 3 GiB disk); XFS allocates its
# inodes as it needs them.
DISKS_USED= DAX_USED=
MKFS_INODES=()
for j in "${JOBS[@]}"; do
	if is_dax_job "$j"; then DAX_USED=1; else DISKS_USED=1; fi
	[ "$j" != scale_dir_1m ] || MKFS_INODES=(-N 1100000)
done

# ---- Running one measurement ----

# in_list WORD LIST...: is WORD one of LIST?
in_list() { local w=$1 x; shift; for x; do [ "$x" = "$w" ] && return 0; done; return 1; }

# path_of COLUMN TARGET NAME: the file NAME on a filesystem, or the device.
path_of() { if [ "$1" = raw ]; then echo "$2"; else echo "$2/$3"; fi; }

# fresh COLUMN PATH: before a write job, no file at PATH (the device stays).
fresh() { [ "$1" = raw ] || rm -rf "$2"; }

# need_file PATH MIB: a read job's input, left by the write job before it.
need_file() {
	[ -b "$1" ] && return 0
	local size
	size=$(stat -c %s "$1" 2>/dev/null) || { echo "no $1: its write job failed or did not run" >&2; return 1; }
	[ "$size" -ge $(($2 << 20)) ] || { echo "$1 is $size bytes, short of $2 MiB" >&2; return 1; }
}

# run_fio SECTION PATH read|write mib|iops ROW: one fio job of jobs.fio on
# PATH; prints "ROW VALUE" with fio's own throughput. Its JSON goes to
# $RUN_LOG.json.
run_fio() {
	local section=$1 path=$2 rw=$3 metric=$4 row=$5 value
	grep -q "^\[$section\]" "$BENCH/jobs.fio" || { echo "no section [$section] in jobs.fio" >&2; return 1; }
	BENCH_TARGET=$path BENCH_SEQ_SIZE=${SEQ_MIB}m BENCH_RAND_SIZE=${RAND_MIB}m \
		BENCH_RUNTIME=$RUNTIME BENCH_IOENGINE=$IOENGINE BENCH_DAX_SIZE=${DAX_MIB}m \
		timeout -k 30 "$JOB_TIMEOUT" fio --eta=never --output-format=json \
		--output="$RUN_LOG.json" --section="$section" "$BENCH/jobs.fio" >&2 ||
		{ echo "fio exit status $?" >&2; return 1; }
	value=$(python3 "$BENCH/measure.py" fio "$RUN_LOG.json" "$rw" "$metric") || return 1
	echo "$row $value"
}

# setup_rand COLUMN TARGET: the random jobs' file, written in full and
# synced (unless a previous random job left it).
setup_rand() {
	[ "$1" = raw ] && return 0
	local f=$2/rand
	[ "$(stat -c %s "$f" 2>/dev/null)" = $((RAND_MIB << 20)) ] && return 0
	rm -f "$f"
	xfs_io -f -c "pwrite -q -b 1m 0 ${RAND_MIB}m" -c fsync "$f"
}

job_seq_write() {
	local f; f=$(path_of "$1" "$2" seq); fresh "$1" "$f"
	run_fio seq-write "$f" write mib seq_write
}
job_seq_read() {
	local f; f=$(path_of "$1" "$2" seq)
	need_file "$f" "$SEQ_MIB" && run_fio seq-read "$f" read mib seq_read
}
job_dio_seq_write() {
	local f; f=$(path_of "$1" "$2" dseq); fresh "$1" "$f"
	run_fio dio-seq-write "$f" write mib dio_seq_write
}
job_dio_seq_read() {
	local f; f=$(path_of "$1" "$2" dseq)
	need_file "$f" "$SEQ_MIB" && run_fio dio-seq-read "$f" read mib dio_seq_read
}
job_rand_read() { run_fio rand-read "$(path_of "$1" "$2" rand)" read iops rand_read; }
job_dio_rand_read() { run_fio dio-rand-read "$(path_of "$1" "$2" rand)" read iops dio_rand_read; }
job_rand_write() { run_fio rand-write "$(path_of "$1" "$2" rand)" write iops rand_write; }
job_dio_rand_write() { run_fio dio-rand-write "$(path_of "$1" "$2" rand)" write iops dio_rand_write; }
job_fsync_write() {
	local f=$2/fsync; fresh "$1" "$f"
	run_fio fsync-write "$f" write iops fsync_write
}
# xfsprogs 6.1's pwrite -D issues each 4 KiB pwritev2() with RWF_DSYNC (man
# xfs_io): a data-integrity write per block. Its rate is xfs_io's own.
job_dsync_write() {
	local f=$2/dsync value; fresh "$1" "$f"
	timeout -k 30 "$JOB_TIMEOUT" xfs_io -f -c "pwrite -D -b 4k 0 ${DSYNC_MIB}m" "$f" >"$RUN_LOG.xfs_io" 2>&1
	local status=$?
	cat "$RUN_LOG.xfs_io" >&2
	[ "$status" = 0 ] || { echo "xfs_io exit status $status" >&2; return 1; }
	value=$(python3 "$BENCH/measure.py" xfs_io "$RUN_LOG.xfs_io" ops) && echo "dsync_write $value"
}
job_mmap_write() {
	local f=$2/mmap value; fresh "$1" "$f"
	value=$(timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" mmap "$f" "$MMAP_MIB") &&
		echo "mmap_write $value"
}
job_small_fsync() {
	local d=$2/small value; fresh "$1" "$d"
	mkdir "$d" && value=$(timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" small_fsync "$d" "$SMALL_FILES") &&
		echo "small_fsync $value"
}
job_meta() {
	local d=$2/meta; fresh "$1" "$d"
	mkdir "$d" && timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" meta "$d" "$META_FILES"
}

# The scaling jobs (tests/bench/scale.py): WORKLOAD (dir or extents) at N
# entries or extents, its rows named for TAG; n/a on the raw device. A run
# removes its directory or file itself (the directory's removal is timed),
# and a column that failed a run has no further run of the job, so there is
# nothing to clear first.
# scale_job COLUMN TARGET WORKLOAD N TAG
scale_job() {
	local col=$1 workload=$3 n=$4 tag=$5 limit=$SCALE_TIMEOUT r status
	if [ "$col" = raw ]; then
		for r in ${JOB_ROWS[scale_${workload}_$tag]}; do echo "$r n/a"; done
		return 0
	fi
	[ "$tag" != 1m ] || limit=$SCALE_MILLION_TIMEOUT
	timeout -k 30 "$limit" python3 "$BENCH/scale.py" "$workload" "$2/scale-$workload-$tag" "$n" "$tag"
	status=$?
	# Not finishing in time is this benchmark's likeliest result on a
	# filesystem that does not scale: the log says so in words.
	[ "$status" != 124 ] || echo "scale.py $workload $n: not done within $limit s" >&2
	return "$status"
}
job_scale_dir_1k() { scale_job "$1" "$2" dir 1000 1k; }
job_scale_dir_10k() { scale_job "$1" "$2" dir 10000 10k; }
job_scale_dir_100k() { scale_job "$1" "$2" dir 100000 100k; }
job_scale_dir_1m() { scale_job "$1" "$2" dir 1000000 1m; }
job_scale_extents_1k() { scale_job "$1" "$2" extents 1000 1k; }
job_scale_extents_10k() { scale_job "$1" "$2" extents 10000 10k; }
job_scale_extents_100k() { scale_job "$1" "$2" extents 100000 100k; }

# The reflink jobs: a file written and synced, cloned (and overwritten).
# write_synced PATH MIB: PATH, MIB MiB of data, fsynced.
write_synced() {
	xfs_io -f -c "pwrite -b 1m 0 ${2}m" -c fsync "$1" >/dev/null
}
setup_clone() { write_synced "$2/clone-src" "$CLONE_MIB"; }
job_clone() {
	local value
	rm -f "$2/clone-dst"
	value=$(timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" clone "$2/clone-src" "$2/clone-dst") &&
		echo "clone $value"
}
job_cow_write() {
	local value
	rm -f "$2/cow-src" "$2/cow-dst"
	write_synced "$2/cow-src" "$COW_MIB" &&
		value=$(timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" cow_write "$2/cow-src" "$2/cow-dst" "$COW_MIB") &&
		echo "cow_write $value"
}

# The DAX jobs: TARGET is the fresh filesystem on /dev/pmem0 (dax_prepare).
job_dax_seq_write() { run_fio dax-seq-write "$2/seq" write mib dax_seq_write; }
job_dax_seq_read() {
	need_file "$2/seq" "$DAX_MIB" && run_fio dax-seq-read "$2/seq" read mib dax_seq_read
}
job_dax_mmap_write() {
	local value
	value=$(timeout -k 30 "$JOB_TIMEOUT" python3 "$BENCH/measure.py" mmap "$2/mmap" "$DAX_MIB") &&
		echo "dax_mmap_write $value"
}
# setup_dax_read COLUMN TARGET: the read job's file, written and synced.
setup_dax_read() {
	xfs_io -f -c "pwrite -q -b 1m 0 ${DAX_MIB}m" -c fsync "$2/seq"
}

# ---- DAX: one filesystem at a time on /dev/pmem0 ----

# is_dax PATH: statx says PATH's data is accessed with DAX (STATX_ATTR_DAX).
is_dax() {
	local attrs
	attrs=$(xfs_io -c 'statx -r' "$1" | awk '/^stat.attributes / { print $3 }')
	[[ $attrs =~ ^0x[0-9a-fA-F]+$ ]] && (((attrs & 0x200000) != 0))
}

# dax_prepare COLUMN: a fresh COLUMN filesystem on /dev/pmem0, mounted -o
# dax on $DAX_MNT, where a new file must have DAX.
dax_prepare() {
	local col=$1
	mkdir -p "$DAX_MNT"
	if mountpoint -q "$DAX_MNT"; then umount "$DAX_MNT" || return 1; fi
	case $col in
	rexfs) module_matches && load && mkfs.rexfs -q -f "$PMEM" ;;
	xfs) mkfs.xfs -f -q "$PMEM" ;;
	# 4 KiB blocks whatever the size (DAX needs the page size; mke2fs's
	# "small" type would give 1 KiB below 512 MiB).
	ext4) mkfs.ext4 -F -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 "$PMEM" ;;
	*) echo "no DAX for column $col" >&2; false ;;
	esac || { echo "mkfs of $col on $PMEM failed" >&2; return 1; }
	mount -t "$col" -o dax "$PMEM" "$DAX_MNT" || { echo "mount -t $col -o dax $PMEM failed" >&2; return 1; }
	grep " $DAX_MNT " /proc/mounts >&2
	xfs_io -f -c "pwrite -q 0 4k" "$DAX_MNT/probe" >&2 || return 1
	if ! is_dax "$DAX_MNT/probe"; then
		echo "$col on $PMEM mounted -o dax, but a file there has no STATX_ATTR_DAX" >&2
		return 1
	fi
	rm -f "$DAX_MNT/probe"
}

# dax_finish COLUMN: unmount /dev/pmem0; after rexfs, fsck.rexfs -n it
# (its output in $RUN_LOG.fsck; counted for the report). Fails if the
# unmount did.
dax_finish() {
	local col=$1 status
	mountpoint -q "$DAX_MNT" || return 0
	if ! umount "$DAX_MNT"; then
		echo "umount $DAX_MNT failed; detaching it lazily" >&2
		umount -l "$DAX_MNT"
		return 1
	fi
	[ "$col" = rexfs ] || return 0
	fsck.rexfs -n "$PMEM" >"$RUN_LOG.fsck" 2>&1
	status=$?
	if [ "$status" = 0 ]; then
		DAX_FSCK_CLEAN=$((DAX_FSCK_CLEAN + 1))
	else
		DAX_FSCK_BAD+=("$(basename "$RUN_LOG").fsck: exit $status")
		echo "fsck.rexfs -n $PMEM: exit $status (see $RUN_LOG.fsck)" >&2
	fi
	return 0
}

# record ROW COLUMN RUN VALUE
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# record_all JOB COLUMN RUN VALUE: VALUE in every row of JOB.
record_all() {
	local r
	for r in ${JOB_ROWS[$1]}; do record "$r" "$2" "$3" "$4"; done
}

# one_run JOB COLUMN RUN: run JOB once on COLUMN from a dropped page cache;
# record each row's value, or "failed" in every row. Returns 1 on failure.
one_run() {
	local job=$1 col=$2 run=$3 r value out target=${TARGET[$col]:-} status=0
	RUN_LOG=$LOGDIR/$job-$col-$run
	: >"$RUN_LOG.values"
	: >"$RUN_LOG.log"
	# A DAX job: its fresh filesystem on /dev/pmem0, and its setup, first.
	if is_dax_job "$job"; then
		target=$DAX_MNT
		if ! { dax_prepare "$col" && { [ -z "${JOB_SETUP[$job]:-}" ] || "${JOB_SETUP[$job]}" "$col" "$target"; }; } \
			>>"$RUN_LOG.log" 2>&1; then
			echo "making, mounting or setting up $col on $PMEM failed" >>"$RUN_LOG.log"
			status=1
		fi
	fi
	if [ "$status" = 0 ]; then
		drop_caches
		"job_$job" "$col" "$target" >"$RUN_LOG.values" 2>>"$RUN_LOG.log"
		status=$?
	fi
	if is_dax_job "$job" && ! dax_finish "$col" >>"$RUN_LOG.log" 2>&1; then
		[ "$status" != 0 ] || status=1
	fi
	# Every row of the job must have come out once, as a number or "n/a"
	# (the column lacks what the row measures, e.g. ext4 and reflink).
	for r in ${JOB_ROWS[$job]}; do
		value=$(awk -v r="$r" '$1 == r { print $2 }' "$RUN_LOG.values")
		[[ $value =~ ^([0-9]+(\.[0-9]+)?|n/a)$ ]] && continue
		echo "no value for $r" >>"$RUN_LOG.log"
		[ "$status" != 0 ] || status=1
	done
	if [ "$status" != 0 ]; then
		echo "   $col run $run: failed (exit $status); $RUN_LOG.log:"
		tail -15 "$RUN_LOG.log" | sed 's/^/      /'
		record_all "$job" "$col" "$run" failed
		return 1
	fi
	out=
	for r in ${JOB_ROWS[$job]}; do
		value=$(awk -v r="$r" '$1 == r { print $2 }' "$RUN_LOG.values")
		record "$r" "$col" "$run" "$value"
		out+=" $value ${ROW_UNIT[$r]}"
	done
	echo "   $col run $run:$out"
}

# run_job JOB: its setup on each column, then $RUNS rounds over the
# columns, each round starting one column further on; then the files no
# later job needs are removed.
run_job() {
	local job=$1 col run i n
	local -a cols=()
	echo "== $job ($(date +%T))"
	for col in "${COLUMNS[@]}"; do
		# A DAX job: every filesystem column, each run on a fresh
		# filesystem of its own (one_run); its setup is part of the run.
		if is_dax_job "$job"; then
			[ "$col" != raw ] || continue
			if [ ! -b "$PMEM" ]; then
				record_all "$job" "$col" 1 n/a
				echo "   $col: n/a (no $PMEM: the VM has no pmem)"
				continue
			fi
			cols+=("$col")
			continue
		fi
		if [ "$col" = raw ]; then
			in_list raw ${JOB_WHERE[$job]} || continue
		elif [ -n "${BROKEN[$col]:-}" ]; then
			record_all "$job" "$col" 1 failed
			continue
		elif [ -n "${JOB_DIRECT[$job]:-}" ] && [ "${DIRECT[$col]:-}" != yes ]; then
			record_all "$job" "$col" 1 n/a
			echo "   $col: n/a (no O_DIRECT)"
			continue
		fi
		if [ -n "${JOB_SETUP[$job]:-}" ] && ! "${JOB_SETUP[$job]}" "$col" "${TARGET[$col]}"; then
			echo "   $col: setup ${JOB_SETUP[$job]} failed"
			record_all "$job" "$col" 1 failed
			continue
		fi
		cols+=("$col")
	done
	n=${#cols[@]}
	for ((run = 1; run <= RUNS; run++)); do
		for ((i = 0; i < n; i++)); do
			col=${cols[(i + run - 1) % n]}
			[ -n "$col" ] || continue
			# A column that failed a run is out of this job: its cell is "failed".
			one_run "$job" "$col" "$run" || cols[(i + run - 1) % n]=
		done
	done
	remove_unneeded_files "$job"
}

# remove_unneeded_files JOB: JOB's files that no job after it uses.
remove_unneeded_files() {
	local job=$1 f files later col seen=
	local -a keep=()
	for later in "${JOBS[@]}"; do
		files=${JOB_FILES[$later]:-}
		[ -n "$seen" ] && keep+=(${files//,/ })
		[ "$later" = "$job" ] && seen=1
	done
	files=${JOB_FILES[$job]:-}
	for f in ${files//,/ }; do
		in_list "$f" "${keep[@]}" && continue
		for col in "${COLUMNS[@]}"; do
			[ "$col" = raw ] || [ -n "${BROKEN[$col]:-}" ] || rm -rf "${TARGET[$col]}/$f"
		done
	done
}

# ---- The filesystems ----

# module_matches: the module was built for the running kernel.
module_matches() {
	local vermagic
	vermagic=$(modinfo -F vermagic "$MODULE" 2>/dev/null) || { echo "no module $MODULE" >&2; return 1; }
	[ "${vermagic%% *}" = "$(uname -r)" ] && return 0
	echo "$MODULE is for ${vermagic%% *}, this kernel is $(uname -r)" >&2
	return 1
}

# make_fs FS DEV: a fresh FS on DEV.
make_fs() {
	case $1 in
	rexfs) module_matches && load && mkfs.rexfs -q -f "${MKFS_INODES[@]}" "$2" ;;
	xfs) mkfs.xfs -f -q "$2" ;;
	# Initialise the inode tables and journal now: by default ext4 zeroes
	# them from a kernel thread after mount, which would run during the jobs.
	ext4) mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "${MKFS_INODES[@]}" "$2" ;;
	esac
}

# setup_columns: make and mount each filesystem, probe O_DIRECT.
setup_columns() {
	local col mnt
	[ -n "$DISKS_USED" ] || { echo "disks: not used (only DAX jobs)"; return 0; }
	for col in "${COLUMNS[@]}"; do
		if [ "$col" = raw ]; then
			TARGET[raw]=${DISK[raw]} DIRECT[raw]=yes
			continue
		fi
		mnt=/tmp/bench/$col
		mkdir -p "$mnt"
		TARGET[$col]=$mnt
		if ! make_fs "$col" "${DISK[$col]}" || ! mount -t "$col" "${DISK[$col]}" "$mnt"; then
			BROKEN[$col]="could not make or mount $col on ${DISK[$col]}"
			echo "bench.sh: ${BROKEN[$col]}" >&2
			continue
		fi
		if xfs_io -d -f -c "pwrite -q 0 4k" "$mnt/probe" >/dev/null 2>&1; then
			DIRECT[$col]=yes
		else
			DIRECT[$col]=no
		fi
		rm -f "$mnt/probe"
		echo "$col on ${DISK[$col]}, mounted on $mnt, O_DIRECT: ${DIRECT[$col]}"
	done
}

FSCK_REPORT="fsck.rexfs: not run"
# finish_columns: unmount everything; fsck.rexfs (read-only, with usage
# counts) what the rexfs jobs left.
finish_columns() {
	local col out status
	if [ -z "$DISKS_USED" ]; then
		FSCK_REPORT="fsck.rexfs of ${DISK[rexfs]}: not run (no job on the disks)"
		unload
		return 0
	fi
	for col in "${COLUMNS[@]}"; do
		[ "$col" = raw ] || [ -n "${BROKEN[$col]:-}" ] && continue
		umount "${TARGET[$col]}" || {
			echo "bench.sh: umount ${TARGET[$col]} failed; detaching it lazily" >&2
			umount -l "${TARGET[$col]}"
		}
	done
	in_list rexfs "${COLUMNS[@]}" && [ -z "${BROKEN[rexfs]:-}" ] || return 0
	out=$(fsck.rexfs -n -v "${DISK[rexfs]}" 2>&1)
	status=$?
	case $status in
	0) FSCK_REPORT="clean" ;;
	4) FSCK_REPORT="errors" ;;
	8) FSCK_REPORT="could not check" ;;
	*) FSCK_REPORT="unexpected" ;;
	esac
	FSCK_REPORT="fsck.rexfs -n -v ${DISK[rexfs]} after the rexfs jobs: exit $status ($FSCK_REPORT)"
	[ -z "$out" ] || FSCK_REPORT+=$'\n'$(sed 's/^/    /' <<<"$out")
	unload
}

# ---- The table ----

header() {
	local mem disk
	mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
	disk=$(($(blockdev --getsize64 "${DISK[${COLUMNS[0]}]}") >> 20))
	echo "rexfs benchmark, $(date -u '+%F %H:%M UTC'), $((SECONDS / 60)) min"
	echo "kernel:  ${BENCH_KERNEL:-$(uname -r) (not described by the host)}; running $(uname -r)"
	echo "module:  $MODULE ($(modinfo -F vermagic "$MODULE" 2>/dev/null | sed 's/ *$//')${BENCH_MODULE_NOTE:+; $BENCH_MODULE_NOTE})"
	echo "guest:   QEMU TCG, $(nproc) vCPU, $mem MiB RAM; a $disk MiB virtio disk per column,"
	echo "         ${BENCH_DISK_WHERE:-written out by the host}"
	if [ -n "$DAX_USED" ]; then
		if [ -b "$PMEM" ]; then
			echo "pmem:    $PMEM, $PMEM_MIB MiB of legacy pmem (memmap=); each DAX run on a fresh filesystem"
			echo "         there, mounted -o dax (STATX_ATTR_DAX checked), the columns one after the other"
		else
			echo "pmem:    none (BENCH_PMEM_MIB=0): the DAX rows are n/a"
		fi
	fi
	if ((${#MKFS_INODES[@]})); then
		echo "mkfs:    rexfs and ext4 with ${MKFS_INODES[*]} (the 1,000,000-entry directory)"
	fi
	echo "tools:   $(fio --version), $(xfs_io -V), $(python3 -V)"
	echo "method:  best of $RUNS runs per cell, (n%) = (max - min) / max over them; a job's runs"
	echo "         interleaved over the columns in rotating order, the page cache dropped before"
	echo "         each; throughput as the tool measured it (fio's JSON, xfs_io's report, timers"
	echo "         inside the process for mmap, metadata and scaling). rexfs/XFS > 1: rexfs faster."
	echo "         failed: a run failed (bench-logs/); n/a: not supported; -: not run."
	echo "         TCG: compare the columns of one table, not numbers across machines or runs."
}

# ---- Main ----

mkdir -p "$OUTDIR" "$LOGDIR"
rm -f "$RESULTS" "$ROWS_FILE" "$LOGDIR"/*
for r in "${ROWS[@]}"; do
	for j in "${JOBS[@]}"; do
		in_list "$r" ${JOB_ROWS[$j]} &&
			printf '%s\t%s\t%s\t%s\n' "$r" "${ROW_GROUP[$r]}" "${ROW_UNIT[$r]}" "${ROW_LABEL[$r]}" >>"$ROWS_FILE"
	done
done
: >>"$RESULTS"

echo "== columns ($(date +%T)): ${COLUMNS[*]}; jobs: ${JOBS[*]}; $RUNS runs"
setup_columns
for j in "${JOBS[@]}"; do run_job "$j"; done
finish_columns

{
	header
	echo
	python3 "$BENCH/report.py" "$ROWS_FILE" "$RESULTS" || echo "report.py failed"
	echo
	echo "$FSCK_REPORT"
	if ((DAX_FSCK_CLEAN + ${#DAX_FSCK_BAD[@]})); then
		echo "fsck.rexfs -n $PMEM after each rexfs DAX run: $DAX_FSCK_CLEAN clean, ${#DAX_FSCK_BAD[@]} not"
		for r in "${DAX_FSCK_BAD[@]}"; do echo "    bench-logs/$r"; done
	fi
} >/tmp/bench.txt
echo
cat /tmp/bench.txt
cp /tmp/bench.txt "$OUTDIR/bench.txt"
