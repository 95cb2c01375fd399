# Set-up is part of every target: a fresh machine needs only `make run` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
# The CPU build is the default; on a CUDA machine use e.g. `make run TORCH=torch`.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.belka_lab-installed
TESTSTAMP := $(VENV)/.belka_lab-test-installed
SOURCES := src tests benchmarks scripts

.PHONY: setup run test test-fast lint format constraints clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(PIP) -e ".[dev]"
	touch $@

# the tests also exercise the optional extras (DALI loader: a ~420 MB wheel; W&B, Optuna, SLURM, ONNX, chemprop)
# and the report test opens report.html in Chromium (Debian's chromium-headless-shell, driven by playwright)
$(TESTSTAMP): $(STAMP)
	$(PIP) -e ".[dev,dali,tracking,tune,slurm,export,graph]"
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null; } || \
	  echo "note: no Chromium here (as root: apt-get install chromium-headless-shell); the report's browser test is skipped"
	touch $@

run: setup            ## train the 1D CNN on the synthetic library; ARGS="model=... trainer=..." to change
	$(BIN)/belka train $(ARGS)

test: $(TESTSTAMP)    ## the whole suite, unit and integration (15–17 minutes on 2 CPU cores)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: $(TESTSTAMP)  ## the unit tier without training runs (about a minute): the inner loop
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

lint: setup           ## what CI checks first: formatting and lint
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)

format: setup
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/ruff check --fix $(SOURCES)

constraints: $(TESTSTAMP)  ## pin what is installed now (after a deliberate upgrade that passed make test)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache
