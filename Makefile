# Neural Heatmap: one entry point for setting up, generating, linting, testing and running.
# Every target that needs tools installs them first (stamp files make that cheap after the
# first time), so a fresh clone needs only `make run` or `make test`. `make run` needs only
# Python 3.11+ (the virtual environment); Go and Node are installed by `setup`, which the
# targets that use them (gen, lint, breaking, test, bench) depend on.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/.tools/bin
TS := sdk/typescript
BUF := $(TS)/node_modules/.bin/buf
GO_DIR := sdk/go
JAVA_DIR := sdk/java
GO_PLUGIN_VERSION := v1.36.12
GO_GRPC_PLUGIN_VERSION := v1.6.0
GRPCURL_VERSION := v1.9.3
GHZ_VERSION := v0.121.0
HEY_VERSION := v0.1.4
NATS_SERVER_VERSION := v2.15.2
export GOFLAGS := -buildvcs=false

.PHONY: help setup setup-cluster run-cluster gen check-gen lint breaking test test-python test-go test-ts test-java test-long run bench bench-quick clean

help: ## Show this help.
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- setup
$(VENV)/.stamp: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# What `make run` needs: the server, the bridge and the command ([server]), not the test,
# lint and torch tools of [dev]; nearly a no-op in a venv that `setup` already filled.
$(VENV)/.run-stamp: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[server]"
	touch $@

$(TS)/node_modules/.stamp: $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(GO_PLUGIN_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(GO_GRPC_PLUGIN_VERSION)

$(TOOLS)/grpcurl:
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

# Load generators for `make bench`: gRPC and HTTP tools of the same kind (Go, one thread each).
$(TOOLS)/ghz:
	GOBIN=$(TOOLS) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(TOOLS)/hey:
	GOBIN=$(TOOLS) go install github.com/rakyll/hey@$(HEY_VERSION)

# NATS JetStream for the clustered anomaly log (`make run-cluster`, the JetStream tests); pinned,
# built with the local Go toolchain so the build is reproducible. `make run` does not need it.
$(TOOLS)/nats-server:
	GOTOOLCHAIN=local GOBIN=$(TOOLS) go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

setup-cluster: $(VENV)/.stamp $(TOOLS)/nats-server ## Install what the clustered setup and its tests need (nats-server).

$(TOOLS)/.go-deps: $(GO_DIR)/go.mod $(GO_DIR)/go.sum
	cd $(GO_DIR) && go mod download
	mkdir -p $(TOOLS) && touch $@

# Maven artifacts (protoc, grpc-java, protobuf-java, JUnit and the plugins) into ~/.m2: a first
# build resolves every one of them, including the native binaries of protoc and
# protoc-gen-grpc-java (grpc.plugin.version in the pom), which go-offline misses.
$(TOOLS)/.java-deps: $(JAVA_DIR)/pom.xml
	cd $(JAVA_DIR) && mvn -q -B -DskipTests package
	mkdir -p $(TOOLS) && touch $@

# The browser the dashboard's tests (tests/web) and benchmarks drive through Playwright: Debian's
# headless Chromium (Playwright's own browser download cannot work here); only when missing.
CHROMIUM := /usr/bin/chromium-headless-shell
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium-headless-shell

setup: $(VENV)/.stamp $(TS)/node_modules/.stamp $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/grpcurl $(TOOLS)/ghz $(TOOLS)/hey $(TOOLS)/.go-deps $(TOOLS)/.java-deps $(CHROMIUM) ## Install Python, npm, Go and Maven dependencies, buf, grpcurl, ghz, hey and headless Chromium.

# ---------------------------------------------------------------- code generation
gen: setup ## Regenerate Python, Go and TypeScript code (protos/), the retry policy (Java too), the themes, the error- and route-table docs and the dashboard bundle.
	VENV=$(VENV) bash scripts/gen.sh

# Everything `make gen` writes (generated code, the policy constants, the rendered docs).
GENERATED := contract/python/neural_heatmap_contract/v1 sdk/go/gen $(TS)/src/gen \
	contract/python/neural_heatmap_contract/policy.py $(GO_DIR)/neuralheatmap/policy_gen.go \
	$(TS)/src/policy_gen.ts sdk/java/src/main/java/dev/neuralheatmap/Policy.java \
	contract/python/neural_heatmap_contract/themes.py $(TS)/src/themes_gen.ts \
	docs/bridge.md docs/http-api.md bridge/neural_heatmap_bridge/_web

check-gen: gen ## Fail when the checked-in generated code differs from what `make gen` writes.
	@changes=$$(git status --porcelain -- $(GENERATED)); \
	if [ -n "$$changes" ]; then echo "generated code is stale; run 'make gen' and commit:"; echo "$$changes"; exit 1; fi
	@echo "generated code is up to date"

# ---------------------------------------------------------------- quality
lint: setup ## buf lint + format, ruff, error-table and route-table docs up to date, mypy --strict on hand-written Python, import rules.
	$(BUF) lint
	$(BUF) format -d --exit-code
	$(VENV)/bin/ruff check .
	$(PY) scripts/render_error_table.py --check
	$(PY) scripts/render_route_table.py --check
	$(VENV)/bin/mypy --strict contract/python/neural_heatmap_contract sdk/python/neural_heatmap sdk/python/neural_heatmap_cli bridge/neural_heatmap_bridge server/neural_heatmap_server
	PYTHONPATH=contract/python:sdk/python:server:bridge $(VENV)/bin/lint-imports

# What the protos are compared with: on main itself, main's previous commit (for a merge, the
# main it was merged into); on any other branch, main (what the branch would land on).
BREAKING_BASE = $(shell if git rev-parse -q --verify main >/dev/null; then \
	if [ "$$(git rev-parse HEAD)" = "$$(git rev-parse main)" ]; then git rev-parse -q --verify main~1; \
	else git rev-parse main; fi; else git rev-parse -q --verify HEAD~1; fi)

breaking: setup ## buf breaking against main's previous commit (on a branch: against main); a deliberate break needs a protos/VERSION bump and a CHANGELOG entry.
	@base='$(BREAKING_BASE)'; if [ -z "$$base" ]; then echo "no earlier commit: nothing to compare"; \
	else $(PY) scripts/check_breaking.py --base "$$base" --buf $(BUF); fi

# ---------------------------------------------------------------- tests
test: setup test-go test-ts test-java test-python ## Run every test (Python, Go, TypeScript, Java, live conformance).

test-python: setup setup-cluster ## Python tests only (short fuzz and chaos runs included).
	$(VENV)/bin/pytest -q -m "not long"

test-long: setup setup-cluster ## Soak, long fuzz and mass-reconnect runs (tests marked `long`); not in CI.
	$(VENV)/bin/pytest -q -m long -p no:cacheprovider

test-go: setup ## Go tests (vet, unit, live examples).
	cd $(GO_DIR) && go vet ./... && go test ./...

test-ts: setup ## TypeScript tests: unit, live against a real server and bridge, the packed tarball installed outside the repo.
	cd $(TS) && npm test

test-java: setup ## Java tests (JUnit 5 against a live server and bridge; messages generated from protos/).
	cd $(JAVA_DIR) && mvn -q -B verify

# ---------------------------------------------------------------- run and measure
# Python only: no Go, no Node (tests/packaging/test_make_run.py runs it without them).
RUN_ARGS ?= --server-data-dir var/data
run: $(VENV)/.run-stamp ## Start server (with the built-in activation source) on :8080 and the bridge on :50051, the dashboard on :8090 (needs only Python).
	$(VENV)/bin/neural-heatmap-serve $(RUN_ARGS)

run-cluster: setup-cluster ## NATS JetStream + server + 3 bridges (:50051-50053, round_robin) on one machine; docs/deploy.md.
	VENV=$(VENV) bash scripts/run_cluster.sh

bench: setup setup-cluster ## Full benchmarks; writes bench/results/ and prints the table.
	$(PY) -m bench

bench-quick: setup setup-cluster ## Short benchmark run (what CI executes).
	$(PY) -m bench --quick

clean: ## Remove installed tools and build output (not the generated code).
	rm -rf $(VENV) .tools $(TS)/node_modules $(TS)/dist $(JAVA_DIR)/target
