# The README's two commands: `make dev` (set up, run the stack) and `make test` (set up, check everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := api workers brain catalog queues metrics artifacts sandbox cli.py

.PHONY: setup dev test lint typecheck catalog-check services node-deps unit bench bench-smoke clean

setup: $(VENV)/.installed

# constraints.txt pins the whole dependency tree, so a fresh machine installs what CI tested.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

dev: setup
	$(BIN)/mpc-api dev

# Benchmarks' smoke run first, so the test runner's summary is the last thing printed.
test: setup lint typecheck catalog-check bench-smoke unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy --strict $(PACKAGES)

catalog-check: setup
	$(BIN)/mpc-api catalog check

services:
	bash tests/scripts/ensure-redis.sh
	bash tests/scripts/ensure-tools.sh

# The Node client libraries Flowise and Activepieces use (tests/platforms), exactly as locked.
NODE_DIR := tests/platforms/node
node-deps: services $(NODE_DIR)/node_modules/.installed

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund
	touch $@

unit: setup services node-deps
	$(BIN)/pytest -q

bench: setup services
	$(BIN)/python -m tests.bench all

# Every benchmark scenario, briefly: proves each still runs (figures from a smoke run mean little).
bench-smoke: setup services
	$(BIN)/python -m tests.bench all --smoke

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(NODE_DIR)/node_modules
