# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA := $(or $(CASEWORK_DATA_DIR),data)
SEED ?= 1

.PHONY: install demo test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/casework generate --cases 50000 --frame-cases 250000 --seed $(SEED) --out $(DATA) --with-truth --calibration-report
	$(BIN)/casework validate $(DATA)/inspected.parquet --kind inspected
	$(BIN)/casework validate $(DATA)/frame.parquet --kind frame
	@echo
	@echo "Data:        $(DATA)/inspected.parquet (inspected cases), $(DATA)/frame.parquet (current caseload)"

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
