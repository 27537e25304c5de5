# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FIXTURE ?= tests/data/dell-xe8545-a100x4-maxq-resnet50-offline/performance
# the dashboard's browser test drives Debian's Chromium (installed here when missing)
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo demo-fixture test lint format docs bench fuzz ingest rack-bench overhead soak scan-bench uncertainty-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/mlpower-director demo --out mlpower-demo $(if $(NODES),--nodes $(NODES))

demo-fixture: $(VENV)/.installed
	$(BIN)/mlpower-analyzer report --round v2.1 "$(FIXTURE)"
	$(BIN)/mlpower-analyzer check --round v2.1 "$(FIXTURE)"

# mypy is strict for all four packages by pyproject.toml ([tool.mypy] strict = true)
lint: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy powerlog analyzer director agent

docs: $(VENV)/.installed
	$(BIN)/python scripts/cli_usage.py
	$(BIN)/python scripts/module_map.py

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(CHROMIUM):
	@echo "installing Debian's chromium for the dashboard's browser test"
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

# the suite mostly waits on real time (phases, reconnects, outages): workers overlap the waits, and the
# lint runs beside the tests (its output follows theirs); then the `realtime` tests (10 Hz meters on ptys,
# which lose updates on oversubscribed cores) one at a time; any part failing fails the target
TEST_WORKERS ?= 4
test: $(VENV)/.installed-test $(CHROMIUM)
	@$(MAKE) --no-print-directory lint > .lint.log 2>&1 & lint=$$!; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not realtime"; tests=$$?; \
	wait $$lint; linted=$$?; cat .lint.log; rm -f .lint.log; \
	$(BIN)/python -m pytest -m realtime; realtime=$$?; \
	test $$tests -eq 0 && test $$linted -eq 0 && test $$realtime -eq 0

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_analyzer.py
	$(BIN)/python benchmarks/bench_clock.py

# the parsers under 10,000 hypothesis cases each (about 4 minutes on 2 cores)
fuzz: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_fuzz.py

# 16 agents x 8 GPUs at 100 Hz + 4 wall channels at 10 Hz against one director, then the knee
ingest: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_ingest.py

# one director, one session: 72 node agents x 8 simulated GPUs at 100 Hz + 72 BMCs at 1 Hz + a PTDaemon analyzer
# (about 1 minute; RACK_BENCH_ARGS="--knee" adds the knee search, about 5 more)
rack-bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_rack.py $(RACK_BENCH_ARGS)

# the built-in benchmark alone and under an agent streaming 8 simulated GPUs at 100 Hz (about 4 minutes)
overhead: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_agent_overhead.py

# sessions back to back with a fault every 2 minutes; SOAK_ARGS="--hours 1" for the long one
scan-bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_scan.py $(SCAN_BENCH_ARGS)

# the k=2 error bars over 1,000 simulated sessions per tier with a known truth: coverage and tightness (about 20 s)
uncertainty-bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_uncertainty.py $(UNCERTAINTY_BENCH_ARGS)

soak: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
