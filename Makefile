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
	@echo "The end-to-end demo (synth -> curate -> train) lands with issue 6."
	@echo "Today it runs the lens calculator and validates a freshly written manifest:"
	$(PY) -m optics coc --focal-mm 50 --f-number 1.8 --focus-m 2 --depth-m 1 --sensor-mm 36 --width-px 512
	$(PY) -m optics k-exif --focal-mm 50 --f-number 1.8 --focus-m 2 --sensor-mm 36 --long-edge-px 1024
	$(PY) -m manifests example --out runs/demo/manifest-example
	$(PY) -m manifests validate runs/demo/manifest-example

clean:
	rm -rf $(VENV) runs .pytest_cache
