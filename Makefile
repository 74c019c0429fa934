# The two commands of the README: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test

.PHONY: demo test test-oldest lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gpuml demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q src tests

# The whole suite again on the oldest scikit-learn gpuml supports (CI runs both)
SKLEARN_OLDEST := 1.6.1
OLDEST := $(VENV)/sklearn-$(SKLEARN_OLDEST)

$(OLDEST): | $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(OLDEST) scikit-learn==$(SKLEARN_OLDEST)

test-oldest: $(STAMP) $(OLDEST)
	PYTHONPATH=$(OLDEST) $(BIN)/python -m pytest -n 2 --dist loadgroup -q src tests

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
