"""House prices: GridSearchCV over Ridge's alpha in a StandardScaler pipeline, 5 folds run in two
joblib worker processes (n_jobs=2), then the refitted model scored on a hold-out set."""

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def make_houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    sqft = rng.lognormal(7.4, 0.35, n).round()
    bedrooms = np.clip((sqft / 600 + rng.normal(0, 0.8, n)).round(), 1, 7).astype(int)
    bathrooms = np.clip(bedrooms - rng.randint(0, 2, n), 1, None)
    year_built = rng.randint(1920, 2024, n)
    lot_acres = rng.gamma(2.0, 0.12, n)
    dist_km = rng.uniform(0.5, 40.0, n)
    garage = rng.binomial(1, 0.6, n)
    # a few noisy, nearly redundant columns make the regularization matter
    sqft_m2 = sqft * 0.0929 + rng.normal(0, 3, n)
    rooms = bedrooms + bathrooms + rng.randint(1, 4, n)
    price = (52_000 + 148 * sqft + 9_500 * bathrooms - 4_000 * bedrooms + 420 * (year_built - 1950)
             + 38_000 * lot_acres - 3_100 * dist_km + 14_000 * garage + rng.normal(0, 38_000, n))
    return pd.DataFrame({"sqft": sqft, "sqft_m2": sqft_m2, "bedrooms": bedrooms, "bathrooms": bathrooms,
                         "rooms": rooms, "year_built": year_built, "lot_acres": lot_acres,
                         "dist_km": dist_km, "garage": garage, "price": price})


def main() -> None:
    df = make_houses(1200, seed=11)
    X, y = df.drop(columns="price"), df["price"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=3)

    search = GridSearchCV(
        make_pipeline(StandardScaler(), Ridge()),
        {"ridge__alpha": np.logspace(-2, 4, 7).tolist()},
        cv=KFold(5, shuffle=True, random_state=0),
        scoring="neg_root_mean_squared_error",
        n_jobs=2,
    )
    search.fit(X_train, y_train)
    best = search.best_estimator_
    print(f"best alpha {search.best_params_['ridge__alpha']:.4g}, CV RMSE {-search.best_score_:,.0f}")
    print(json.dumps({
        "best_alpha": search.best_params_["ridge__alpha"],
        "best_score": search.best_score_,
        "mean_test_score": search.cv_results_["mean_test_score"].tolist(),
        "std_test_score": search.cv_results_["std_test_score"].tolist(),
        "test_r2": best.score(X_test, y_test),
        "coef": best[-1].coef_.tolist(),
        "intercept": float(best[-1].intercept_),
        "pred": best.predict(X_test).tolist(),
    }))


if __name__ == "__main__":
    main()
