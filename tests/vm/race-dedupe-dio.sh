#!/bin/bash
# A direct write into the source of a dedupe between its compare and its
# remap (races.py dedupe-dio): the dedupe holds the source exclusively, so
# the write waits and then copies on write; the destination keeps the data
# the dedupe compared. Negative control: unsafe_remap_source_unlocked (the
# dedupe locks only the destination): the destination ends up linked to the
# written data.
. "$(dirname "$0")/lib.sh"
race_test dedupe-dio unsafe_remap_source_unlocked
