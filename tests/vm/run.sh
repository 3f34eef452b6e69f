#!/bin/bash
# Run the in-VM tests (inside the guest). Prints a "PASS name" or
# "FAIL name" line per test and writes the counts to RESULTS.
#
#   tests/vm/run.sh RESULTS [TEST...]     (default: every test in this folder)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
results=$1; shift
tests=("$@")
((${#tests[@]})) || tests=(load-unload mount-empty bad-input)

passed=0 failed=0
for t in "${tests[@]}"; do
	start=$SECONDS
	log=/tmp/test-$t.log
	if timeout 300 "$HERE/$t.sh" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS vm/$t ($((SECONDS - start))s)"
	else
		failed=$((failed + 1))
		echo "FAIL vm/$t ($((SECONDS - start))s)"
		sed 's/^/    /' "$log"
	fi
	cp "$log" "$(dirname "$results")/" 2>/dev/null
	# Leave nothing behind for the next test.
	grep -qs " /tmp/rexfs-mnt " /proc/mounts && umount /tmp/rexfs-mnt
	grep -qw rexfs /proc/modules && rmmod rexfs
done
echo "$passed $failed" >"$results"
