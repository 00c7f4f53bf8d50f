# Two commands do all the set-up (fresh Debian, Python 3.11, as root):
#   make book   — venv + pinned stack + library + data, then the HTML book in _build/html
#                 (make book EXECUTE=1 re-executes every chapter first and saves its outputs)
#   make test   — the same set-up, then ruff (make lint), the built book in headless Chromium (make browser-test),
#                 then the unit tests, the artifacts' replay and every chapter under pytest --nbval, in one run
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXECUTE ?= 0
INSTALLED := $(VENV)/.installed
DATA_READY := $(VENV)/.data-ready
# What the built book serves itself so that it reads offline (see package.json); html_static_path in _config.yml.
OFFLINE := _build/offline
OFFLINE_READY := _build/.offline-ready
WIDGETS_DIST := node_modules/@jupyter-widgets/html-manager/dist
# The browser the book is tested in: Debian's chromium, driven by Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup data lint test unit replay nbval book browser-test execute clean

setup: $(INSTALLED)

# pip byte-compiles the stack as it installs it (about 48 of the install's 132 s on a 2-core AMD). That is kept on
# purpose: with PYTHONDONTWRITEBYTECODE=1 (set on the CI machines) Python never writes the .pyc files it compiles, so
# without pip's every fresh interpreter compiled torch anew: --no-compile made make test's subprocess-heavy tests
# 2-4x slower (the grid test 218 s instead of 88 s), which cost more than it saved.
$(INSTALLED): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

# Fashion-MNIST: Debian's package when missing (and apt usable), else data_prep downloads and checks it.
data: $(DATA_READY)

$(DATA_READY): $(INSTALLED)
	@if [ -z "$$SEMIFORMER_DATA" ] && [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] \
	    && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's dataset-fashion-mnist"; \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
	    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
	    || echo "apt could not install it; data_prep will download the files instead"; \
	fi
	$(BIN)/python -m data_prep fashion-mnist
	touch $@

# The fast stage, about a second: ruff (pyproject.toml's rules, notebooks included), then import-linter's contracts
# (packages import down the story data → models → ssl → train → analysis → viz; no import cycle at any depth).
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# The unit tests on every core (pytest-xdist; a test file stays on one worker, so its module fixtures run once).
UNIT_WORKERS ?= auto

unit: data
	$(BIN)/python -m pytest tests -q --ignore=tests/browser -m "not replay" -n $(UNIT_WORKERS) --dist loadfile

# The committed artifacts of book/results, all of them: schema, provenance, each CPU run's first evaluation window
# re-run from its own config, and the windows past the warm-up re-run from their saved starts
# (semiformer_lib/runs/replay.py). make test runs tests/test_replay.py instead: the same checks with the first
# window of one seed per config.
replay: data
	$(BIN)/python -m semiformer_lib.runs.replay book/results

# Every chapter re-executed and compared: two chapters at a time on two cores (pytest-xdist, a notebook stays on one
# worker), each run with one torch thread ($SEMIFORMER_THREADS), so that the cores never idle in a chapter's
# single-threaded stretches and never hold more busy threads than they can run.
NBVAL_WORKERS ?= 2
NBVAL_PYTEST = SEMIFORMER_THREADS=1 $(BIN)/python -m pytest -q --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -n $(NBVAL_WORKERS) --dist loadfile
NBVAL = $(NBVAL_PYTEST) book

nbval: data
	$(NBVAL)

# Fast checks first: lint, then the built book in a browser (a minute). Then one pytest-xdist run on both cores,
# one torch thread per worker: the unit tests first, then the long files longest first (the root conftest.py orders
# them): every chapter under nbval and the artifacts' replay. One run, not a stage each, so that neither core idles
# while the other finishes a stage; one thread per chapter ($SEMIFORMER_THREADS=1, which also keeps a chapter's
# sweep in its own process), so that the cores never hold more busy threads than they can run.
test: lint data
	$(MAKE) browser-test
	$(NBVAL_PYTEST) --no-loadscope-reorder tests --ignore=tests/browser book

execute: data
	$(BIN)/python -m semiformer_lib.notebooks book/*.ipynb

# --all: every page anew (3 s); an incremental build keeps stale citation anchors when a chapter cites a new paper.
book: data $(OFFLINE_READY) $(if $(filter 1,$(EXECUTE)),execute)
	$(BIN)/jupyter-book build . --all -W -n --keep-going

# MathJax, RequireJS and the widgets HTML manager from the npm registry (versions locked in package-lock.json),
# copied where the book's html_static_path reads them. npm comes with Debian's nodejs when it is missing.
$(OFFLINE_READY): package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get install -y -q npm >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q npm >/dev/null 2>&1; }; }; } \
	  || { echo "npm is needed to install the book's offline MathJax and widget manager: install Debian's npm (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@# _build/html goes too: Sphinx does not overwrite the static files an earlier build copied.
	rm -rf $(OFFLINE) _build/html && mkdir -p $(OFFLINE)/html-manager
	cp -r node_modules/mathjax/es5 $(OFFLINE)/mathjax && cp node_modules/mathjax/LICENSE $(OFFLINE)/mathjax/
	cp node_modules/requirejs/require.js $(OFFLINE)/
	cp $(WIDGETS_DIST)/embed-amd.js $(OFFLINE)/html-manager/
	find $(WIDGETS_DIST) -maxdepth 1 -regex '.*\.\(woff2?\|ttf\|eot\|svg\)' -exec cp {} $(OFFLINE)/html-manager/ \;
	touch $@

# The built book as a reader meets it: each page in headless Chromium with the network cut (tests/browser).
# Debian's chromium is installed when missing; screenshots land in _build/screenshots/.
browser-test: book
	@[ -x "$(CHROMIUM)" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { echo "installing Debian's chromium"; apt-get install -y -q chromium >/dev/null 2>&1 \
	       || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }; }; } \
	  || { echo "the browser test needs Chromium at $(CHROMIUM): apt-get install chromium, or make CHROMIUM=/path/to/chrome"; exit 1; }
	SEMIFORMER_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q tests/browser

clean:
	rm -rf _build node_modules
