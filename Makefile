# mmsissi set-up. Two commands do everything on a fresh machine:
#   make demo   -> installs into .venv (if needed), then trains + evaluates the CPU demo
#   make test   -> installs into .venv (if needed), then runs the test suite
#   (make test-fast: the same without the real training runs, marked `slow`)
# `make install` is idempotent: a second run installs nothing (stamp file).
#
# mmcv 2.1.0 ships only as source on PyPI. A prebuilt wheel is used when pip can
# find one: ../shared/wheels (this workplace) or any folder/URL you give in
# MMCV_FIND_LINKS / PIP_FIND_LINKS. Otherwise it is compiled (about 10 min on 2 cores).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
MMCV_SPEC ?= mmcv==2.1.0
MMCV_FIND_LINKS ?= $(wildcard $(CURDIR)/../shared/wheels)
export PIP_FIND_LINKS := $(strip $(PIP_FIND_LINKS) $(MMCV_FIND_LINKS))
export PIP_DISABLE_PIP_VERSION_CHECK := 1
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
STAMP := $(VENV)/.mmsissi-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast clean-venv

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml Makefile
	@start=$$(date +%s); \
	set -e; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	echo "[install] torch + build tools"; \
	$(PY) -m pip install -q "$(TORCH_SPEC)" "setuptools>=70,<81" wheel ninja; \
	echo "[install] $(MMCV_SPEC) (find-links: $${PIP_FIND_LINKS:-none}; compiles if no wheel matches)"; \
	MAX_JOBS=$(JOBS) CFLAGS="-DNDEBUG -fwrapv -O3 -g0" \
	  $(PY) -m pip install -q --no-build-isolation "$(MMCV_SPEC)"; \
	$(PY) -c "import mmcv.ops; from mmcv.ops import nms, RoIAlign" \
	  || { echo "mmcv was installed without compiled ops; remove $(VENV) and retry with torch installed"; exit 1; }; \
	echo "[install] requirements"; \
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt; \
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .; \
	$(PY) -c "import mmdet, mmcv, mmengine, mmsissi; print('[install] mmdet', mmdet.__version__, 'mmcv', mmcv.__version__, 'mmengine', mmengine.__version__)"; \
	touch $@; \
	echo "[install] done in $$(( $$(date +%s) - start )) s"

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# unit tests only (no real training runs): seconds to ~2 min on 2 cores
test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
