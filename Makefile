# The two set-up commands of the README: `make run` and `make test`.
# Both create .venv and install into it; nothing is needed by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres bench install clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,test]'
	touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(PY) -m clarion.devtools.devserver

test: test-sqlite test-postgres

test-sqlite: $(INSTALLED)
	CLARION_TEST_DATABASE=sqlite $(PY) -m pytest

test-postgres: $(INSTALLED)
	CLARION_TEST_DATABASE=postgresql CLARION_TEST_POSTGRES_URL=$(POSTGRES_URL) $(PY) -m pytest -m "not no_db"

bench: $(INSTALLED)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var .pytest_cache
