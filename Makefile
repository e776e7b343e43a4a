# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
# uv must use this machine's Python, never download one
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: install demo test lint bench bench-quick clean

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen --extra dev
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/marketintel demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.storage
	$(BIN)/python -m bench.ingest

bench-quick: install
	$(BIN)/python -m bench.storage --quick
	$(BIN)/python -m bench.ingest --quick

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
