# Shared by the drivers that build and then boot VMs (run.sh, fuzz.sh,
# races.sh): sourced, not run.

# step TEXT: a progress line with the time.
step() { echo "== $* ($(date +%T))"; }

# build_all: the host packages and toolchain, the test kernel (unless KDIR
# is set; then exported), rexfs.ko and the userspace tools.
build_all() {
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

# count_results NAME LOG: prints LOG's "PASS|FAIL|SKIP NAME/..." lines and
# the indented lines under them, and sets NAME_passed and NAME_failed; a
# LOG without its closing "NAME: " line counts as one more failure.
count_results() {
	local name=$1 log=$2
	grep -E "^(PASS|FAIL|SKIP) $name/|^    " "$log" || true
	printf -v "${name}_passed" '%s' "$(grep -c "^PASS $name/" "$log" || true)"
	printf -v "${name}_failed" '%s' "$(grep -c "^FAIL $name/" "$log" || true)"
	if ! grep -q "^$name: " "$log"; then
		echo "FAIL $name (did not finish; see $log)"
		tail -20 "$log"
		printf -v "${name}_failed" '%s' "$((${name}_failed + 1))"
	fi
}
