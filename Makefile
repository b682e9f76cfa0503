# hubbub: the two set-up commands are `make serve` and `make test`; both work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
FUZZ_SECONDS ?= 600
FUZZ_EXAMPLES ?= 5000

.PHONY: serve test lint typecheck pytest fuzz bench system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime install (with uvloop), redone when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml setup.py src/hubbub/_speedups.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[speed]'
	touch $@

# Everything the tests need, redone when pyproject.toml changes.
$(VENV)/.installed-dev: pyproject.toml setup.py src/hubbub/_speedups.c | $(BIN)/python
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

# Coverage-guided fuzzing of the core for FUZZ_SECONDS (atheris; inputs that reach new code are
# kept in .fuzz/corpus, crashes saved in .fuzz/), then the state machine for FUZZ_EXAMPLES runs.
fuzz: $(VENV)/.installed-dev
	mkdir -p .fuzz/corpus
	$(BIN)/python -m tests.fuzz.atheris_core -max_total_time=$(FUZZ_SECONDS) \
		-artifact_prefix=.fuzz/ .fuzz/corpus tests/fuzz/corpus
	HUBBUB_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:cacheprovider \
		--timeout=0 tests/fuzz/test_stateful.py tests/fuzz/test_core_invariants.py

bench: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m hubbub.bench.compare $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build src/*.egg-info src/hubbub/*.so
