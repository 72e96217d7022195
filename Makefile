# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup demo test lint system-packages

$(STAMP): pyproject.toml
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/kb demo

lint: setup
	$(BIN)/ruff check .

# Chromium for the browser tests, PostgreSQL for the database tests (Debian packages; installed once, only if missing).
system-packages:
	bash scripts/system-packages.sh

# The database tests run twice: on SQLite, then on a throwaway PostgreSQL server (tests/conftest.py).
test: lint system-packages
	$(BIN)/pytest
	KBTEST_DATABASE=postgresql $(BIN)/pytest -m database
