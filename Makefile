# Two set-up-and-go targets: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench sample clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m covid_risk.demo

test: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests benchmarks

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run_all

sample: $(VENV)/.installed
	$(BIN)/python -m covid_risk.synthetic.sample data/synthetic

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
