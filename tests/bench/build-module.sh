#!/bin/bash
# Build the rexfs module for the benchmark's kernel in a directory of its
# own, leaving the repository's rexfs.ko (`make module`, built for the test
# kernel) alone: a module must be built against the kernel it is loaded in,
# and the benchmark's kernel is not the test kernel.
#
#   tests/bench/build-module.sh KDIR DIR    (scripts/run.sh bench)
#
# Copies the module's sources (Kbuild, rust/ but its generated bindings,
# format/src, scripts/gen-bindings.sh) into DIR, only those that differ from
# the last copy so that kbuild rebuilds what changed, and deletes from DIR
# the sources the repository no longer has; then builds there against KDIR
# with REXFS_DEBUG=n (no race-injection knobs: the module a user would run)
# and prints the path of the rexfs.ko.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
kdir=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

# sources: the module's source files, relative to the current directory.
sources() {
	find Kbuild scripts/gen-bindings.sh rust format/src -path rust/generated -prune -o \
		-type f \( -name Kbuild -o -name '*.rs' -o -name '*.[ch]' -o -name '*.sh' \) -print
}

cd "$REPO"
while IFS= read -r f; do
	cmp -s "$f" "$dir/$f" 2>/dev/null && continue
	mkdir -p "$dir/$(dirname "$f")"
	cp "$f" "$dir/$f"
done < <(sources)
(cd "$dir" && sources) | while IFS= read -r f; do
	[ -e "$REPO/$f" ] || rm -f "$dir/$f"
done

make -s -C "$kdir" M="$dir" LLVM="${LLVM:--19}" REXFS_DEBUG=n modules >&2
echo "$dir/rexfs.ko"
