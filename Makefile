# CareLoop: `make run` serves a populated app; `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CARELOOP := $(VENV)/bin/careloop
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PATIENTS ?= 2000
export CARELOOP_DATABASE_URL ?= sqlite:///var/careloop.db

.PHONY: run install install-test web-assets browser test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed web-assets

install-test: $(VENV)/.installed-test web-assets browser

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	touch $@

web-assets: node_modules/.installed

# Debian's Chromium for the Playwright browser tests (no browser download from elsewhere).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

run: install
	$(CARELOOP) db upgrade
	$(CARELOOP) demo --patients $(DEMO_PATIENTS) --seed 42 --if-empty
	$(CARELOOP) serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

test: install-test lint
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: install
	$(PY) bench/run.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .ruff_cache
