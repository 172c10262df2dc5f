# Two commands: `make run` (the app on its embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run cluster test bench bench-quick lint system-packages clean-data

run: $(STAMP)
	$(PY) -m devstack.run

# The production shape locally: nginx in front of WEB_PROCESSES (default 2) Daphne processes.
cluster: $(STAMP)
	$(PY) -m devstack.cluster

test: $(STAMP) system-packages
	$(PY) -m devstack.testrun

# Every benchmark at full size (long: see README, Benchmarks); bench-quick: smoke sizes only.
bench: $(STAMP)
	$(PY) -m bench all

bench-quick: $(STAMP)
	$(PY) -m bench all --quick

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Debian packages the tests need: headless chromium (browser tests) and nginx (cluster test).
system-packages:
	@bash scripts/ensure-system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean-data:
	rm -rf .data
