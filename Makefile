# Two entry points: `make serve` (embedded default, with demo data in development) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve demo test lint schema docs migrate bench bench-smoke

# The first install takes about 40 s: pip shows what it fetches and builds as it goes.
$(STAMP): pyproject.toml
	@echo "Installing into $(VENV): the first time takes about 40 seconds."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --progress-bar on --upgrade pip
	$(BIN)/pip install --progress-bar on -e ".[test]"
	touch $(STAMP)

# A console with data: in development `make serve` loads the demo (credits on, "Demo Customer",
# its logins printed on every start). `python server.py` alone keeps a fresh install empty, with
# credit management off, as the contract says; so does `make serve` with CREDITS_ENV=production.
DEMO := $(if $(filter production,$(CREDITS_ENV)),,--demo)

serve: $(STAMP)
	$(BIN)/python server.py $(DEMO)

demo: $(STAMP)
	$(BIN)/python server.py --demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: $(STAMP)
	$(BIN)/python server.py export-schema > schema.graphql
	$(BIN)/python server.py api-docs > docs/api.md

docs: $(STAMP)
	$(BIN)/python server.py api-docs > docs/api.md

migrate: $(STAMP)
	$(BIN)/python server.py migrate

# Benchmarks against this machine's PostgreSQL and Redis (see bench/__main__.py for the options).
bench: $(STAMP)
	$(BIN)/python -m bench

bench-smoke: $(STAMP)
	$(BIN)/python -m bench --smoke
