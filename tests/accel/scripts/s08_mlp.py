"""Land-cover type from terrain measurements (elevation in metres, slopes in degrees, distances in
metres, integer hillshade indices): StandardScaler + MLPClassifier with a small max_iter (it stops
before convergence, as quick experiments do), and an MLPRegressor on the same features."""

import json
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def make_terrain(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    elevation = rng.uniform(1800, 3800, n)
    slope = rng.gamma(2.0, 6.0, n)
    aspect = rng.uniform(0, 360, n)
    dist_water = rng.exponential(250, n)
    dist_road = rng.exponential(1500, n)
    hillshade = np.clip(220 - 1.5 * slope * np.cos(np.radians(aspect - 135)) + rng.normal(0, 10, n), 0, 255).round()
    # cover type: nonlinear in elevation and moisture
    wet = dist_water < 150
    cover = np.where(elevation > 3300, 2, np.where(elevation < 2400, np.where(wet, 3, 0), np.where(slope > 18, 1, 0)))
    flip = rng.uniform(size=n) < 0.08
    cover = np.where(flip, rng.randint(0, 4, n), cover)
    canopy = 0.02 * (3600 - elevation) + 8 * np.exp(-dist_water / 300) - 0.2 * slope + rng.normal(0, 2, n)
    X = pd.DataFrame({"elevation": elevation, "slope": slope, "aspect": aspect, "dist_water": dist_water,
                      "dist_road": dist_road, "hillshade_noon": hillshade.astype(int)})
    return X, cover, canopy


def main() -> None:
    X, cover, canopy = make_terrain(2500, seed=3)
    X_train, X_test, c_train, c_test, h_train, h_test = train_test_split(
        X, cover, canopy, test_size=0.3, random_state=0, stratify=cover)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=60,
                                                            random_state=0)).fit(X_train, c_train)
        mlp = MLPRegressor(hidden_layer_sizes=(32,), max_iter=80, learning_rate_init=0.01, random_state=0)
        reg = make_pipeline(StandardScaler(), mlp).fit(X_train, h_train)
    pred = clf.predict(X_test)
    print(f"cover accuracy {accuracy_score(c_test, pred):.3f}, canopy R2 {reg.score(X_test, h_test):.3f}")
    print(json.dumps({
        "accuracy": accuracy_score(c_test, pred),
        "classes": clf.classes_.tolist(),
        "n_iter": int(clf[-1].n_iter_),
        "coef_shapes": [list(w.shape) for w in clf[-1].coefs_],
        "r2": r2_score(h_test, reg.predict(X_test)),
        "reg_n_iter": int(reg[-1].n_iter_),
        "final_loss": float(clf[-1].loss_),
    }))


if __name__ == "__main__":
    main()
