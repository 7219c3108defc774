# Two commands: `make run` and `make test`. Each does its own set-up on a fresh Debian/Ubuntu machine:
# the virtualenv in .venv, the Python dependencies, redis-server and, for the page tests, Debian's chromium
# (apt when root, else a clear message).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check lint typecheck unit integration soak redis-server chromium venv bench clean clean-clone-test

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

redis-server:
	@if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
		echo "installing redis-server with apt"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		systemctl disable --now redis-server >/dev/null 2>&1 || true; \
	else \
		echo "redis-server is not installed. Install it with: sudo apt-get install redis-server (or set REDIS_URL)"; \
		exit 1; \
	fi

# The page tests drive the system browser (Debian's chromium) with Playwright; no browser build is downloaded.
chromium:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = "0" ]; then \
		echo "installing chromium with apt (for the page tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	else \
		echo "chromium is not installed, so the page tests will fail. Install it with: sudo apt-get install chromium"; \
	fi

run: $(STAMP)
	@if [ -z "$$REDIS_URL" ]; then $(MAKE) --no-print-directory redis-server; fi
	$(BIN)/switchboard serve --config config

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q -m "not integration"

integration: $(STAMP) redis-server chromium
	$(BIN)/pytest -q -m integration

# The soak tier: load tests at full size (minutes each), deselected from every other run (tests/conftest.py).
soak: $(STAMP) redis-server
	$(BIN)/pytest -q -m soak

check: lint typecheck

test: $(STAMP) redis-server chromium
	$(MAKE) --no-print-directory lint typecheck
	SWITCHBOARD_TEST_PROFILE=thorough $(BIN)/pytest -q -m "not integration"
	$(BIN)/pytest -q -m integration

# `make test` in a clone of the committed HEAD, made into an empty temporary folder: proves that a clone with
# nothing beside it passes (uncommitted changes are not part of the clone). The folder is removed afterwards.
clean-clone-test:
	@dir=$$(mktemp -d) && head=$$(git rev-parse HEAD) && \
	echo "clean-clone-test: cloning $$head into $$dir/switchboard" && \
	git clone -q --no-hardlinks "$(CURDIR)" "$$dir/switchboard" && \
	git -C "$$dir/switchboard" checkout -q --detach "$$head" && \
	env -u VIRTUAL_ENV $(MAKE) --no-print-directory -C "$$dir/switchboard" test; \
	rc=$$?; rm -rf "$$dir"; echo "clean-clone-test: make test exited $$rc"; exit $$rc

bench: $(STAMP) redis-server
	@echo "see BENCHMARKS.md for each benchmark's command"

clean:
	rm -rf $(VENV) .switchboard .mypy_cache .pytest_cache .ruff_cache
