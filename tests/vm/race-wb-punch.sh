#!/bin/bash
# Writeback with a cached mapping while a punch frees the range, another
# file takes the blocks and the range is rewritten (races.py wb-punch): the
# writeback context must refetch (wb_map_refetched counter) and write nothing
# over the other file. Negative control: unsafe_skip_wb_revalidate.
. "$(dirname "$0")/lib.sh"
race_test wb-punch unsafe_skip_wb_revalidate
