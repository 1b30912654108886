# Loft's make targets. `make test` runs exactly what CI runs for tests.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# Before the first tag (or the first commit) describe has nothing to say.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10m

.PHONY: build test bench bench-smoke fuzz faults demo vet clean help

build: ## build ./bin/loft with version and commit stamped in
	go build -ldflags '$(LDFLAGS)' -o bin/loft ./cmd/loft

test: ## run every test with the race detector (what CI runs)
	go test -race ./...

# bench/ runs Loft side by side with RabbitMQ (classic and quorum queues),
# NATS JetStream and the AMQP null broker (a reference that stores
# nothing: the ceiling of AMQP here) through real clients, every workload
# 3 times with the brokers interleaved (about 45 minutes here); BENCH_FLAGS adds flags,
# e.g. BENCH_FLAGS='-runs 1 -scale 0.1'. rabbitmq-server and nats-server
# come from Debian's packages, installed when missing if we are root with
# apt-get; otherwise the harness reports them skipped. The go-test
# benchmarks kept here measure what bench/ does not: the log engine
# against the disk, and Kafka produce latency at a fixed load (with the
# Kafka produce figures docs/BENCHMARKS.md quotes).
BENCH_FLAGS ?=
bench: build ## Loft vs RabbitMQ/NATS (bench/, into bench.txt and bench.json), plus the log engine and Kafka latency benchmarks
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    ! { command -v rabbitmq-server && command -v nats-server; } >/dev/null; then \
		echo "installing rabbitmq-server and nats-server"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server nats-server >/dev/null; \
	fi
	go build -o bin/bench ./bench
	bin/bench -loft bin/loft -out bench.json -doc docs/BENCHMARKS.md -chart docs/bench.png $(BENCH_FLAGS) | tee bench.txt
	go test -run '^$$' -bench . -count 5 ./internal/logstore/ ./test/kafkabench/ | tee -a bench.txt

bench-smoke: ## the bench/ harness against Loft and the null broker at a tiny scale (also part of make test)
	go test -race -count 1 -run TestSmoke -v ./bench/

# go test -fuzz takes one target of one package at a time, so list them.
fuzz: ## run every fuzz target for FUZZTIME (default 10m) each
	for pkg in $$(go list ./...); do \
		listed=$$(go test -list '^Fuzz' "$$pkg"); \
		for target in $$(grep '^Fuzz' <<<"$$listed" || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime '$(FUZZTIME)' "$$pkg"; \
		done; \
	done

# The order-flow example (examples/orderflow) against a Loft of its own
# (fresh data dir, AMQP on 127.0.0.1:$(DEMO_AMQP_PORT)) and the local
# PostgreSQL, which it installs (Debian's package) and starts like CI does.
DEMO_AMQP_PORT ?= 5679
demo: build ## run the order-flow example of the client library against a local Loft and PostgreSQL
	@if ! command -v pg_lsclusters >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing postgresql"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	@bash .ci/postgres
	@dir=$$(mktemp -d); \
	bin/loft serve --data-dir "$$dir/data" --amqp-addr 127.0.0.1:$(DEMO_AMQP_PORT) --kafka-addr "" --http-addr "" >"$$dir/loft.log" 2>&1 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf "$$dir"' EXIT; \
	go run ./examples/orderflow -amqp amqp://guest:guest@127.0.0.1:$(DEMO_AMQP_PORT)/ || { cat "$$dir/loft.log"; exit 1; }

# The long form of the fault suite (docs/GUARANTEES.md); CI runs each part
# in a short form. In order: the crash loop of test/faults (FAULT_KILLS
# SIGKILLs at random moments under AMQP and Kafka load; CI: 20); power loss
# and full disk on the in-process server (FAULT_ROUNDS cuts and episodes
# per case; CI: 3 and 2); then, with LOFT_FAULT_HEAVY=1, protocol abuse on
# every port, the never-acking flood under the memory watermark, 10,000
# partitions, and the restart of a 10 GiB data dir. Seeds are logged:
# LOFT_FAULT_SEED=<seed> replays a kill or cut schedule. About 25 minutes
# here, and 11 GB of free disk for the restart test.
FAULT_KILLS ?= 200
FAULT_ROUNDS ?= 40
faults: ## the long fault suite: crash loop, power loss, full disk, abuse, overload, scale and restart (docs/GUARANTEES.md)
	LOFT_FAULT_KILLS=$(FAULT_KILLS) nice go test -race -count 1 -timeout 60m -v ./test/faults/
	LOFT_FAULT_ROUNDS=$(FAULT_ROUNDS) nice go test -count 1 -timeout 60m -v \
		-run 'TestPowerLossUnderLoad|TestDiskFullUnderLoad' ./internal/server/
	LOFT_FAULT_HEAVY=1 nice go test -count 1 -timeout 60m -v \
		-run 'TestProtocolAbuse|TestMemoryFloodNeverAcked|TestTenThousandPartitions|TestRestartTime' ./test/interop/

vet: ## go vet, and gofmt must have nothing to say
	go vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

clean: ## remove build and benchmark output
	rm -rf bin bench.txt bench.json *.test *.prof *.pprof cpu.out mem.out

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
