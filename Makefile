# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
# Airflow lives in its own venv: its pins conflict with ours, and only the DagBag check needs it
AIRFLOW_VENV := .venv-airflow
# Packages are byte-compiled when installed: where PYTHONDONTWRITEBYTECODE is set (as on this machine)
# Python never writes a .pyc, so every process would compile pandas, polars... again (2-3 s each)
# uv must use this machine's Python, never download one
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: install install-airflow airflow-constraints demo test lint bench bench-quick clean web web-lint web-test web-e2e chromium

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen --extra dev --compile-bytecode
	touch $@

install: $(VENV)/.installed

$(AIRFLOW_VENV)/.installed: deploy/airflow/requirements.txt deploy/airflow/constraints.txt
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv venv --allow-existing $(AIRFLOW_VENV)
	$(PYTHON) -m uv pip install --python $(AIRFLOW_VENV)/bin/python --compile-bytecode -r deploy/airflow/requirements.txt -c deploy/airflow/constraints.txt
	touch $@

install-airflow: $(AIRFLOW_VENV)/.installed

airflow-constraints:
	$(PYTHON) -m uv pip compile deploy/airflow/requirements.txt --universal --python-version 3.11 -o deploy/airflow/constraints.txt

# The web hub (web/): npm ci again only when the lock file changed; the build only when a source did.
WEB := web
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/public -type f 2>/dev/null) $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json

$(WEB)/node_modules/.installed: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.installed $(WEB_SOURCES)
	cd $(WEB) && npm run build

web: $(WEB)/dist/index.html

web-lint: $(WEB)/node_modules/.installed
	cd $(WEB) && npm run lint

web-test: $(WEB)/node_modules/.installed
	cd $(WEB) && npm test

# the E2E drives Debian's Chromium (never a downloaded browser); we run as root, so apt-get may install it
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

web-e2e: install web chromium
	cd $(WEB) && npm run e2e

demo: install web
	$(BIN)/marketintel demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint web-lint web-test web-e2e $(AIRFLOW_VENV)/.installed
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.storage
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.gateway_load
	$(BIN)/python -m bench.stream_latency
	$(BIN)/python -m bench.curves
	$(BIN)/python -m bench.curves_shape

bench-quick: install
	$(BIN)/python -m bench.storage --quick
	$(BIN)/python -m bench.ingest --quick
	$(BIN)/python -m bench.gateway_load --quick
	$(BIN)/python -m bench.stream_latency --quick
	$(BIN)/python -m bench.curves --quick
	$(BIN)/python -m bench.curves_shape --quick

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache .ruff_cache $(WEB)/node_modules $(WEB)/dist $(WEB)/test-results
