#!/bin/bash
# Seed race 1 (races.py unwritten): a buffered write's cached UNWRITTEN
# mapping goes stale while an mmap store into the same extent is written back
# (converted) and its folio dropped; iomap_valid must catch it (iomap_stale
# counter) and no byte may be lost. Negative control: unsafe_skip_iomap_valid.
. "$(dirname "$0")/lib.sh"
race_test unwritten unsafe_skip_iomap_valid
