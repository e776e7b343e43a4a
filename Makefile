# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
# Airflow lives in its own venv: its pins conflict with ours, and only the DagBag check needs it
AIRFLOW_VENV := .venv-airflow
# uv must use this machine's Python, never download one
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)

.PHONY: install install-airflow airflow-constraints demo test lint bench bench-quick clean

$(VENV)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen --extra dev
	touch $@

install: $(VENV)/.installed

$(AIRFLOW_VENV)/.installed: deploy/airflow/requirements.txt deploy/airflow/constraints.txt
	$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv venv --allow-existing $(AIRFLOW_VENV)
	$(PYTHON) -m uv pip install --python $(AIRFLOW_VENV)/bin/python -r deploy/airflow/requirements.txt -c deploy/airflow/constraints.txt
	touch $@

install-airflow: $(AIRFLOW_VENV)/.installed

airflow-constraints:
	$(PYTHON) -m uv pip compile deploy/airflow/requirements.txt --universal --python-version 3.11 -o deploy/airflow/constraints.txt

demo: install
	$(BIN)/marketintel demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint $(AIRFLOW_VENV)/.installed
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
	rm -rf $(VENV) $(AIRFLOW_VENV) .pytest_cache .ruff_cache
