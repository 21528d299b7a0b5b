# The two commands: `make up` (set up + run the product), `make test` (set up + tests).
SHELL := /bin/bash
PY ?= python3.11
UV_VERSION := 0.13.9
UV := .tools/uv/bin/uv
VENV := .venv
KSERVE_VENV := .venv-kserve
export UV_PYTHON_DOWNLOADS := never
export OMP_NUM_THREADS ?= 1

.PHONY: up down test test-fast setup tools lint compile clean

$(UV):
	$(PY) -m venv .tools/uv
	.tools/uv/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra stack --python $(PY)
	UV_PROJECT_ENVIRONMENT=$(KSERVE_VENV) $(UV) sync --frozen --extra kserve --no-dev --python $(PY)
	touch $@

setup: $(VENV)/.synced

tools: setup
	scripts/get-k8s-tools.sh .tools/bin

up: setup
	$(VENV)/bin/bvp up

down:
	@if [ -x $(VENV)/bin/bvp ]; then $(VENV)/bin/bvp down; fi

test: setup tools
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest --skip-slow $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy ml

compile: setup
	$(VENV)/bin/bvp pipeline compile

clean: down
	rm -rf .bvp
