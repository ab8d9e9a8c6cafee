# `make demo` and `make test` work from a fresh clone: they create or refresh .venv
# (whenever pyproject.toml changes) and, as root, install the Debian packages the tests
# use. Nothing else needs installing by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-lowest lint typecheck docs pytest system-packages clean bench bench-quick

demo: $(STAMP)
	$(BIN)/python -m trio_sockets demo

test: system-packages $(STAMP) lint typecheck docs pytest

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  bash .ci/system-packages python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cli,test,dev,docs]'
	@touch $@

system-packages:
	@bash .ci/system-packages

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/boundaries.py --quiet

typecheck: $(STAMP)
	$(BIN)/mypy --strict trio_sockets examples
	$(BIN)/pyright

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

pytest: $(STAMP)
	$(BIN)/python -m pytest -W error

# The test suite with every dependency of the package at the lowest version pyproject.toml
# allows (tools/lowest_constraints.py), in .venv-lowest, so that those bounds stay true.
# The anyio rows of the benchmark smoke tests are left out: anyio's trio backend needs a
# newer trio than this package does.
LOWEST := .venv-lowest
test-lowest: system-packages
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python tools/lowest_constraints.py > $(LOWEST)/constraints.txt
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e '.[cli,test,dev,docs]'
	$(LOWEST)/bin/python -m pytest -W error -k 'not anyio'

# The side-by-side benchmark suite (benchmarks/): about 30 minutes; bench-quick takes about
# 7. Both write docs/performance-results.rst, docs/_static/performance.png and the raw
# samples in benchmarks/results/.
bench: $(STAMP) system-packages
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench BENCH_ARGS=--quick

clean:
	rm -rf $(VENV) $(LOWEST) docs/_build .mypy_cache .ruff_cache .pytest_cache .hypothesis
