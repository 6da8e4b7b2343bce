# The two commands of the README: `make run` and `make test`. Both set up first.
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
PROFILE ?= embedded
SEED ?= 0
MLFLOW_RUN := mlflow run . --env-manager local

.PHONY: setup setup-tests data run test test-fast repro-check bench ui server server-stop clean

setup:
	@bash scripts/setup.sh

# What the tests need beyond the main job: PyTorch, for the test under KERAS_BACKEND=torch, and
# MkDocs, for the documentation site that `make test` builds.
setup-tests:
	@bash scripts/setup.sh torch docs

# data/: the embedded profile's raw inputs (Fashion-MNIST, digits), byte-identical everywhere;
# DVC versions it (data.dvc). The loaders read it first.
data: setup
	python -m hpo.data.raw data
	dvc commit -q -f data.dvc  # into DVC's cache, so that `dvc status` can compare it with data.dvc
	@git diff --quiet -- data.dvc 2>/dev/null || { echo "make data: data/ differs from data.dvc (see git diff data.dvc)" >&2; exit 1; }

# The main job on the embedded default: prepare, then Study II (compare).
run: data
	$(MLFLOW_RUN) -e prepare --experiment-name prepare -P profile=$(PROFILE) -P seed=$(SEED)
	$(MLFLOW_RUN) -e compare --experiment-name compare -P profile=$(PROFILE) -P seed=$(SEED)

# The linter (ruff, configured in pyproject.toml), the documentation site (a broken link fails it),
# then every test, slow ones included (what CI runs).
test: setup-tests
	ruff check .
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir site
	@python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status

# Fast tests only.
test-fast: setup-tests
	python -m pytest -m "not slow"

# The DVC pipeline (params.yaml: smoke) from a clean clone of this checkout's last commit:
# repro, nothing to redo, a changed parameter reruns only what depends on it (CI runs it).
repro-check: setup
	bash scripts/check_repro.sh

# Speed checks (pytest-benchmark): prints a table, saves JSON under .benchmarks/. Not run by CI.
bench: setup
	python -m pytest benchmarks -p no:cacheprovider --benchmark-autosave --benchmark-columns=min,median,mean,rounds

# The MLflow UI on this machine only, on the store of MLFLOW_TRACKING_URI (default sqlite:///mlflow.db);
# prints the address of the newest study first.
UI_PORT ?= 5000
ui: setup
	python -m hpo ui --host 127.0.0.1 --port $(UI_PORT)

# A tracking server for many workers: PostgreSQL and `mlflow server` in .server/ (scripts/server.sh; docs/workers.md).
server: setup
	@bash scripts/server.sh start

# Stops what `make server` started; its store stays in .server/ for the next `make server`.
server-stop:
	@bash scripts/server.sh stop

clean:
	rm -rf prepared mlruns mlartifacts mlflow.db .pytest_cache
