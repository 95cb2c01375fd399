# Set-up is part of every target: a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
# The CPU build is the default; on a CUDA machine use e.g. `make run TORCH=torch`.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.belka_lab-installed
TESTSTAMP := $(VENV)/.belka_lab-test-installed

.PHONY: setup run test bench-prepare lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# the tests also exercise the optional extras (DALI loader: a ~420 MB wheel; W&B, Optuna, SLURM)
$(TESTSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,dali,tracking,tune,slurm]"
	touch $@

run: setup            ## train the 1D CNN on the synthetic library; ARGS="model=... trainer=..." to change
	$(BIN)/python -m belka_lab $(ARGS)

test: $(TESTSTAMP)    ## the default suite (a few minutes on 2 CPU cores)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench-prepare: setup
	$(BIN)/python -m benchmarks prepare

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) .pytest_cache
