# ruko — `make demo` and `make test` are the whole set-up on a fresh Debian 12 machine with Swift.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PREFIX ?= /usr/local
SWIFT ?= swift
RELEASE_FLAGS := -c release --static-swift-stdlib
# ruko-run and ruko-build are linked fully static: no dynamic loader, no relocation of 25 shared
# libraries at every start (ruko-run 5.4 -> 1.3 ms to a usage error, ruko-build 6.3 -> 2.3 ms).
STATIC_FLAGS := $(RELEASE_FLAGS) -Xswiftc -static-executable --scratch-path .build-static
# libarchive's own dependencies for that static link, in link order
# (pkg-config --static --libs libarchive libxml-2.0).
STATIC_ARCHIVE_LIBS := $(foreach l,archive nettle acl xml2 icuuc icudata lzma zstd lz4 bz2 z stdc++ m,-Xlinker -l$(l))
BIN_DEBUG = $(shell $(SWIFT) build --show-bin-path)
BIN_RELEASE = $(shell $(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)
BIN_STATIC = $(shell $(SWIFT) build $(STATIC_FLAGS) --show-bin-path)
SOAK_RUNS ?= 1000
SOAK_PARALLEL ?= 50

# Every Debian package the build, the tests and the benchmarks need.
DEBIAN_PACKAGES := build-essential pkg-config git curl ca-certificates procps iproute2 python3 python3-pip \
	libcap-dev libseccomp-dev libarchive-dev libmount-dev libgit2-dev libdeflate-dev libisal-dev \
	libacl1-dev libzstd-dev liblz4-dev libicu-dev \
	libarchive-tools bubblewrap runc crun pigz gzip tar openssh-server openssh-client \
	qemu-system-x86 linux-image-amd64 busybox-static cpio zstd xz-utils bc hyperfine libcurl4-openssl-dev

.PHONY: all deps build build-release build-tests demo test test-unit test-integration test-vm soak bench \
	bench-start bench-pack bench-build bench-push fuzz lint install clean test-s3

all: build

## deps: install every Debian package needed (idempotent: apt runs only when something is missing).
deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v node >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null)
	@python3 -c 'import moto' 2>/dev/null || python3 -m pip install -q 'moto[server]' 2>/dev/null || python3 -m pip install -q --break-system-packages 'moto[server]'

## build: debug build of every executable.
build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	$(SWIFT) build $(STATIC_FLAGS) --product ruko-run
	$(SWIFT) build $(STATIC_FLAGS) --product ruko-build $(STATIC_ARCHIVE_LIBS)

build-tests: deps
	$(SWIFT) build --build-tests

## demo: build the bundled python example into a slug, unpack it, run its web process, request it.
demo: build
	RUKO_BIN_DIR=$(BIN_DEBUG) scripts/demo.sh python

## test: unit tests, root integration tests (real kernel, sshd, git, SQLite), the cgroup-v2 VM
## suite and a reduced soak. Integration tests need root; in CI they run, never skip.
test: build-tests test-unit test-integration test-s3 test-vm
	$(MAKE) --no-print-directory soak SOAK_RUNS=200 SOAK_PARALLEL=20

test-unit:
	RUKO_SLOW_TESTS=1 RUKO_BIN_DIR=$(BIN_DEBUG) $(SWIFT) test --skip-build --filter 'RukoSandboxTests|RukoArchiveTests|RukoBuildTests|RukoAPITests|RukoShimTests'

test-integration:
	@if [ "$$(id -u)" != 0 ]; then echo "integration tests need root (namespaces, mounts, cgroups): run make test as root" >&2; exit 1; fi
	RUKO_BIN_DIR=$(BIN_DEBUG) $(SWIFT) test --skip-build --no-parallel --filter IntegrationTests

## test-s3: ruko-api's S3 storage path against a local S3-protocol server (moto).
test-s3:
	RUKO_BIN_DIR=$(BIN_DEBUG) scripts/test-s3.sh

## test-vm: ruko-run's limits (memory, pids, cpu, timeout) in a qemu guest with pure cgroup v2.
test-vm: build
	RUKO_RUN=$(BIN_DEBUG)/ruko-run scripts/vm/run-vm-tests.sh

## soak: sequential and parallel sandbox runs; no leftover mounts, cgroups, processes, fds, dirs.
soak: build
	scripts/soak.sh $(BIN_DEBUG)/ruko-run $(SOAK_RUNS) $(SOAK_PARALLEL)

## bench: performance against the anchors in the same run (figures go to docs/benchmarks.md).
bench: build-release bench-start bench-pack bench-build bench-push

bench-start:
	python3 bench/start.py $(BIN_STATIC)/ruko-run 50

bench-pack:
	RUKO_BIN_DIR=$(BIN_RELEASE) bench/pack.sh

bench-build:
	RUKO_BIN_DIR=$(BIN_STATIC) bench/build.sh 30

bench-push:
	RUKO_BIN_DIR=$(BIN_RELEASE) bench/push.sh

## fuzz: libFuzzer over the parsers, bounded time each.
FUZZ_SECONDS ?= 60
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

## lint: swift format with the committed configuration.
lint:
	$(SWIFT) format lint --strict --recursive Sources Tests

## install: binaries, templates, buildpacks and hooks under $(PREFIX).
install: build-release
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ruko
	install -m 0755 $(BIN_STATIC)/ruko-run $(BIN_STATIC)/ruko-build $(BIN_RELEASE)/ruko-shim $(BIN_RELEASE)/ruko-api $(DESTDIR)$(PREFIX)/bin/
	cp -R rootfs-templates buildpacks hooks $(DESTDIR)$(PREFIX)/share/ruko/

clean:
	rm -rf .build .build-* fuzz-out bench-out
