#!/bin/bash
# Static checks of the Rust code, in three parts. Prints a line per part:
# "PASS check/PART (Ns)", "FAIL check/PART (Ns, exit N)" with the tool's
# output indented under it, or "SKIP check/PART (why)"; then a summary line
# "check: N passed, N failed, N skipped". Fails if a part failed.
#
#   [KDIR=/path/to/kernel/build] [LLVM=-19] scripts/check.sh    (make check)
#
#   rustfmt        rustfmt --check with .rustfmt.toml (the kernel's settings)
#                  over rust/ (not rust/generated/), format/src and
#                  tools/*/src, tools/*/tests
#   clippy-tools   cargo clippy of the tools workspace (with format/), all
#                  targets, warnings denied
#   clippy-module  the module built by kbuild with clippy-driver in place of
#                  rustc (CLIPPY=1), warnings denied (KRUSTFLAGS=-Dwarnings).
#                  Needs a kernel build, KDIR (default: scripts/kernel.sh
#                  path), and clippy-driver; skipped without them. It leaves
#                  the module's Rust objects compiled by clippy-driver: the
#                  next `make module` compiles them again with rustc.
#
# scripts/run.sh test runs this after the build and counts the lines.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
REPO=$PWD
LLVM=${LLVM:--19}
KDIR=${KDIR:-$(scripts/kernel.sh path 2>/dev/null)}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

passed=0 failed=0 skipped=0
# part NAME COMMAND...: run COMMAND; print NAME's PASS or FAIL line, the
# output of a failed COMMAND indented under it.
part() {
	local name=$1 start=$SECONDS rc=0
	shift
	"$@" >"$out" 2>&1 || rc=$?
	if [ "$rc" = 0 ]; then
		echo "PASS check/$name ($((SECONDS - start))s)"
		passed=$((passed + 1))
	else
		echo "FAIL check/$name ($((SECONDS - start))s, exit $rc)"
		sed 's/^/    /' "$out"
		failed=$((failed + 1))
	fi
}
skip() {
	echo "SKIP check/$1 ($2)"
	skipped=$((skipped + 1))
}

# The module's crate (rust/generated/ holds bindgen's output), the format
# crate and the tools, their integration tests included.
rust_files() {
	find rust -path rust/generated -prune -o -name '*.rs' -print
	find format/src tools/*/src tools/*/tests -name '*.rs'
}

if rustfmt --version >/dev/null 2>&1; then
	mapfile -t files < <(rust_files | LC_ALL=C sort)
	part rustfmt rustfmt --check --edition 2021 --config-path "$REPO/.rustfmt.toml" "${files[@]}"
else
	skip rustfmt "rustfmt not found: rustup component add rustfmt"
fi

if cargo clippy --version >/dev/null 2>&1; then
	part clippy-tools cargo clippy --manifest-path tools/Cargo.toml --workspace --all-targets -- -D warnings
else
	skip clippy-tools "cargo clippy not found: rustup component add clippy"
fi

# module_clippy: the module as `make module` builds it, with clippy-driver.
module_clippy() {
	[ -f "$KDIR/Makefile" ] || { echo "KDIR=$KDIR: no kernel build there (no Makefile)"; return 1; }
	make -C "$KDIR" M="$REPO" LLVM="$LLVM" CLIPPY=1 KRUSTFLAGS=-Dwarnings modules
}
if [ -z "$KDIR" ]; then
	skip clippy-module "no kernel: KDIR not set and no finished test kernel build (make kernel)"
elif ! clippy-driver --version >/dev/null 2>&1; then
	skip clippy-module "clippy-driver not found: rustup component add clippy"
else
	part clippy-module module_clippy
fi

echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
