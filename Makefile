# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create .venv and install the pinned dependencies on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= runs/demo

.PHONY: demo demo-full test test-slow lint bench clean docs

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,lightning,hf,tensorboard,parquet]'
	# torchattacks (the reference for the attack tests) pins an old requests; its code needs none
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps torchattacks==3.5.1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/criticality demo --out $(OUT)
	@echo "report: $(OUT)/report.html"

# every part at its full defaults: hours on 2 cores
demo-full: $(STAMP)
	$(BIN)/criticality demo --preset full --out runs/demo-full
	@echo "report: runs/demo-full/report.html"

lint: $(STAMP)
	$(BIN)/ruff format --check src tests benchmarks notebooks docs/_ext docs/figures
	$(BIN)/ruff check src tests benchmarks notebooks docs/_ext docs/figures
	$(BIN)/mypy
	$(BIN)/lint-imports

# the suite on 2 pytest-xdist workers (each makes its own session fixtures: the tiny demo, Ray);
# TEST_WORKERS=0 runs it in one process
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/measure_cost.py
	$(BIN)/python benchmarks/scan_cost.py
	$(BIN)/python benchmarks/regularizer_overhead.py
	$(BIN)/python benchmarks/homeostatic_cost.py

docs: $(STAMP)
	$(BIN)/mkdocs build --strict
	@echo "site: runs/site/index.html"

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
