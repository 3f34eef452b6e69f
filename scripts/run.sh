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

step() { echo "== $* ($(date +%T))"; }

build() {
	step "host packages and toolchain"
	scripts/setup-host.sh
	if [ -z "${KDIR:-}" ]; then
		step "test kernel"
		KDIR=$(scripts/kernel.sh build)
	fi
	export KDIR
	step "module (KDIR=$KDIR)"
	make -s module KDIR="$KDIR"
	step "userspace tools"
	make -s tools
}

# Sparse raw disks for the guest: /dev/vda and /dev/vdb.
make_disks() {
	mkdir -p "$OUT"
	rm -f "$OUT"/disk*.img
	truncate -s 2G "$OUT/disk0.img"
	truncate -s 64M "$OUT/disk1.img"
}

demo() {
	build
	make_disks
	step "booting the demo VM (QEMU under TCG)"
	scripts/vm.sh --out "$OUT" --disk "$OUT/disk0.img" --timeout 300 -- tests/demo.sh
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
	local log=$OUT/check.log
	scripts/check.sh >"$log" 2>&1 || true
	grep -E '^(PASS|FAIL|SKIP) check/|^    ' "$log" || true
	check_passed=$(grep -c '^PASS check/' "$log" || true)
	check_failed=$(grep -c '^FAIL check/' "$log" || true)
	if ! grep -q '^check: ' "$log"; then
		echo "FAIL check (did not finish; see $log)"
		tail -20 "$log"
		check_failed=$((check_failed + 1))
	fi
}

# vm_boot NAME TIMEOUT [TEST...]: boot a VM on the two disks, its output
# (the guest's logs, the tests' logs, vm-results) in $OUT/NAME, and run
# tests/vm/run.sh there; print the PASS/FAIL lines and add the counts, with
# the check of the guest's kernel log, to vm_passed/vm_failed. The guests
# see REXFS_OUT=$OUT/boot1: the first boot's output directory, read-write in
# the first boot, readable through the read-only root share in later ones.
vm_boot() {
	local name=$1 timeout=$2 dir=$OUT/$1 status=0 p=0 f=0
	shift 2
	mkdir -p "$dir"
	scripts/vm.sh --out "$dir" --disk "$OUT/disk0.img" --disk "$OUT/disk1.img" \
		--timeout "$timeout" -- REXFS_OUT="$OUT/boot1" tests/vm/run.sh "$dir/vm-results" "$@" \
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

test_all() {
	local start=$SECONDS
	build
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
	vm_boot boot1 2400
	step "in-VM tests after a reboot (QEMU under TCG)"
	vm_boot boot2 600 persist-verify
	rm -f "$OUT"/disk*.img

	echo "== results in $OUT; total time $((SECONDS - start))s"
	local passed=$((check_passed + cargo_passed + vm_passed))
	local failed=$((check_failed + cargo_failed + vm_failed))
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

# One VM running tests/bench.sh on a dedicated disk, large enough for every
# job's files; the guest writes its table to $OUT/bench.txt, printed here.
bench() {
	build
	mkdir -p "$OUT"
	rm -f "$OUT/bench.txt"
	# Written out in full: under a sparse image the host allocates blocks on
	# the first write to each region, which charges whichever filesystem
	# writes there first (rexfs, running first, measured 5x slower O_DIRECT
	# writes than the raw device that way). It goes afterwards.
	trap 'rm -f "$OUT/bench.img"' EXIT
	step "benchmark disk (2 GiB of zeroes)"
	dd if=/dev/zero of="$OUT/bench.img" bs=1M count=2048 status=none
	step "benchmark VM (QEMU under TCG, best of 2 runs per job: the numbers are noisy)"
	local status=0
	scripts/vm.sh --out "$OUT" --disk "$OUT/bench.img" --timeout 1800 \
		-- REXFS_OUT="$OUT" tests/bench.sh || status=$?
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
