# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
SPARK_STAMP := $(VENV)/.spark-installed
CHROMIUM := /usr/bin/chromium
JAVA := /usr/bin/java
DATA := $(or $(CASEWORK_DATA_DIR),data)
REPORTS := $(or $(CASEWORK_REPORTS_DIR),reports)
SEED ?= 1

.PHONY: install demo test lint format bench serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Spark (`--engine spark`) is an extra: `make test` and `make bench` install it, `make demo` does not.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK_STAMP)

$(BENCH_STAMP): $(SPARK_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark,bench]'
	touch $(BENCH_STAMP)

# Browser tests drive Debian's Chromium; install it once when it is missing.
$(CHROMIUM):
	command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)

# Spark needs a Java runtime (17+); install Debian's headless one once when java is missing.
$(JAVA):
	command -v java >/dev/null || { command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jre-headless \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jre-headless); }

demo: install
	$(BIN)/casework generate --cases 50000 --frame-cases 250000 --seed $(SEED) --out $(DATA) --with-truth --calibration-report
	$(BIN)/casework validate $(DATA)/inspected.parquet --kind inspected
	$(BIN)/casework validate $(DATA)/frame.parquet --kind frame
	$(BIN)/casework train --data $(DATA)/inspected.parquet
	$(BIN)/casework score --data $(DATA)/frame.parquet --out $(DATA)/scores.parquet
	$(BIN)/casework sample --frame $(DATA)/frame.parquet --scores $(DATA)/scores.parquet --size 120 --strata region,gender --seed $(SEED) --inspection-id demo-1 --out $(DATA)/sample.csv
	$(BIN)/casework report --data $(DATA)/inspected.parquet --out $(REPORTS)/report.html
	@echo "Closing one cycle: synthetic inspectors fill in the sample, then estimate and retrain on it"
	$(BIN)/casework generate-judgements --sample $(DATA)/sample.csv --seed $(SEED) --not-inspected 0.02 --out $(DATA)/judged.csv
	$(BIN)/casework estimate --sample $(DATA)/judged.csv
	$(BIN)/casework retrain --new $(DATA)/judged.csv || [ $$? -eq 3 ]
	@echo
	@echo "Where everything went:"
	@echo "  data           $(DATA)/inspected.parquet, $(DATA)/frame.parquet"
	@echo "  scores         $(DATA)/scores.parquet"
	@echo "  sample         $(DATA)/sample.csv (120 cases, judgements blank for inspectors)"
	@echo "  judged sample  $(DATA)/judged.csv (filled from the generator's truth; estimated, then retrained on)"
	@echo "  champion model $(or $(CASEWORK_MODELS_DIR),models)/champion (with model_card.md/.html)"
	@echo "  report         $(REPORTS)/report.html (SHAP, fairness, replication; opens offline)"
	@echo "  MLflow         $(or $(CASEWORK_MLFLOW_URI),sqlite:///mlflow.db), artifacts in mlruns/"
	@echo "                 browse: $(BIN)/mlflow ui --backend-store-uri $(or $(CASEWORK_MLFLOW_URI),sqlite:///mlflow.db)"

test: $(SPARK_STAMP) $(CHROMIUM) $(JAVA)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: install
	$(BIN)/casework serve --port $(or $(PORT),3000)

bench: $(BENCH_STAMP) $(JAVA)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
