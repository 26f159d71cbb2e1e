# Phoenix: `make run` starts the whole system, `make test` runs the whole test suite.
# Both create the virtual environment on first use; only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install manage shell bench scale clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m phoenix.core.runstack

# By-hand work on the same stack and keys as `make run`: make manage ARGS="wallet_health --dry-run"
manage: $(STAMP)
	$(PY) manage.py $(ARGS)

shell: $(STAMP)
	$(PY) manage.py shell

# Several nodes on this machine through a local PgBouncer (README "Scaling out"):
# make scale WEB=2 WORKERS=2 BEATS=1
WEB ?= 2
WORKERS ?= 2
BEATS ?= 1
scale: $(STAMP)
	$(PY) manage.py scaleout --web $(WEB) --workers $(WORKERS) --beats $(BEATS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .devdata staticfiles
