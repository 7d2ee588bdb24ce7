# The two set-up commands of the README. Each creates .venv when missing and installs what is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO := demo_data
PORT ?= 8501
BEELINE_ARGS ?=

.PHONY: run test demo bench-dream4 bench-beeline bench-single-cell bench-scale bench-ensemble bench-contention bench-yeast bench-screen bench-server-load clean chromium

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(DEMO)/expression.csv: | $(STAMP)
	$(PY) -m mtlgrn_core simulate --genes 150 --seed 0 --out $(DEMO)

demo: $(DEMO)/expression.csv

chromium:
	@bash scripts/ensure_chromium.sh

run: $(STAMP) chromium
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: $(STAMP) chromium
	$(PY) -m pytest -q tests

bench-dream4: $(STAMP)
	$(PY) bench/dream4.py --tf-holdout --tf-ablation

bench-beeline: $(STAMP)
	$(PY) bench/beeline.py $(BEELINE_ARGS)

bench-single-cell: $(STAMP)
	$(PY) bench/single_cell.py

bench-scale: $(STAMP)
	$(PY) bench/scale.py

bench-ensemble: $(STAMP)
	$(PY) bench/ensemble.py

bench-contention: $(STAMP)
	$(PY) bench/contention.py

bench-yeast: $(STAMP)
	$(PY) bench/yeast.py

bench-screen: $(STAMP)
	$(PY) bench/screen.py --parts dream4 yeast scale

bench-server-load: $(STAMP)
	$(PY) bench/server_load.py --readers streamed careful

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
