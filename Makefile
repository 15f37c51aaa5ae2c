# Aloft's build. `make run` starts the embedded default; `make test` is what
# CI runs (.ci/run calls it): formatting, vet, and every test under -race,
# including the real-component integrations (npm @capgo/cli interop).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
MAKEFLAGS += --no-print-directory

GO        ?= go
BIN       ?= bin
PKGS      := ./...
FUZZTIME  ?= 15s
export GORACE := halt_on_error=1

.PHONY: run build test unit lint vet fmt-check tidy fuzz bench integ chaos deps clean ui ui-check cluster cluster-down

run: build ## start origin + edge in one process (aloft dev)
	$(BIN)/aloft dev

build: ## build every main
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/aloft ./cmd/aloft

deps: ## install what the tests need beyond Go modules (idempotent)
	@scripts/deps.sh

test: fmt-check vet deps ## the full suite CI runs
	$(GO) test -race -count=1 -timeout 10m $(PKGS)
	@# The delta-size check compresses 10 MB at brotli 11: minutes under
	@# -race, seconds without, so it runs here without the race detector.
	$(GO) test -count=1 -run '^TestDeltaSize$$' -v ./cli | grep -E '(^=== RUN|^--- |delta bytes|^ok|^FAIL)'
	@# ristretto's admission policy learns nothing under -race (sync.Pool
	@# drops its buffers), so the rejection test runs here without it.
	$(GO) test -count=1 -run '^TestAdmission_TinyLFURejects$$' -v ./cache | grep -E '(^--- |^ok|^FAIL)'
	@# The edge must not link raft (it sees the origin only via origin/api).
	@! $(GO) list -deps ./edge | grep -q hashicorp/raft
	@$(MAKE) ui-check

ui: ## rebuild the dashboard (ui/src → origin/uidist, embedded by the binary)
	@cd ui && npm run --silent build

ui-check: ui ## the committed dashboard build is what ui/src builds to
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git diff --exit-code --stat -- origin/uidist || { echo "origin/uidist is stale: run make ui and commit it"; exit 1; }; fi

unit: ## quick loop: race tests without external installs
	ALOFT_SKIP_EXTERNAL=1 $(GO) test -race -count=1 $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint: fmt-check vet ## gofmt, go vet and staticcheck (fetched from the module proxy)
	$(GO) run $(STATICCHECK) $(PKGS)

tidy: ## fail when go.mod/go.sum are not tidy
	$(GO) mod tidy
	git diff --exit-code go.mod go.sum

fuzz: ## run each fuzz target briefly
	@scripts/fuzz.sh $(FUZZTIME)

bench: build ## micro-benchmarks plus the whole-system bench (quick run)
	$(GO) test -run '^$$' -bench . -benchmem ./capgo ./edge
	$(GO) run ./bench -quick -aloft $(BIN)/aloft

integ: test ## heavier suites (same as test for now)

chaos: deps ## the fault scenarios, one line each; report in bench/results/chaos
	$(GO) run ./internal/chaos -out bench/results/chaos

cluster: build ## a local multi-region cluster with GeoDNS, left running (deploy/cluster/README.md)
	@for s in 30-versitygw 50-coredns 51-dig; do bash scripts/deps.d/$$s.sh; done
	@deploy/cluster/up.sh

cluster-down: ## stop and remove everything make cluster made (idempotent)
	@deploy/cluster/down.sh

clean:
	rm -rf $(BIN)
