#!/bin/bash
# Run the in-VM tests (inside the guest). Prints a "PASS name" or
# "FAIL name" line per test and writes the counts to RESULTS.
#
#   tests/vm/run.sh RESULTS [TEST...]     (default: the list below)
#
# persist-write leaves its filesystem mounted for a reboot, so it runs last;
# its other half, persist-verify, runs alone in a second boot (scripts/run.sh).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
results=$1; shift
tests=("$@")
((${#tests[@]})) || tests=(load-unload kunit mount-empty bad-input namespace bigdir bigfile enospc
	large-folios race-truncate fallocate dio race-unwritten race-wb-punch
	race-fault-punch race-dio-mmap race-inline xattr inode-flags block-reuse convert-umount fsync-error handles lease freeze swapfile exercise persist-write)

passed=0 failed=0
for t in "${tests[@]}"; do
	start=$SECONDS
	log=/tmp/test-$t.log
	case $t in
	namespace | bigdir | bigfile | inode-flags) limit=600 ;;
	exercise) limit=900 ;;
	*) limit=300 ;;
	esac
	if timeout "$limit" "$HERE/$t.sh" >"$log" 2>&1; then
		passed=$((passed + 1))
		echo "PASS vm/$t ($((SECONDS - start))s)"
	else
		failed=$((failed + 1))
		echo "FAIL vm/$t ($((SECONDS - start))s)"
		sed 's/^/    /' "$log"
	fi
	cp "$log" "$(dirname "$results")/" 2>/dev/null
	# Leave nothing behind for the next test; persist-write's mount must
	# stay for the reboot.
	[ "$t" = persist-write ] && continue
	grep -qs " /tmp/rexfs-mnt " /proc/mounts && umount /tmp/rexfs-mnt
	grep -qw rexfs /proc/modules && rmmod rexfs
done
echo "$passed $failed" >"$results"
