#!/bin/bash
# O_DIRECT writes and reads of 4 KiB and 1 MiB whose buffer is a shared
# mapping of the same file range (races.py dio-mmap, as generic/647): every
# request completes, no byte changes, the dio_retry and dio_fallback counters
# move. Negative control: unsafe_skip_dio_fallback.
. "$(dirname "$0")/lib.sh"
race_test dio-mmap unsafe_skip_dio_fallback
