#!/bin/bash
# Provision the rexfs test kernel: Linux 7.3.x from Debian's linux-source-7.3
# package, tinyconfig + tests/kernel.config, built with LLVM=-19 into a cache
# outside the repository keyed by kernel version and configuration.
#
#   scripts/kernel.sh build [--production]  fetch, configure and build if needed;
#                                           print the build dir
#   scripts/kernel.sh path [--production]   print the build dir of a finished
#                                           build, or fail
#   scripts/kernel.sh key [--production]    print the configuration key
#
# --production is the benchmark kernel (make bench): the same version and
# options with tests/kernel-production.config merged last, which turns the
# debugging checkers off (lockdep, debug lists, hung-task detection, fault
# injection, KUnit). It is a second cache entry beside the test kernel,
# linux-VERSION-production-KEY, keyed by both fragments; the test kernel's
# key is unchanged by it.
#
# REXFS_CACHE (default ~/.cache/rexfs) holds the cache. A user's own tree is
# used by passing KDIR= to make instead of running this script.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
FRAGMENT=$HERE/tests/kernel.config
PRODUCTION_FRAGMENT=$HERE/tests/kernel-production.config
CACHE=${REXFS_CACHE:-$HOME/.cache/rexfs}
SERIES=7.3
JOBS=${JOBS:-$(nproc)}
MAKE_LLVM=(make LLVM=-19)

log() { echo "[kernel] $*" >&2; }
die() { echo "[kernel] error: $*" >&2; exit 1; }

# The flavour: FRAGMENTS are merged over tinyconfig in order, a later one
# overriding an earlier one; FLAVOUR is the build directory's infix.
FRAGMENTS=("$FRAGMENT") FLAVOUR=
set_flavour() {
	case ${1:-} in
	"") ;;
	--production) FRAGMENTS=("$FRAGMENT" "$PRODUCTION_FRAGMENT") FLAVOUR=-production ;;
	*) echo "usage: $0 build|path|key [--production]" >&2; exit 2 ;;
	esac
}

# The key covers everything that makes two builds differ besides the kernel
# version: the fragments and the Rust toolchain the module must match. (For
# the test kernel this is the key it always had: the one fragment's text.)
config_key() {
	{ cat "${FRAGMENTS[@]}"; rustc --version; bindgen --version; clang-19 --version | head -1; } |
		sha256sum | cut -c1-12
}

finished_build() {
	local key d
	key=$(config_key)
	for d in $(ls -d "$CACHE"/linux-$SERIES.*"$FLAVOUR"-"$key" 2>/dev/null | sort -V -r); do
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
	dir=$CACHE/linux-$version$FLAVOUR-$(config_key)
	log "Linux $version${FLAVOUR:+ (${FLAVOUR#-})}, cache $dir"

	if [ ! -f "$dir/src/Makefile" ]; then
		rm -rf "$dir/src" "$dir/src.tmp" "$dir/deb"
		# The other flavour's finished build of this version has the same
		# source, never written to (builds go to O=): link it, file by file.
		local done_other
		done_other=$(ls -d "$CACHE"/linux-"$version"-*/build/.rexfs-built 2>/dev/null | head -1 || true)
		if [ -n "$done_other" ]; then
			log "hard-linking the source of ${done_other%/build/.rexfs-built}"
			mkdir -p "$dir"
			cp -al "${done_other%/build/.rexfs-built}/src" "$dir/src.tmp"
			mv "$dir/src.tmp" "$dir/src"
		else
			log "unpacking $(basename "$deb")"
			mkdir -p "$dir/deb" "$dir/src"
			dpkg-deb -x "$deb" "$dir/deb"
			tar -xf "$dir"/deb/usr/src/linux-source-$SERIES.tar.xz -C "$dir/src" --strip-components=1
			rm -rf "$dir/deb"
		fi
	fi

	local src=$dir/src out=$dir/build
	mkdir -p "$out"
	log "configuring: tinyconfig$(printf ' + tests/%s' "${FRAGMENTS[@]##*/}")"
	"${MAKE_LLVM[@]}" -s -C "$src" O="$out" tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${FRAGMENTS[@]}" >/dev/null
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

# Every option the fragments set must survive olddefconfig as the last
# fragment naming it asks: "CONFIG_X=v" must be in the .config as written;
# "# CONFIG_X is not set" and "# CONFIG_X goes with CONFIG_Y" (the production
# fragment's) mean off or gone, never set. A dropped CONFIG_RUST usually
# means the toolchain failed `make rustavailable`.
check_config() {
	local config=$1 missing=() line sym f
	local -A want=()
	local -a order=()
	for f in "${FRAGMENTS[@]}"; do
		while IFS= read -r line; do
			sym=$(sed -E 's/^# (CONFIG_[A-Za-z0-9_]+) .*/\1/; s/^(CONFIG_[A-Za-z0-9_]+)=.*/\1/' <<<"$line")
			[ -n "${want[$sym]+set}" ] || order+=("$sym")
			want[$sym]=$line
		done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=|^# CONFIG_[A-Za-z0-9_]+ (is not set|goes with CONFIG_[A-Za-z0-9_]+)$' "$f")
	done
	for sym in "${order[@]}"; do
		line=${want[$sym]}
		if [[ $line == "# "* ]]; then
			! grep -q "^$sym=" "$config" || missing+=("$(grep "^$sym=" "$config") (wanted off)")
		else
			grep -qx -- "$line" "$config" || missing+=("$line")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	printf '[kernel] not as the fragments ask after olddefconfig: %s\n' "${missing[@]}" >&2
	printf '%s\n' "${missing[@]}" | grep -qx 'CONFIG_RUST=y' &&
		"${MAKE_LLVM[@]}" -C "$(dirname "$config")" rustavailable >&2
	die "kernel configuration not as tests/kernel*.config ask"
}

cmd=${1:-}
set_flavour "${2:-}"
case $cmd in
build) build ;;
path) finished_build || die "no finished build for this configuration: run scripts/kernel.sh build${FLAVOUR:+ --production}" ;;
key) config_key ;;
*) echo "usage: $0 build|path|key [--production]" >&2; exit 2 ;;
esac
