# Two commands do all set-up on a fresh machine (see README.md, Quick start):
#   make quickstart - create .venv, install simic-growth, run the main job (the committed learned
#                     controller against the baselines on the task family, then a smoke test:
#                     train PPO briefly and compare it with the baselines on held-out seeds)
#   make test   - create .venv, install simic-growth with its dev tools and the [ray] extra, lint,
#                 run the test suite (the Ray tests run for real on a local Ray)
#
# torch: if the venv has no torch yet we install the pinned TORCH_SPEC first (torch==2.13.0,
# a CPU build on CPU-only machines that carry its wheel). Any torch already present (for example
# a CUDA build you installed yourself, or SIMIC_PYTHON pointing at your own environment) is kept:
# the project only asks for torch>=2.4. To reuse a torch installed system-wide, create the venv
# with `make test VENV_FLAGS=--system-site-packages`.
PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
PIP_FLAGS   ?= --quiet --disable-pip-version-check
VENV_FLAGS  ?=
TEST_EXTRAS ?= dev,ray
# The suite runs on TEST_WORKERS processes (pytest-xdist), a test module per process at a time
# (--dist loadscope) so that a module's shared fixture (a local Ray, a trained run) is built once.
TEST_WORKERS ?= 2
PYTEST      := -m pytest -q -n $(TEST_WORKERS) --dist loadscope
ifdef SIMIC_PYTHON
  PY := $(SIMIC_PYTHON)
  STAMP := .simic-installed-external
  TEST_STAMP := .simic-test-installed-external
else
  PY := $(VENV)/bin/python
  STAMP := $(VENV)/.simic-installed
  TEST_STAMP := $(VENV)/.simic-test-installed
endif

.PHONY: quickstart demo test test-fast test-ordered lint install clean

quickstart: $(STAMP)
	$(PY) -m simic quickstart

demo: $(STAMP)
	$(PY) -m simic demo

# pytest-randomly shuffles the test order (its seed is printed in the header).
test: $(TEST_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) $(PYTEST)

# The edit-test loop: everything but the tests marked slow (training, subprocesses, Ray), in
# under 2 minutes on 2 cores. `make test` still runs everything.
test-fast: $(TEST_STAMP)
	$(PY) $(PYTEST) -m "not slow"

# The same suite in file order: tests must pass in any order, this one included.
test-ordered: $(TEST_STAMP)
	$(PY) $(PYTEST) -p no:randomly

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

install: $(STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV_FLAGS) $(VENV)

$(STAMP): pyproject.toml $(if $(SIMIC_PYTHON),,$(VENV)/bin/python)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(PIP_FLAGS) "$(TORCH_SPEC)"
	$(PY) -m pip install $(PIP_FLAGS) -e ".[dev]"
	touch $@

# The tests also need the [ray] extra (Ray Tune and RLlib; RLlib pins its own gymnasium).
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install $(PIP_FLAGS) -e ".[$(TEST_EXTRAS)]"
	touch $@

clean:
	rm -rf $(VENV) .simic-installed-external .simic-test-installed-external .pytest_cache .ruff_cache
