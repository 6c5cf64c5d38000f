# Two set-up-and-go targets: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench sample clean browser serve

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dask,serve]'
	touch $@ $(VENV)/.installed

# The web calculator's test drives a real headless browser: Debian's chromium and its driver.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(SUDO) apt-get update && \
		$(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi

demo: $(VENV)/.installed
	$(BIN)/python -m covid_risk.demo

test: $(VENV)/.installed-test browser
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

serve: $(VENV)/.installed
	$(BIN)/covid-risk serve

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests benchmarks

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run_all

sample: $(VENV)/.installed
	$(BIN)/python -m covid_risk.synthetic.sample data/synthetic

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
