#!/bin/bash
# Install what building and testing rexfs needs on a Debian 12 host: bookworm
# packages, the rustup toolchain's rust-src and a pinned bindgen-cli.
# Idempotent and quiet when everything is already there.
set -euo pipefail

BINDGEN_VERSION=0.73.2
PACKAGES=(clang-19 lld-19 llvm-19 libclang-19-dev flex bison bc libelf-dev libssl-dev
	  cpio kmod pahole xz-utils make qemu-system-x86 busybox-static xfsprogs e2fsprogs
	  util-linux dmsetup acl fio)

log() { echo "[setup] $*"; }

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	log "installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "adding rustup component rust-src"
	rustup component add rust-src
fi

if ! bindgen --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
	log "installing bindgen-cli $BINDGEN_VERSION (about 2 minutes)"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi
log "host ready"
