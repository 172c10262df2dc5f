# Two commands: `make run` (the app on its embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint browser clean-data

run: $(STAMP)
	$(PY) -m devstack.run

test: $(STAMP) browser
	$(PY) -m devstack.testrun

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Headless chromium for the browser tests (Debian's package; Playwright's download fails offline).
browser:
	@bash scripts/ensure-chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean-data:
	rm -rf .data
