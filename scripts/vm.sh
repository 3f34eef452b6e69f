#!/bin/bash
# Run a command in a QEMU guest booted from the test kernel.
#
#   scripts/vm.sh --out DIR [--disk FILE]... [--timeout SECS] [--mem MB] -- COMMAND
#
# The guest's root is the host's / shared read-only over 9p (so host tools,
# the repository and its build products are there at the same paths), DIR is
# shared read-write at the same path, and each FILE is a raw virtio-blk disk
# (/dev/vda, /dev/vdb, ...). COMMAND runs as root in the repository with bash.
# The guest console goes to stdout and DIR/console.log, the guest's dmesg to
# DIR/dmesg. Exit status: COMMAND's, or 124 on timeout, or 125 when the guest
# died without reporting one; 126 when the kernel log shows a warning, BUG,
# oops or lockdep report (see scripts/check-dmesg.sh).
#
# KDIR is the kernel build directory (default: the cached test kernel).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
out= timeout=600 mem=2048 disks=()
while (($#)); do
	case $1 in
	--out) out=$2; shift 2 ;;
	--disk) disks+=("$2"); shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "vm.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$out" ] && (($#)) || { echo "usage: vm.sh --out DIR [--disk FILE]... [--timeout S] -- COMMAND" >&2; exit 2; }
KDIR=${KDIR:-$("$HERE/scripts/kernel.sh" path)}
bzimage=$KDIR/arch/x86/boot/bzImage
[ -f "$bzimage" ] || { echo "vm.sh: no kernel image at $bzimage" >&2; exit 2; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/status" "$out/dmesg" "$out/console.log" "$out"/console-failed-boot-*.log

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
touch "$out/booted"
cd "$HERE"
bash -c $(printf '%q' "$*") </dev/null
echo \$? >"$out/status"
dmesg >"$out/dmesg"
# Reset at once, without syncing: what the tests did not make durable is lost,
# as in a crash (the results above went out over 9p already).
echo b >/proc/sysrq-trigger
EOF
chmod +x "$out/init"

qemu=(qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp 2 -m "$mem"
      -display none -monitor none -serial stdio -no-reboot
      -kernel "$bzimage"
      -append "console=ttyS0 loglevel=4 root=/dev/root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144 ro init=$out/init panic=-1 oops=panic"
      -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap
      -device virtio-9p-pci,fsdev=root,mount_tag=/dev/root
      -fsdev "local,id=out,path=$out,security_model=none"
      -device virtio-9p-pci,fsdev=out,mount_tag=out)
for d in "${disks[@]}"; do
	qemu+=(-drive "file=$d,format=raw,if=virtio,cache=unsafe")
done

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

if [ "$qemu_status" = 124 ]; then
	echo "vm.sh: guest timed out after ${timeout}s" >&2
	exit 124
fi
if [ ! -f "$out/status" ]; then
	echo "vm.sh: guest died without reporting a status (see $out/console.log)" >&2
	"$HERE/scripts/check-dmesg.sh" "$out/console.log" >&2 || true
	exit 125
fi
if ! "$HERE/scripts/check-dmesg.sh" "$out/dmesg" >&2; then
	exit 126
fi
exit "$(cat "$out/status")"
