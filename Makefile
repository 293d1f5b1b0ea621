# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv and install into it; nothing is needed by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test lint-imports test-sqlite test-postgres test-min bench install clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,test]'
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(PY) -m clarion.devtools.devserver

test: lint-imports test-sqlite test-postgres

# The import rules of docs/architecture.md (contracts in pyproject.toml).
lint-imports: $(INSTALLED)
	$(VENV)/bin/lint-imports

test-sqlite: $(INSTALLED)
	CLARION_TEST_DATABASE=sqlite $(PY) -m pytest

test-postgres: $(INSTALLED)
	CLARION_TEST_DATABASE=postgresql CLARION_TEST_POSTGRES_URL=$(POSTGRES_URL) $(PY) -m pytest -m "not no_db"

# The suite (SQLite) on the lowest versions pyproject.toml allows: pip has no "lowest" resolution,
# so .ci/min-constraints.py pins every dependency to its lower bound (pkg==bound).
VENV_MIN := .venv-min
INSTALLED_MIN := $(VENV_MIN)/.installed

$(INSTALLED_MIN): pyproject.toml .ci/min-constraints.py
	rm -rf $(VENV_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/min-constraints.py > $(VENV_MIN)/constraints.txt
	$(VENV_MIN)/bin/python -m pip install --quiet -c $(VENV_MIN)/constraints.txt -e '.[dev,test]'
	touch $@

test-min: $(INSTALLED_MIN)
	CLARION_TEST_DATABASE=sqlite $(VENV_MIN)/bin/python -m pytest

# The bench-only tool (py-spy) goes next to the venv, not into it: see bench/harness.py.
BENCH_TOOLS := var/bench-tools

$(BENCH_TOOLS)/.installed: bench/requirements.txt
	rm -rf $(BENCH_TOOLS)
	$(PY) -m pip install --quiet --target $(BENCH_TOOLS) -r bench/requirements.txt
	touch $@

bench: $(INSTALLED) $(BENCH_TOOLS)/.installed
	@command -v wrk >/dev/null 2>&1 || { echo "make bench needs wrk, the C HTTP load generator: sudo apt-get install wrk" >&2; exit 2; }
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV_MIN) var .pytest_cache
