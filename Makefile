# scratchlab: `make demo` runs the main job, `make test` runs the checks. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,detect,rl,distributed,tensorboard
# test workers (pytest-xdist): one per core, at most 4; TEST_WORKERS=0 runs the tests in one process
TEST_WORKERS ?= auto

.PHONY: install test lint demo clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]"
	touch $@

lint: install
	$(BIN)/ruff check src tests bench

test: lint
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal

demo: install
	$(BIN)/scratchlab study inductive-bias --quick --out results/demo

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
