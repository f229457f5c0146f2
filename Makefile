# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck postgres bench chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install, migrate, and serve on SQLite under ./var (prints the URL, and an admin key on first start)
run: $(STAMP)
	$(BIN)/rampwire migrate
	$(BIN)/rampwire serve

## test: install, start PostgreSQL if it is installed but stopped, lint, type-check, run every test
test: $(STAMP) postgres lint typecheck
	$(BIN)/pytest

postgres:
	@scripts/ensure-postgres.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

## chaos: SIGKILLs under a stream of changes, a PostgreSQL outage and restart through a proxy, a
## hanging endpoint, against real processes; prints counts and recovery times (a subset runs in test)
chaos: $(STAMP) postgres
	$(BIN)/python -m tests.chaos.scenarios

bench: $(STAMP) postgres
	@for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
