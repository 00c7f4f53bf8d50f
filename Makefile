# Two commands do all the set-up (fresh Debian, Python 3.11, as root):
#   make book   — venv + pinned stack + library + data, then the HTML book in _build/html
#                 (make book EXECUTE=1 re-executes every chapter first and saves its outputs)
#   make test   — the same set-up, then the unit tests and every chapter under pytest --nbval
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXECUTE ?= 0
INSTALLED := $(VENV)/.installed
DATA_READY := $(VENV)/.data-ready

.PHONY: setup data test unit nbval book execute clean

setup: $(INSTALLED)

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

unit: data
	$(BIN)/python -m pytest tests -q

nbval: data
	$(BIN)/python -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  -p no:cacheprovider book

test: data
	$(BIN)/python -m pytest -q tests
	$(BIN)/python -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
	  -p no:cacheprovider book

execute: data
	$(BIN)/python -m semiformer_lib.notebooks book/*.ipynb

book: data $(if $(filter 1,$(EXECUTE)),execute)
	$(BIN)/jupyter-book build . -W -n --keep-going

clean:
	rm -rf _build
