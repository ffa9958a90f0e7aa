# Two entry points for a fresh machine with Python 3.11+:
#   make repro   create .venv, install the project, run the DVC pipeline
#   make test    create .venv, install with the dev extra, run every test (slow ones too)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# dvc.yaml runs `python -m stages ...`: the virtual environment's python must come first.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: repro test test-fast lint bench docs clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(BIN)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/.installed $@

repro: $(BIN)/.installed
	$(BIN)/dvc repro

test: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

test-fast: $(BIN)/.installed-dev
	$(BIN)/pytest -m "not slow" -n auto --dist loadfile --no-loadscope-reorder

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python bench/benchmark.py

# Regenerate docs/params.md (from the schema) and the results tables (from reports/).
docs: $(BIN)/.installed
	$(BIN)/stages params-table --write
	$(BIN)/stages results

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
