# Two commands: `make run` serves the API, `make test` runs the suite. Both set up .venv first and are quick
# when it is already set up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalled only when a requirements file changes.
$(STAMP): requirements.txt requirements-local.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

staticfiles/staticfiles.json: $(STAMP) $(shell find static -type f 2>/dev/null)
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

run: migrate staticfiles/staticfiles.json
	$(BIN)/gunicorn -c ragsite/gunicorn.conf.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
