"""Options gpuml does not cover, which must run on scikit-learn unchanged: a non-negative Ridge
(solver="lbfgs", positive=True) for media-mix attribution, an L1 LogisticRegression (liblinear)
for feature selection, KMeans and NearestNeighbors on a sparse TF-IDF matrix, and manhattan kNN."""

import json

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.preprocessing import StandardScaler


def main() -> None:
    rng = np.random.RandomState(31)
    # media mix: weekly spend per channel (dollars), sales; the effects are non-negative
    weeks = 156
    spend = rng.gamma(2.0, [5_000, 12_000, 800, 20_000, 3_000], (weeks, 5))
    sales = 40_000 + spend @ np.array([1.8, 0.9, 0.0, 0.35, 0.0]) + rng.normal(0, 6_000, weeks)
    mmm = Ridge(alpha=1.0, solver="lbfgs", positive=True).fit(spend, sales)

    # L1 feature selection on a wide, scaled table
    X = rng.normal(size=(800, 40)) * rng.uniform(0.1, 50, 40) + rng.uniform(-100, 100, 40)
    w = np.zeros(40)
    w[[2, 7, 11, 30]] = [1.5, -2.0, 1.0, 0.8]
    Xs = StandardScaler().fit_transform(X)
    y = (Xs @ w + rng.logistic(size=800) > 0).astype(int)
    l1 = LogisticRegression(l1_ratio=1.0, C=0.05, solver="liblinear", random_state=0).fit(Xs, y)

    # sparse TF-IDF-like documents: KMeans and cosine NearestNeighbors on CSR input
    docs = sp.random(600, 300, density=0.03, format="csr", random_state=rng)
    topic = rng.randint(0, 3, 600)
    docs = (docs + sp.csr_matrix(np.eye(3)[topic] @ (rng.uniform(size=(3, 300)) < 0.05) * 0.8)).tocsr()
    norms = np.sqrt(np.asarray(docs.multiply(docs).sum(axis=1))).ravel()
    docs = sp.diags(1 / np.maximum(norms, 1e-12)) @ docs
    km = KMeans(n_clusters=3, n_init=3, random_state=0).fit(docs)
    nn = NearestNeighbors(n_neighbors=4, metric="cosine").fit(docs)
    d_doc, i_doc = nn.kneighbors(docs[:50])

    # Canberra-distance kNN on the dense table (a metric gpuml does not compute)
    knn = KNeighborsClassifier(n_neighbors=9, metric="canberra").fit(Xs[:600], y[:600])

    print(f"non-negative channel effects {np.round(mmm.coef_, 3)}; L1 kept {int((l1.coef_ != 0).sum())} features")
    print(json.dumps({
        "mmm_coef": mmm.coef_.tolist(),
        "mmm_intercept": float(mmm.intercept_),
        "mmm_r2": mmm.score(spend, sales),
        "l1_coef": l1.coef_.ravel().tolist(),
        "l1_nonzero": np.flatnonzero(l1.coef_.ravel()).tolist(),
        "l1_accuracy": l1.score(Xs, y),
        "km_labels": km.labels_.tolist(),
        "km_inertia": float(km.inertia_),
        "doc_neighbors": i_doc.tolist(),
        "doc_dist": d_doc.tolist(),
        "manhattan_accuracy": knn.score(Xs[600:], y[600:]),
        "manhattan_pred": knn.predict(Xs[600:]).tolist(),
    }))


if __name__ == "__main__":
    main()
