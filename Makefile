# The two commands of the README: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/evalserver
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install run test lint format

# The compiled part of the scorer is built at install: a change to it installs again.
$(BIN)/.installed: pyproject.toml evalserver/scoring/_detection_csv.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The embedded default: SQLite and uploads under var/, scoring inside the web process.
# Only the runtime dependencies (the dev extras are for `make test`); prints the URL and
# the demo accounts once the server answers.
$(BIN)/.runtime: pyproject.toml evalserver/scoring/_detection_csv.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

run: $(BIN)/.runtime
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python scripts/run_demo.py

# Installs the Debian packages the tests need (scripts/system-packages.txt: Chromium,
# PostgreSQL, Redis, ...) when missing, then runs against the machine's PostgreSQL and
# Redis (started if they are not answering).
test: install
	bash scripts/install-system-packages.sh
	bash scripts/services.sh
	DATABASE_URL=$(TEST_DATABASE_URL) EVALSERVER_TEST_REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
