"""Loan interest-rate model on raw, badly scaled features (incomes ~1e5, rates ~1e-3, an ID-like
year ~2e3, counts): LinearRegression and Ridge without any scaling, score on a hold-out set and
cross_validate with several metrics."""

import json

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import cross_validate, train_test_split


def make_loans(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.RandomState(seed)
    income = rng.lognormal(11.2, 0.5, n)  # dollars
    loan = income * rng.uniform(0.5, 4.0, n)
    dti = rng.beta(2, 5, n) * 0.6  # debt-to-income ratio
    utilization = rng.beta(2, 3, n)
    fed_rate = rng.choice([0.0025, 0.0050, 0.0175, 0.0225, 0.0525], n)  # the rate environment
    year = rng.randint(2008, 2025, n)
    open_accounts = rng.poisson(9, n)
    delinq = rng.poisson(0.3, n)
    fico = np.clip(rng.normal(705, 45, n).round(), 580, 850)
    rate = (31.0 - 0.028 * fico + 4.2e-6 * loan / 100 - 1.1e-5 * income / 10 + 6.5 * dti
            + 2.0 * utilization + 95.0 * fed_rate + 0.04 * (year - 2008) + 0.9 * delinq
            - 0.02 * open_accounts + rng.normal(0, 0.9, n))
    X = pd.DataFrame({"annual_income": income, "loan_amount": loan, "dti": dti,
                      "revol_util": utilization, "fed_rate": fed_rate, "year": year,
                      "open_accounts": open_accounts, "delinquencies": delinq, "fico": fico})
    return X, rate


def main() -> None:
    X, y = make_loans(4000, seed=29)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=6)
    ols = LinearRegression().fit(X_train, y_train)
    ridge = Ridge(alpha=10.0).fit(X_train, y_train)
    cv = cross_validate(LinearRegression(), X, y, cv=5,
                        scoring=("r2", "neg_mean_absolute_error", "neg_root_mean_squared_error"),
                        return_train_score=True)
    cv_ridge = cross_validate(Ridge(alpha=10.0), X, y, cv=5, scoring="r2")
    print(f"OLS hold-out R2 {ols.score(X_test, y_test):.4f}, ridge {ridge.score(X_test, y_test):.4f}")
    print(json.dumps({
        "ols_r2": ols.score(X_test, y_test),
        "ols_coef": ols.coef_.tolist(),
        "ols_intercept": float(ols.intercept_),
        "ols_pred": ols.predict(X_test).tolist(),
        "ridge_r2": ridge.score(X_test, y_test),
        "ridge_coef": ridge.coef_.tolist(),
        "ridge_intercept": float(ridge.intercept_),
        "cv_test_r2": cv["test_r2"].tolist(),
        "cv_train_r2": cv["train_r2"].tolist(),
        "cv_test_mae": cv["test_neg_mean_absolute_error"].tolist(),
        "cv_test_rmse": cv["test_neg_root_mean_squared_error"].tolist(),
        "cv_ridge_r2": cv_ridge["test_score"].tolist(),
    }))


if __name__ == "__main__":
    main()
