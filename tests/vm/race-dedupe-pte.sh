#!/bin/bash
# A store into the source of a dedupe between its compare and its remap,
# through a page whose PTE was writable before the dedupe began (races.py
# dedupe-pte): the dedupe's writeback cleans the page (the store faults)
# and its invalidate_lock on the source holds the fault until the remap,
# after which the store copies on write; the destination keeps the data
# the dedupe compared. Negative control: unsafe_remap_source_unlocked (the
# dedupe locks only the destination): the fault goes through, msync writes
# the store in place, and the destination ends up linked to it.
. "$(dirname "$0")/lib.sh"
race_test dedupe-pte unsafe_remap_source_unlocked
