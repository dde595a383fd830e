# Patches to Pixels: the two commands a fresh machine needs.
#   make lab    set up, then open the course in JupyterLab
#   make test   set up, then run every test (library, widgets, notebooks in fast mode)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
JUPYTER_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)  # JupyterLab refuses root without it

.PHONY: setup lab test bench lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

lab: setup
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(JUPYTER_ARGS)

test: setup
	COURSE_FAST=1 $(BIN)/python -m pytest --nbval-lax --durations=15 tests notebooks

bench: setup
	$(BIN)/python -m course_lib.bench
	$(BIN)/python -m widgets.bench

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
