#!/bin/bash
# The README's two commands.
#
#   scripts/run.sh demo   set up, build, boot a VM that mounts rexfs and shows it
#   scripts/run.sh test   set up, build, run every test; ends with "N passed, N failed"
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
	truncate -s 256M "$OUT/disk0.img"
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

test_all() {
	local start=$SECONDS
	build
	rm -rf "$OUT"
	make_disks
	step "cargo tests"
	cargo_tests

	step "in-VM tests (QEMU under TCG)"
	local vm_status=0 vm_passed=0 vm_failed=0
	scripts/vm.sh --out "$OUT" --disk "$OUT/disk0.img" --disk "$OUT/disk1.img" \
		--timeout 1200 -- tests/vm/run.sh "$OUT/vm-results" >"$OUT/vm.log" 2>&1 || vm_status=$?
	grep -E '^(PASS|FAIL) |^    ' "$OUT/vm.log" || true
	if [ -f "$OUT/vm-results" ]; then
		read -r vm_passed vm_failed <"$OUT/vm-results"
	fi
	# The guest's kernel log must be clean: no warning, oops or lockdep report.
	case $vm_status in
	0 | 1) echo "PASS vm/kernel-log-clean"; vm_passed=$((vm_passed + 1)) ;;
	*)
		echo "FAIL vm/kernel-log-clean (vm.sh exit $vm_status)"
		grep -E '^vm.sh|^kernel log|^[0-9]+:' "$OUT/vm.log" | head -30 | sed 's/^/    /'
		vm_failed=$((vm_failed + 1))
		;;
	esac
	rm -f "$OUT"/disk*.img

	echo "== results in $OUT; total time $((SECONDS - start))s"
	local passed=$((cargo_passed + vm_passed)) failed=$((cargo_failed + vm_failed))
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

case "${1:-}" in
demo) demo ;;
test) test_all ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
