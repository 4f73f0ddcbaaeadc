# envport: `make up` runs everything on embedded defaults; `make test` is exactly what CI runs.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
# The pinned wheels lambda_bundle/ vendors (Powertools), for the function's platform: the artifact
# build installs from here with --no-index (provisioning/artifacts.py), so tests and `make up` never
# need the network after the install step.
WHEELHOUSE := var/wheelhouse
WHEELS     := $(WHEELHOUSE)/.downloaded
# The libraries of the Lambda python3.12 runtime (/var/runtime: boto3, botocore, ...), at the versions
# that runtime ships (localcloud/runtime-requirements.txt): the local cloud's workers import them
# instead of the local cloud's own boto3 (localcloud/lambda_/sandbox.py).
RUNTIME_LIBS := var/lambda-runtime/python3.12
RUNTIME      := $(RUNTIME_LIBS)/.installed
# pytest-xdist processes: much of the suite waits on local-cloud processes, workers and browsers,
# not on the CPU, so a third process on two cores keeps both busy while one of them waits
# (docs/performance.md, "The test suite": 504 s with two here, 430 to 455 s with three, 546 s
# with four). tests/conftest.py gives each its own Redis database, pytest-django its own test
# database. PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 3
# Python's bytecode cache on, whatever the shell says: with PYTHONDONTWRITEBYTECODE set, every
# pytest process rewrites the asserts of all ~200 test modules again (about 10 s of CPU each) and
# every process a test starts (a local cloud, a worker, manage.py) compiles the project again.
# __pycache__/ is ignored by git, and artifacts leave it out (provisioning/bundle.py).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: venv test test-fast lint up down bench browser clean screenshots

# --no-compile: pip would compile every module of every package (all of moto's ~150 services),
# 14 s here; Python compiles the few the project imports on first use instead, about 1.5 s.
$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements-dev.txt
	touch $(STAMP)

$(WHEELS): lambda_bundle/requirements.txt $(STAMP)
	mkdir -p $(WHEELHOUSE)
	$(PY) -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
		--platform manylinux2014_aarch64 --python-version 3.12 --implementation cp \
		-r lambda_bundle/requirements.txt -d $(WHEELHOUSE)
	touch $(WHEELS)

$(RUNTIME): localcloud/runtime-requirements.txt $(STAMP)
	rm -rf $(RUNTIME_LIBS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(RUNTIME_LIBS) -r localcloud/runtime-requirements.txt
	touch $(RUNTIME)

venv: $(STAMP) $(WHEELS) $(RUNTIME)

## The whole suite, slow end-to-end tests included (CI runs this): lint, types, every test.
## The browser test needs Debian's Chromium: installed here when it is missing.
test: $(STAMP) $(WHEELS) $(RUNTIME) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

browser:
	bash scripts/install-chromium.sh
	bash scripts/install-jq.sh

## The README's images (docs/screenshots/), refreshed on purpose: the browser test writes them
## there instead of build/screenshots/ (where `make test` puts them, ignored by git).
screenshots: $(STAMP) $(WHEELS) $(RUNTIME) browser
	ENVPORT_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/console/test_browser.py \
		tests/console/test_observe_browser.py

## A quick local loop (under 2 minutes here): every package's tests but the slow end-to-end ones,
## the heavy cases (`heavy`) and the rest of the sampled sweeps (`sweep`); `make test` runs those too.
test-fast: $(STAMP) $(WHEELS) $(RUNTIME)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -m "not slow and not sweep and not heavy"

## Everything on embedded defaults: local cloud, worker, beat, web on :8000, a verified demo.
up: $(STAMP) $(WHEELS) $(RUNTIME)
	VENV=$(VENV) bash scripts/up.sh

down:
	bash scripts/down.sh

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP) $(WHEELS) $(RUNTIME)
	$(PY) bench/provision.py --latency 50
	$(PY) bench/verify.py
	$(PY) bench/release.py

clean: down
	rm -rf $(VENV) var .pytest_cache .ruff_cache
