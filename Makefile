# aiar — the two commands that work on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
AIAR   := $(VENV)/bin/aiar
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP  := $(VENV)/.installed

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml generator/runtime/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -r generator/runtime/requirements.txt
	touch $@

install: $(STAMP) ## create .venv with aiar and its development tools

DEMO_PORT ?= 8765
DEMO_URL  := http://127.0.0.1:$(DEMO_PORT)/v2/models/quality-classifier

demo: install ## compile the examples into out/, then serve one locally and ask it for a prediction
	$(AIAR) validate
	$(AIAR) generate
	$(AIAR) generate --check
	@echo; echo "artifacts of the examples (see out/index.json):"; find out -maxdepth 3 -type f | sort | sed 's/^/  /'
	@echo; echo "serving bundles/quality-classifier, trained on bundles/datasets/quality_history.csv:"
	@set -euo pipefail; \
	  $(AIAR) serve bundles/quality-classifier --dataset bundles/datasets/quality_history.csv --port $(DEMO_PORT) & \
	  server=$$!; trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null || true' EXIT; \
	  for i in $$(seq 600); do curl -fs $(DEMO_URL)/ready >/dev/null && break; \
	    kill -0 $$server 2>/dev/null || { echo "aiar serve exited" >&2; exit 1; }; sleep 1; done; \
	  echo; echo "POST $(DEMO_URL)/predict"; \
	  curl -fsS -X POST $(DEMO_URL)/predict -H 'content-type: application/json' \
	    -d '{"temperature": 241.0, "pressure": 880, "cycle_time": 29.5}'; echo

lint: install ## ruff and mypy --strict
	$(VENV)/bin/ruff check generator tests bench
	$(VENV)/bin/ruff format --check generator tests bench
	$(VENV)/bin/mypy  # generator, tests and bench: [tool.mypy] files in pyproject.toml

java: ## Maven and a JDK (apt-get, when missing): the test that rebuilds the H2O bridge jar and compares its sha256
	@command -v mvn >/dev/null && command -v javac >/dev/null || { \
	  sudo=$$(command -v sudo || true); $$sudo apt-get update -qq && $$sudo apt-get install -y -qq maven default-jdk-headless; }

validators: ## kubeconform, checkov, deck, kube-score, syft and the offline schemas, pinned, into ~/.cache/aiar-tools
	bash tests/tools/install_validators.sh

testenv: install ## start the local platform (etcd, kube-apiserver, kwok, registry, podman, RabbitMQ, S3)
	$(PY) -m tests.platform.testenv up

testenv-down: ## stop the local platform
	$(PY) -m tests.platform.testenv down

test: install lint validators java testenv ## every test: unit, golden, property, cluster validators, runtime, platform
	$(PY) -m pytest -q

test-fast: install lint validators java ## every test that needs no server (no platform, RabbitMQ or S3): compiler, goldens, linters, properties
	$(PY) -m pytest -q -m "not platform"

goldens: install ## refresh out/, tests/goldens/ and the manifest JSON Schema on purpose; review the diff
	$(AIAR) generate
	$(AIAR) generate tests/fixtures/bundles/* --env tests/fixtures/env-private.yaml \
		--lock "$$(mktemp -d)/aiar.lock" --out tests/goldens/variants
	$(PY) -c "from generator.schema import SCHEMA_PATH, schema_text; SCHEMA_PATH.write_text(schema_text())"

bench: install testenv ## benchmarks, results in BENCHMARKS.md
	$(PY) bench/generate.py
	$(PY) bench/serve.py
	$(PY) bench/hostile.py
	$(PY) bench/onnx.py
	$(PY) bench/peers.py --model quality
	$(PY) bench/peers.py --model iris
	$(PY) bench/apply.py
	$(PY) bench/export.py
	$(PY) bench/image_start.py

h2o-jar: install ## rebuild the H2O jars from source (Maven Central): aiar's bridge and the examples'; reproducible bytes
	bash java/h2o-bridge/build.sh --jar-only
	bash bundles/sources/h2o-train/build.sh

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

.PHONY: help install demo lint java validators testenv testenv-down test test-fast goldens bench h2o-jar clean screenshots

screenshots: install testenv ## retake the web app's screenshots in docs/ (the README shows them) from its end-to-end test
	AIAR_UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/ui/test_e2e.py
