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

# The tests that meet scikit-learn's API on the oldest scikit-learn gpuml supports (CI runs both):
# accel, the estimator checks, the fallbacks, the settings; the parity tests stay on the newest
SKLEARN_OLDEST := 1.6.1
OLDEST := $(VENV)/sklearn-$(SKLEARN_OLDEST)

$(OLDEST): | $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(OLDEST) scikit-learn==$(SKLEARN_OLDEST)

test-oldest: $(STAMP) $(OLDEST)
	PYTHONPATH=$(OLDEST) $(BIN)/python -m pytest -n 2 --dist loadgroup -q -p no:cacheprovider \
	  tests/accel tests/test_common.py tests/test_estimator_checks.py tests/test_config.py \
	  tests/cluster/test_cluster_fallback.py tests/decomposition/test_decomposition_fallback.py \
	  tests/linear_model/test_linear_fallback.py tests/neighbors/test_neighbors_fallback.py \
	  tests/neural_network/test_mlp_fallback.py tests/preprocessing/test_preprocessing_fallback.py

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
