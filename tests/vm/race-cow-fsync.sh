#!/bin/bash
# fsync of a rewritten clone while the completion of its writeback sleeps
# before it puts the staging blocks in place, then a shutdown without a log
# flush and a mount (races.py cow-fsync): fsync waits for the remap and
# commits it, and the clone has the new data. Negative control:
# unsafe_cow_remap_after_writeback (the folios' writeback ends first).
. "$(dirname "$0")/lib.sh"
race_test cow-fsync unsafe_cow_remap_after_writeback
