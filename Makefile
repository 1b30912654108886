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

.PHONY: build test bench fuzz vet clean help

build: ## build ./bin/loft with version and commit stamped in
	go build -ldflags '$(LDFLAGS)' -o bin/loft ./cmd/loft

test: ## run every test with the race detector (what CI runs)
	go test -race ./...

# The AMQP benchmarks run each workload once per broker (Loft, RabbitMQ
# classic and quorum, NATS) per count, plus the delayed-message workload
# (Loft only), about 4.5 minutes a pass: 3 passes,
# as the reference figures are medians of 3, and a timeout to match.
bench: ## run the log engine, Kafka (5 times) and AMQP-vs-RabbitMQ/NATS (3 times) benchmarks into bench.txt
	go test -run '^$$' -bench . -count 5 ./internal/logstore/ ./test/kafkabench/ | tee bench.txt
	go test -run '^$$' -bench . -benchtime 1x -count 3 -timeout 60m ./test/amqpbench/ | tee -a bench.txt

# go test -fuzz takes one target of one package at a time, so list them.
fuzz: ## run every fuzz target for FUZZTIME (default 10m) each
	for pkg in $$(go list ./...); do \
		listed=$$(go test -list '^Fuzz' "$$pkg"); \
		for target in $$(grep '^Fuzz' <<<"$$listed" || true); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			go test -run '^$$' -fuzz "^$$target\$$" -fuzztime '$(FUZZTIME)' "$$pkg"; \
		done; \
	done

vet: ## go vet, and gofmt must have nothing to say
	go vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

clean: ## remove build and benchmark output
	rm -rf bin bench.txt *.test *.prof *.pprof cpu.out mem.out

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
