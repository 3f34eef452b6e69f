#!/bin/bash
# The race scenarios of tests/vm/races.py as stress tests on any filesystem,
# in the test VM (README: "The race suite on any filesystem").
#
#   make races FSTYP=xfs|ext4|rexfs [MKFS_OPTIONS=...] [RACE_SECONDS=N]
#   FSTYP=... scripts/races.sh
#
# FSTYP (default rexfs) may list several, "rexfs xfs ext4", each booted in
# its own VM; MKFS_OPTIONS (e.g. "-O inline_data" for ext4) goes with one.
# RACE_SECONDS (default 60) is each scenario's time budget; SCENARIOS (default
# all: tests/races/stress.py --list) picks some. Each scenario runs on its
# own fresh filesystem (tests/races/guest.sh), and on rexfs the knob-driven
# race tests with their negative controls run after them in the same VM.
# The kernel, rexfs.ko and the tools are built as for every VM (KDIR= skips
# the kernel, as for scripts/run.sh).
#
# Output in out/races/<filesystem>/: results, the VM's console (vm.log,
# console.log, dmesg), each scenario's log. Prints one PASS/FAIL line per
# scenario and filesystem (NOTRUN where the filesystem lacks what it needs:
# reflink, dedupe), the check of the guest's kernel log, a Markdown
# table of scenario x filesystem, and "N passed, N failed"; exits 0 only if
# nothing failed. The sparse disk images (out/races/<filesystem>/*.img) are
# removed after a run where everything passed, kept otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=$REPO/out/races
FSTYP=${FSTYP:-rexfs}
MKFS_OPTIONS=${MKFS_OPTIONS:-}
RACE_SECONDS=${RACE_SECONDS:-60}

. scripts/lib.sh
die() { echo "races.sh: $*" >&2; exit 2; }

[[ $RACE_SECONDS =~ ^[1-9][0-9]*$ ]] || die "RACE_SECONDS=$RACE_SECONDS: a number of seconds expected"
read -r -a filesystems <<<"$FSTYP"
((${#filesystems[@]})) || die "FSTYP is empty"
[ -z "$MKFS_OPTIONS" ] || ((${#filesystems[@]} == 1)) ||
	die "MKFS_OPTIONS='$MKFS_OPTIONS' with several filesystems ($FSTYP): give one FSTYP with it"
for fs in "${filesystems[@]}"; do
	case $fs in xfs | ext4 | rexfs) ;; *) die "FSTYP=$fs: xfs, ext4 or rexfs expected" ;; esac
done
mapfile -t all_scenarios < <(PYTHONDONTWRITEBYTECODE=1 python3 tests/races/stress.py --list)
read -r -a scenarios <<<"${SCENARIOS:-${all_scenarios[*]}}"
for sc in "${scenarios[@]}"; do
	[[ " ${all_scenarios[*]} " == *" $sc "* ]] || die "unknown scenario $sc (known: ${all_scenarios[*]})"
done
# The disks: /dev/vda (2 GiB) and /dev/vdb (64 MiB) for the knob tests
# (tests/vm/lib.sh), then one per scenario.
((${#scenarios[@]} <= 20)) || die "too many scenarios"
letters=(c d e f g h i j k l m n o p q r s t u v)
mapfile -t knob_tests < <(cd tests/vm && ls race-*.sh | sed 's/\.sh$//')

build_all

passed=0 failed=0 columns=()
declare -A cell

# run_fs FS: one VM running every scenario on FS; its lines printed, counted
# and put in the table.
run_fs() {
	local fs=$1 label dir status=0 disks=() pairs=() i=0 timeout name expected value n
	label=$fs${MKFS_OPTIONS:+ $MKFS_OPTIONS}
	dir=$OUT/$(echo "$label" | sed -E 's/[^A-Za-z0-9_.=-]+/_/g')
	rm -rf "$dir"
	mkdir -p "$dir"
	truncate -s 2G "$dir/knob0.img"
	truncate -s 64M "$dir/knob1.img"
	disks=(--disk "$dir/knob0.img" --disk "$dir/knob1.img")
	for sc in "${scenarios[@]}"; do
		truncate -s "${RACE_DISK_SIZE:-512M}" "$dir/$sc.img"
		disks+=(--disk "$dir/$sc.img")
		pairs+=("/dev/vd${letters[i]}:$sc")
		i=$((i + 1))
	done
	# Boot, each scenario with its checks and the guest's watchdog margin,
	# and on rexfs the knob tests (at most their 300 s timeout each). The
	# knob tests of DAX (race-dax-*) run on the pmem device, /dev/pmem0.
	timeout=$((300 + ${#scenarios[@]} * (RACE_SECONDS * 3 / 2 + 240)))
	[ "$fs" != rexfs ] || timeout=$((timeout + 300 * ${#knob_tests[@]}))
	step "$label: ${#scenarios[@]} scenarios, ${RACE_SECONDS}s each (QEMU under TCG; log in $dir/vm.log)"
	scripts/vm.sh --out "$dir" "${disks[@]}" --pmem 256M --timeout "$timeout" -- \
		"REXFS_OUT=$(printf %q "$dir") $(printf '%q ' tests/races/guest.sh "$dir" "$fs" "$RACE_SECONDS" \
			"$MKFS_OPTIONS" "${pairs[@]}")" >"$dir/vm.log" 2>&1 || status=$?

	columns+=("$label")
	[ -f "$dir/results" ] && grep -E '^(PASS|FAIL|NOTRUN) |^    ' "$dir/results" || true
	n=$(grep -c '^PASS ' "$dir/results" 2>/dev/null) || true
	passed=$((passed + ${n:-0}))
	n=$(grep -c '^FAIL ' "$dir/results" 2>/dev/null) || true
	failed=$((failed + ${n:-0}))
	while IFS=$'\t' read -r name value; do
		cell["$name|$label"]=$value
	done < <(cat "$dir/cells" 2>/dev/null || true)
	# What the guest did not get to (it died, or the VM timed out).
	expected=("${scenarios[@]}")
	[ "$fs" != rexfs ] || expected+=("${knob_tests[@]/#/knob/}")
	for name in "${expected[@]}"; do
		[ -z "${cell["$name|$label"]:-}" ] || continue
		echo "FAIL races/$name ($label): no result (vm.sh exit $status; see $dir/vm.log)"
		cell["$name|$label"]="FAIL: not run"
		failed=$((failed + 1))
	done
	# The guest's kernel log must be clean: no warning, oops, lockdep report or hung task.
	case $status in
	0 | 1)
		echo "PASS races/kernel-log-clean ($label)"
		cell["kernel-log-clean|$label"]=PASS
		passed=$((passed + 1))
		;;
	*)
		echo "FAIL races/kernel-log-clean ($label: vm.sh exit $status: 124 timeout, 125 guest died, 126 kernel log)"
		grep -E '^vm.sh|^kernel log|^[0-9]+:' "$dir/vm.log" | head -30 | sed 's/^/    /' || true
		cell["kernel-log-clean|$label"]="FAIL (vm.sh $status)"
		failed=$((failed + 1))
		;;
	esac
	if [ "$status" = 0 ]; then
		rm -f "$dir"/*.img
	else
		echo "    disk images kept for inspection: $dir/*.img"
	fi
}

start=$SECONDS
for fs in "${filesystems[@]}"; do
	run_fs "$fs"
done

# The table: a row per scenario (then the knob tests and the kernel log),
# a column per filesystem.
step "scenario x filesystem"
rows=("${scenarios[@]}")
[[ " ${filesystems[*]} " != *" rexfs "* ]] || rows+=("${knob_tests[@]/#/knob/}")
rows+=(kernel-log-clean)
header="| scenario |" rule="| --- |"
for c in "${columns[@]}"; do
	header+=" $c |" rule+=" --- |"
done
echo "$header"
echo "$rule"
for row in "${rows[@]}"; do
	line="| $row |"
	for c in "${columns[@]}"; do
		line+=" ${cell["$row|$c"]:-n/a} |"
	done
	echo "$line"
done
echo "== results in $OUT; total time $((SECONDS - start))s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
