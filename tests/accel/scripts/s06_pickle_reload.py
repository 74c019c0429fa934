"""Train, pickle and ship: a scaled LogisticRegression pipeline, a KMeans and a PCA are fitted,
saved with pickle and joblib, then reloaded by a fresh interpreter that knows nothing of how they
were trained (no GPUML_ACCEL in its environment), which must predict the same."""

import json
import os
import pickle
import subprocess
import sys
import tempfile

import joblib
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CHILD = r"""
import json, pickle, sys
import joblib
import numpy as np
import pandas as pd
folder = sys.argv[1]
with open(folder + "/clf.pkl", "rb") as f:
    clf = pickle.load(f)
km = joblib.load(folder + "/kmeans.joblib")
pca = joblib.load(folder + "/pca.joblib")
X = pd.read_csv(folder + "/new.csv")
out = {
    "modules": [type(s).__module__ for s in clf] + [type(km).__module__, type(pca).__module__],
    "classes": [type(s).__name__ for s in clf] + [type(km).__name__, type(pca).__name__],
    "gpuml_imported": any(m == "gpuml" or m.startswith("gpuml.") for m in sys.modules),
    "pred": clf.predict(X).tolist(),
    "proba": clf.predict_proba(X).tolist(),
    "clusters": km.predict(X.to_numpy()).tolist(),
    "pca": pca.transform(X.to_numpy()).tolist(),
}
print(json.dumps(out))
"""


def main() -> None:
    rng = np.random.RandomState(17)
    n = 1500
    X = pd.DataFrame({
        "amount": rng.lognormal(4.0, 1.2, n),
        "hour": rng.randint(0, 24, n),
        "merchant_risk": rng.beta(2, 8, n),
        "account_age_days": rng.randint(1, 3650, n),
        "n_tx_24h": rng.poisson(3, n),
    })
    logit = -2.5 + 0.012 * X["amount"] + 6.0 * X["merchant_risk"] - 0.0006 * X["account_age_days"] \
        + 0.25 * X["n_tx_24h"] - 0.4 * ((X["hour"] >= 8) & (X["hour"] <= 20))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    X_new = X.sample(200, random_state=0).reset_index(drop=True) * rng.uniform(0.95, 1.05, (200, 5))

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=2.0)).fit(X, y)
    km = KMeans(n_clusters=3, n_init=5, random_state=0).fit(X.to_numpy())
    pca = PCA(n_components=3).fit(X.to_numpy())

    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "clf.pkl"), "wb") as f:
            pickle.dump(clf, f)
        joblib.dump(km, os.path.join(folder, "kmeans.joblib"))
        joblib.dump(pca, os.path.join(folder, "pca.joblib"))
        X_new.to_csv(os.path.join(folder, "new.csv"), index=False)
        X_back = pd.read_csv(os.path.join(folder, "new.csv"))  # the rows exactly as the child reads them
        env = {k: v for k, v in os.environ.items() if not k.startswith("GPUML_ACCEL")}
        run = subprocess.run([sys.executable, "-c", CHILD, folder], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"the reloading interpreter failed:\n{run.stderr}")
    child = json.loads(run.stdout.strip().splitlines()[-1])

    here_proba = clf.predict_proba(X_back)
    here_pca = pca.transform(X_back.to_numpy())
    print(f"reloaded as {child['classes']} from {sorted(set(child['modules']))}")
    print(json.dumps({
        "child_modules": child["modules"],
        "child_classes": child["classes"],
        "child_gpuml_imported": child["gpuml_imported"],
        "pred_equal": child["pred"] == clf.predict(X_back).tolist(),
        "proba_max_diff": float(np.abs(np.array(child["proba"]) - here_proba).max()),
        "clusters_equal": child["clusters"] == km.predict(X_back.to_numpy()).tolist(),
        "pca_max_diff": float(np.abs(np.array(child["pca"]) - here_pca).max() / np.abs(here_pca).max()),
        "pred": child["pred"],
        "proba": child["proba"],
        "clusters": child["clusters"],
        "kmeans_inertia": float(km.inertia_),
        "coef": clf[-1].coef_.ravel().tolist(),
        "pca_evr": pca.explained_variance_ratio_.tolist(),
    }))


if __name__ == "__main__":
    main()
