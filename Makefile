# Clinic: `make run` serves the app with demo data; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install migrate seed lint format check bench clean backup restore

$(STAMP): requirements/base.txt requirements/production.txt requirements/local.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/local.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

## The app on http://127.0.0.1:8000 with demo data: web server and email worker together (Ctrl-C stops both).
run: seed
	$(BIN)/honcho -f Procfile.dev start

## Every test, on SQLite unless DATABASE_URL points elsewhere.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: install
	$(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))') \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

## Load benchmark on PostgreSQL at 10k and 1M appointments: writes bench/results.{md,json,png}.
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## A copy of the database DATABASE_URL names, in var/backups/ (pg_dump custom format, or SQLite's VACUUM INTO).
backup: install
	$(BIN)/python manage.py backup $(BACKUP_ARGS)

## Replace the database's contents with a backup: make restore FILE=var/backups/clinic-….dump (asks first).
restore: install
	@test -n "$(FILE)" || (echo "usage: make restore FILE=var/backups/clinic-<time>.<dump|sqlite3>" >&2; exit 2)
	$(BIN)/python manage.py restore "$(FILE)" $(RESTORE_ARGS)

clean:
	rm -rf $(VENV) var/staticfiles
