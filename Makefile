# The README's commands. Each target creates .venv and installs the pinned stack when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
export DO_NOT_TRACK := 1

.PHONY: demo test bench fuzz clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pilotkpi demo $(DEMO_DIR)

# On xdist workers, one per core up to 4 (each starts its own Prefect test server): each file's
# tests on one worker, and the tests marked SERIAL (tests/support.py) one after another on one
# worker; those and the served-schedule test start first (tests/conftest.py). TEST_ARGS adds
# pytest options.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadgroup --no-loadscope-reorder $(TEST_ARGS)

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --files $${FUZZ_FILES:-3000} --seed $${FUZZ_SEED:-1}

bench: $(STAMP)
	$(BIN)/python -m bench.run --pilots $${BENCH_PILOTS:-400} $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
