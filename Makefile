# The README's two commands: `make dev` (set up, run the stack) and `make test` (set up, check everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := api workers brain catalog queues metrics cli.py

.PHONY: setup dev test lint typecheck catalog-check unit bench clean

setup: $(VENV)/.installed

# constraints.txt pins the whole dependency tree, so a fresh machine installs what CI tested.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

dev: setup
	$(BIN)/mpc-api dev

test: setup lint typecheck catalog-check unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy --strict $(PACKAGES)

catalog-check: setup
	$(BIN)/mpc-api catalog check

unit: setup
	bash tests/scripts/ensure-redis.sh
	bash tests/scripts/ensure-tools.sh
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python -m tests.bench all

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
