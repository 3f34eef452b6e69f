#!/bin/bash
# The race stress suite inside the test VM; scripts/races.sh boots it.
#
#   tests/races/guest.sh OUT FSTYP SECONDS MKFS_OPTIONS DEV:SCENARIO...
#
# For each DEV:SCENARIO in turn (a disk each, so that a hung scenario leaves
# the others their own): a fresh FSTYP on DEV (mkfs.xfs -f, mkfs.ext4 -F -q
# or mkfs.rexfs -q -f, with MKFS_OPTIONS), mounted on /tmp/race-mnt;
# tests/races/stress.py SCENARIO for SECONDS; unmount; the filesystem's own
# checker (xfs_repair -n, e2fsck -fn, fsck.rexfs -f). On rexfs, then the
# knob-driven race tests with their negative controls (tests/vm/race-*.sh
# through tests/vm/run.sh, on /dev/vda and /dev/vdb, made by the tests
# themselves without MKFS_OPTIONS).
#
# OUT is the read-write share of scripts/vm.sh. Writes OUT/results (one
# PASS/FAIL line per scenario, NOTRUN for one the filesystem cannot run (no
# reflink or dedupe), a failure's details indented under it, also
# printed), OUT/cells (NAME<TAB>CELL for the host's table), OUT/SCENARIO.log
# (mkfs, stress.py's rounds, the checker), OUT/knob.log and the knob tests'
# logs. Exits 0 if everything passed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH=$REPO/tools/bin:$PATH PYTHONDONTWRITEBYTECODE=1
MNT=/tmp/race-mnt

(($# >= 5)) || { echo "usage: guest.sh OUT FSTYP SECONDS MKFS_OPTIONS DEV:SCENARIO..." >&2; exit 2; }
out=$1 fstyp=$2 seconds=$3 mkfs_options=$4
shift 4
read -r -a mkfs_opts <<<"$mkfs_options"
label=$fstyp${mkfs_options:+ $mkfs_options}
results=$out/results cells=$out/cells
: >"$results"
: >"$cells"
failed=0

# It makes filesystems on the disks it is given: only in the test VM.
if ! grep -qE '^[^ ]+ / 9p ' /proc/mounts; then
	echo "guest.sh: the root is not 9p; this is not the test VM and $* would be overwritten" >&2
	exit 2
fi
mkdir -p "$MNT"
{
	echo "kernel $(uname -r); $fstyp, mkfs options '${mkfs_options}'; ${seconds}s per scenario"
	case $fstyp in
	xfs) mkfs.xfs -V ;;
	ext4) mkfs.ext4 -V 2>&1 | head -1 ;;
	esac
} >"$out/info" 2>&1

# result STATUS NAME CELL TEXT [DETAIL_FILE]: a PASS, FAIL or NOTRUN line
# (NOTRUN: the filesystem lacks what the scenario needs), a table cell, and
# the detail file indented under a failure.
result() {
	echo "$1 races/$2 ($label): $4" | tee -a "$results"
	printf '%s\t%s\n' "$2" "$3" >>"$cells"
	if [ "$1" = FAIL ]; then
		failed=$((failed + 1))
		[ -z "${5:-}" ] || sed 's/^/    /' "$5" | tee -a "$results"
	fi
}

make_fs() {
	case $fstyp in
	xfs) mkfs.xfs -f "${mkfs_opts[@]}" "$1" ;;
	ext4) mkfs.ext4 -F -q "${mkfs_opts[@]}" "$1" ;;
	rexfs)
		grep -qw rexfs /proc/modules || insmod "$REPO/rexfs.ko" || return
		mkfs.rexfs -q -f "${mkfs_opts[@]}" "$1"
		;;
	*) echo "unknown filesystem type $fstyp"; return 1 ;;
	esac
}

check_fs() {
	case $fstyp in
	xfs) xfs_repair -n "$1" ;;
	ext4) e2fsck -fn "$1" ;;
	rexfs) fsck.rexfs -f "$1" ;;
	esac
}
declare -A CHECKER=([xfs]="xfs_repair -n" [ext4]="e2fsck -fn" [rexfs]="fsck.rexfs -f")

# run_scenario DEV SCENARIO
run_scenario() {
	local dev=$1 sc=$2 log=$out/$2.log tail=/tmp/race-tail start=$SECONDS
	local limit=$((seconds * 3 / 2 + 180)) pid rc summary status=PASS cell text
	: >"$log"
	if ! { make_fs "$dev" && mount -t "$fstyp" "$dev" "$MNT"; } >>"$log" 2>&1; then
		tail -20 "$log" >"$tail"
		result FAIL "$sc" "FAIL: mkfs or mount" "mkfs or mount of $dev failed" "$tail"
		return
	fi
	# Its own session, so that a watchdog kill reaches its racers too.
	setsid python3 -u "$HERE/stress.py" "$sc" "$MNT" --dev "$dev" --fstype "$fstyp" \
		--seconds "$seconds" >>"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null && ((SECONDS - start < limit)); do
		sleep 1
	done
	if kill -0 "$pid" 2>/dev/null; then
		# Blocked tasks to the kernel log; the filesystem stays mounted.
		echo w >/proc/sysrq-trigger
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
		tail -20 "$log" >"$tail"
		result FAIL "$sc" "FAIL: hang" "no end after ${limit}s: a hang? (blocked tasks in the kernel log)" "$tail"
		return
	fi
	wait "$pid"
	rc=$?
	summary=$(sed -n 's/^summary: //p' "$log" | tail -1)
	case $rc in
	0) text=$summary cell="PASS, ${summary%% *} rounds" ;;
	1) status=FAIL text=$summary cell="FAIL: corruption" ;;
	3) status=NOTRUN text=$summary cell="n/a (${summary#not supported: })" ;;
	*) status=FAIL text="stress.py exit $rc: ${summary:-no summary}" cell="FAIL: error" ;;
	esac
	if ! umount "$MNT" >>"$log" 2>&1; then
		status=FAIL text+="; umount failed" cell="FAIL: umount"
	elif check_fs "$dev" >>"$log" 2>&1; then
		text+="; ${CHECKER[$fstyp]}: clean"
	else
		status=FAIL text+="; ${CHECKER[$fstyp]}: errors (see $sc.log)"
		case $rc in 0 | 3) cell="FAIL: ${CHECKER[$fstyp]%% *}" ;; esac
	fi
	tail -30 "$log" >"$tail"
	result "$status" "$sc" "$cell" "$text ($((SECONDS - start))s)" "$tail"
}

for pair in "$@"; do
	run_scenario "${pair%%:*}" "${pair#*:}"
done

if [ "$fstyp" = rexfs ]; then
	# tests/vm/run.sh loads the module for each test and unloads it after.
	grep -qs " $MNT " /proc/mounts || ! grep -qw rexfs /proc/modules || rmmod rexfs
	mapfile -t knob < <(cd "$REPO/tests/vm" && ls race-*.sh | sed 's/\.sh$//')
	REXFS_OUT=$out "$REPO/tests/vm/run.sh" "$out/knob-results" "${knob[@]}" >"$out/knob.log" 2>&1
	while IFS= read -r line; do
		if [[ $line =~ ^(PASS|FAIL)\ vm/([^ ]+)\ \((.*)\)$ ]]; then
			echo "${BASH_REMATCH[1]} races/knob/${BASH_REMATCH[2]} (rexfs): debugfs knobs, protection" \
				"on and off (the negative control) (${BASH_REMATCH[3]})" | tee -a "$results"
			printf '%s\t%s\n' "knob/${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}" >>"$cells"
			[ "${BASH_REMATCH[1]}" = PASS ] || failed=$((failed + 1))
		elif [[ $line == "    "* ]]; then
			echo "$line" | tee -a "$results"
		fi
	done <"$out/knob.log"
fi
echo "guest.sh: $failed failed"
exit $((failed > 0))
