# melrec — two commands set everything up on a fresh machine with Python 3.11 and pip:
#   make reproduce   (environment, default data, notebooks 01-07, figures/)
#   make test        (environment, unit tests, smoke run of every notebook)
#   make test-fast   (the quick unit tests: no notebooks, nothing marked slow; under 2 minutes)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.melrec-installed
SIZE   ?= default
PYTEST_ARGS ?=
# the optional peers extra of pyproject.toml (bliss, musly), pinned in requirements.lock
PEERS  := bliss-audio|pymusly

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

env: $(STAMP) ## create .venv (if missing) with the pinned dependencies and melrec_lib (editable)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# exact, tested versions; --no-deps because the lock is complete (tinysoundfont's only
	# dependency, pyaudio, is for live playback and has no Linux wheel; musicnn is installed for
	# its checkpoint files only and declares numpy<1.17 and tensorflow, which melrec never imports)
	$(PY) -m pip install --quiet --no-compile --no-deps -r <(grep -v -E '^($(PEERS))==' requirements.lock)
	@# the peers extra (melrec_lib.recsys.peers), pinned in the lock: one at a time and optional, as
	@# bliss-audio 0.1.11 has a wheel for Linux x86-64 only; without it its methods say how to install
	@for pin in $$(grep -E '^($(PEERS))==' requirements.lock); do \
	  $(PY) -m pip install --quiet --no-compile --no-deps "$$pin" || echo "make env: $$pin could not be installed here; its benchmark methods stay unavailable"; \
	done
	$(PY) -m pip install --quiet --no-compile --no-deps --no-build-isolation -e .
	@# pip check, except tinysoundfont's pyaudio and musicnn's stale requirements (deliberately absent)
	@! $(PY) -m pip check | grep -v 'tinysoundfont .* requires pyaudio' | grep -v '^musicnn 0\.1\.0 \(requires\|has requirement\) ' | grep -v '^No broken' | grep .
	@# Two one-off costs, side by side rather than in every process the tests start: byte-compiling
	@# the packages on every core (pip would compile them one file at a time) and numba compiling
	@# librosa's vectorised kernels (about 20 s), which it caches beside their source. A file that
	@# does not compile (a template, Python 2 test data) is skipped, as pip skips it.
	$(PY) -c "import librosa.core.audio, librosa.core.pitch" & \
	  $(PY) -m compileall -q -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true; \
	  wait $$!
	@touch $@

data: $(STAMP) ## build the default synthetic corpus (SIZE=smoke for a tiny one)
	$(VENV)/bin/melrec corpus --size $(SIZE)

data-real: $(STAMP) ## build both real-music libraries: soundtracks (development) and soundtracks-confirmation
	$(VENV)/bin/melrec corpus soundtracks --library development
	$(VENV)/bin/melrec corpus soundtracks --library confirmation

notebooks: $(STAMP) ## run notebooks 01-07 in order (executed copies in build/notebooks)
	$(PY) -m melrec_lib.notebook notebooks/0[1-7]-*.ipynb

reproduce: data notebooks ## environment + default data + notebooks 01-07 -> figures/
	@echo "figures written to figures/:"; ls figures

reproduce-real: data-real ## the real-music benchmark: soundtracks corpus + notebook 08 (after reproduce)
	$(PY) -m melrec_lib.notebook notebooks/08-real-music.ipynb

distill: $(STAMP) ## notebook 09: Table 4.1 taught by musicnn on melrec-synth + the development library (after reproduce-real)
	$(PY) -m melrec_lib.notebook notebooks/09-distillation.ipynb

seeds: $(STAMP) ## notebooks 03-07 again under seeds 1 and 2 (after reproduce) -> figures/seed-spread.json
	$(PY) tools/seeds.py

check-results: $(STAMP) ## compare the last full run's recorded results with figures/recorded-results.json
	$(PY) tools/check_results.py

test: $(STAMP) ## unit tests + smoke run of every notebook (two pytest processes side by side)
	$(PY) tools/run_tests.py $(PYTEST_ARGS)

test-fast: $(STAMP) ## the quick unit tests (not the notebooks, not the tests marked slow)
	$(PY) -m pytest -m "not notebooks and not slow" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff over the whole tree: the lint rules in pyproject.toml, then the formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) ## run the benchmarks in bench/ (prints ratios against the reference libraries)
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# make lab: loopback only by default; inside a container with a published port use
# LAB_IP=0.0.0.0 (the token in the printed URL still guards it).  As root (the usual
# container user) JupyterLab refuses to start without --allow-root; with no display there is
# no browser to open.
LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
LAB_ARGS ?=
# It serves the repository root, so notebooks/ (stored, without outputs) and build/notebooks/
# (the executed copies of `make notebooks` / `make test`) are both reachable; it opens on notebooks/.
lab: $(STAMP) ## JupyterLab on the repository: notebooks/ and build/notebooks/ (LAB_IP=, LAB_PORT=, LAB_ARGS=)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
	  --ip=$(LAB_IP) --port=$(LAB_PORT) \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root) \
	  $$([ -n "$${DISPLAY}$${WAYLAND_DISPLAY}" ] || echo --no-browser) $(LAB_ARGS)

clean: ## remove executed notebooks and generated data (keeps .venv)
	rm -rf build data/raw data/processed data/models

.PHONY: help env data data-real notebooks reproduce reproduce-real distill check-results test test-fast lint bench lab clean
