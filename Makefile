# `make run` brings the local stack up; `make test` runs lint, types and the tests.
# Both build .venv from the requirements files first (Python 3.10+ needed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv run test chromium check lint format bench worker status clean openapi deploy-check

# Runs only when the requirements changed since the last install (or on the first run): then it
# says what it does, and pip shows its progress; otherwise make stays quiet.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed, found " + sys.version.split()[0])'
	@echo "installing the Python dependencies into $(VENV) (first time: about a minute)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $(STAMP)
	@echo "$(VENV) is ready"

venv: $(STAMP)

# the API and the workers restart when app.py or chalicelib/ changes; RELOAD=0 turns that off
run: venv
	$(PY) -m local up $(if $(filter 0,$(RELOAD)),,--reload)

# the dashboard test needs Debian's chromium and chromium-driver: installed here when missing and
# make runs as root with apt-get (CI, a container); otherwise the test is skipped, saying so
# (under CI it fails)
test: check chromium
	$(PY) -m pytest

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

# openapi.json at the root is written from chalicelib/openapi.py (a test checks they agree)
openapi: venv
	$(PY) -c 'import json, app; print(json.dumps(app.openapi_document().body, indent=2))' > openapi.json

# chalice deploy --stage dev against a private moto server on loopback, checked, then deleted
deploy-check: venv
	$(PY) -m pytest -v tests/test_deploy_check.py
