# hubbub: the two set-up commands are `make serve` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: serve test lint typecheck pytest bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime install (with uvloop), redone when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[speed]'
	touch $@

# Everything the tests need, redone when pyproject.toml changes.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,all]'
	touch $@ $(VENV)/.installed-run

serve: $(VENV)/.installed-run
	$(BIN)/hubbub serve $(ARGS)

system-deps:
	scripts/ensure-system-packages

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests $(wildcard examples)
	$(BIN)/ruff format --check src tests $(wildcard examples)

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict

pytest: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest $(ARGS)

test: lint typecheck pytest

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m hubbub.bench.compare $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build src/*.egg-info
