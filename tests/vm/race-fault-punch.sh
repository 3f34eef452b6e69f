#!/bin/bash
# An mmap write fault into a range being punched (races.py fault-punch, as
# generic/344 and generic/346): the fault must wait for the punch
# (invalidate_lock) and the store survive, the rest of the hole read as
# zeros. Negative control: unsafe_skip_fallocate_invalidate_lock.
. "$(dirname "$0")/lib.sh"
race_test fault-punch unsafe_skip_fallocate_invalidate_lock
