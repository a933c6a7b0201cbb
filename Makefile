# One command per routine task; `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app registry
HOST ?= 127.0.0.1
PORT ?= 5000

.DEFAULT_GOAL := help
.PHONY: help run test lint format bench clean

help: ## Show this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

instance/config.py:
	@mkdir -p instance
	@$(PYTHON) bin/new-instance-config > $@
	@echo "Wrote $@ with a new SECRET_KEY (kept out of git)."

# HOST and PORT reach every step as FLASK_RUN_HOST and FLASK_RUN_PORT: `flask run` listens there,
# and PUBLIC_BASE_URL (the links in emails and feeds) follows them unless it is set explicitly.
# FLASK_QUIET_LOGS keeps the migrations' and the scheduler's INFO lines out of the way.
RUN_ENV := FLASK_RUN_HOST=$(HOST) FLASK_RUN_PORT=$(PORT) FLASK_QUIET_LOGS=true

run: $(VENV)/.installed instance/config.py ## Set up, load the demo and serve the site with the scheduler
	@bin/ensure-weasyprint-libs
	@$(RUN_ENV) $(FLASK) init-db
	@$(RUN_ENV) $(FLASK) demo
	@$(RUN_ENV) FLASK_SCHEDULER_IN_PROCESS=true $(FLASK) run

test: $(VENV)/.installed ## Set up and run the whole test suite (SQLite, PostgreSQL if reachable, browser)
	@bin/ensure-chromium
	@bin/ensure-pdftotext
	@bin/ensure-npm-tools
	@bin/ensure-weasyprint-libs
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed ## Check style, formatting and types (ruff, mypy)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check registry tests bench
	$(BIN)/mypy

format: $(VENV)/.installed ## Reformat the code with ruff
	$(BIN)/ruff format registry tests bench
	$(BIN)/ruff check --fix .

bench: $(VENV)/.installed ## Measure the public pages (against Flask and nginx), a search, the fan-out and delivery of a notice (SQLite, PostgreSQL), webhooks, the jobs
	@bin/ensure-smtp-sink >/dev/null || echo "Postfix's smtp-sink is not available: bench/fanout.py uses its Python sink"
	@bin/ensure-nginx >/dev/null || echo "nginx is not available: bench/pages.py compares with its Flask baseline only"
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/fanout.py --database sqlite
	$(BIN)/python bench/fanout.py --database postgresql
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/jobs.py --database sqlite
	$(BIN)/python bench/jobs.py --database postgresql

clean: ## Remove the virtual environment and caches (keeps instance/)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
