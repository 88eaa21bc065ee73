# creditplatform: `make run` (the pipeline on generated data) and `make test` (the test suite).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-tools/bin/uv)
export CREDITPLATFORM_DATA_DIR ?= $(CURDIR)/data
export CREDITPLATFORM_DAGSTER_STORAGE ?= $(CREDITPLATFORM_DATA_DIR)/dagster
export DAGSTER_HOME ?= $(CURDIR)
export MLFLOW_DISABLE_TELEMETRY := true
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
export UV_PYTHON := $(PYTHON)

# The serving benchmark measures this code against this commit (the service before the
# serving work of issue 25), in turns on the same data: benchmarks/serving.py --baseline.
SERVING_BASELINE ?= 07c4d15

RUN_MONTHS ?= 18
RUN_APPLICATIONS ?= 4000
RUN_SCENARIO ?= income_shift

.PHONY: help venv run ui stop test test-slow test-all lint bench bench-small bench-scaling clean

help:
	@echo "make run    generate data and run the pipeline end to end (rebuilds data/ from scratch)"
	@echo "make ui     dagster dev on 127.0.0.1:3000"
	@echo "make run PROFILE=production / make ui PROFILE=production  the same on PostgreSQL,"
	@echo "           an MLflow server and DuckLake (make stop PROFILE=production stops them)"
	@echo "make test   the fast tier: unit and integration tests (about 16 minutes on 2 cores)"
	@echo "make test-slow  the slow tier: kill -9, daemon, browser, demo and lifecycle runs (SLOW_TESTS=long: the two longest)"
	@echo "make test-all   both tiers"
	@echo "make bench  whole graph at Home Credit scale (both profiles), DuckDB vs Polars and pandas,"
	@echo "           model and drift quality, serving"
	@echo "make bench-small  the same benchmarks at 1/20 scale (a few minutes)"
	@echo "make bench-scaling  the whole graph at 1x, 2x and 4x Home Credit scale: how cost grows (hours)"
	@echo "make lint   the pre-commit hooks (ruff, mypy, dg, hadolint, Kubernetes, bandit, detect-secrets), promtool"
	@echo "make clean  remove generated data (keeps the venv)"

# --compile-bytecode: every process (each CLI command, Dagster run worker, test subprocess)
# imports Dagster, pandas, MLflow and scikit-learn; where .pyc files are never written (e.g.
# PYTHONDONTWRITEBYTECODE=1, common in containers and CI images) each import compiled them from
# source again: importing the code location, MLflow and scikit-learn took ~2.6x as long as
# compiled (`make bench`: scale.json, startup_imports_s). Compiling once at install costs ~20 s.
$(VENV)/.synced: pyproject.toml uv.lock
	@if [ ! -x "$(UV)" ]; then $(PYTHON) -m venv $(VENV)-tools && $(VENV)-tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"; fi
	$(UV) sync --frozen --compile-bytecode
	@touch $@

venv: $(VENV)/.synced

# PROFILE=production runs the same commands on the production topology (README "Production"):
# deploy/production/stack.sh starts PostgreSQL and an MLflow server, Dagster's instance is
# deploy/production/dagster.yaml, the warehouse is DuckLake. `make stop PROFILE=production`
# stops the stack.
PROFILE ?= local
STACK := deploy/production/stack.sh

run: venv
ifeq ($(PROFILE),production)
	$(STACK) reset >/dev/null
	eval "$$($(STACK) start)" && $(VENV)/bin/creditplatform demo --months $(RUN_MONTHS) \
	  --applications-per-month $(RUN_APPLICATIONS) --scenario $(RUN_SCENARIO)
else
	$(VENV)/bin/creditplatform demo --reset --months $(RUN_MONTHS) --applications-per-month $(RUN_APPLICATIONS) --scenario $(RUN_SCENARIO)
endif

ui: venv
ifeq ($(PROFILE),production)
	eval "$$($(STACK) start)" && $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml
else
	mkdir -p $(CREDITPLATFORM_DAGSTER_STORAGE)
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml
endif

stop: venv
	$(STACK) stop

# Two xdist workers on 2 cores; each worker's native thread pools are pinned to one thread so
# they do not oversubscribe the machine. SLOW_TESTS selects the slow tier: .ci/run leaves out
# the `long` stories (the daemon loop, the 13-month demo) to stay inside its time budget.
PYTEST := OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest -n 2
SLOW_TESTS ?= slow

test: venv
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

test-slow: venv
	$(PYTEST) -m "$(SLOW_TESTS)" $(PYTEST_ARGS)

test-all: venv
	$(PYTEST) $(PYTEST_ARGS)

bench: venv
	$(VENV)/bin/python -m benchmarks.scale --months 12 --applications-per-month 25626 --profile production
	$(VENV)/bin/python -m benchmarks.drift_quality --applications-per-month 3000
	$(VENV)/bin/python -m benchmarks.drift_speed --applications-per-month 25000
	$(VENV)/bin/python -m benchmarks.ingest_speed --applications-per-month 25626 --months-before 6
	$(VENV)/bin/python -m benchmarks.serving --applications-per-month 3000 --baseline $(SERVING_BASELINE)
	$(VENV)/bin/python -m benchmarks.serving --applications-per-month 3000 --shadow --rounds 2 \
	  --name serving_shadow
	$(VENV)/bin/python -m benchmarks.feature_forms --applications-per-month 25626
	$(VENV)/bin/python -m benchmarks.concurrency --months 4 --applications-per-month 25626
	$(VENV)/bin/python -m benchmarks.summary

# The same harness at 1/20 of the applications (6 months, one drift scenario), so it stays
# quick: run it after changing benchmarks/ (CI does not). Its results (*_small.*) are not
# committed.
bench-small: venv
	$(VENV)/bin/python -m benchmarks.scale --months 6 --applications-per-month 2563 --name scale_small
	$(VENV)/bin/python -m benchmarks.drift_quality --applications-per-month 300 \
	  --scenarios income_shift --name drift_quality_small
	$(VENV)/bin/python -m benchmarks.ingest_speed --applications-per-month 2563 --months-before 2 --repeats 1 \
	  --name ingest_speed_small
	$(VENV)/bin/python -m benchmarks.serving --applications-per-month 1000 --requests 60 \
	  --seconds 10 --batch-size 300 --baseline HEAD --rounds 1 --name serving_small
	$(VENV)/bin/python -m benchmarks.concurrency --months 3 --applications-per-month 1000 \
	  --name concurrency_small
	$(VENV)/bin/python -m benchmarks.summary --suffix _small

# How cost grows: the whole graph at 1x, 2x and 4x Home Credit scale, each stage's slope and
# the first to stop being linear (benchmarks/scaling.py). Not in CI, not in `make bench`: hours
# on 2 cores and ~12 GB of disk at 4x.
bench-scaling: venv
	$(VENV)/bin/python -m benchmarks.scaling --factors 1,2,4 --months 12 --applications-per-month 25626

# The Kubernetes manifests (the Helm values file is not one) against the Kubernetes schemas,
# the Dockerfile with hadolint, the security scanners (security/README.md), and the Prometheus
# config and alert rules (promtool checks them and runs their unit tests).
# The hooks of .pre-commit-config.yaml (ruff check and format, mypy, dg check defs, hadolint,
# Kubernetes schemas, bandit, detect-secrets) on every tracked file, then promtool.
lint: venv
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure
	@if command -v promtool >/dev/null; then \
	  promtool check config deploy/monitoring/prometheus.yml && \
	  promtool test rules deploy/monitoring/alerts_test.yml; \
	elif [ -n "$$CI" ]; then echo "promtool missing (apt-get install prometheus)"; exit 1; \
	else echo "promtool not installed (apt-get install prometheus): monitoring rules not checked"; fi

clean:
	rm -rf $(CREDITPLATFORM_DATA_DIR)/landing $(CREDITPLATFORM_DATA_DIR)/truth \
	  $(CREDITPLATFORM_DATA_DIR)/warehouse.duckdb* $(CREDITPLATFORM_DATA_DIR)/dagster \
	  $(CREDITPLATFORM_DATA_DIR)/mlflow $(CREDITPLATFORM_DATA_DIR)/reports \
	  $(CREDITPLATFORM_DATA_DIR)/clock.json $(CREDITPLATFORM_DATA_DIR)/logs \
	  $(CREDITPLATFORM_DATA_DIR)/serving
