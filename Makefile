# hashcore — `make help` lists the targets. Everything runs inside ./.venv, which the
# Makefile creates and fills itself: a fresh clone needs only python3, cargo and make.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(PY) -m pip
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

DEPS_STAMP := $(VENV)/.deps-stamp
EXT_STAMP  := $(VENV)/.ext-stamp
# rust/fuzz is its own nightly build (make fuzz), not part of the extension.
RUST_SRC   := $(shell find rust -path rust/fuzz -prune -o -name '*.rs' -print) rust/Cargo.toml Cargo.toml $(wildcard Cargo.lock)
PY_SRC     := $(shell find python -name '*.py' -o -name '*.pyi') pyproject.toml
PROTO_SRC  := $(shell find proto -name '*.proto')
# grpc_tools writes these beside the package (gitignored: generated at build, never edited).
PROTO_GEN  := python/hashcore/relay/v2/relay_pb2.py python/hashcore/relay/v2/relay_pb2_grpc.py

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(PY):
	python3 -m venv $(VENV)

$(DEPS_STAMP): requirements-dev.txt | $(PY)
	$(PIP) install -q --disable-pip-version-check --upgrade pip
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(PROTO_GEN) &: $(PROTO_SRC) $(DEPS_STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=python --pyi_out=python \
		--grpc_python_out=python $(PROTO_SRC)

$(EXT_STAMP): $(DEPS_STAMP) $(RUST_SRC) $(PY_SRC) $(PROTO_GEN)
	maturin develop --release -q
	@touch $@

# --- anvil: the local EVM node of the anchoring tests (npm @foundry-rs/anvil) ---------
ANVIL_STAMP := node_modules/.anvil-stamp

# `npm install --no-save`, not `npm ci`: the lock file can only list the platform packages
# the registry serves here (linux-amd64), which `npm ci` takes for a stale lock file.
$(ANVIL_STAMP): package.json package-lock.json
	npm install --no-save --no-audit --no-fund
	@touch $@
# --- end anvil ---------------------------------------------------------------------------

# --- fuzzing (issue 15): cargo-fuzz on nightly + atheris; corpora are committed --------
FUZZ_SECONDS ?= 60
RUST_FUZZ_TARGETS := note checkpoint_body tree audit columns cosignature ingest
PY_FUZZ_TARGETS   := policy note note_verify checkpoint_body manifest
CARGO_FUZZ_VERSION := 0.13.2
ATHERIS_VERSION    := 3.0.0

.PHONY: fuzz
fuzz: install ## Fuzz the v2 parsers and the audit: FUZZ_SECONDS (60) per target; finds go to */regressions/
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION)
	$(PIP) install -q --disable-pip-version-check atheris==$(ATHERIS_VERSION)
	cd rust && for t in $(RUST_FUZZ_TARGETS); do \
		mkdir -p fuzz/regressions/$$t && \
		cargo +nightly fuzz run -O $$t fuzz/corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/regressions/$$t/ -print_final_stats=1 || exit 1; \
	done
	for t in $(PY_FUZZ_TARGETS); do \
		mkdir -p fuzz/python/regressions/$$t && \
		$(PY) fuzz/python/run.py $$t fuzz/python/corpus/$$t -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/python/regressions/$$t/ -print_final_stats=1 || exit 1; \
	done

# The short run of `make test`: FUZZ_SHORT_SECONDS per target, new inputs to a scratch
# directory (the committed corpora are only read). Without a nightly toolchain the Rust
# targets can't be built: they are then replayed by `cargo test` only, and it says so.
FUZZ_SHORT_SECONDS ?= 5
.PHONY: fuzz-short
fuzz-short: install ## A short fuzz run of every target (part of make test)
	@if cargo +nightly --version >/dev/null 2>&1; then \
		command -v cargo-fuzz >/dev/null || cargo install -q cargo-fuzz --locked --version $(CARGO_FUZZ_VERSION); \
		cd rust && for t in $(RUST_FUZZ_TARGETS); do \
			scratch=$$(mktemp -d) && mkdir -p fuzz/regressions/$$t && \
			cargo +nightly fuzz run -O $$t $$scratch fuzz/corpus/$$t -- \
				-max_total_time=$(FUZZ_SHORT_SECONDS) -timeout=10 \
				-artifact_prefix=fuzz/regressions/$$t/ 2>&1 | grep -E '^(Done|==.*ERROR)' ; \
			status=$${PIPESTATUS[0]}; rm -rf $$scratch; \
			[ $$status -eq 0 ] || { echo "fuzz target $$t failed: see rust/fuzz/regressions/$$t"; exit 1; }; \
		done; \
	else echo "NOTE: no nightly toolchain: Rust fuzz targets not run (cargo test replays their corpora)"; fi
	$(PIP) install -q --disable-pip-version-check atheris==$(ATHERIS_VERSION)
	@for t in $(PY_FUZZ_TARGETS); do \
		scratch=$$(mktemp -d) && mkdir -p fuzz/python/regressions/$$t && \
		$(PY) fuzz/python/run.py $$t $$scratch fuzz/python/corpus/$$t \
			-max_total_time=$(FUZZ_SHORT_SECONDS) -timeout=10 \
			-artifact_prefix=fuzz/python/regressions/$$t/ 2>&1 | grep -E '^(Done|==.*ERROR)'; \
		status=$${PIPESTATUS[0]}; rm -rf $$scratch; \
		[ $$status -eq 0 ] || { echo "fuzz target $$t failed: see fuzz/python/regressions/$$t"; exit 1; }; \
	done; rmdir rust/fuzz/regressions/* fuzz/python/regressions/* 2>/dev/null; true

.PHONY: fuzz-cmin
fuzz-cmin: ## Minimise the committed Rust fuzz corpora (after a long make fuzz)
	cd rust && for t in $(RUST_FUZZ_TARGETS); do cargo +nightly fuzz cmin -O $$t fuzz/corpus/$$t || exit 1; done
# --- end fuzzing -------------------------------------------------------------------------

# --- clients/ts: the TypeScript device SDK (@hashcore/device) ------------------------------
# Its own package-lock.json and node_modules (not a workspace of the anvil package above,
# which is installed with --no-save for its platform binaries). `npm ci` runs only when
# the lock file changed; the tests run on the compiled output with node's test runner.
TS_DIR   := clients/ts
TS_STAMP := $(TS_DIR)/node_modules/.ci-stamp

$(TS_STAMP): $(TS_DIR)/package.json $(TS_DIR)/package-lock.json
	npm ci --prefix $(TS_DIR) --no-audit --no-fund
	@touch $@

.PHONY: test-ts
test-ts: $(TS_STAMP) ## TypeScript SDK: build (tsc strict) and run its tests (node --test)
	npm --prefix $(TS_DIR) test

# Regenerates clients/ts/src/gen/ (committed) from clients/ts/proto/ with protoc-gen-es and
# the protoc of grpcio-tools in .venv.
.PHONY: ts-gen
ts-gen: $(TS_STAMP) $(DEPS_STAMP) ## TypeScript SDK: regenerate the relay v2 protobuf code
	PYTHON=$(abspath $(PY)) $(TS_DIR)/scripts/gen.sh

# The web tests (issue 14): the SDK against the real Python relay's Connect face (20 devices,
# audited), and the sleep-diary PWA (examples/pwa, built by Vite) in headless Chromium,
# driven by playwright-core. Debian's chromium is installed when missing.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

.PHONY: test-web
test-web: install $(TS_STAMP) chromium ## TS SDK against a real relay (Connect) + the PWA in headless Chromium
	HASHCORE_PYTHON=$(abspath $(PY)) CHROMIUM=$$(command -v chromium) npm --prefix $(TS_DIR) run test:web

# The TS device's figures (BENCHMARKS.md, "TypeScript device and the HTTP face").
.PHONY: bench-web
bench-web: install $(TS_STAMP) chromium ## TS device: records/s in Node and Chromium; bytes/record and ack latency per transport
	HASHCORE_PYTHON=$(abspath $(PY)) CHROMIUM=$$(command -v chromium) BENCH_JSON=bench-web.json npm --prefix $(TS_DIR) run bench

# The diary PWA against a local relay, for a person to try (make demo prints this).
.PHONY: demo-web
demo-web: install $(TS_STAMP) ## Build the sleep-diary PWA and serve it with a local relay (Ctrl-C stops)
	npm --prefix $(TS_DIR) run build
	HASHCORE_PYTHON=$(abspath $(PY)) node $(TS_DIR)/examples/pwa/serve-demo.mjs
# --- end clients/ts ----------------------------------------------------------------------

.PHONY: install
install: $(EXT_STAMP) $(ANVIL_STAMP) ## Create .venv, install dependencies, build the Rust extension (release)

.PHONY: fault-campaign
fault-campaign: install ## Faults into real relays (kill -9, disk full, PG restart, EVM stop/reorg, witness down; tools/faults): TRIALS (100) each
	$(PY) tools/fault_campaign.py --trials $(or $(TRIALS),100) --json fault-campaign.json

.PHONY: test
test: install ## Build everything and run every test (cargo test + pytest + TS SDK + a short fuzz run)
	cargo test -q --manifest-path rust/Cargo.toml
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-ts
	$(MAKE) --no-print-directory test-web
	$(MAKE) --no-print-directory fuzz-short

.PHONY: test-rust
test-rust: ## Rust tests only
	cargo test -q --manifest-path rust/Cargo.toml

.PHONY: lint
lint: install ## ruff, mypy, stubtest, clippy -D warnings, rustfmt --check
	ruff check python tests bench tools
	ruff format --check python tests bench tools
	mypy
	$(PY) -m mypy.stubtest hashcore._core --allowlist stubtest-allowlist.txt
	cargo clippy --manifest-path rust/Cargo.toml --all-targets --features python -- -D warnings
	cargo fmt --manifest-path rust/Cargo.toml -- --check

.PHONY: fmt
fmt: install ## Format Python and Rust sources
	ruff format python tests bench tools
	ruff check --fix python tests bench tools
	cargo fmt --manifest-path rust/Cargo.toml

.PHONY: demo
demo: install ## Simulate a trial through a real relay + embedded chain, audit it and every attack; writes report.html
	hashcore demo
	@echo "The sleep-diary PWA (a TS device in your browser, against a local relay): make demo-web, then open the URL it prints"

.PHONY: bench
bench: install ## Benchmarks (pytest-benchmark); figures go in BENCHMARKS.md
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=min,median,max,rounds

.PHONY: clean
clean: ## Remove build outputs and the virtualenv
	rm -rf $(VENV) target .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
	rm -rf $(TS_DIR)/node_modules $(TS_DIR)/dist $(TS_DIR)/build-test
