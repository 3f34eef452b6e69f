# SPDX-License-Identifier: GPL-2.0
# rexfs top-level Makefile. The commands of the README:
#   make demo   build everything and boot a VM that mounts rexfs and uses it
#   make test   build everything and run the whole test suite
#   make check  rustfmt and clippy over the module, format/ and tools/
#               (scripts/check.sh; the module's clippy needs a built kernel)
#   make bench [SCALE=1]   build everything and benchmark rexfs against XFS
#               and ext4; SCALE=1 adds the scaling jobs (1k to 1M directory
#               entries, 1k to 100k extents; far longer, not yet timed)
#   make xfstests XFSTESTS_DIR=/path/to/built/xfstests [TESTS="generic/344 ..."]
#               [XFSTESTS_DAX=1]
#               run xfstests on rexfs in the test VM (kernel built first);
#               XFSTESTS_DAX=1: on two pmem devices mounted -o dax
#   make races FSTYP=rexfs|ext4|xfs   the stress races of tests/races in a VM
#   make fuzz [FUZZ_COUNT=1000]   damaged images in a VM (scripts/fuzz.sh)
# KDIR=/path/to/kernel/build uses your own Rust-enabled kernel tree.

LLVM ?= -19
KDIR ?= $(shell scripts/kernel.sh path 2>/dev/null)

.PHONY: all setup kernel module tools test check demo bench xfstests races fuzz clean

all: module tools

setup:
	scripts/setup-host.sh

kernel: setup
	scripts/kernel.sh build >/dev/null

module:
	@test -n "$(KDIR)" || { echo "no kernel: run 'make kernel' or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) modules

# mkfs.rexfs and fsck.rexfs: cargo cannot name binaries with a dot.
tools:
	cargo build --release --quiet --manifest-path tools/Cargo.toml
	mkdir -p tools/bin
	ln -sf ../target/release/mkfs-rexfs tools/bin/mkfs.rexfs
	ln -sf ../target/release/fsck-rexfs tools/bin/fsck.rexfs

demo:
	scripts/run.sh demo

test:
	scripts/run.sh test

# No prerequisites: clippy compiles what it checks. The module's Rust objects
# are left compiled by clippy-driver; `make module` compiles them again.
check:
	KDIR="$(KDIR)" LLVM="$(LLVM)" scripts/check.sh

# SCALE reaches tests/bench.sh as BENCH_SCALE, as the BENCH_* settings do
# (scripts/run.sh passes them on to the guest); unset, the environment's
# BENCH_SCALE stands.
bench:
	$(if $(SCALE),BENCH_SCALE="$(SCALE)") scripts/run.sh bench

xfstests: module tools
	XFSTESTS_DIR="$(XFSTESTS_DIR)" TESTS="$(TESTS)" XFSTESTS_DAX="$(XFSTESTS_DAX)" scripts/xfstests.sh

.PHONY: races
races:
	KDIR="$(KDIR)" FSTYP="$(FSTYP)" MKFS_OPTIONS="$(MKFS_OPTIONS)" RACE_SECONDS="$(RACE_SECONDS)" scripts/races.sh

# Damaged images in one VM (scripts/fuzz.sh); FUZZ_COUNT=1000 is the long run.
fuzz:
	KDIR="$(KDIR)" FUZZ_SEED="$(FUZZ_SEED)" FUZZ_COUNT="$(FUZZ_COUNT)" scripts/fuzz.sh

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) LLVM=$(LLVM) clean
	rm -rf rust/generated tools/bin
	cargo clean --manifest-path tools/Cargo.toml
