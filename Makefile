# All targets install into a local virtual environment (.venv) first; nothing is installed globally.
# Installs come from the committed lock file (requirements/lock.txt, exact versions with hashes),
# so every machine tests the versions that were tested; pyproject.toml keeps the version ranges
# for people who `pip install segmint`. `make lock` refreshes the lock, `make test-latest` tries
# the newest versions the ranges allow in a scratch environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
DEMO_OUT ?= demo-out
# the tool that writes the lock (only `make lock` and `make test-latest` need it)
UV_VERSION := 0.13.8
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
LATEST := .venv-latest
LINT_PATHS := src tests benchmarks

.PHONY: install demo test test-fast test-latest lint format bench lock clean

$(STAMP): pyproject.toml $(LOCK) scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		--no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/segmint demo --out $(DEMO_OUT) --customers 20000 --seed 7

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/python scripts/architecture_metrics.py --check scripts/architecture_baseline.txt

format: $(STAMP)
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

test: lint
	$(BIN)/python -m pytest

test-fast: lint
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Re-resolve the newest versions the ranges in pyproject.toml allow, for Python 3.11 on Linux
# x86_64 (the machines that run the tests), with the hashes of every file of each version.
lock: $(UV)
	$(UV) pip compile pyproject.toml requirements/build.in --extra dev --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --upgrade \
		--quiet -o $(LOCK)

# The newest versions the ranges allow, in a scratch environment: finds drift on purpose.
# Prints the versions that differ from the lock, then lints and runs the whole suite.
test-latest: $(UV)
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(UV) pip compile pyproject.toml requirements/build.in --extra dev --upgrade \
		--python-version 3.11 --no-header --no-annotate --quiet -o $(LATEST)/latest.txt
	$(LATEST)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-r $(LATEST)/latest.txt
	$(LATEST)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	$(LATEST)/bin/python -m pip check
	@echo "versions that differ from $(LOCK):"
	@grep -E '^[A-Za-z0-9_.-]+==' $(LOCK) | sed 's/ .*//' | sort > $(LATEST)/locked.txt
	@sort $(LATEST)/latest.txt | grep '==' > $(LATEST)/newest.txt
	@diff $(LATEST)/locked.txt $(LATEST)/newest.txt | grep '^[<>]' || echo "  none"
	$(LATEST)/bin/ruff check $(LINT_PATHS)
	$(LATEST)/bin/ruff format --check $(LINT_PATHS)
	$(LATEST)/bin/python -m pytest

clean:
	rm -rf $(VENV) $(TOOLS) $(LATEST) $(DEMO_OUT) .pytest_cache .ruff_cache
