"""Customer churn: a pandas DataFrame with numeric and categorical columns, a ColumnTransformer
(StandardScaler on the numbers, OneHotEncoder on the categories) and a LogisticRegression in one
Pipeline, evaluated on a stratified hold-out set."""

import json

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def make_customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.RandomState(seed)
    tenure = rng.randint(1, 73, n)  # months, integer
    monthly = np.round(rng.uniform(18.0, 118.0, n), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, n), 2)  # thousands of dollars
    calls = rng.poisson(1.5, n)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.55, 0.25, 0.2])
    payment = rng.choice(["electronic check", "mailed check", "bank transfer", "credit card"], n)
    region = rng.choice(["north", "south", "east", "west", "central"], n)
    logit = (-0.9 - 0.045 * tenure + 0.022 * monthly + 0.45 * calls
             + np.select([contract == "one-year", contract == "two-year"], [-1.1, -2.0], 0.0)
             + np.where(payment == "electronic check", 0.6, 0.0))
    churn = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({
        "customer_id": np.arange(100_000, 100_000 + n), "tenure_months": tenure,
        "monthly_charges": monthly, "total_charges": total, "support_calls": calls,
        "contract": pd.Categorical(contract), "payment_method": payment, "region": region,
        "churn": churn,
    })


def main() -> None:
    df = make_customers(3000, seed=7)
    numeric = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
    categorical = ["contract", "payment_method", "region"]
    X, y = df[numeric + categorical], df["churn"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

    model = Pipeline([
        ("prep", ColumnTransformer([
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
        ])),
        ("clf", LogisticRegression(C=0.5, max_iter=1000)),
    ])
    model.fit(X_train, y_train)
    proba = model.predict_proba(X_test)[:, 1]
    pred = model.predict(X_test)
    names = model.named_steps["prep"].get_feature_names_out()
    coef = model.named_steps["clf"].coef_.ravel()
    print(f"hold-out accuracy {accuracy_score(y_test, pred):.3f}, AUC {roc_auc_score(y_test, proba):.3f}")
    print(json.dumps({
        "accuracy": accuracy_score(y_test, pred),
        "auc": roc_auc_score(y_test, proba),
        "log_loss": log_loss(y_test, proba),
        "proba": proba.tolist(),
        "pred": pred.tolist(),
        "coef": dict(zip(names.tolist(), coef.tolist())),
        "intercept": model.named_steps["clf"].intercept_.tolist(),
        "scaler_mean": model.named_steps["prep"].named_transformers_["num"].mean_.tolist(),
    }))


if __name__ == "__main__":
    main()
