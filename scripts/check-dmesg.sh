#!/bin/bash
# Fail (exit 1) if a kernel log shows a warning, BUG, oops, panic, lockdep
# report, hung task or KASAN/UBSAN report, or records lost from the stream
# of scripts/vm.sh (kmsg.log: "kmsg-stream: N kernel log records lost", the
# kernel overwrote them before they were read, so they were not checked);
# print the offending lines.
#
#   scripts/check-dmesg.sh LOGFILE
set -euo pipefail
pattern='WARNING:|BUG:|Oops|general protection fault|Kernel panic|kernel BUG|'
pattern+='possible circular locking|possible recursive locking|inconsistent lock state|'
pattern+='DEBUG_LOCKS_WARN_ON|suspicious RCU usage|blocked for more than|KASAN:|UBSAN:|Call Trace:|'
pattern+='rust_panic|panicked at|kernel log records lost'
if grep -E -n "$pattern" "$1" >/tmp/check-dmesg.$$ 2>/dev/null; then
	echo "kernel log $1 shows problems:" >&2
	head -40 /tmp/check-dmesg.$$ >&2
	rm -f /tmp/check-dmesg.$$
	exit 1
fi
rm -f /tmp/check-dmesg.$$
