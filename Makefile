# minipaas-certs developer tasks. `make` (or `make help`) lists them.
PYTHON ?= python3
OUT ?= .certs
OPENSSL111 ?= .cache/openssl-1.1.1
BENCH_VENV ?= .cache/bench-venv
# What the test targets run: TIER is a marker expression (empty: every test; CI gives
# "not invariant" to the OpenSSL 1.1.1 and Python 3.8/3.13 runs, see pyproject.toml),
# WORKERS the pytest-xdist processes (0: none), PYTEST_ARGS anything else for pytest.
# Twice the CPUs: a test spends much of its time waiting on openssl, dockerd and
# its own subprocesses (on 2 cores, every test: 275 s with 2 workers, 205 s with 4
# or 6).
TIER ?=
WORKERS ?= $(shell $(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1))')
PYTEST_ARGS ?=
PYTEST_RUN = -n $(WORKERS) --dist worksteal -m "$(TIER)" $(PYTEST_ARGS)

.DEFAULT_GOAL := help
.PHONY: help install test test-openssl111 test-pythons lint certs dist wheelhouse bench clean

help: ## List the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z0-9-]+:.*## /{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## Install the package and its test tools into the current Python (editable)
	$(PYTHON) -m pip install -e '.[dev]'

test: ## Run the test suite with the system openssl (TIER=marker expression: a part of it)
	$(PYTHON) -m pytest $(PYTEST_RUN)

test-openssl111: ## Run the test suite with Debian bullseye's OpenSSL 1.1.1 (fetched once)
	MINIPAAS_TEST_OPENSSL=$$(scripts/openssl111.sh $(OPENSSL111)) $(PYTHON) -m pytest $(PYTEST_RUN)

test-pythons: ## Run the test suite on every Python 3.8-3.13 found (tox; pyenv ones included)
	python=$$(command -v $(PYTHON)) && PATH="$$(scripts/pythons.sh):$$PATH" $$python -m tox \
	  $(TOX_ARGS) -- $(PYTEST_RUN)

lint: ## ruff, mypy --strict, and README.rst and docs/*.rst as valid reStructuredText
	$(PYTHON) -m ruff check minipaas_certs tests benchmarks
	$(PYTHON) -m mypy
	for doc in README.rst docs/*.rst; do $(PYTHON) -m docutils --halt=warning "$$doc" /dev/null || exit 1; done

certs: ## Generate a CA, server and client set into OUT (default .certs)
	$(PYTHON) -m minipaas_certs certs all --out $(OUT)

dist: ## Build the sdist and wheel into dist/
	$(PYTHON) -m build

wheelhouse: ## Wheels of the package and its dependencies for Python 3.8-3.13, with SHA256SUMS
	PYTHON=$(PYTHON) scripts/wheelhouse.sh wheelhouse

bench: ## Benchmark against Docker's openssl recipe (a clean venv, regular install)
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet .
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	$(BENCH_VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)

clean: ## Remove build and test leftovers
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
