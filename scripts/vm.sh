#!/bin/bash
# Run a command in a QEMU guest booted from the test kernel.
#
#   scripts/vm.sh --out DIR [--disk FILE]... [--timeout SECS] [--mem MIB]
#                 [--mem-prealloc] [--one-cpu] [--pmem SIZE]... -- COMMAND
#
# The guest's root is the host's / shared read-only over 9p (so host tools,
# the repository and its build products are there at the same paths; cached
# in the guest: the host must not change them while it runs), DIR is
# shared read-write at the same path, and each FILE is a raw virtio-blk disk
# (/dev/vda, /dev/vdb, ...). COMMAND runs as root in the repository with bash.
#
# --timeout: seconds for the whole VM (default 600). --mem: the guest's RAM
# in MiB (default 2048). --mem-prealloc: QEMU backs all of the guest's
# memory before it boots (-mem-prealloc), so that no run inside pays the
# host's first touch of pages the guest had not used yet (the benchmark).
# --one-cpu: one vCPU instead of two (the benchmark): with two, under TCG,
# fio's O_DIRECT random reads at depth 16 on a disk image in tmpfs stopped
# for good after 6 to 37 runs of 4 s (fio never returned, QEMU idle; so
# with aio=io_uring and with one virtqueue too); with one vCPU 65 runs in
# 300 s went through (QEMU 7.2.22).
# --pmem SIZE (a number of MiB, or with a suffix M or
# G: 1G, 512M; a multiple of 128 MiB; 0 adds nothing): a legacy persistent
# memory device of that size beside the virtio disks, DAX-capable
# (fs/dax.c: mount -o dax); repeated, one device per --pmem, /dev/pmem0,
# /dev/pmem1, ... in the order given. Each is guest memory the kernel is
# told, with memmap=SIZE!START on its command line, to use as an e820
# type-12 (pmem) range instead of RAM: QEMU's -m is MIB plus the sizes of
# all of them, with at most 3 GiB of it (the guest's first min(MIB, 3072)
# MiB) below 4 GiB (-machine max-ram-below-4g), and the pmem ranges are the
# top of the RAM above 4 GiB, one after another: the first at START = 4 GiB
# + MIB - min(MIB, 3072) MiB, each next one where the one before ends. They
# are never below 4 GiB, where the firmware keeps the ACPI tables at the top
# of RAM; with --pmem, --mem must be a multiple of 128 MiB too, so that each
# range is section-aligned (2 MiB PMD faults need 2 MiB alignment).
# Adjacent type-12 ranges stay separate (e820_type_mergeable() refuses to
# merge E820_TYPE_PRAM), drivers/nvdimm/e820.c makes a region of each in
# address order, and a region's pmem device is named after its id
# (pmem<id>, nvdimm_namespace_disk_name), taken in that order: so
# /dev/pmemN is the Nth range. The guest's init waits for every device and
# says so on the console ("vm.sh: ...") if one is missing or is not at its
# range (/sys/block/pmemN/device/resource and size). The devices start
# zeroed in each boot: they live in QEMU's memory, not in a file.
#
# Output in DIR:
#   console.log  the guest console (also on stdout): the kernel's messages up
#                to loglevel 4 (warnings excluded), COMMAND's output; after a
#                panic, the whole kernel log replayed (panic_console_replay)
#   kmsg.log     the guest's whole kernel log, streamed out as it is written
#                (see below); the kernel log verdict is taken from it
#   dmesg        the kernel's ring buffer (1 MiB) at the end of COMMAND
#   status       COMMAND's exit status, written by the guest
# Exit status: COMMAND's, or 124 on timeout, or 125 when the guest died
# without reporting one; 126 when the kernel log shows a warning, BUG, oops
# or lockdep report (see scripts/check-dmesg.sh) or is incomplete.
#
# The kernel log stream: the guest's init starts DIR/kmsg-stream (a Perl
# reader of /dev/kmsg, written here) before COMMAND. It reads every record
# from the oldest one still in the ring buffer (the boot's first line) on,
# as each is written, and writes it at once to a virtio-serial port whose
# host side is QEMU's file chardev DIR/kmsg.log: each write lands in that
# file before the guest's write returns (under TCG QEMU handles the port's
# notification synchronously, in the vCPU thread), so nothing the reader has
# copied is lost when the guest resets, panics or is killed, and nothing
# depends on the guest flushing a file over 9p. After COMMAND, init writes
# an end record to /dev/kmsg and waits for the reader to copy it out before
# it resets the guest (sysrq b); a kmsg.log without that record is an
# incomplete stream, and fails the boot (126) if COMMAND finished. Records
# overwritten in the ring buffer before the reader got them (a sequence
# gap) are reported in the stream as "kmsg-stream: N kernel log records
# lost", which scripts/check-dmesg.sh fails. What a panic leaves unread is
# in console.log: the kernel replays its whole log on the console at the
# end of a panic.
#
# KDIR is the kernel build directory (default: the cached test kernel).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: vm.sh --out DIR [--disk FILE]... [--timeout SECS] [--mem MIB] [--mem-prealloc] [--one-cpu] [--pmem SIZE]... -- COMMAND"
die() { echo "vm.sh: $*" >&2; exit 2; }

# mib SIZE: SIZE (N, NM or NG) in MiB.
mib() {
	local n=${1%[MmGg]}
	[[ $n =~ ^[0-9]+$ ]] || return 1
	case $1 in
	*[Gg]) echo $((10#$n * 1024)) ;;
	*) echo $((10#$n)) ;;
	esac
}

out= timeout=600 mem=2048 prealloc=() cpus=2 pmems=() disks=()
while (($#)); do
	case $1 in
	--out) out=$2; shift 2 ;;
	--disk) disks+=("$2"); shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$(mib "$2") || die "--mem $2: a number of MiB expected"; shift 2 ;;
	--mem-prealloc) prealloc=(-mem-prealloc); shift ;;
	--one-cpu) cpus=1; shift ;;
	--pmem)
		size=$(mib "$2") || die "--pmem $2: a size such as 1G or 512M expected"
		((size == 0)) || pmems+=("$size")
		shift 2
		;;
	--) shift; break ;;
	*) echo "vm.sh: unknown argument $1" >&2; echo "$usage" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] && (($#)) || { echo "$usage" >&2; exit 2; }
((mem > 0)) || die "--mem $mem: must not be 0"
# pmem: the total size of the --pmem devices (MiB).
pmem=0
for size in "${pmems[@]}"; do
	((size % 128 == 0)) || die "--pmem ${size}M: must be a multiple of 128 MiB"
	pmem=$((pmem + size))
done
if ((pmem)); then
	((mem % 128 == 0)) || die "--mem $mem with --pmem: must be a multiple of 128 MiB"
fi
KDIR=${KDIR:-$("$HERE/scripts/kernel.sh" path)}
bzimage=$KDIR/arch/x86/boot/bzImage
[ -f "$bzimage" ] || { echo "vm.sh: no kernel image at $bzimage" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/status" "$out/dmesg" "$out/console.log" "$out"/console-failed-boot-*.log "$out/kmsg.log"

# The last record of the kernel log stream: init writes it after COMMAND, the
# reader stops once it has copied it out.
kmsg_end="vm.sh: end of the kernel log stream"
kmsg_port=org.rexfs.kmsg

# The reader of the kernel log stream (see above): kmsg-stream PORT END.
# One line per record, "[seconds.micro] text" as on the console, a record
# of several lines as several lines; the kernel's \xNN escapes of newlines,
# tabs, backslashes and non-ASCII bytes undone, other control characters
# left escaped; the SUBSYSTEM=/DEVICE= lines dropped.
cat >"$out/kmsg-stream" <<'PERL'
#!/usr/bin/perl
use strict;
use warnings;

my ($port, $end) = @ARGV;
open(my $in, '<', '/dev/kmsg') or die "kmsg-stream: /dev/kmsg: $!\n";
open(my $out, '>', $port) or die "kmsg-stream: $port: $!\n";

sub put {
	my ($s) = @_;
	while (length $s) {
		my $n = syswrite($out, $s);
		if (!defined $n) {
			next if $!{EINTR} || $!{EAGAIN};
			die "kmsg-stream: write to $port: $!\n";
		}
		substr($s, 0, $n) = '';
	}
}

sub unescape {
	my ($c) = @_;
	return "\n" if $c == 0x0a;
	return "\t" if $c == 0x09;
	return chr($c) if $c == 0x5c || $c >= 0x80;
	return sprintf('\\x%02x', $c);
}

my $next = 0;
my $buf;
while (1) {
	# One record per read; EPIPE: the next record was overwritten, the
	# next read returns the oldest one left (the gap is reported below).
	my $n = sysread($in, $buf, 65536);
	if (!defined $n) {
		next if $!{EPIPE} || $!{EINTR} || $!{EAGAIN};
		die "kmsg-stream: read /dev/kmsg: $!\n";
	}
	last if $n == 0;
	my ($header, $text) = split(/;/, $buf, 2);
	next unless defined $text;
	my (undef, $seq, $usec) = split(/,/, $header);
	$text =~ s/\n.*//s;
	if ($seq > $next) {
		put(sprintf("kmsg-stream: %d kernel log records lost (seq %d to %d overwritten before they were read)\n",
			$seq - $next, $next, $seq - 1));
	}
	$next = $seq + 1;
	my $prefix = sprintf('[%5d.%06d] ', int($usec / 1000000), $usec % 1000000);
	my $plain = $text;
	$plain =~ s/\\x([0-9a-f]{2})/unescape(hex($1))/ge;
	put(join('', map { "$prefix$_\n" } split(/\n/, $plain, -1)));
	last if $text eq $end;
}
PERL
chmod +x "$out/kmsg-stream"

# The pmem layout (see the top): low MiB of RAM below 4 GiB, the rest of
# the RAM and then the pmem ranges from 4 GiB up, each range given to the
# kernel as memmap=SIZE!START. With --pmem, init waits for every
# /dev/pmemN (the nvdimm bus may probe asynchronously) before COMMAND runs,
# and checks that each is the range it was given (address and size, in
# sysfs): a missing or misplaced device is reported on the console.
memmap= pmem_wait=
if ((pmem)); then
	low=$((mem < 3072 ? mem : 3072))
	start=$((4096 + mem - low))
	pmem_all=
	# pmem_check N ADDRESS SECTORS WHAT: /dev/pmemN is at ADDRESS (as
	# sysfs prints it, %#llx) and has SECTORS 512-byte sectors.
	pmem_wait='pmem_check() {
	local res size
	if [ ! -b "/dev/pmem$1" ]; then
		echo "vm.sh: no /dev/pmem$1 ($4)" >&2
		return
	fi
	res=$(cat "/sys/block/pmem$1/device/resource" 2>/dev/null)
	size=$(cat "/sys/block/pmem$1/size" 2>/dev/null)
	[ "$res $size" = "$2 $3" ] ||
		echo "vm.sh: /dev/pmem$1 is at ${res:-?} with ${size:-?} sectors, not $4 at $2 with $3" >&2
}
'
	checks=
	for i in "${!pmems[@]}"; do
		memmap+=" memmap=${pmems[i]}M!${start}M"
		pmem_all+="[ -b /dev/pmem$i ] && "
		checks+="pmem_check $i $(printf '%#x' $((start << 20))) $((pmems[i] * 2048)) '--pmem ${pmems[i]}M, memmap=${pmems[i]}M!${start}M'"$'\n'
		start=$((start + pmems[i]))
	done
	pmem_wait+="for i in \$(seq 300); do ${pmem_all}break; sleep 0.1; done"$'\n'"$checks"
fi

# The guest's init: a minimal userspace around COMMAND.
cat >"$out/init" <<EOF
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# What udev would add: bash's process substitution needs /dev/fd.
ln -sfn /proc/self/fd /dev/fd
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# Writable scratch directories over the read-only root; a repository that
# lies under one of them is bound back into place.
for d in /tmp /var/tmp /var/lib /root; do
	mkdir -p /run/host\$d && mount --bind \$d /run/host\$d
	mount -t tmpfs tmpfs \$d
	case "$HERE/" in \$d/*) mkdir -p "$HERE" && mount --bind "/run/host$HERE" "$HERE" ;; esac
done
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p "$out" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out "$out"
# The kernel log stream, started before COMMAND: the reader copies the log,
# from its oldest record on, to the virtio-serial port named $kmsg_port.
kport=
for i in \$(seq 100); do
	for p in /sys/class/virtio-ports/*; do
		[ "\$(cat "\$p/name" 2>/dev/null)" = $kmsg_port ] && kport=/dev/\${p##*/}
	done
	[ -n "\$kport" ] && [ -c "\$kport" ] && break
	kport=
	sleep 0.1
done
kmsg_pid=
if [ -n "\$kport" ]; then
	perl "$out/kmsg-stream" "\$kport" $(printf '%q' "$kmsg_end") &
	kmsg_pid=\$!
	echo -1000 >/proc/\$kmsg_pid/oom_score_adj 2>/dev/null
else
	echo "vm.sh: no virtio-serial port $kmsg_port: no kernel log stream" >&2
fi
${pmem_wait}touch "$out/booted"
cd "$HERE"
bash -c $(printf '%q' "$*") </dev/null
echo \$? >"$out/status"
dmesg >"$out/dmesg"
# The end of the kernel log stream: wait (at most 120 s) until the reader
# has copied out everything up to this record.
if [ -n "\$kmsg_pid" ]; then
	echo $(printf '%q' "$kmsg_end") >/dev/kmsg
	{ sleep 120; kill \$kmsg_pid 2>/dev/null; } &
	wait \$kmsg_pid
fi
# Reset at once, without syncing: what the tests did not make durable is lost,
# as in a crash (the results above went out over 9p already).
echo b >/proc/sysrq-trigger
EOF
chmod +x "$out/init"

# The kernel's command line. The console stays at loglevel 4 for
# readability; the whole log goes to kmsg.log. A 1 MiB ring buffer (128 KiB
# by default) for DIR/dmesg, the tests' own reads of the log and the
# reader's margin; at a panic the whole buffer is replayed on the console.
# The root is mounted with 9p's loose cache: the host changes nothing under
# it while a guest runs (DIR, which it writes, is its own uncached mount),
# and keeping the programs' pages in the guest halves what starting one
# costs under TCG (200 xfs_io processes: 35.3 s without the cache, 16.6 s
# with it), which is most of what xfstests and the VM tests spend.
append="console=ttyS0 loglevel=4 log_buf_len=1M panic_console_replay=1"
append+=" root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro"
append+=" init=$out/init panic=-1 oops=panic"
ram=$mem machine=()
if ((pmem)); then
	ram=$((mem + pmem))
	machine=(-machine "pc,max-ram-below-4g=${low}M")
	append+=$memmap
fi

qemu=(qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp "$cpus" -m "$ram" "${prealloc[@]}" "${machine[@]}"
      -display none -monitor none -serial stdio -no-reboot
      -kernel "$bzimage"
      -append "$append"
      -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
      -device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
      -fsdev "local,id=out,path=$out,security_model=none"
      -device virtio-9p-pci,fsdev=out,mount_tag=out)
for d in "${disks[@]}"; do
	qemu+=(-drive "file=$d,format=raw,if=virtio,cache=unsafe")
done
# The kernel log stream's port (after the disks: their PCI slots stay as
# they were). The file chardev truncates kmsg.log when QEMU starts.
qemu+=(-device virtio-serial-pci,id=kmsgserial
       -chardev "file,id=kmsg,path=${out//,/,,}/kmsg.log"
       -device "virtserialport,bus=kmsgserial.0,chardev=kmsg,name=$kmsg_port")

# TCG runs the vCPUs in one host thread: with a thread per vCPU (MTTCG), the
# kernel's live code patching (static keys flipped at boot or when a
# tracepoint is enabled) races with the other vCPU's translated code and
# oopses on a stray int3 (seen twice). A guest that still dies before its
# init runs is booted again.
for attempt in 1 2 3; do
	rm -f "$out/booted"
	set +e
	timeout --foreground "$timeout" "${qemu[@]}" </dev/null 2>&1 | tee "$out/console.log"
	qemu_status=${PIPESTATUS[0]}
	set -e
	[ -f "$out/booted" ] || [ "$qemu_status" = 124 ] || [ $attempt = 3 ] || {
		cp "$out/console.log" "$out/console-failed-boot-$attempt.log"
		echo "vm.sh: the guest died while booting (attempt $attempt); booting again" >&2
		continue
	}
	break
done

# check LOG...: scripts/check-dmesg.sh on each LOG that exists; fails if one
# shows a problem.
check() {
	local log ok=0
	for log; do
		[ -f "$log" ] || continue
		"$HERE/scripts/check-dmesg.sh" "$log" >&2 || ok=1
	done
	return $ok
}

if [ "$qemu_status" = 124 ]; then
	echo "vm.sh: guest timed out after ${timeout}s (see $out/console.log, $out/kmsg.log)" >&2
	check "$out/kmsg.log" || true
	exit 124
fi
if [ ! -f "$out/status" ]; then
	echo "vm.sh: guest died without reporting a status (see $out/console.log, $out/kmsg.log)" >&2
	check "$out/console.log" "$out/kmsg.log" || true
	exit 125
fi
# The verdict: the whole stream, complete up to its end record; the ring
# buffer at the end too, which the stream should hold already.
if ! tail -n 1 "$out/kmsg.log" 2>/dev/null | grep -qF "] $kmsg_end"; then
	echo "vm.sh: the kernel log stream $out/kmsg.log is incomplete (no end record): the kernel log cannot be checked" >&2
	check "$out/kmsg.log" "$out/dmesg" || true
	exit 126
fi
if ! check "$out/kmsg.log" "$out/dmesg"; then
	exit 126
fi
exit "$(cat "$out/status")"
