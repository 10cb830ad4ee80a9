# Every target builds .venv with python3.11 once (stamp file), then acts.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup test test-slow lint demo chromium clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; this project needs Python 3.11 (the bpy wheel pins it)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP) chromium
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The main job: render -> curate -> train -> evaluate -> refocus -> runs/demo/report.html.
# PHOTOS=dir adds your photos to the curation; DEPTH_MODEL=path lets them join BokehNet stage 2;
# FRESH=1 starts over (otherwise finished stages are reused).
demo: $(STAMP)
	$(PY) -m demo $(if $(FRESH),--fresh) $(if $(PHOTOS),--photos "$(PHOTOS)") $(if $(DEPTH_MODEL),--depth-model "$(DEPTH_MODEL)")

# Debian's chromium, only for the slow report test (headless check that every image loads).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

clean:
	rm -rf $(VENV) runs .pytest_cache
