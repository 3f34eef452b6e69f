#!/bin/bash
# The module loads, registers "rexfs", and unloads cleanly, ten times.
#
# order: 10
. "$(dirname "$0")/lib.sh"
for i in $(seq 10); do
	insmod "$MODULE"
	grep -qw rexfs /proc/filesystems || die "rexfs not registered after load $i"
	rmmod rexfs
	! grep -qw rexfs /proc/filesystems || die "rexfs still registered after unload $i"
done
echo "10 load/unload cycles"
