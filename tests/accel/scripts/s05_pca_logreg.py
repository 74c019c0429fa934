"""Machine-condition monitoring: 40 correlated sensor channels (offsets, very different units) ->
StandardScaler -> PCA keeping 95% of the variance -> multinomial LogisticRegression, with
set_output(transform="pandas") so the intermediate steps hand DataFrames on."""

import json

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def make_sensors(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.RandomState(seed)
    state = rng.choice(3, n, p=[0.6, 0.25, 0.15])  # normal, worn, faulty
    factors = rng.normal(size=(n, 6)) + np.array([[0, 0, 0, 0, 0, 0], [1.2, 0, -0.8, 0, 0, 0],
                                                  [0, 1.5, 0.6, -1.0, 0, 0]])[state]
    loadings = rng.normal(size=(6, 40))
    signal = factors @ loadings + rng.normal(0, 0.6, (n, 40))
    units = np.concatenate([np.full(10, 1e-3), np.full(10, 1.0), np.full(10, 250.0), np.full(10, 4e4)])
    offsets = np.concatenate([np.full(10, 0.02), np.full(10, 60.0), np.full(10, 1500.0), np.full(10, 2.2e6)])
    cols = ([f"vib_{i}" for i in range(10)] + [f"temp_{i}" for i in range(10)]
            + [f"rpm_{i}" for i in range(10)] + [f"pressure_{i}" for i in range(10)])
    return pd.DataFrame(offsets + units * signal, columns=cols), state


def main() -> None:
    X, y = make_sensors(2000, seed=13)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=4)
    model = Pipeline([
        ("scale", StandardScaler()),
        ("pca", PCA(n_components=0.95)),
        ("clf", LogisticRegression(max_iter=500)),
    ]).set_output(transform="pandas")
    model.fit(X_train, y_train)
    Z = model[:-1].transform(X_test)
    proba = model.predict_proba(X_test)
    pred = model.predict(X_test)
    pca = model.named_steps["pca"]
    print(f"{pca.n_components_} components, accuracy {accuracy_score(y_test, pred):.3f}")
    print(json.dumps({
        "transform_type": type(Z).__name__,
        "columns": list(Z.columns),
        "index_kept": bool(Z.index.equals(X_test.index)),
        "n_components": int(pca.n_components_),
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "singular_values": pca.singular_values_.tolist(),
        "abs_scores_head": np.abs(Z.to_numpy()[:20]).tolist(),  # signs of components may differ
        "accuracy": accuracy_score(y_test, pred),
        "log_loss": log_loss(y_test, proba),
        "pred": pred.tolist(),
        "proba": proba.tolist(),
    }))


if __name__ == "__main__":
    main()
