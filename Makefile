# The two set-up commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
APP    ?= gallery

.PHONY: run test lint typecheck bench bench-quick soak clean system-deps docs cluster-demo

# uv installs the same versions pip resolves, from PyPI as pip does here, in ~4 s instead of
# ~22 s (most of `make test`'s set-up on a clean clone): it downloads in parallel and compiles
# no bytecode up front; Python compiles each module on its first import instead.
INSTALL := $(BIN)/uv pip install -q --python $(BIN)/python

# The venv starts without pip (ensurepip: ~4.5 s of a clean clone's set-up); the interpreter's
# own pip puts uv in it, or, where it has none, ensurepip's. uv then installs pip with the rest.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(BIN)/python install -q uv \
	  || { $(BIN)/python -m ensurepip >/dev/null && $(BIN)/python -m pip install -q uv; }

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(INSTALL) pip -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(INSTALL) pip -e '.[test,docs]'
	touch $@ $(VENV)/.run-deps

## run: serve the gallery (Seed, Monitor, Ticker, Chat) on http://127.0.0.1:8050 (embedded SQLite store; APP=seed|monitor|ticker|chat for one)
run: $(VENV)/.run-deps
	$(BIN)/livedash run $(APP)

## docs: build the documentation site into site/ (strict: a broken link or reference fails)
docs: $(VENV)/.test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

system-deps:
	./scripts/ensure-system-deps.sh

lint: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.test-deps
	$(BIN)/mypy

## test: lint, type-check and run the whole suite (installs chromium/redis-server if missing)
## The Python packages and the system ones install side by side; then scripts/run-tests.sh
## runs ruff, mypy and the suite in lanes that keep both cores busy: the tests without a
## browser (TEST_WORKERS + 1 xdist workers) beside ruff, mypy and the `netns` tests, then the
## browser tests, then the `heavy` ones two at a time. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test:
	@$(MAKE) --no-print-directory -j2 $(VENV)/.test-deps system-deps
	TEST_WORKERS=$(TEST_WORKERS) ./scripts/run-tests.sh

$(VENV)/.bench-deps: pyproject.toml $(VENV)/.test-deps
	$(INSTALL) -e '.[test,bench]'
	touch $@

## bench: livedash vs the polling recipe vs Dash WebSocket callbacks (<15 min; ARGS=--quick)
bench: $(VENV)/.bench-deps system-deps
	$(BIN)/python -m bench.run $(ARGS)

## bench-quick: the same, fewer tabs and shorter windows (<3 min)
bench-quick: $(VENV)/.bench-deps system-deps
	$(BIN)/python -m bench.run --quick $(ARGS)

## soak: 30 min at 1,000 events/s with 100 SSE clients; delivered/published, RSS, reconnects
## (ARGS="--minutes 3" for a short run; not part of `make test`)
soak: $(VENV)/.test-deps
	$(BIN)/python -m bench.soak $(ARGS)

## cluster-demo: 4 hosts in network namespaces behind nginx on one Redis; SIGKILLs one host
## mid-stream and checks every viewer got every event once (root; ARGS="--store cluster" or
## "--hold" to keep it up; `python -m bench.cluster measure` for the figures)
cluster-demo: $(VENV)/.test-deps system-deps
	$(BIN)/python -m bench.cluster demo $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
