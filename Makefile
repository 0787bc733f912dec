# avsnn: two set-up commands, `make book` and `make test`, each creating the environment if missing.
SHELL := /bin/bash
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The run store and the data cache are the library's defaults ($AVSNN_RUNS, else this checkout's runs/:
# avsnn/files.py; $AVSNN_CACHE, else its .cache/avsnn: avsnn/data/_util.py), not set here, so `make book`
# and commands typed by hand share them; read from there. $(call LIB,EXPR) prints EXPR (None: nothing).
LIB = $(PY_BOOT) -c "import avsnn.files as f, avsnn.data._util as u; print($(1) or '')"
export PYTHONHASHSEED := 0
# The CPU instruction-set pin (avsnn/isa.py): ATen, oneDNN and MKL capped at AVX2, so every x86-64 host
# computes the same numbers; exported to every process make starts (notebook kernels included).
# Variables already set are kept; AVSNN_CPU_ISA=native turns the pin off.
$(foreach kv,$(shell $(PY_BOOT) avsnn/isa.py),$(eval export $(subst =, ?= ,$(kv))))
ISA_LINE = $(PY) -c "import avsnn.isa as i; print(i.describe())"
CHAPTERS := $(sort $(wildcard book/[0-9]*.md)) book/intro.md
GOLDENS := tests/goldens
# The browser that checks the built pages (make book-check); empty where none is installed.
CHROMIUM ?= $(firstword $(shell command -v chromium 2>/dev/null) $(wildcard /usr/bin/chromium))

.PHONY: book book-check cache-dir runs-dir isa lint test env unit nbval goldens bench gpu-wheels gpu-check clean clean-book

env: $(STAMP)

# One install step from the lock file (exact versions that passed on these machines).
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "from avsnn.core.kernels import cpu_kernel; cpu_kernel()"  # the C++ LIF kernel, compiled once (~60 s)
	touch $@

# The book it builds: AVSNN_BOOK_PROFILE=gpu (the default where CUDA is available) the GPU book, the paper's
# networks over 5 seeds (avsnn/tools/book.py); =default the CPU book. `make book AVSNN_BOOK_PROFILE=gpu`.
book: $(STAMP)
	@$(ISA_LINE)
	@$(PY) -c "import avsnn.tools.book as b; print(b.describe())"
	$(PY) -c "from avsnn.core.kernels import cpu_kernel; cpu_kernel()"
	$(VENV)/bin/jupyter-book build . --warningiserror --keep-going --builder html
	@echo "book: $(CURDIR)/_build/html/index.html"
	@if [ -n "$(CHROMIUM)" ]; then $(MAKE) --no-print-directory book-check; \
	else echo "book-check: skipped (no chromium on this machine; apt-get install chromium to check the pages in a browser)"; fi

# Every built page opened offline in headless Chromium: math typeset, images load, no tracebacks.
book-check: $(STAMP)
	$(PY) scripts/book_check.py _build/html $(if $(CHROMIUM),--chromium $(CHROMIUM))

# Format, lint and the import-layer contract (pyproject.toml: [tool.ruff], [tool.importlinter]).
lint: $(STAMP)
	$(VENV)/bin/ruff check avsnn tests scripts
	$(VENV)/bin/ruff format --check avsnn tests scripts
	$(VENV)/bin/lint-imports

test: lint
	@$(ISA_LINE)
	$(PY) -c "from avsnn.core.kernels import cpu_kernel; cpu_kernel()"  # build the CPU LIF kernel once, before any notebook runs
	$(PY) -m pytest tests --nbval --nbval-sanitize-with tests/goldens/sanitize.cfg --durations=5

unit: $(STAMP)
	$(PY) -m pytest tests -p no:cacheprovider

# Regenerate the executed golden notebooks used by the nbval regression checks (smoke parameters),
# with one thread: tests/test_learning.py compares their numbers with one-thread runs.
goldens: export OMP_NUM_THREADS := 1
goldens: $(STAMP)
	@$(ISA_LINE)
	$(PY) -c "from avsnn.core.kernels import cpu_kernel; cpu_kernel()"  # built before, as in make test: no build notice in a golden
	$(PY) -m avsnn.tools.goldens --out $(GOLDENS) $(CHAPTERS)

bench: $(STAMP)
	$(PY) -m avsnn bench --width 16 --timesteps 4 --batch 32 --out results/bench_cpu.json

# Wheels of the packages a bare CUDA-torch machine lacks for scripts/gpu_check.sh (the CUDA tests and
# the GPU book), at the lock's versions, for its Python 3.12 (device tool: carry [".gpu_wheels"]).
gpu-wheels: $(STAMP)
	$(PY) scripts/gpu_wheels.py --out .gpu_wheels

gpu-check:
	bash scripts/gpu_check.sh

clean-book:
	rm -rf _build

clean: clean-book
	rm -rf $(VENV) results $(shell $(call LIB,f.checkout_folder('runs'))) $(shell $(call LIB,u.checkout_cache_dir()))

# The data cache folder every avsnn process uses here, make's included (no environment needed).
cache-dir:
	@$(call LIB,u.default_cache_dir())

# The run store every avsnn process uses here, make's included.
runs-dir:
	@$(call LIB,f.default_runs_dir())

# The instruction set the processes make starts compute with, and whether it is pinned (avsnn/isa.py).
isa: $(STAMP)
	@$(ISA_LINE)
