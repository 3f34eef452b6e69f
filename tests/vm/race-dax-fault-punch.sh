#!/bin/bash
# race-fault-punch on a DAX mount (/dev/pmem0, dax=always; races.py
# fault-punch): a write fault into a DAX file's range being punched must
# wait for the punch (invalidate_lock, which the DAX fault takes shared) and
# its store, made straight into a new block, survive; the rest of the hole
# reads as zeros. Negative control: unsafe_skip_fallocate_invalidate_lock,
# where the fault maps the old block, the store goes into it, and the punch
# then frees it.
. "$(dirname "$0")/lib.sh"
[ -b /dev/pmem0 ] || die "no /dev/pmem0: the VM needs --pmem"
race_test fault-punch unsafe_skip_fallocate_invalidate_lock /dev/pmem0 dax=always
