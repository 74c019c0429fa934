"""Ten ordinary scikit-learn scripts give the same results under ``python -m gpuml.accel``.

Each script in ``scripts/`` imports only scikit-learn, NumPy, pandas, SciPy, joblib and pickle,
and prints one JSON object on its last stdout line. Each runs twice in a subprocess: plainly
(``python script.py``, no ``GPUML_ACCEL*`` in the environment) and under accel
(``python -m gpuml.accel script.py``); the two JSON objects are compared key by key with the
tolerances of ``TOLERANCES`` below, which names every key a script prints (a key without a stated
tolerance is a failure, so nothing is compared loosely by accident).

Kinds of tolerance:

- ``EQUAL``: the JSON values are identical (labels, strings, counts, booleans, chosen
  hyperparameters; also accuracies, which are counts over a fixed test set).
- ``close(rtol, atol)``: same shape, and ``|plain - accel| <= atol + rtol * |plain|`` elementwise.
- ``PERM``: integer labels equal up to a renaming of the clusters (a one-to-one map between the
  two labelings).

Why these values (the accel run computes on gpuml, on the CPU in float64 here, where the plain run
computes on scikit-learn):

- Closed-form fits (LinearRegression, Ridge, PCA, StandardScaler, KMeans centers as means of
  the same points, kNN distances recomputed directly in float64) differ only by the rounding of a
  different order of float64 operations, amplified by the problem's conditioning: measured
  differences are below 1e-11 relative (5e-9 on the smallest coefficient of s09, whose features
  are scaled 1e7 apart); rtol 1e-7 on predictions and scores, 1e-6 on coefficients.
- LogisticRegression: both sides run L-BFGS to ``tol=1e-4`` on the same objective; gpuml's
  follows scipy's L-BFGS-B steps and stopping test, and the measured agreement is 1e-13. The
  tolerance (probabilities atol 1e-6, coefficients rtol 1e-5 / atol 1e-6) leaves room for a
  different rounding along ~20-100 iterations, far below what moves a prediction.
- KMeans: gpuml's k-means++ draws the same candidates as scikit-learn's for a fixed
  ``random_state``, and Lloyd's iterations then visit the same partitions: labels ``PERM``,
  inertia rtol 1e-9.
- kNN: neighbor indices and votes ``EQUAL`` (continuous features: no exact distance ties);
  distances rtol 1e-9 in float64; float32 coordinates (s07): gpuml returns float32 distances
  where scikit-learn upcasts to float64, so rtol 1e-6 (float32's rounding, 6e-8, with room).
- MLP: the same weight initialization and batch order for a fixed ``random_state``, but gpuml
  trains in float32 by default (``precision="auto"``; bfloat16 products on CUDA) where
  scikit-learn uses float64, so the weights drift apart over the epochs (on the CPU, measured:
  loss 2e-7 relative after 60 epochs): accuracy and R² within 0.02, the final loss within 10%.
- Fallbacks (s10): the calls run on scikit-learn itself; only the StandardScaler before the L1
  model and kNN runs on gpuml, so the inputs of the fallbacks differ by float64 rounding (~1e-16):
  rtol 1e-9.

Besides the comparison, the accel run must print its report table to stderr with a row for
each estimator of ``REPORTED`` (where each call ran is not asserted: ``device="auto"`` hands a
call to scikit-learn when its CPU kernels are estimated faster, which depends on the machine),
the calls of ``ON_SKLEARN`` must be reported as run on scikit-learn (s10's fallbacks), and
``INVARIANTS`` holds in both runs (s06: the pickled models reload in a plain interpreter as
scikit-learn's classes, without importing gpuml, and predict the same).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpuml

SCRIPTS = Path(__file__).parent / "scripts"

EQUAL = "equal"
PERM = "perm"


def close(rtol: float, atol: float = 0.0) -> tuple[str, float, float]:
    return ("close", rtol, atol)


LINEAR_PRED = close(1e-7, 1e-9)  # predictions, scores of closed-form fits
LINEAR_COEF = close(1e-6, 1e-12)  # coefficients of closed-form fits (conditioning amplifies rounding)
LOGIT_PROBA = close(0.0, 1e-6)  # probabilities of an L-BFGS fit to tol=1e-4
LOGIT_COEF = close(1e-5, 1e-6)
EXACT64 = close(1e-9, 1e-12)  # direct float64 computations (distances, means, fallback fits)

TOLERANCES: dict[str, dict[str, object]] = {
    # (1) DataFrame -> ColumnTransformer(StandardScaler, OneHotEncoder) -> LogisticRegression
    "s01_churn_pipeline.py": {
        "accuracy": EQUAL, "auc": close(1e-9), "log_loss": close(1e-6), "proba": LOGIT_PROBA,
        "pred": EQUAL, "coef": LOGIT_COEF, "intercept": LOGIT_COEF, "scaler_mean": EXACT64,
    },
    # (2) GridSearchCV(StandardScaler + Ridge), cv=5, n_jobs=2
    "s02_ridge_gridsearch.py": {
        "best_alpha": EQUAL, "best_score": LINEAR_PRED, "mean_test_score": LINEAR_PRED,
        "std_test_score": close(1e-6, 1e-9), "test_r2": LINEAR_PRED, "coef": LINEAR_COEF,
        "intercept": LINEAR_PRED, "pred": LINEAR_PRED,
    },
    # (3) KMeans of a CSV read with pandas
    "s03_kmeans_csv.py": {
        "inertia": close(1e-9), "n_iter": EQUAL, "sizes_by_spend": EQUAL, "centers_by_spend": EXACT64,
        "labels": PERM, "distance_to_center": close(1e-9, 1e-12),
    },
    # (4) StandardScaler + KNeighborsClassifier, cross_val_score
    "s04_knn_cv.py": {
        "cv_accuracy": EQUAL, "cv_balanced_accuracy": close(1e-12), "classes": EQUAL, "test_accuracy": EQUAL,
        "pred": EQUAL, "proba": close(1e-9, 1e-12), "neighbors": EQUAL, "neighbor_dist": EXACT64,
    },
    # (5) StandardScaler -> PCA(0.95) -> LogisticRegression, set_output(transform="pandas")
    "s05_pca_logreg.py": {
        "transform_type": EQUAL, "columns": EQUAL, "index_kept": EQUAL, "n_components": EQUAL,
        "explained_variance_ratio": close(1e-9, 1e-12), "singular_values": close(1e-9),
        "abs_scores_head": close(1e-7, 1e-9),  # component signs are free; scikit-learn fixes them, compare |scores|
        "accuracy": EQUAL, "log_loss": close(1e-6), "pred": EQUAL, "proba": LOGIT_PROBA,
    },
    # (6) pickle / joblib, reloaded by an interpreter without gpuml
    "s06_pickle_reload.py": {
        "child_modules": EQUAL, "child_classes": EQUAL, "child_gpuml_imported": EQUAL, "pred_equal": EQUAL,
        "proba_max_diff": close(0.0, 1e-9), "clusters_equal": EQUAL, "pca_max_diff": close(0.0, 1e-9),
        "pred": EQUAL, "proba": LOGIT_PROBA, "clusters": PERM, "kmeans_inertia": close(1e-9),
        "coef": LOGIT_COEF, "pca_evr": close(1e-9, 1e-12),
    },
    # (7) NearestNeighbors / KNeighborsRegressor on coordinates far from the origin
    "s07_geo_neighbors.py": {
        "depot_idx": EQUAL, "depot_dist_m": EXACT64, "depot_counts": EQUAL, "pred_minutes": EXACT64,
        "mae": close(1e-9), "r2": close(1e-9), "depot_idx32": EQUAL, "depot_dist32": close(1e-6),
    },
    # (8) StandardScaler + MLPClassifier / MLPRegressor, small max_iter
    "s08_mlp.py": {
        "accuracy": close(0.0, 0.02), "classes": EQUAL, "n_iter": EQUAL, "coef_shapes": EQUAL,
        "r2": close(0.0, 0.02), "reg_n_iter": EQUAL, "final_loss": close(0.1),
    },
    # (9) LinearRegression / Ridge on badly scaled raw features, score and cross_validate
    "s09_linear_scaled.py": {
        "ols_r2": LINEAR_PRED, "ols_coef": LINEAR_COEF, "ols_intercept": LINEAR_COEF, "ols_pred": LINEAR_PRED,
        "ridge_r2": LINEAR_PRED, "ridge_coef": LINEAR_COEF, "ridge_intercept": LINEAR_COEF,
        "cv_test_r2": LINEAR_PRED, "cv_train_r2": LINEAR_PRED, "cv_test_mae": LINEAR_PRED,
        "cv_test_rmse": LINEAR_PRED, "cv_ridge_r2": LINEAR_PRED,
    },
    # (10) options gpuml does not cover: they fall back to scikit-learn
    "s10_fallbacks.py": {
        "mmm_coef": EXACT64, "mmm_intercept": EXACT64, "mmm_r2": EXACT64,
        "l1_coef": EXACT64, "l1_nonzero": EQUAL, "l1_accuracy": EQUAL,
        "km_labels": EQUAL, "km_inertia": EXACT64, "doc_neighbors": EQUAL, "doc_dist": EXACT64,
        "manhattan_accuracy": EQUAL, "manhattan_pred": EQUAL,
    },
}

#: Estimators the accel run's report must name (each script uses them).
REPORTED: dict[str, list[str]] = {
    "s01_churn_pipeline.py": ["StandardScaler", "LogisticRegression"],
    "s02_ridge_gridsearch.py": ["Ridge"],
    "s03_kmeans_csv.py": ["StandardScaler", "KMeans"],
    "s04_knn_cv.py": ["StandardScaler", "KNeighborsClassifier"],
    "s05_pca_logreg.py": ["StandardScaler", "PCA", "LogisticRegression"],
    "s06_pickle_reload.py": ["StandardScaler", "LogisticRegression", "KMeans", "PCA"],
    "s07_geo_neighbors.py": ["NearestNeighbors", "KNeighborsRegressor"],
    "s08_mlp.py": ["StandardScaler", "MLPClassifier", "MLPRegressor"],
    "s09_linear_scaled.py": ["LinearRegression", "Ridge"],
    "s10_fallbacks.py": ["Ridge", "LogisticRegression", "KMeans", "NearestNeighbors", "KNeighborsClassifier"],
}

#: (estimator, method) calls the report must show as run on scikit-learn: gpuml does not compute them.
ON_SKLEARN: dict[str, set[tuple[str, str]]] = {
    "s10_fallbacks.py": {
        ("Ridge", "fit"),  # positive=True, solver="lbfgs"
        ("LogisticRegression", "fit"),  # L1 penalty, liblinear
        ("KMeans", "fit"),  # sparse input
        ("NearestNeighbors", "fit"), ("NearestNeighbors", "kneighbors"),  # sparse input
        ("KNeighborsClassifier", "fit"),  # metric="canberra"
    },
}

#: Properties each run's results must have on their own, plain and accel alike.
INVARIANTS: dict[str, dict[str, object]] = {
    "s06_pickle_reload.py": {
        "child_modules": lambda v: all(m.startswith("sklearn.") for m in v),
        "child_gpuml_imported": lambda v: v is False,
        "pred_equal": lambda v: v is True,
        "clusters_equal": lambda v: v is True,
        "proba_max_diff": lambda v: v <= 1e-9,
        "pca_max_diff": lambda v: v <= 1e-9,
    },
}

REPORT_TITLE = "gpuml.accel"  # the report table's title line begins with it


def _env(accel: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUML_ACCEL")}
    # the gpuml under test, whichever checkout it is imported from
    src = str(Path(gpuml.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("OMP_NUM_THREADS", "1")  # the tests run two at a time (pytest -n 2)
    return env


def _run(script: str, accel: bool, cwd: Path) -> tuple[dict, str]:
    cmd = [sys.executable] + (["-m", "gpuml.accel"] if accel else []) + [str(SCRIPTS / script)]
    proc = subprocess.run(cmd, cwd=cwd, env=_env(accel), capture_output=True, text=True, timeout=300)
    where = "under gpuml.accel" if accel else "plainly"
    assert proc.returncode == 0, f"{script} failed {where} (rc {proc.returncode}):\n{proc.stderr[-6000:]}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing {where}:\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1]), proc.stderr


def _report_rows(report: str) -> list[tuple[str, str, str]]:
    """(estimator, method, ran on) of each row of the report table (wrapped cells skipped)."""
    rows = []
    for line in report.splitlines():
        line = line.strip()
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if len(cells) >= 3 and cells[0]:
                rows.append((cells[0], cells[1], cells[2]))
    return rows


def _same_up_to_relabeling(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _compare(key: str, plain, accel, tol) -> str | None:
    """None when ``accel`` matches ``plain`` within ``tol``, else what differs."""
    if isinstance(plain, dict):
        if not isinstance(accel, dict) or list(plain) != list(accel):
            return f"{key}: keys {list(plain)} vs {None if not isinstance(accel, dict) else list(accel)}"
        plain, accel = list(plain.values()), list(accel.values())
    if tol == EQUAL:
        if plain == accel:
            return None
        a, b = np.asarray(plain, dtype=object).ravel(), np.asarray(accel, dtype=object).ravel()
        if a.shape == b.shape:
            bad = np.flatnonzero(a != b)
            first = bad[:5]
            return (f"{key}: {bad.size} of {a.size} differ, first at {first.tolist()}: "
                    f"{a[first].tolist()} vs {b[first].tolist()}")
        return f"{key}: {str(plain)[:200]} vs {str(accel)[:200]}"
    if tol == PERM:
        if _same_up_to_relabeling(plain, accel):
            return None
        a, b = np.asarray(plain), np.asarray(accel)
        pairs = len(set(zip(a.ravel().tolist(), b.ravel().tolist())))
        return f"{key}: labelings differ beyond a renaming ({a.shape} vs {b.shape}; {pairs} label pairs)"
    _, rtol, atol = tol
    a, b = np.asarray(plain, dtype=float), np.asarray(accel, dtype=float)
    if a.shape != b.shape:
        return f"{key}: shape {a.shape} vs {b.shape}"
    err = np.abs(a - b)
    ok = err <= atol + rtol * np.abs(a)
    if ok.all():
        return None
    i = np.unravel_index(np.argmax(err - (atol + rtol * np.abs(a))), a.shape)
    return (f"{key}: {int((~ok).sum())} of {a.size} outside rtol={rtol:g} atol={atol:g}; "
            f"worst at {tuple(map(int, i))}: {a[i]!r} vs {b[i]!r} (max abs diff {err.max():.3g})")


def _check_invariants(script: str, result: dict, where: str) -> None:
    for key, holds in INVARIANTS.get(script, {}).items():
        assert holds(result[key]), f"{script} {where}: {key} = {result[key]!r}"


def test_tolerances_name_every_script():
    assert sorted(TOLERANCES) == sorted(p.name for p in SCRIPTS.glob("s[0-9]*.py")) == sorted(REPORTED)


@pytest.mark.parametrize("script", sorted(TOLERANCES))
def test_script_same_under_accel(script, tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "accel").mkdir()
    plain, plain_err = _run(script, accel=False, cwd=tmp_path / "plain")
    accel, accel_err = _run(script, accel=True, cwd=tmp_path / "accel")

    tolerances = TOLERANCES[script]
    assert set(plain) == set(tolerances), f"keys without a stated tolerance: {sorted(set(plain) - set(tolerances))}"
    assert set(accel) == set(plain), f"keys differ: {sorted(set(accel) ^ set(plain))}"
    _check_invariants(script, plain, "plainly")
    _check_invariants(script, accel, "under gpuml.accel")
    problems = [p for k, tol in tolerances.items() if (p := _compare(k, plain[k], accel[k], tol))]
    assert not problems, f"{script}: accel differs from plain scikit-learn:\n  " + "\n  ".join(problems)

    assert REPORT_TITLE not in plain_err, "the plain run printed an accel report"
    assert REPORT_TITLE in accel_err, f"no accel report on stderr:\n{accel_err[-3000:]}"
    report = accel_err[accel_err.index(REPORT_TITLE):]
    rows = _report_rows(report)
    missing = [name for name in REPORTED[script] if name not in {r[0] for r in rows}]
    assert not missing, f"the report has no row for {missing}:\n{report}"
    on_sklearn = {(est, method) for est, method, where in rows if "scikit-learn" in where}
    not_fallen_back = ON_SKLEARN.get(script, set()) - on_sklearn
    assert not not_fallen_back, f"not reported as run on scikit-learn: {sorted(not_fallen_back)}:\n{report}"
