# The two commands of the README, and a few conveniences. Everything runs in ./.venv, created here
# from the pinned versions in constraints.txt (the versions the project was tested with).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kenpo-installed

.PHONY: demo test ui bench setup clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

## make demo — sample feeds FY2022–FY2024 → loaded, checked and summarised on the embedded default
demo: $(STAMP)
	$(BIN)/kenpo demo

## make test — the whole test suite (what .ci/run runs): installs Chromium, LibreOffice and PostgreSQL from the
## distribution's packages when missing, checks that the definitions load (`dg check defs`), starts
## a throwaway PostgreSQL server, runs every test on the SQLite default and, beside it, the warehouse
## tests again on PostgreSQL (.ci/test-passes), and stops the server.
test: $(STAMP)
	.ci/ensure-browser
	.ci/ensure-office
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/dg check defs
	.ci/with-postgres .ci/test-passes $(BIN)/python

## make bench — national-scale benchmark: pipeline vs pandas floor vs DuckDB reference, scaling
## figures and PostgreSQL (see benchmarks/README.md); takes a while
bench: $(STAMP)
	.ci/with-postgres sh -c '$(BIN)/python benchmarks/run.py --scale 1.0 --reps 3 --scaling --postgres env'

## make ui — the Dagster UI on http://127.0.0.1:3000 against the embedded default instance
ui: $(STAMP)
	$(BIN)/kenpo ui

clean:
	rm -rf $(VENV) .kenpo .pytest_cache
