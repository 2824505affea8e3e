# snoopswitch: the two commands are `make lab` and `make test`.

GO      ?= go
BIN     := bin/snoopswitch
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build lab test test-unit bench fuzz vet clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/snoopswitch

# The main job: build, stand up a namespace lab, show the switch at work, clean up.
lab: build
	./$(BIN) lab

# Every test: unit, fuzz seeds, and the namespace integration tests (root).
test: vet
	$(GO) test -race -count=1 -timeout 14m ./...

# Tests that need neither root nor namespaces.
test-unit:
	$(GO) test -race -count=1 -short ./fdb/ ./switch/

vet:
	$(GO) vet ./...

# Engine and table benchmarks (ns/frame, allocs/frame).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./fdb/ ./switch/

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzMACTable -fuzztime 30s ./fdb/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./switch/

clean:
	rm -rf bin
