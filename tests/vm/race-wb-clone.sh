#!/bin/bash
# Writeback with a cached mapping while a clone replaces the range's blocks
# with another file's, a third file takes the freed blocks and the range is
# rewritten, copying on write (races.py wb-clone): the writeback context
# must refetch (wb_map_refetched) and write the staging blocks, nothing over
# the third file. Negative control: unsafe_skip_wb_revalidate.
. "$(dirname "$0")/lib.sh"
race_test wb-clone unsafe_skip_wb_revalidate
