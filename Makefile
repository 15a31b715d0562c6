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
	# the suite runs alone on CI's two cores: in-process runs use both (the threads knob's default of 1 is for a run
	# beside other work: docs/DETERMINISM.md); CLI subprocesses keep one thread (tests/conftest.py cli_env)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/python -m pytest -q --durations=15
