# flowlog — "make help" lists the targets.

GO         ?= go
BIN        := bin/flowlog
FUZZTIME   ?= 30s
DEMO_DIR   ?= .demo
STATICCHECK_VERSION := v0.8.2

.DEFAULT_GOAL := help
.PHONY: help build test bench fuzz lint demo clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-6s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/flowlog
	$(GO) build -o $(BIN) ./cmd/flowlog

test: ## run every test, with the race detector (what CI runs)
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

bench: ## run the benchmarks (compare runs with benchstat)
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./...

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
