# Two entry points for a fresh machine: `make demo` and `make test`. Both install what they need.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build that lies on this machine's disk (a bare `torch` pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/worldwarp demo

test: $(STAMP)
	# the MLflow UI and Studio tests drive Debian's headless Chromium (the Studio test through playwright, no browser download)
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	# the Blender export test runs import_blender.py in Debian's Blender 3.4.1 (install ~30 s, test ~3 s)
	command -v blender >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq blender >/dev/null)
	# the suite runs alone on CI's two cores, as two pytest-xdist workers that each take whole test files (module
	# fixtures stay shared; tests/conftest.py starts the files with slow tests first): one CPU thread per worker, as
	# for the CLI subprocesses (tests/conftest.py cli_env); tests that need two threads set them (test_determinism)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q --durations=15 -n 2 --dist loadfile --no-loadscope-reorder
