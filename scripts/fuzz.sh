#!/bin/bash
# Damaged images (issue 20): rexfs-fuzz (tools/fuzz) writes FUZZ_COUNT damaged
# rexfs images on the host, one VM mounts, walks, writes to, unmounts and
# fscks each (tests/fuzz/guest.sh), and `rexfs-fuzz report` classifies what
# the module did with each, by structure.
#
#   make fuzz [FUZZ_SEED=S] [FUZZ_COUNT=N]        (defaults 1 and 200)
#   scripts/fuzz.sh [--short] [--no-build] [--seed S] [--count N] [--out DIR]
#
# --short        60 images, reported as fuzz/short, in out/test/fuzz: the
#                run `make test` makes (scripts/run.sh, after its build:
#                with --no-build)
# --no-build     the kernel, rexfs.ko and the tools are built already (KDIR
#                as for scripts/vm.sh); otherwise they are built as
#                scripts/run.sh builds them (KDIR= skips the kernel)
# --seed, --count  override FUZZ_SEED (default 1) and FUZZ_COUNT (default
#                200, 60 with --short); image i depends on (seed, i) alone
# --out DIR      where everything goes (default out/fuzz)
#
# FUZZ_TIMEOUT   seconds an image may take in the guest (default 60: a hang)
# FUZZ_VM_TIMEOUT  seconds for the whole VM (default 600 + 20 per image)
# FUZZ_KEEP=1    keep every image (default: only those of failed images;
#                `rexfs-fuzz --seed S --index I --out DIR` makes any again)
#
# Output in DIR: images/ (manifest.tsv, the kept NNNNN.img), results.tsv
# (the guest's line per image), image-klog.txt (each image's kernel log lines
# and fsck output), report.txt, failed-indices, and the VM's vm.log,
# console.log, kmsg.log, dmesg. Prints the report (counts by structure and
# outcome, by structure and first errno, fsck.rexfs's detection rate by
# structure, the images the module rejected but fsck found clean, the
# failed images), then a PASS/FAIL line each for fuzz/NAME (every image's
# outcome allowed: no hang, no kernel log problem, no errno but EUCLEAN and
# those the damaged field allows, EUCLEAN always with a "corrupted:" log
# line) and fuzz/kernel-log-clean (the whole boot's kernel log, checked by
# vm.sh with scripts/check-dmesg.sh), and "fuzz: N passed, N failed". Exit
# status 0 if both passed.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

. scripts/lib.sh
die() { echo "fuzz.sh: $*" >&2; exit 2; }

short=0 build=1 seed=${FUZZ_SEED:-} count=${FUZZ_COUNT:-} out=
while (($#)); do
	case $1 in
	--short) short=1; shift ;;
	--no-build) build=0; shift ;;
	--seed) seed=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) die "unknown argument $1 (see the header of $0)" ;;
	esac
done
seed=${seed:-1}
if ((short)); then
	count=${count:-60} name=short out=${out:-$REPO/out/test/fuzz}
else
	count=${count:-200} name=run out=${out:-$REPO/out/fuzz}
fi
per_image=${FUZZ_TIMEOUT:-60}
[[ $seed =~ ^[0-9]+$ ]] || die "seed $seed: a number expected"
[[ $count =~ ^[1-9][0-9]*$ ]] || die "count $count: a positive number expected"
[[ $per_image =~ ^[1-9][0-9]*$ ]] || die "FUZZ_TIMEOUT=$per_image: seconds expected"
vm_timeout=${FUZZ_VM_TIMEOUT:-$((600 + 20 * count))}
mkdir -p "$out"
out=$(cd "$out" && pwd)
fuzz=$REPO/tools/target/release/rexfs-fuzz

if ((build)); then
	build_all
fi
[ -x "$fuzz" ] || die "no $fuzz: run make tools"

start=$SECONDS
step "$count damaged images, seed $seed, in $out/images"
rm -rf "$out/images" "$out/results.tsv" "$out/image-klog.txt" "$out/report.txt" "$out/failed-indices"
"$fuzz" --seed "$seed" --count "$count" --out "$out/images"

step "one VM: mount, walk, write, unmount, fsck each image (QEMU under TCG; limit $((vm_timeout / 60)) min; log in $out/vm.log)"
status=0
scripts/vm.sh --out "$out" --timeout "$vm_timeout" -- \
	"$(printf '%q ' tests/fuzz/guest.sh "$out/images" "$out" "$per_image")" \
	>"$out/vm.log" 2>&1 || status=$?

step "report (seed $seed, $count images)"
passed=0 failed=0
rc=0
"$fuzz" report --manifest "$out/images/manifest.tsv" --results "$out/results.tsv" \
	--name "$name" --failed "$out/failed-indices" >"$out/report.txt" 2>&1 || rc=$?
cat "$out/report.txt"
case $rc in
0) passed=$((passed + 1)) ;;
1) failed=$((failed + 1)) ;;
*)
	echo "FAIL fuzz/$name (rexfs-fuzz report exit $rc)"
	failed=$((failed + 1))
	;;
esac
# vm.sh: 0 or 1 is the guest's status (1: the driver broke, and the images
# it did not get to are not-run above); 124 timeout, 125 the guest died,
# 126 the kernel log shows a problem or is incomplete.
case $status in
0 | 1) echo "PASS fuzz/kernel-log-clean"; passed=$((passed + 1)) ;;
*)
	echo "FAIL fuzz/kernel-log-clean (vm.sh exit $status: 124 timeout, 125 guest died, 126 kernel log)"
	grep -E '^vm.sh|^kernel log|^[0-9]+:|Traceback|Error' "$out/vm.log" | head -30 | sed 's/^/    /' || true
	failed=$((failed + 1))
	;;
esac

# The images of failed images stay for inspection; the others go unless
# FUZZ_KEEP=1.
if [ "${FUZZ_KEEP:-0}" != 1 ] && [ -f "$out/failed-indices" ]; then
	keep=" $(tr '\n' ' ' <"$out/failed-indices") "
	for img in "$out"/images/*.img; do
		[ -e "$img" ] || continue
		i=$((10#$(basename "$img" .img)))
		[[ $keep == *" $i "* ]] || rm -f "$img"
	done
fi
echo "== results in $out; total time $((SECONDS - start))s"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
