# Two entry points: `make serve` (embedded default) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve demo test lint schema docs migrate bench bench-smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/python server.py

demo: $(STAMP)
	$(BIN)/python server.py --demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

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
