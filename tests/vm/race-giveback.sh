#!/bin/bash
# A short buffered write gives back the blocks it allocated and did not
# reach while an mmap store dirtied a folio over one of them (races.py
# giveback): the store survives writeback, giveback_kept moves. Negative
# control: unsafe_skip_giveback_check.
. "$(dirname "$0")/lib.sh"
race_test giveback unsafe_skip_giveback_check
