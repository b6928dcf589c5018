# The same commands people and CI use. Each target installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-packages run test check lint typecheck imports pytest bench soak fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,uvloop]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests run for real (nginx, systemd-analyze, ...): installed if missing
# when run as root with apt-get, otherwise a warning names them.
system-packages:
	@bash .ci/debian-packages

# Quick start 1: the demo app under gunicorn with our worker, on http://127.0.0.1:8080/
run: $(STAMP)
	$(BIN)/gunicorn examples.demo:create_app --worker-class runtime.workers.GunicornWebWorker \
		--bind 127.0.0.1:8080 --workers 2 --access-logfile - --no-control-socket

# Quick start 2: the whole suite (lint, types, tests), after installing what it needs
test: system-packages check pytest

check: lint typecheck imports

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check runtime middlewares bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The layer rules (docs/architecture.md) as import-linter contracts in pyproject.toml
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Long runs under real gunicorn, Berth next to aiohttp (minutes; SOAK_ARGS=--quick for ~15 s runs)
soak: $(STAMP)
	$(BIN)/python -m tests.soak $(SOAK_ARGS)

# The HTTP/1.1 mutation fuzzer for minutes (FUZZ_ARGS="--seed 7 --cases 200000" to pin a run)
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz $(or $(FUZZ_ARGS),--seconds 300)

clean:
	rm -rf $(VENV) bench/.venv
