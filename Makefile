# Every target builds .venv with python3.11 once (stamp file), then acts.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test test-slow lint demo clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; this project needs Python 3.11 (the bpy wheel pins it)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: $(STAMP)
	@echo "The end-to-end demo (synth -> curate -> train -> report) lands with issue 6."
	@echo "Today it renders a small synthetic set with Blender and validates its manifest:"
	$(PY) -m synth render --out runs/demo/synth --scenes 8 --resolution 128 --samples 16
	$(PY) -m manifests validate runs/demo/synth

clean:
	rm -rf $(VENV) runs .pytest_cache
