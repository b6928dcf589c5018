# The same commands people and CI use. Each target installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install extensions system-packages run test check lint typecheck imports pytest pytest-pure pytest-eager bench soak fuzz clean

# The hot-path modules mypyc compiles (runtime/extensions.py, docs/compiled.md).
COMPILED_SOURCES := $(shell $(PY) -c 'import runpy; \
	print(*(n.replace(".", "/") + ".py" for n in runpy.run_path("runtime/extensions.py")["COMPILED"]))')
EXT_STAMP := $(VENV)/.extensions

# pip builds the compiled modules in place (setup.py); the C compiler and Python's headers
# come with the Debian packages (.ci/debian-packages).
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools>=77'
	$(BIN)/pip install -q -e '.[test,uvloop]'
	touch $(STAMP) $(EXT_STAMP)

install: $(STAMP)

# An edited hot-path module is recompiled; until then Berth runs its source and warns.
# When mypyc's C is unchanged (an edited comment), setuptools copies the old build in place
# with its old time, which would still read as stale: the copies are touched after a build.
TOUCH_BUILT := import pathlib, runpy, sysconfig; \
	listed = runpy.run_path("runtime/extensions.py"); \
	suffix = sysconfig.get_config_var("EXT_SUFFIX"); \
	[pathlib.Path(name.replace(".", "/") + suffix).touch() \
	 for name in (*listed["COMPILED"], listed["GROUP"] + "__mypyc")]
$(EXT_STAMP): $(STAMP) $(COMPILED_SOURCES)
	$(BIN)/python setup.py -q build_ext --inplace
	$(BIN)/python -c '$(TOUCH_BUILT)'
	touch $(EXT_STAMP)

extensions: $(EXT_STAMP)

# Debian packages the tests run for real (nginx, systemd-analyze, ...): installed if missing
# when run as root with apt-get, otherwise a warning names them.
system-packages:
	@bash .ci/debian-packages

# Quick start 1: the demo app under gunicorn with our worker, on http://127.0.0.1:8080/
# /metrics counts every worker's requests: prometheus_client's multiprocess files live in
# .run/prometheus, emptied at each start (examples/gunicorn.conf.py).
run: $(STAMP)
	PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/.run/prometheus \
	$(BIN)/gunicorn examples.demo:create_app --worker-class runtime.workers.GunicornWebWorker \
		--bind 127.0.0.1:8080 --workers 2 --access-logfile - --no-control-socket \
		--config examples/gunicorn.conf.py

# Quick start 2: the whole suite (lint, types, tests), after installing what it needs; the
# tests run twice, on the compiled hot path and on its pure-Python source.
test: system-packages check pytest pytest-pure pytest-eager

check: lint typecheck imports

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check runtime middlewares bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The layer rules (docs/architecture.md) as import-linter contracts in pyproject.toml
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

pytest: $(EXT_STAMP)
	$(BIN)/python -m pytest -q

# The same suite on the pure-Python fallback (BERTH_NO_EXTENSIONS=1, docs/compiled.md).
pytest-pure: $(STAMP)
	BERTH_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q

# On Python 3.12+ a request's handler starts eagerly, inside the read that parsed it: the
# connection code takes other paths there. The tests that do not start processes run on a
# 3.12+ interpreter too when the machine has one (pyenv's, or python3.12/3.13 on PATH).
EAGER_VENV := .venv-eager
EAGER_PY = $(shell for p in $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3 python3.13 python3.12; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && echo $$p && break; done)

pytest-eager:
	@py="$(EAGER_PY)"; if [ -z "$$py" ]; then \
		echo "pytest-eager: no Python 3.12+ on this machine; the eager-task paths are not run"; \
	else \
		test -x $(EAGER_VENV)/bin/python || $$py -m venv $(EAGER_VENV); \
		test $(EAGER_VENV)/.installed -nt pyproject.toml -a $(EAGER_VENV)/.installed -nt setup.py || \
			{ $(EAGER_VENV)/bin/pip install -q --upgrade pip 'setuptools>=77' && \
			  $(EAGER_VENV)/bin/pip install -q -e '.[test,uvloop]' && touch $(EAGER_VENV)/.installed; }; \
		for f in $(COMPILED_SOURCES); do test $$f -nt $(EAGER_VENV)/.installed && stale=1; done; \
		if [ -n "$$stale" ]; then $(EAGER_VENV)/bin/python setup.py -q build_ext --inplace && \
			$(EAGER_VENV)/bin/python -c '$(TOUCH_BUILT)' && \
			touch $(EAGER_VENV)/.installed; fi; \
		$(EAGER_VENV)/bin/python -m pytest -q -p no:cacheprovider \
			tests/http tests/ws tests/web tests/client tests/testing tests/middlewares; \
	fi

# The compiled hot path first: the bench venv uses this build (bench/peers.py).
bench: $(EXT_STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Long runs under real gunicorn, Berth next to aiohttp (minutes; SOAK_ARGS=--quick for ~15 s runs)
soak: $(STAMP)
	$(BIN)/python -m tests.soak $(SOAK_ARGS)

# The HTTP/1.1 mutation fuzzer for minutes (FUZZ_ARGS="--seed 7 --cases 200000" to pin a run)
fuzz: $(STAMP)
	$(BIN)/python -m tests.fuzz $(or $(FUZZ_ARGS),--seconds 300)

clean:
	rm -rf $(VENV) $(EAGER_VENV) bench/.venv build
	find runtime -name '*.so' -delete
