#!/bin/bash
# The README's commands.
#
#   scripts/run.sh demo   set up, build, boot a VM that mounts rexfs and shows it
#   scripts/run.sh test   set up, build, run the static checks (scripts/check.sh)
#                         and every test; ends with "N passed, N failed"
#   scripts/run.sh bench  set up, build, benchmark rexfs against XFS and ext4 in a VM
#
# KDIR=/path/to/kernel/build skips provisioning the test kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=$REPO/out/${1:-}
# The crash test's rounds and seed (tests/vm/crash.sh): CRASH_ROUNDS=200
# make test runs more.
CRASH_ROUNDS=${CRASH_ROUNDS:-20} CRASH_SEED=${CRASH_SEED:-1}

. scripts/lib.sh

# Sparse raw disks for the guest: /dev/vda and /dev/vdb.
make_disks() {
	mkdir -p "$OUT"
	rm -f "$OUT"/disk*.img
	truncate -s 2G "$OUT/disk0.img"
	truncate -s 64M "$OUT/disk1.img"
}

demo() {
	local t0=$SECONDS
	build_all
	make_disks
	step "booting the demo VM (QEMU under TCG)"
	scripts/vm.sh --out "$OUT" --disk "$OUT/disk0.img" --disk "$OUT/disk1.img" \
		--timeout 600 -- tests/demo.sh
	echo "demo: done in $((SECONDS - t0)) s (setup, build and VM)"
}

# Runs cargo's tests and prints a PASS/FAIL line per test; sets
# cargo_passed/cargo_failed.
cargo_tests() {
	local log=$OUT/cargo-test.log
	cargo test --manifest-path tools/Cargo.toml --no-fail-fast >"$log" 2>&1 || true
	sed -nE 's/^test (.*) \.\.\. ok$/PASS cargo\/\1/p; s/^test (.*) \.\.\. FAILED$/FAIL cargo\/\1/p' "$log"
	cargo_passed=$(grep -cE '^test .* \.\.\. ok$' "$log" || true)
	cargo_failed=$(grep -cE '^test .* \.\.\. FAILED$' "$log" || true)
	if ! grep -q '^test result:' "$log"; then
		echo "FAIL cargo (did not run; see $log)"
		tail -20 "$log"
		cargo_failed=$((cargo_failed + 1))
	fi
}

# Runs scripts/check.sh (rustfmt, clippy of the tools and of the module) and
# prints its PASS/FAIL/SKIP line per part, a failed part's output indented;
# sets check_passed/check_failed.
checks() {
	scripts/check.sh >"$OUT/check.log" 2>&1 || true
	count_results check "$OUT/check.log"
}

# vm_boot NAME TIMEOUT [TEST...]: boot a VM on the two disks and 256 MiB of
# pmem (/dev/pmem0, for the DAX test), its output
# (the guest's logs, the tests' logs, vm-results) in $OUT/NAME, and run
# tests/vm/run.sh there; print the PASS/FAIL lines and add the counts, with
# the check of the guest's kernel log, to vm_passed/vm_failed. The guests
# see REXFS_OUT=$OUT/boot1: the first boot's output directory, read-write in
# the first boot, readable through the read-only root share in later ones.
vm_boot() {
	local name=$1 timeout=$2 dir=$OUT/$1 status=0 p=0 f=0
	shift 2
	mkdir -p "$dir"
	scripts/vm.sh --out "$dir" --disk "$OUT/disk0.img" --disk "$OUT/disk1.img" --pmem 256M \
		--timeout "$timeout" -- REXFS_OUT="$OUT/boot1" CRASH_ROUNDS="$CRASH_ROUNDS" \
		CRASH_SEED="$CRASH_SEED" tests/vm/run.sh "$dir/vm-results" "$@" \
		>"$dir/vm.log" 2>&1 || status=$?
	grep -E '^(PASS|FAIL) |^    ' "$dir/vm.log" || true
	if [ -f "$dir/vm-results" ]; then
		read -r p f <"$dir/vm-results"
	else
		echo "FAIL vm/$name (no results; see $dir/vm.log)"
		f=1
	fi
	# The guest's kernel log must be clean: no warning, oops or lockdep report.
	case $status in
	0 | 1) echo "PASS vm/kernel-log-clean ($name)"; p=$((p + 1)) ;;
	*)
		echo "FAIL vm/kernel-log-clean ($name: vm.sh exit $status)"
		grep -E '^vm.sh|^kernel log|^[0-9]+:' "$dir/vm.log" | head -30 | sed 's/^/    /'
		f=$((f + 1))
		;;
	esac
	vm_passed=$((vm_passed + p)) vm_failed=$((vm_failed + f))
}

# The short fuzz run (scripts/fuzz.sh --short: 60 damaged images, one VM);
# prints its PASS/FAIL lines and sets fuzz_passed/fuzz_failed.
fuzz_short() {
	scripts/fuzz.sh --short --no-build --out "$OUT/fuzz" >"$OUT/fuzz.log" 2>&1 || true
	count_results fuzz "$OUT/fuzz.log"
}

test_all() {
	local start=$SECONDS
	build_all
	rm -rf "$OUT"
	make_disks
	step "static checks: rustfmt, clippy"
	checks
	# The module's clippy compiled its Rust objects with clippy-driver; the
	# VM tests run the module `make module` builds, with rustc.
	if grep -qE '^(PASS|FAIL) check/clippy-module' "$OUT/check.log"; then
		step "module again, with rustc"
		make -s module KDIR="$KDIR"
	fi
	step "cargo tests"
	cargo_tests

	# Two boots on the same disks: every test, then persist-verify, which
	# checks what persist-write (the first boot's last test) left mounted
	# when the guest went down.
	local vm_passed=0 vm_failed=0
	step "in-VM tests (QEMU under TCG)"
	vm_boot boot1 $((2700 + 45 * CRASH_ROUNDS))
	step "in-VM tests after a reboot (QEMU under TCG)"
	vm_boot boot2 600 persist-verify
	rm -f "$OUT"/disk*.img
	step "damaged images (QEMU under TCG)"
	fuzz_short

	echo "== results in $OUT; total time $((SECONDS - start))s"
	local passed=$((check_passed + cargo_passed + vm_passed + fuzz_passed))
	local failed=$((check_failed + cargo_failed + vm_failed + fuzz_failed))
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# The benchmark: one VM running tests/bench.sh on the production-config
# kernel (scripts/kernel.sh build --production: the test kernel's version and
# options without its debugging checkers, cached beside it; KDIR= benchmarks
# a kernel of your own instead), with a rexfs module built for that kernel in
# $OUT/module by tests/bench/build-module.sh. The repository's rexfs.ko is
# not touched: it stays built for the test kernel, and `make test`, `make
# demo` and `make xfstests` run `make module` against the test kernel first
# in any case. Four disks, one per column (rexfs, XFS, ext4, the raw
# device), each written out in full, and BENCH_PMEM_MIB of legacy pmem,
# /dev/pmem0, for the DAX rows (each filesystem in turn, mounted -o dax);
# the guest writes its table to $OUT/bench.txt, printed here. The BENCH_*
# settings of tests/bench.sh are passed on to the guest (`make bench
# SCALE=1` sets BENCH_SCALE=1: the scaling jobs);
# BENCH_DISK_MIB (3072), BENCH_HOST_SPARE_MIB (3072, below), BENCH_MEM_MB
# (2048; with pmem, a multiple of 128), BENCH_PMEM_MIB (1024, a multiple of
# 128, at least 384 for mkfs.xfs; 0: no pmem, the DAX rows read n/a; QEMU's
# -m is BENCH_MEM_MB + BENCH_PMEM_MIB) and BENCH_TIMEOUT (seconds) are the
# VM's.
bench() {
	local kdir kernel checkers mod status=0 v timeout
	local runs=${BENCH_RUNS:-3} runtime=${BENCH_RUNTIME:-30} disk_mib=${BENCH_DISK_MIB:-3072}
	local pmem_mib=${BENCH_PMEM_MIB:-1024}
	[[ $pmem_mib =~ ^[0-9]+$ ]] && ((pmem_mib % 128 == 0)) ||
		{ echo "run.sh: BENCH_PMEM_MIB=$pmem_mib: a multiple of 128 (MiB) expected" >&2; exit 2; }
	step "host packages and toolchain"
	scripts/setup-host.sh
	if [ -n "${KDIR:-}" ]; then
		kdir=$KDIR kernel="KDIR from the caller, not the production build"
	else
		step "production kernel: the test kernel's version and options, without the debug checkers"
		kdir=$(scripts/kernel.sh build --production)
		kernel="production config, key $(scripts/kernel.sh key --production)"
	fi
	checkers=$(grep -oE '^CONFIG_(PROVE_LOCKING|LOCKDEP|DEBUG_LIST|DETECT_HUNG_TASK|FAULT_INJECTION|DEBUG_ATOMIC_SLEEP|KUNIT|KASAN|KCSAN|KMSAN|UBSAN|KFENCE|DEBUG_PAGEALLOC|DEBUG_KMEMLEAK|DEBUG_OBJECTS|DEBUG_VM|SLUB_DEBUG_ON)=y' \
		"$kdir/.config" | sed 's/^CONFIG_//; s/=y$//' | paste -sd ' ' || true)
	kernel="Linux $(cat "$kdir/include/config/kernel.release") ($kernel; debug checkers: ${checkers:-none}), $kdir"
	echo "kernel: $kernel"
	step "module for that kernel, in $OUT/module (REXFS_DEBUG=n)"
	mod=$(tests/bench/build-module.sh "$kdir" "$OUT/module")
	step "userspace tools"
	make -s tools

	mkdir -p "$OUT"
	rm -f "$OUT/bench.txt"
	# Written out in full: under a sparse image the host allocates blocks on
	# the first write to each region, which charges whichever filesystem
	# writes there first (rexfs measured 5x slower O_DIRECT writes than the
	# raw device that way). In the host's tmpfs when it has room for them and
	# the guest's RAM, with BENCH_HOST_SPARE_MIB to spare: a disk image in a
	# host filesystem is written back to the host's disk during the jobs
	# (400 MB/s here, slower than the guest writes), which takes CPU from QEMU
	# and throttles it at the host's dirty limit in whichever run it falls.
	# Otherwise in $OUT, synced. They go afterwards.
	local disk_dir=$OUT disk_where="in $OUT, written out and synced by the host" shm_dir=
	local need=$((4 * disk_mib + ${BENCH_MEM_MB:-2048} + pmem_mib + ${BENCH_HOST_SPARE_MIB:-3072}))
	local shm_mib mem_mib
	shm_mib=$(df --output=avail -m /dev/shm 2>/dev/null | tail -1) || shm_mib=0
	mem_mib=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
	if ((shm_mib >= 4 * disk_mib && mem_mib >= need)); then
		shm_dir=$(mktemp -d /dev/shm/rexfs-bench.XXXXXX)
		disk_dir=$shm_dir disk_where="in the host's tmpfs"
	fi
	local disks=("$disk_dir/bench-rexfs.img" "$disk_dir/bench-xfs.img" "$disk_dir/bench-ext4.img" "$disk_dir/bench-raw.img")
	local disk_args=()
	# shellcheck disable=SC2064 # the paths now: the locals are gone at exit
	trap "rm -f ${disks[*]@Q}${shm_dir:+; rmdir ${shm_dir@Q}}" EXIT
	step "benchmark disks (4 x $disk_mib MiB of zeroes, $disk_where)"
	for v in "${disks[@]}"; do
		dd if=/dev/zero of="$v" bs=1M count="$disk_mib" conv=fsync status=none
		disk_args+=(--disk "$v")
	done

	# The guest's command line: vm.sh runs it with bash -c, so each value is
	# quoted here. The host's BENCH_* settings go first, ours after them.
	local vars=()
	for v in $(compgen -v BENCH_); do
		if [ -n "${!v+set}" ]; then vars+=("$v=$(printf '%q' "${!v}")"); fi
	done
	vars+=("REXFS_OUT=$(printf '%q' "$OUT")" "BENCH_MODULE=$(printf '%q' "$mod")"
	       "BENCH_MODULE_NOTE=REXFS_DEBUG=n" "BENCH_KERNEL=$(printf '%q' "$kernel")"
	       "BENCH_DISK_WHERE=$(printf '%q' "$disk_where")")
	# 17 time-based fio runs per round (random and fsync jobs on each
	# column) and about 4 minutes of the rest, with the DAX rows' 9 runs
	# (each a mkfs, a mount and 256 MiB) perhaps 3 more: some 17 minutes a
	# round with the defaults. The limit is near twice that.
	# The scaling jobs (BENCH_SCALE=1) have not been run yet, so there is no
	# estimate of their time. Their part of the limit is twice what one
	# column takes if each of its scaling jobs overruns its timeout once
	# (BENCH_SCALE_TIMEOUT for each of the six up to 100k,
	# BENCH_SCALE_MILLION_TIMEOUT for the 1,000,000 entries; the column then
	# has no further run of that job): room for that and for the other
	# columns' runs, which should end well within theirs.
	local scale_limit=0 scale_note=
	if [ "${BENCH_SCALE:-0}" = 1 ]; then
		scale_limit=$((6 * ${BENCH_SCALE_TIMEOUT:-3600}))
		if [ "${BENCH_SCALE_MILLION:-1}" = 1 ]; then
			scale_limit=$((scale_limit + ${BENCH_SCALE_MILLION_TIMEOUT:-10800}))
		fi
		scale_limit=$((2 * scale_limit))
		scale_note=", plus the scaling jobs (not yet timed)"
	fi
	timeout=${BENCH_TIMEOUT:-$((900 + runs * (17 * (runtime + 20) + 900) + scale_limit))}
	step "benchmark VM (QEMU under TCG: $runs rounds, ${runtime} s time-based jobs; about $(((runs * (17 * (runtime + 5) + 420) + 180) / 60)) min$scale_note, limit $((timeout / 60)) min)"
	# --mem-prealloc: without it a first buffered write measured half the
	# later ones. --one-cpu: with two vCPUs the O_DIRECT random reads hung
	# (vm.sh says how).
	KDIR=$kdir scripts/vm.sh --out "$OUT" "${disk_args[@]}" --pmem "${pmem_mib}M" --mem "${BENCH_MEM_MB:-2048}" \
		--mem-prealloc --one-cpu \
		--timeout "$timeout" -- "${vars[@]}" tests/bench.sh || status=$?
	step "results ($OUT/bench.txt)"
	cat "$OUT/bench.txt" 2>/dev/null || echo "no results; see $OUT/console.log"
	# A failed rexfs job is a cell of the table; a non-zero status here means
	# the run itself broke (timeout, guest crash, warning in the kernel log).
	if [ "$status" != 0 ]; then
		echo "vm.sh exit $status (see $OUT/console.log, $OUT/dmesg)" >&2
		exit "$status"
	fi
}

case "${1:-}" in
demo) demo ;;
test) test_all ;;
bench) bench ;;
*) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac
