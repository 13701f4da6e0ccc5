# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_INSTALL := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev
VENDOR := static/vendor
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000

.PHONY: run test lint format install install-dev vendor translations translations-update db clean help

help:
	@echo "make run    set up and serve the portal with demo data on http://127.0.0.1:$(PORT)"
	@echo "make test   set up what the tests need, lint, and run the whole suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_INSTALL): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): $(STAMP_INSTALL)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP_INSTALL) vendor translations
install-dev: $(STAMP_DEV) vendor translations

# The catalogues: portal/translations/<lang>/LC_MESSAGES/messages.po are the source; the .mo files
# the portal reads are built from them (and not committed).
TRANSLATIONS := portal/translations
translations: $(STAMP_INSTALL)
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS) -D messages

# For developers: collect the marked strings into messages.pot and merge them into each catalogue.
translations-update: $(STAMP_INSTALL)
	$(BIN)/pybabel extract --mapping-file portal/babel.cfg --keywords _l --keywords lazy_gettext --no-location --sort-output --project hcp-portal -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update --input-file $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) -D messages --no-fuzzy-matching --ignore-obsolete

static/node_modules/.package-lock.json: static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Only the built files the pages use are copied out of node_modules.
$(VENDOR)/.stamp: static/node_modules/.package-lock.json
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bootstrap $(VENDOR)/bootstrap-icons/fonts $(VENDOR)/socket.io
	cp static/node_modules/bootstrap/dist/css/bootstrap.min.css static/node_modules/bootstrap/dist/css/bootstrap.min.css.map $(VENDOR)/bootstrap/
	cp static/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js static/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map $(VENDOR)/bootstrap/
	cp static/node_modules/bootstrap-icons/font/bootstrap-icons.min.css $(VENDOR)/bootstrap-icons/
	cp static/node_modules/bootstrap-icons/font/fonts/* $(VENDOR)/bootstrap-icons/fonts/
	cp static/node_modules/socket.io-client/dist/socket.io.min.js static/node_modules/socket.io-client/dist/socket.io.min.js.map $(VENDOR)/socket.io/
	# PDF.js: the library, its worker and the fonts PDFs may name without embedding. Copied as
	# .js so every server sends them with a JavaScript type (module scripts insist on one).
	mkdir -p $(VENDOR)/pdfjs/standard_fonts
	cp static/node_modules/pdfjs-dist/build/pdf.min.mjs $(VENDOR)/pdfjs/pdf.min.js
	cp static/node_modules/pdfjs-dist/build/pdf.worker.min.mjs $(VENDOR)/pdfjs/pdf.worker.min.js
	cp static/node_modules/pdfjs-dist/LICENSE $(VENDOR)/pdfjs/
	cp static/node_modules/pdfjs-dist/standard_fonts/* $(VENDOR)/pdfjs/standard_fonts/
	# Chart.js draws the insight dashboards; Swagger UI renders the API reference (/api/v1/docs).
	mkdir -p $(VENDOR)/chartjs $(VENDOR)/swagger-ui
	cp static/node_modules/chart.js/dist/chart.umd.min.js static/node_modules/chart.js/LICENSE.md $(VENDOR)/chartjs/
	cp static/node_modules/swagger-ui-dist/swagger-ui-bundle.js static/node_modules/swagger-ui-dist/swagger-ui.css static/node_modules/swagger-ui-dist/LICENSE $(VENDOR)/swagger-ui/
	touch $@

vendor: $(VENDOR)/.stamp

db: $(STAMP_INSTALL)
	$(FLASK) init-db

# Links in mail point at the loopback address served here unless PUBLIC_URL says otherwise.
run: export PUBLIC_URL ?= http://127.0.0.1:$(PORT)
# The demo staff sign in with their password alone (they have no authenticator app); set
# TWO_FACTOR_REQUIRED=true to try enrolment. Production keeps the default: required.
run: export TWO_FACTOR_REQUIRED ?= false
run: install db
	$(FLASK) seed-demo
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-false} PORT=$(PORT) $(BIN)/python wsgi.py

lint: $(STAMP_DEV)
	$(BIN)/ruff check portal chat content tests wsgi.py bench
	$(BIN)/ruff format --check portal chat content tests wsgi.py bench
	$(BIN)/mypy

format: $(STAMP_DEV)
	$(BIN)/ruff format portal chat content tests wsgi.py bench
	$(BIN)/ruff check --fix portal chat content tests wsgi.py bench

test: install-dev lint
	$(BIN)/python -m pytest -n 2 --durations=25 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) static/node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache
