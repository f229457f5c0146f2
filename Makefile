# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# two stamps: `run` needs the runtime dependencies only, `test` and the tools the dev extra too
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck postgres chromium screenshots bench bench-peers chaos clean

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install (runtime dependencies only), migrate, and serve on SQLite under ./var (prints the URL, and an admin key on first start)
run: $(RUNTIME)
	$(BIN)/rampwire migrate
	$(BIN)/rampwire serve

## test: install, start PostgreSQL if it is installed but stopped, install Chromium if missing,
## lint, type-check, run every test
test: $(STAMP) postgres chromium lint typecheck
	$(BIN)/pytest

postgres:
	@scripts/ensure-postgres.sh

chromium:
	@scripts/ensure-chromium.sh

## screenshots: every dashboard page with sample data, as PNGs in var/screenshots
screenshots: $(STAMP) chromium
	scripts/screenshots.sh var/screenshots

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

## chaos: SIGKILLs under a stream of changes, a PostgreSQL outage and restart through a proxy, a
## hanging endpoint, against real processes; prints counts and recovery times (a subset runs in test)
chaos: $(STAMP) postgres
	$(BIN)/python -m tests.chaos.scenarios

## bench: run every benchmark: each bench/*.py whose name does not start with "_"
## (shared helpers live in the bench/harness/ package, or start with "_"), in name order
BENCHMARKS = $(sort $(filter-out bench/_%,$(wildcard bench/*.py)))
bench: $(STAMP) postgres
	@for script in $(BENCHMARKS); do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## bench-peers: rampwire against what a user would run instead (each peer in its own virtualenv
## under ~/.cache/rampwire-bench-peers, made on first use), same workload, same run, with ratios
bench-peers: $(STAMP) postgres
	$(BIN)/python bench/peers/compare.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
