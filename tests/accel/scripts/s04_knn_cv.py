"""Wine-quality-like grading: kNN (distance weighted) after scaling, 5-fold stratified
cross_val_score, then a fit on the training split and class probabilities on the test split."""

import json

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def make_wines(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    grade = rng.choice(["low", "medium", "high"], n, p=[0.3, 0.5, 0.2])
    g = np.select([grade == "low", grade == "high"], [-1.0, 1.0], 0.0)
    return pd.DataFrame({
        "fixed_acidity": 7.5 + 0.9 * g + rng.normal(0, 1.1, n),
        "volatile_acidity": 0.52 - 0.12 * g + rng.normal(0, 0.12, n),
        "residual_sugar": rng.lognormal(0.9 + 0.1 * g, 0.5, n),
        "chlorides": 0.085 - 0.01 * g + rng.normal(0, 0.02, n),
        "free_so2": 15 + 3 * g + rng.normal(0, 8, n),
        "total_so2": 46 - 9 * g + rng.normal(0, 25, n),
        "density": 0.9967 - 0.0009 * g + rng.normal(0, 0.0016, n),
        "pH": 3.31 + rng.normal(0, 0.15, n),
        "alcohol": 10.4 + 1.1 * g + rng.normal(0, 0.8, n),
        "grade": grade,
    })


def main() -> None:
    df = make_wines(1500, seed=21)
    X, y = df.drop(columns="grade"), df["grade"]
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15, weights="distance"))
    cv = StratifiedKFold(5, shuffle=True, random_state=1)
    scores = cross_val_score(model, X, y, cv=cv, scoring="accuracy")
    bal = cross_val_score(model, X, y, cv=cv, scoring="balanced_accuracy")

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=2)
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    dist, idx = model[-1].kneighbors(model[0].transform(X_test), n_neighbors=3)
    print(f"CV accuracy {scores.mean():.3f} +/- {scores.std():.3f}")
    print(json.dumps({
        "cv_accuracy": scores.tolist(),
        "cv_balanced_accuracy": bal.tolist(),
        "classes": model.classes_.tolist(),
        "test_accuracy": model.score(X_test, y_test),
        "pred": model.predict(X_test).tolist(),
        "proba": proba.tolist(),
        "neighbors": idx.tolist(),
        "neighbor_dist": dist.tolist(),
    }))


if __name__ == "__main__":
    main()
