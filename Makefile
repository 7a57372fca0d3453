# ntm: `make help` lists the targets. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch wheel installed when the venv has none. A torch already in the venv
# (a CUDA build, say) is kept. Elsewhere, e.g.:
#   make install TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.ntm-installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install warmup train test test-all bench docs lint format clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(STAMP) ## Create .venv and install ntm with its dev tools (keeps an existing torch)

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e ".[dev,sweep,plot]"
	@$(MAKE) --no-print-directory warmup
	@touch $@

warmup: ## Compile the default run's time step into ntm's compile cache (make install does it once)
	@echo "Warming ntm's compile cache for the default run (once; about a minute; skipped where it fails)"
	@rm -rf $(VENV)/warmup
	-@$(BIN)/ntm train task=copy train.steps=1 train.compile=true train.val_sequences=16 \
		hydra.run.dir=$(VENV)/warmup > $(VENV)/warmup.log 2>&1 \
		&& grep -o "compiled the time step in .*" $(VENV)/warmup.log || echo "(warm-up failed: see $(VENV)/warmup.log)"
	@rm -rf $(VENV)/warmup

train: install ## Train an NTM on copy with the defaults (extra overrides: ARGS="seed=1")
	$(BIN)/ntm train task=copy $(ARGS)

# One pytest worker per core; each test runs torch on one thread, so workers x threads stay within the cores.
test: install ## Run the fast tests (a few minutes)
	$(BIN)/python -m pytest -q -n auto $(ARGS)

test-all: install ## Run every test, the slow ones too
	$(BIN)/python -m pytest -q -n auto -m "slow or not slow" $(ARGS)

bench: install ## Run the benchmarks into bench/results/latest.json (options: ARGS="--quick --threads 1")
	$(BIN)/python bench/bench.py $(ARGS)

docs: install ## Rewrite the reference part of docs/configuration.md from the schemas and configs
	$(BIN)/python -m ntm_cli.reference docs/configuration.md

lint: install ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Reformat the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the venv, build files and caches (never outputs/)
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
