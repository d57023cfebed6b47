# Sincro — the targets people expect. Everything builds its own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist processes for `make test` (tests own their databases, vhosts and key prefixes)
TEST_WORKERS ?= 3

.PHONY: demo test lint format typecheck bench fuzz fleet migrate serve smoke system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## Load the demo operator (1,800 stores) and start every service on the embedded default.
demo: $(STAMP)
	$(BIN)/sincro demo

## Create the environment, install system test dependencies and pass the whole suite.
test: $(STAMP) system-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## Type-check src/sincro (mypy, configured in pyproject.toml).
typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

migrate: $(STAMP)
	$(BIN)/sincro migrate

serve: $(STAMP)
	$(BIN)/sincro serve

## Scripted end-to-end scenario against running services (after `make demo` in another shell).
smoke: $(STAMP)
	$(BIN)/sincro demo --smoke

## Benchmarks (see docs/benchmarks.md for what each measures).
bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run_all

## The API fuzzer over the whole OpenAPI, long (`make test` runs it short): FUZZ_EXAMPLES cases
## per operation and mode, FUZZ_SEED for another seed.
fuzz: $(STAMP)
	SINCRO_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} SINCRO_FUZZ_SEED=$${FUZZ_SEED:-8} \
		$(BIN)/pytest -q -p no:cacheprovider -s tests/kernel/test_fuzz_api.py

## The production-shape fleet test, long (`make test` runs 150 requests): FLEET_OPS requests.
fleet: $(STAMP) system-deps
	SINCRO_FLEET_OPS=$${FLEET_OPS:-1000} $(BIN)/pytest -q -p no:cacheprovider -s tests/fleet/test_fleet.py

system-deps:
	@bash scripts/system-deps.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
