# The README's commands. Each target creates .venv and installs the locked stack when needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip-tools lives in a venv of its own: the lock is computed from pyproject.toml, not from .venv.
LOCK_VENV := .lock-venv
PIP_TOOLS := pip-tools==7.7.0
DEMO_DIR ?= demo-output

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL := WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
export DO_NOT_TRACK := 1

.PHONY: demo test bench fuzz lock clean

# Every distribution from the lock, each checked against its hashes; then pilotkpi itself, whose
# dependencies are all in the lock already (tests/test_dependency_lock.py).
$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# Regenerate requirements.lock after a change of pyproject.toml's dependencies. Versions already in
# the lock are kept where they still fit; `make lock LOCK_ARGS=--upgrade` moves everything forward.
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q '$(PIP_TOOLS)'; }
	CUSTOM_COMPILE_COMMAND='make lock' $(LOCK_VENV)/bin/pip-compile -q --generate-hashes --extra dev --strip-extras \
		--allow-unsafe --no-emit-index-url --no-emit-find-links --annotation-style line $(LOCK_ARGS) \
		-o requirements.lock pyproject.toml

demo: $(STAMP)
	$(BIN)/pilotkpi demo $(DEMO_DIR)

# On xdist workers, one per core up to 4 (each starts its own Prefect test server): each file's
# tests on one worker; the files with served-schedule (SERVER) and SERIAL tests start first
# (tests/conftest.py; tests/support.py LONG_GROUPS_APART keeps those tests on one worker instead).
# TEST_ARGS adds pytest options.
# The project's modules compiled first: where PYTHONDONTWRITEBYTECODE is set (as on the CI machine),
# each of the suite's hundreds of child processes would compile them again (0.4-0.7 s CPU each).
# Python reads these caches under that setting too; it only does not write them.
test: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 flows kpis pilots warehouse web bench tests >/dev/null
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist loadgroup --no-loadscope-reorder $(TEST_ARGS)

fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz.run --files $${FUZZ_FILES:-3000} --seed $${FUZZ_SEED:-1}

bench: $(STAMP)
	$(BIN)/python -m bench.run --pilots $${BENCH_PILOTS:-400} $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LOCK_VENV) $(DEMO_DIR) .pytest_cache
