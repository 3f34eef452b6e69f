#!/bin/bash
# Write faults into shared mappings of inline files (races.py inline): the
# retry path (fault lock dropped, file converted under i_rwsem), the no-retry
# path (/proc/self/mem), a read-only page upgraded by a write (page_mkwrite
# unmaps it, ->fault converts), and a converting fault racing write(2) and
# truncate; no deadlock, every byte intact, each branch counted. Negative
# control: unsafe_skip_inline_mkwrite_unmap.
. "$(dirname "$0")/lib.sh"
race_test inline unsafe_skip_inline_mkwrite_unmap
