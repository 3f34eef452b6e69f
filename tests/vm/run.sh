#!/bin/bash
# Run the in-VM tests (inside the guest). Prints a "PASS vm/NAME (Ns)" or
# "FAIL vm/NAME (Ns)" line per test, a failed test's log indented under it,
# and writes the counts ("PASSED FAILED") to RESULTS.
#
#   tests/vm/run.sh RESULTS [TEST...]
#
# TEST is a name of tests/vm/NAME.sh; named tests run in the order given.
# Without any, every tests/vm/*.sh but lib.sh and run.sh runs (the .py files
# are helpers), in the order their headers say. A test's headers are lines
# "# KEY: VALUE" in its leading comment block; absent ones take the default:
#
#   # timeout: SECONDS  the test's time limit (default 300): a shell
#                       arithmetic expression, which may use the test's
#                       knobs from the environment (crash: CRASH_ROUNDS)
#   # order: N          default list: ascending N, then by name (default 50);
#                       load-unload (10; it insmods without checking) and
#                       kunit (20) check the module itself, and mount-empty
#                       (30) the simplest mount, before the other tests
#   # reboot: after     the test leaves its filesystem mounted for a reboot
#                       (persist-write): the default list runs it last, and
#                       nothing is unmounted or unloaded after it. One at most.
#   # reboot: before    the test checks what a "reboot: after" test left
#                       (persist-verify): never in the default list;
#                       scripts/run.sh names it alone in a second boot
#
# After every other test the filesystem on $MNT is unmounted and the module
# unloaded, so that each test starts without either.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
MNT=/tmp/rexfs-mnt    # as in lib.sh
results=$1; shift

# header NAME KEY DEFAULT: the VALUE of the "# KEY: VALUE" line in the
# leading comment block of tests/vm/NAME.sh, or DEFAULT.
header() {
	local value
	value=$(awk -v key="$2" '
		!/^#/ { exit }
		index($0, "# " key ":") == 1 {
			sub(/^# [^:]*:[ \t]*/, ""); sub(/[ \t]+$/, ""); print; exit
		}' "$HERE/$1.sh" 2>/dev/null)
	echo "${value:-$3}"
}

# time_limit NAME: NAME's time limit in seconds, its timeout header
# evaluated (nothing if it does not evaluate).
time_limit() {
	local expr
	expr=$(header "$1" timeout 300)
	(eval "echo \$(( $expr ))") 2>/dev/null
}

# bad_headers NAME: what is wrong with NAME's headers, if anything.
bad_headers() {
	local v
	v=$(time_limit "$1")
	[[ $v =~ ^[1-9][0-9]*$ ]] ||
		echo "run.sh: bad header '# timeout: $(header "$1" timeout 300)' in $1.sh (seconds expected)"
	v=$(header "$1" order 50)
	[[ $v =~ ^-?[0-9]+$ ]] || echo "run.sh: bad header '# order: $v' in $1.sh (an integer expected)"
	v=$(header "$1" reboot "")
	case $v in
	"" | after | before) ;;
	*) echo "run.sh: bad header '# reboot: $v' in $1.sh (after or before expected)" ;;
	esac
}

# default_tests: the names of the default list, one a line, in run order.
default_tests() {
	local f name last
	for f in "$HERE"/*.sh; do
		name=$(basename "$f" .sh)
		case $name in lib | run) continue ;; esac
		case $(header "$name" reboot "") in
		before) continue ;;
		after) last=1 ;;
		*) last=0 ;;
		esac
		echo "$last $(header "$name" order 50) $name"
	done | LC_ALL=C sort -k1,1n -k2,2n -k3,3 | cut -d' ' -f3
}

tests=("$@")
((${#tests[@]})) || mapfile -t tests < <(default_tests)

passed=0 failed=0
for t in "${tests[@]}"; do
	start=$SECONDS
	log=/tmp/test-$t.log
	bad=$(bad_headers "$t")
	if [ -z "$bad" ] && timeout "$(time_limit "$t")" "$HERE/$t.sh" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS vm/$t ($((SECONDS - start))s)"
	else
		[ -z "$bad" ] || echo "$bad" >"$log"
		failed=$((failed + 1))
		echo "FAIL vm/$t ($((SECONDS - start))s)"
		sed 's/^/    /' "$log"
	fi
	cp "$log" "$(dirname "$results")/" 2>/dev/null
	# Leave nothing behind for the next test; a "reboot: after" test's mount
	# must stay for the reboot.
	[ "$(header "$t" reboot "")" = after ] && continue
	grep -qs " $MNT " /proc/mounts && umount "$MNT"
	grep -qw rexfs /proc/modules && rmmod rexfs
done
echo "$passed $failed" >"$results"
