#!/bin/bash
# Crash consistency inside one boot, as xfstests' _flakey_drop_and_remount:
# CRASH_ROUNDS (default 20) rounds on one journaled filesystem on $DEV, seen
# through dm-flakey. Each round mounts it and starts the workload of
# tests/vm/crash.py (rexfs-exercise; namespace churn with files unlinked
# while open and O_TMPFILE files held open; marker files, each operation
# logged on the guest's tmpfs once its fsync or fdatasync returned), and at a
# random moment switches dm-flakey to drop every write: the workload goes on
# for a moment, its writes vanishing, is killed, and the filesystem is
# unmounted (the dropped writes look successful to it). Then writes pass
# again and a mount replays the journal: every marker of every round so far
# must be there with its logged content (an operation in flight at the cut:
# the old or the new data, block by block; a rename: at one name), read cold,
# from the page cache and after dropping it; then `fsck.rexfs -n` must be
# clean and the kernel log free of journal and rexfs errors. Over the rounds,
# the journal must have held transactions to replay at the cut (its jbd2
# superblock, read before the mount) and the mount must have freed orphan
# inodes (its "freeing N orphan inodes"). CRASH_SEED (default 1) seeds the
# rounds; each prints its own seed (the workload's timing still varies).
#
# timeout: 300 + 60 * ${CRASH_ROUNDS:-20}
# order: 60
. "$(dirname "$0")/lib.sh"
ROUNDS=${CRASH_ROUNDS:-20}
SEED=${CRASH_SEED:-1}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $SEED =~ ^[0-9]+$ ]] ||
	die "CRASH_ROUNDS=$ROUNDS, CRASH_SEED=$SEED: numbers expected"
EXERCISE=$REPO/tools/target/release/rexfs-exercise
[ -x "$EXERCISE" ] || die "no $EXERCISE: run 'make tools'"
WORK=/tmp/crash               # the guest's tmpfs: outside the filesystem
MARKERS=$WORK/markers.log
NAME=rexfs-flakey
FLAKEY=/dev/mapper/$NAME
# No udev in the guest: libdevmapper makes the /dev/mapper node itself.
export DM_DISABLE_UDEV=1
SECTORS=$(blockdev --getsz "$DEV")
rm -rf "$WORK"
mkdir -p "$WORK"

# flakey TABLE_TAIL: load "0 SECTORS flakey DEV 0 TABLE_TAIL", without
# freezing the filesystem (a power cut does not wait for it either).
flakey() {
	dmsetup suspend --nolockfs "$NAME"
	dmsetup load "$NAME" --table "0 $SECTORS flakey $DEV 0 $1"
	dmsetup resume "$NAME"
}
PASS_WRITES="180 0"
DROP_WRITES="0 180 1 drop_writes"

# The workload runs in a session of its own (crash.py --background); wpid
# is that session's id, its process group.
wpid=
group_alive() {
	ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
stop_workload() {
	[ -n "$wpid" ] || return 0
	kill -KILL -- "-$wpid" 2>/dev/null || true
	local i
	for i in $(seq 100); do
		group_alive "$wpid" || break
		sleep 0.1
	done
	wpid=
}
cleanup() {
	stop_workload
	dmsetup resume "$NAME" 2>/dev/null || true     # if a round failed while suspended
	umount "$MNT" 2>/dev/null || true
	dmsetup remove --retry "$NAME" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ms N: N milliseconds in seconds, for sleep.
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# mix N: a 31-bit hash of N (the integer hash of Thomas Mueller).
mix() {
	local x=$(($1 & 0xffffffff))
	x=$((((x >> 16) ^ x) * 0x45d9f3b & 0xffffffff))
	x=$((((x >> 16) ^ x) * 0x45d9f3b & 0xffffffff))
	echo $((((x >> 16) ^ x) & 0x7fffffff))
}
# round_seed R: the seed of round R, from CRASH_SEED.
round_seed() { mix $((SEED * 100003 + $1)); }

rounds=0 verified=0 checks=0 lost=0 fsck_errors=0 replayed=0 said_replayed=0 fsck_replays=0
orphans_total=0 orphan_rounds=0
summary() {
	echo "crash: $rounds rounds, $verified markers verified, $lost lost, $fsck_errors fsck errors;" \
		"$checks marker checks over the rounds; journal replayed in $replayed rounds" \
		"(by fsck.rexfs -y in $fsck_replays; the kernel log says so in $said_replayed);" \
		"$orphans_total orphan inodes freed in $orphan_rounds rounds (CRASH_SEED=$SEED)"
}
# fail_round WHY: end the test; the marker log and the workload's output are
# kept in $OUT_DIR.
fail_round() {
	rounds=$r
	summary
	cp "$MARKERS" "$OUT_DIR/crash-markers.log" 2>/dev/null || true
	cp "$WORK/workload.log" "$OUT_DIR/crash-workload.log" 2>/dev/null || true
	die "round $r (seed $rs): $*; marker log and workload output in $OUT_DIR/crash-*.log"
}

# Fewer inodes than the default for 2 GiB: fsck reads the whole table each round.
mkfs.rexfs -q -f -N 32768 "$DEV"
load
dmsetup create "$NAME" --table "0 $SECTORS flakey $DEV 0 $PASS_WRITES"
echo "crash: $ROUNDS rounds, CRASH_SEED=$SEED, on $FLAKEY over $DEV"

for r in $(seq "$ROUNDS"); do
	t=$(now)
	rs=$(round_seed "$r")
	delay=$((1000 + rs % 5001))             # 1 to 6 s of workload, then the cut
	after=$((300 + $(mix "$rs") % 1201))    # and 0.3 to 1.5 s of dropped writes
	echo "== round $r/$ROUNDS: seed $rs, cut $(ms $delay) s after the workload started"
	rm -f "$WORK/cut"
	mount_rexfs "$FLAKEY"
	wpid=$(py "$VMDIR/crash.py" workload --dir "$MNT/crash" --log "$MARKERS" --seed "$rs" \
		--tag "r$r" --cut-flag "$WORK/cut" --exerciser "$EXERCISE" \
		--background "$WORK/workload.log") || fail_round "the workload did not start"
	sleep "$(ms $delay)"
	group_alive "$wpid" || {
		tail -30 "$WORK/workload.log" >&2
		fail_round "the workload died before the cut"
	}
	# The flag first: a marker operation whose fsync returns after it is
	# not counted as durable (crash.py).
	touch "$WORK/cut"
	flakey "$DROP_WRITES"
	sleep "$(ms $after)"
	stop_workload
	if grep -q '^FAILED' "$WORK/workload.log"; then
		tail -30 "$WORK/workload.log" >&2
		fail_round "the workload failed before the cut"
	fi
	grep '^workload: t=' "$WORK/workload.log" | tail -1 || true
	umount "$MNT" || fail_round "unmounting with the writes dropped failed"
	flakey "$PASS_WRITES"

	state=$(py "$VMDIR/crash.py" disk-state "$FLAKEY") || fail_round "no rexfs or jbd2 superblock on $FLAKEY"
	case $state in *journal=dirty*) replay=yes replayed=$((replayed + 1)) ;; *) replay=no ;; esac
	# Every fourth round, fsck.rexfs -y replays a dirty journal instead of
	# the mount: its port of jbd2's recovery against what the kernel wrote
	# (exit 1: errors fixed, the replay), then the check must find nothing.
	if [ "$replay" = yes ] && ((r % 4 == 0)); then
		frc=0
		fout=$(fsck.rexfs -y "$FLAKEY" 2>&1) || frc=$?
		[ "$frc" = 1 ] || { echo "$fout" | head -40 >&2; fail_round "fsck.rexfs -y replaying the journal: exit $frc"; }
		replay="yes, by fsck.rexfs -y"
		fsck_replays=$((fsck_replays + 1))
		state=$(py "$VMDIR/crash.py" disk-state "$FLAKEY")
		case $state in *journal=clean*) ;; *) fail_round "fsck.rexfs -y left the journal dirty ($state)" ;; esac
		fout=$(fsck.rexfs -n "$FLAKEY" 2>&1) || { echo "$fout" | head -40 >&2; fail_round "fsck.rexfs -n after its replay"; }
	fi
	mark_dmesg "crash-round-$r"
	mount_rexfs "$FLAKEY" || {
		dmesg_since "crash-round-$r" | tail -20 >&2
		fail_round "the mount after the cut failed ($state)"
	}
	vrc=0
	vout=$(py "$VMDIR/crash.py" verify --log "$MARKERS" --dir "$MNT/crash") || vrc=$?
	echo "$vout"
	counts=$(echo "$vout" | sed -n 's/^markers: //p')
	[ -n "$counts" ] || fail_round "crash.py verify exited $vrc without a count"
	m_verified=$(echo "$counts" | sed -E 's/.*verified=([0-9]+).*/\1/')
	m_lost=$(echo "$counts" | sed -E 's/.*lost=([0-9]+).*/\1/')
	m_inflight=$(echo "$counts" | sed -E 's/.*inflight=([0-9]+).*/\1/')
	verified=$m_verified checks=$((checks + m_verified)) lost=$((lost + m_lost))
	umount "$MNT"

	# Through the dm device, unused now (writes pass): dm keeps $DEV open,
	# so $DEV's own page cache is never dropped and could serve blocks from
	# before the rounds wrote them; the dm device's went with the unmount.
	frc=0
	fout=$(fsck.rexfs -n "$FLAKEY" 2>&1) || frc=$?
	if [ "$frc" = 0 ]; then
		fsck=clean
	else
		fsck="exit $frc"
		fsck_errors=$((fsck_errors + 1))
		echo "$fout" | head -40 >&2
	fi
	# The kernel log of the mount, the checks and fsck: orphans freed, a
	# line about the replay (jbd2 logs none; rexfs may), journal and rexfs
	# errors.
	klog=$(dmesg_since "crash-round-$r" | py "$VMDIR/crash.py" kernel-log)
	orphans=$(echo "$klog" | sed -nE '1s/^orphans=([0-9]+).*/\1/p')
	orphans_total=$((orphans_total + orphans))
	[ "$orphans" = 0 ] || orphan_rounds=$((orphan_rounds + 1))
	case $(echo "$klog" | head -1) in *replay-logged=yes*) said_replayed=$((said_replayed + 1)) ;; esac
	kerr=$(echo "$klog" | tail -n +2)
	new=$(grep -c "^new r${r}m" "$MARKERS" 2>/dev/null || true)
	echo "round $r: seed $rs, cut at $(ms $delay) s (+$(ms $after) s dropped), ${new:-0} markers" \
		"fsynced this round, $m_verified verified ($m_inflight in flight at a cut), $m_lost lost;" \
		"journal replayed: $replay ($state); orphans freed: $orphans; fsck.rexfs -n: $fsck;" \
		"$(since "$t") s"
	[ "$m_lost" = 0 ] && [ "$vrc" = 0 ] || fail_round "$m_lost markers lost or wrong (crash.py verify exit $vrc)"
	[ "$frc" = 0 ] || fail_round "fsck.rexfs -n $FLAKEY: exit $frc"
	[ -z "$kerr" ] || {
		echo "$kerr" >&2
		fail_round "journal or rexfs errors in the kernel log after the cut"
	}
	rounds=$r
done

summary
[ "$verified" -gt 0 ] || die "no marker was fsynced before a cut in $ROUNDS rounds: the test checked nothing"
[ "$replayed" -gt 0 ] || die "the journal never held transactions at a cut: recovery never ran"
[ "$orphans_total" -gt 0 ] || die "no mount freed an orphan inode: the orphan list was never exercised"
