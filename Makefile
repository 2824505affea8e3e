# snoopswitch: the two commands are `make lab` and `make test`.

GO      ?= go
BIN     := bin/snoopswitch
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build lab test test-ring test-fast test-unit bench fuzz fuzz-smoke vet compare generate clean

# Every fuzzer, as package:Target.
FUZZERS := ./fdb/:FuzzMACTable ./fdb/:FuzzGroupTable ./switch/:FuzzDecode ./snoop/:FuzzParse ./snoop/:FuzzIsControl ./internal/replay/:FuzzReplay
FUZZTIME ?= 30s

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/snoopswitch

# The main job: build, stand up a namespace lab, show the switch at work, clean up.
lab: build
	./$(BIN) lab

# Every test: unit, fuzz seeds, the namespace integration tests (root), and
# every fuzzer for a few seconds. The namespace tests run on the default
# datapath, auto: fast where the kernel fast path loads (root, Linux 6.6),
# as on CI. Then every switch testenv starts runs again on the ring, the
# reference (test-ring), so both datapaths pass the same tests.
test: vet
	$(GO) test -race -count=1 -timeout 14m ./...
	$(MAKE) test-ring
	$(MAKE) fuzz-smoke

# The packages whose namespace tests start their switches with testenv, on
# the ring datapath (root). TestFast* pick their datapaths themselves, and
# of cmd/snoopswitch only the lab runs in the test process (the others run
# `snoopswitch run`, whose datapath is its own).
RING_PACKAGES := ./switch/ ./testenv/ ./internal/control/ ./internal/scenario/
test-ring:
	SNOOPSWITCH_DATAPATH=ring $(GO) test -race -count=1 -timeout 14m -skip '^TestFast' $(RING_PACKAGES)
	SNOOPSWITCH_DATAPATH=ring $(GO) test -race -count=1 -timeout 5m -run '^TestLab' ./cmd/snoopswitch/

# The same on the fast datapath, failing where the fast path cannot load
# (make test runs it as auto, which falls back to the ring there).
test-fast:
	SNOOPSWITCH_DATAPATH=fast $(GO) test -race -count=1 -timeout 14m -skip '^TestFast' $(RING_PACKAGES)
	SNOOPSWITCH_DATAPATH=fast $(GO) test -race -count=1 -timeout 5m -run '^TestLab' ./cmd/snoopswitch/

# Every package with tests that need neither root nor namespaces: the ones
# that do are in *_linux_test.go files and skip for a user other than root
# (run this as one; as root they run too).
UNIT_PACKAGES := ./fdb/ ./guard/ ./snoop/ ./switch/ ./testenv/ ./cmd/snoopswitch/ \
	./internal/bench/ ./internal/config/ ./internal/daemon/ ./internal/lab/ \
	./internal/replay/ ./internal/scenario/ ./internal/testutil/
test-unit:
	$(GO) test -race -count=1 -short $(UNIT_PACKAGES)

# The engine and everything replay needs build on any OS: the Linux I/O
# lives in switch/afpacket and switch/fastpath.
PORTABLE_PACKAGES := ./switch/ ./internal/replay/ ./fdb/ ./snoop/ ./guard/
vet:
	$(GO) vet ./...
	GOOS=darwin $(GO) build $(PORTABLE_PACKAGES)

# Engine and table benchmarks (ns/frame, allocs/frame).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./fdb/ ./snoop/ ./switch/

# The snooping scenarios on snoopswitch and on the Linux bridge, side by side
# (root; docs/COMPARE.md explains the differences).
compare:
	SNOOPSWITCH_REQUIRE_ROOT=1 $(GO) test -count=1 -v -timeout 5m -run '^TestCompareWithLinuxBridge$$' ./internal/scenario/

# Run every fuzzer for FUZZTIME (default 30s). A crash it finds is written
# to the package's testdata/fuzz and stays there as a regression seed.
fuzz:
	@set -e; for f in $(FUZZERS); do \
		echo "fuzz $$f"; $(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) "$${f%%:*}"; \
	done

# Every fuzzer for a few seconds, as CI runs them.
fuzz-smoke:
	$(MAKE) fuzz FUZZTIME=4s

# Rebuild the kernel fast path's eBPF objects from switch/fastpath/bpf/*.c
# with bpf2go. The objects are committed: only this target needs clang
# (apt-get install clang-14 llvm-14).
BPF_CLANG  ?= clang-14
BPF_STRIP  ?= llvm-strip-14
BPF_CFLAGS ?= -O2 -g -Wall -Werror -I/usr/include/$(shell uname -m)-linux-gnu
generate:
	BPF_CLANG=$(BPF_CLANG) BPF_STRIP=$(BPF_STRIP) BPF_CFLAGS="$(BPF_CFLAGS)" $(GO) generate ./switch/fastpath/

clean:
	rm -rf bin
