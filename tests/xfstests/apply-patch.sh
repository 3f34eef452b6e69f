#!/bin/bash
# Applies the rexfs patch to fstests (fstests-rexfs.patch) to a copy of an
# xfstests tree; scripts/xfstests.sh checks it on the user's tree, and
# tests/xfstests/guest.sh applies it to the copy the guest runs.
#
#   tests/xfstests/apply-patch.sh [--check] DIR PATCH
#
# --check: only say whether PATCH applies to DIR, changing nothing (for the
# user's own tree, which is never modified). Without it, apply PATCH to DIR
# with `patch -p1 --forward`. A tree that already holds the change (the
# patch applies in reverse) is left as it is. Exits 0 when DIR has or can
# have the change, 1 otherwise, with patch's own report on stderr.
set -euo pipefail

check=false
if [ "${1:-}" = --check ]; then
	check=true
	shift
fi
dir=${1:?usage: apply-patch.sh [--check] DIR PATCH}
patch=${2:?usage: apply-patch.sh [--check] DIR PATCH}
name=$(basename "$patch")

command -v patch >/dev/null || { echo "apply-patch.sh: patch(1) not found" >&2; exit 1; }
[ -r "$patch" ] || { echo "apply-patch.sh: $patch not readable" >&2; exit 1; }
[ -d "$dir" ] || { echo "apply-patch.sh: no directory $dir" >&2; exit 1; }

# --forward: never offer to apply a reversed patch; -s: quiet unless a hunk
# fails; no backup (.orig) or reject (.rej) files in the tree.
opts=(-p1 --forward -s --no-backup-if-mismatch -r -)
if report=$(patch -d "$dir" "${opts[@]}" --dry-run <"$patch" 2>&1); then
	if $check; then
		echo "$name applies to $dir"
	else
		patch -d "$dir" "${opts[@]}" <"$patch"
		echo "$name applied to $dir"
	fi
	exit 0
fi
if patch -d "$dir" -p1 -R -s -f --dry-run <"$patch" >/dev/null 2>&1; then
	echo "$name: already applied in $dir"
	exit 0
fi
{
	echo "apply-patch.sh: $name does not apply to $dir:"
	echo "$report"
	echo "apply-patch.sh: it is made against kdave/xfstests 63a29724 (see its base-commit line);"
	echo "  check out that commit, or refresh the patch against your tree"
} >&2
exit 1
