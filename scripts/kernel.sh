#!/bin/bash
# Provision the rexfs test kernel: Linux 7.3.x from Debian's linux-source-7.3
# package, tinyconfig + tests/kernel.config, built with LLVM=-19 into a cache
# outside the repository keyed by kernel version and configuration.
#
#   scripts/kernel.sh build   fetch, configure and build if needed; print the build dir
#   scripts/kernel.sh path    print the build dir of a finished build, or fail
#
# REXFS_CACHE (default ~/.cache/rexfs) holds the cache. A user's own tree is
# used by passing KDIR= to make instead of running this script.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
FRAGMENT=$HERE/tests/kernel.config
CACHE=${REXFS_CACHE:-$HOME/.cache/rexfs}
SERIES=7.3
JOBS=${JOBS:-$(nproc)}
MAKE_LLVM=(make LLVM=-19)

log() { echo "[kernel] $*" >&2; }
die() { echo "[kernel] error: $*" >&2; exit 1; }

# The key covers everything that makes two builds differ besides the kernel
# version: the fragment and the Rust toolchain the module must match.
config_key() {
	{ cat "$FRAGMENT"; rustc --version; bindgen --version; clang-19 --version | head -1; } |
		sha256sum | cut -c1-12
}

finished_build() {
	local key d
	key=$(config_key)
	for d in $(ls -d "$CACHE"/linux-$SERIES.*-"$key" 2>/dev/null | sort -V -r); do
		[ -f "$d/build/.rexfs-built" ] && { echo "$d/build"; return 0; }
	done
	return 1
}

# Download the newest linux-source-$SERIES from trixie-backports or sid with a
# private apt configuration; the system's apt sources stay untouched.
fetch_source() {
	local apt=$CACHE/apt keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	local uri=http://deb.debian.org/debian
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$CACHE/debs"
	cat >"$apt/sources.list" <<-SRC
	deb [signed-by=$keyring] $uri trixie-backports main
	deb [signed-by=$keyring] $uri sid main
	SRC
	local o=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
		 -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
	log "updating private package lists (trixie-backports, sid)"
	apt-get "${o[@]}" update -qq >/dev/null
	(cd "$CACHE/debs" && apt-get "${o[@]}" download -qq "linux-source-$SERIES" >/dev/null)
	ls -t "$CACHE"/debs/linux-source-${SERIES}_*.deb | head -1
}

build() {
	local existing
	if existing=$(finished_build); then echo "$existing"; return 0; fi
	command -v bindgen >/dev/null || die "bindgen not found: run scripts/setup-host.sh"

	local deb version dir
	deb=$(fetch_source)
	# Upstream version, e.g. 7.3.4 from linux-source-7.3_7.3.4-1~bpo13+1_all.deb
	version=$(basename "$deb" | sed -E 's/^linux-source-[0-9.]+_([0-9.]+)-.*/\1/')
	dir=$CACHE/linux-$version-$(config_key)
	log "Linux $version, cache $dir"

	if [ ! -f "$dir/src/Makefile" ]; then
		log "unpacking $(basename "$deb")"
		rm -rf "$dir/src" "$dir/deb"
		mkdir -p "$dir/deb" "$dir/src"
		dpkg-deb -x "$deb" "$dir/deb"
		tar -xf "$dir"/deb/usr/src/linux-source-$SERIES.tar.xz -C "$dir/src" --strip-components=1
		rm -rf "$dir/deb"
	fi

	local src=$dir/src out=$dir/build
	mkdir -p "$out"
	log "configuring: tinyconfig + tests/kernel.config"
	"${MAKE_LLVM[@]}" -s -C "$src" O="$out" tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "$FRAGMENT" >/dev/null
	"${MAKE_LLVM[@]}" -s -C "$src" O="$out" olddefconfig >/dev/null
	check_config "$out/.config"

	log "building bzImage and modules with $JOBS jobs (13 to 16 minutes on 2 cores); log: $out/build.log"
	local start=$SECONDS
	"${MAKE_LLVM[@]}" -C "$src" O="$out" -j"$JOBS" bzImage modules >"$out/build.log" 2>&1 &
	local pid=$!
	while kill -0 $pid 2>/dev/null; do
		sleep 30
		kill -0 $pid 2>/dev/null &&
			log "$(find "$out" -name '*.o' | wc -l) objects built, $((SECONDS - start))s elapsed"
	done
	wait $pid || { tail -40 "$out/build.log" >&2; die "kernel build failed"; }
	touch "$out/.rexfs-built"
	log "built in $((SECONDS - start))s: $out"
	echo "$out"
}

# Every option the fragment sets must survive olddefconfig; a dropped
# CONFIG_RUST usually means the toolchain failed `make rustavailable`.
check_config() {
	local config=$1 missing=()
	while IFS= read -r line; do
		grep -qx -- "$line" "$config" || missing+=("$line")
	done < <(grep -E '^CONFIG_' "$FRAGMENT")
	((${#missing[@]} == 0)) && return 0
	printf '[kernel] not set after olddefconfig: %s\n' "${missing[@]}" >&2
	printf '%s\n' "${missing[@]}" | grep -qx 'CONFIG_RUST=y' &&
		"${MAKE_LLVM[@]}" -C "$(dirname "$config")" rustavailable >&2
	die "kernel configuration incomplete"
}

case "${1:-}" in
build) build ;;
path) finished_build || die "no finished build for this configuration: run scripts/kernel.sh build" ;;
*) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
