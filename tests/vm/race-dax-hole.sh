#!/bin/bash
# The DAX seed race on /dev/pmem0 mounted -o dax=always (races.py
# dax-hole): a read fault on a hole sleeps before mapping the zero page
# while write(2) fills the page; the write waits for the fault and unmaps
# the zero page, so the reader sees the data. Negative control:
# unsafe_skip_dax_new.
. "$(dirname "$0")/lib.sh"
[ -b /dev/pmem0 ] || die "no /dev/pmem0: the VM needs --pmem"
race_test dax-hole unsafe_skip_dax_new /dev/pmem0 dax=always
