# Patches to Pixels: the two commands a fresh machine needs.
#   make lab    set up, then open the course in JupyterLab
#   make demo   set up, then serve the demo gallery (every widget, no code) for a projector
#   make test   set up, then run every test (library, widgets on ipywidgets 8 and 7.7,
#               notebooks in fast mode, notebooks in JupyterLab + headless Chromium)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A second environment with Colab's ipywidgets 7.7 for the headless widget tests.
VENV7 ?= .venv-ipyw7
BIN7 := $(VENV7)/bin
JUPYTER_ARGS ?=
# One torch thread per process in tests: JupyterLab, Chromium and kernels share 2 cores there,
# and oversubscribed torch threads were 10x slower on such machines.
TEST_THREADS ?= 1
# Test processes (pytest-xdist): one a core. Each notebook's cells stay on one worker (conftest.py).
TEST_WORKERS ?= 2
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)  # JupyterLab refuses root without it

.PHONY: setup lab demo test test-ipywidgets7 student slides bench bench-browser site lint format clean

setup: $(VENV)/.installed

# uv installs the same packages as pip, several times faster; it goes into the venv itself.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv>=0.4"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[test]"
	touch $@

# The torch already in .venv is pinned first, by pip (same version, so no multi-GB CUDA download).
$(VENV7)/.installed: pyproject.toml $(VENV)/.installed
	test -x $(BIN7)/python || $(PYTHON) -m venv $(VENV7)
	$(BIN7)/python -m pip install --quiet --no-compile \
	  "torch==$$($(BIN)/python -c 'import torch; print(torch.__version__.split("+")[0])')"
	$(BIN)/uv pip install --python $(BIN7)/python --quiet -e . "ipywidgets==7.7.*" \
	  "pytest>=7.4" "pytest-xdist>=3.5"
	touch $@

# tools.jupyter_nodelay: the kernel websocket sends each frame at once (no Nagle delay).
lab: setup
	$(BIN)/jupyter lab notebooks/ --ServerApp.jpserver_extensions=tools.jupyter_nodelay=True \
	  $(ROOT_FLAG) $(JUPYTER_ARGS)

# The demo gallery: Voila serves notebooks/gallery.ipynb on localhost (offline, no code shown)
# and opens it in the browser. Each page opened starts a kernel that builds every explorer and
# precomputes every setting that samples (minutes; the bar on the page and this terminal count
# them), so open it once, before the room fills, and keep the tab. DEMO_PORT=8866 by default.
# Progressive rendering shows the page, and the bar, while the start-up cell runs; no pings,
# since Voila reads no pong while a cell runs and would drop the page after 90 s of it.
DEMO_PORT ?= 8866
VOILA_ARGS := --Voila.ip=127.0.0.1 --VoilaConfiguration.progressive_rendering=True \
  '--Voila.tornado_settings={"ws_ping_interval": 0}'
demo: setup
	$(BIN)/voila notebooks/gallery.ipynb --port=$(DEMO_PORT) $(VOILA_ARGS) $(JUPYTER_ARGS)

# Browser tests (tests/browser) need Chromium: `sudo apt-get install -y chromium` (.ci/run
# does it); without it they are skipped, with the reason in the summary.
test: setup test-ipywidgets7
	COURSE_FAST=1 OMP_NUM_THREADS=$(TEST_THREADS) $(BIN)/python -m pytest -n $(TEST_WORKERS) --nbval-lax --durations=15 \
	  --junitxml=artifacts/junit.xml tests notebooks notebooks/solutions

test-ipywidgets7: $(VENV7)/.installed
	$(BIN7)/python -c "import ipywidgets as w; assert w.__version__.startswith('7.7'), w.__version__; print('ipywidgets', w.__version__)"
	COURSE_FAST=1 OMP_NUM_THREADS=$(TEST_THREADS) $(BIN7)/python -m pytest -n $(TEST_WORKERS) -q -p no:cacheprovider tests/test_widget_*.py

# The student edition (notebooks/) from the instructor edition, the source (notebooks/solutions/).
student: setup
	$(BIN)/python -m tools.student

# Slides: each lesson presents live with RISE (open it in `make lab`, press alt+R). This target
# exports static reveal.js decks of the instructor edition, executed in fast mode, to
# artifacts/slides/*.slides.html; they open offline (reveal.js and MathJax copied beside them).
# `python -m tools.slides` re-writes the decks' slide metadata after a notebook changes.
slides: setup
	COURSE_FAST=1 $(BIN)/python -m tools.slides --export artifacts/slides

# The concept questions in the instructor guide (docs/instructor/), from the instructor edition.
.PHONY: guide
guide: setup
	$(BIN)/python -m tools.guide

bench: setup
	$(BIN)/python -m course_lib.bench
	$(BIN)/python -m tools.bench
	$(BIN)/python -m tools.memory  # each explorer's memory over 1,000 random moves (~20 min)

# Only the browser round trips: run the browser tests, then print what they recorded.
bench-browser: setup
	COURSE_FAST=1 $(BIN)/python -m pytest -m browser tests/browser
	$(BIN)/python -m tools.bench --browser

# Static pages: every notebook executed in fast mode, exported to site/*.html.
site: setup
	COURSE_FAST=1 $(BIN)/python -m tools.site --out site

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(VENV7) .pytest_cache .ruff_cache *.egg-info site artifacts
