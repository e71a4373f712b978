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
RUST_SRC   := $(shell find rust -name '*.rs') rust/Cargo.toml Cargo.toml $(wildcard Cargo.lock)
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

.PHONY: install
install: $(EXT_STAMP) $(ANVIL_STAMP) ## Create .venv, install dependencies, build the Rust extension (release)

.PHONY: fault-campaign
fault-campaign: install ## Faults into real relays (kill -9, PG restart, EVM stop): TRIALS (100) each
	$(PY) tools/fault_campaign.py --trials $(or $(TRIALS),100) --json fault-campaign.json

.PHONY: test
test: install ## Build everything and run every test (cargo test + pytest)
	cargo test -q --manifest-path rust/Cargo.toml
	$(PY) -m pytest -q

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

.PHONY: bench
bench: install ## Benchmarks (pytest-benchmark); figures go in BENCHMARKS.md
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=min,median,max,rounds

.PHONY: clean
clean: ## Remove build outputs and the virtualenv
	rm -rf $(VENV) target .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
