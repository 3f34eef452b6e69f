#!/bin/bash
# 4 KiB zero pages inside a PMD, then write(2) of the whole PMD (races.py
# dax-pmd), on /dev/pmem0 mounted -o dax=always: a shared mapping at a
# 2 MiB-aligned address reads pages of a 2 MiB-aligned hole (4 KiB faults
# of the zero page: the PMD fault falls back, the PMD reaching past EOF),
# the last read sleeping before it maps its zero page (delay_dax_hole_ms),
# while write(2) fills the PMD with a 2 MiB-aligned extent; the write says
# the blocks are new, waits for the fault and unmaps every zero page, so the
# reader sees the data at each page it had read. After a remount, reading
# the PMD through an aligned mapping is a PMD fault (dax_pmd_faults).
# Negative control: unsafe_skip_dax_new.
. "$(dirname "$0")/lib.sh"
[ -b /dev/pmem0 ] || die "no /dev/pmem0: the VM needs --pmem"
race_test dax-pmd unsafe_skip_dax_new /dev/pmem0 dax=always
