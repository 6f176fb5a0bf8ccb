# Roster service: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

.PHONY: install
install: $(VENV)/.installed ## Create the virtual environment and install what the service runs on

.PHONY: install-dev
install-dev: $(VENV)/.installed-dev ## Also install the test and lint tools (requirements-dev.txt)

.PHONY: migrate
migrate: install ## Apply every migration to the configured database
	$(BIN)/piccolo migrations forwards all

.PHONY: run
run: migrate ## Serve on SQLite with demo data and an admin login (http://127.0.0.1:8000)
	@$(BIN)/python -m home.server.bootstrap
	@echo "API:   http://$(HOST):$(PORT)/fetch/"
	@echo "Admin: http://$(HOST):$(PORT)/admin/"
	$(BIN)/uvicorn app:create_app --factory --host $(HOST) --port $(PORT)

.PHONY: serve
serve: install ## Production: check settings, migrate, serve WEB_CONCURRENCY workers (reads .env; see .env.example)
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	export APP_ENV=$${APP_ENV:-production}; \
	$(BIN)/python -m home.server --check && \
	$(BIN)/piccolo migrations forwards all && \
	exec $(BIN)/python -m home.server

.PHONY: test
test: install-dev ## Run the whole test suite (SQLite, PostgreSQL and the admin in Chromium)
	$(BIN)/python -m pytest

.PHONY: screenshots
screenshots: install-dev ## Refresh the admin screenshots in docs/ (real server + Debian's Chromium)
	$(BIN)/python -m tests.e2e.screenshots

.PHONY: bench
bench: install-dev ## Benchmark /fetch/ (1,000 and 100,000 members) against stored bytes, then imports and copy_to against populate; needs wrk
	$(BIN)/python -m bench.run

.PHONY: lint
lint: install-dev ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: clean
clean: ## Remove the virtual environment, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .ruff_cache roster.sqlite roster.sqlite-* roster-login-attempts.sqlite*
