"""Customer segmentation: a CSV of shoppers written to a temp folder, read back with pandas, scaled
and clustered with KMeans; reports inertia, cluster sizes and centers in the original units."""

import json
import os
import tempfile

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler


def write_shoppers(path: str, seed: int) -> None:
    rng = np.random.RandomState(seed)
    # four segments of different sizes and spreads
    segments = [  # (count, annual spend $, visits/month, basket $, days since last visit)
        (900, 1_800, 2.0, 38, 40),
        (450, 9_500, 9.0, 95, 6),
        (300, 24_000, 4.0, 480, 12),
        (150, 600, 0.6, 45, 210),
    ]
    rows = []
    for count, spend, visits, basket, days in segments:
        rows.append(pd.DataFrame({
            "annual_spend": np.round(rng.lognormal(np.log(spend), 0.18, count), 2),
            "visits_per_month": rng.poisson(visits, count),
            "avg_basket": np.round(rng.lognormal(np.log(basket), 0.15, count), 2),
            "days_since_last": np.clip(rng.normal(days, days * 0.2, count).round(), 0, None).astype(int),
        }))
    df = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    df.insert(0, "customer_id", [f"C{i:06d}" for i in rng.permutation(len(df))])
    df["loyalty_member"] = rng.choice(["yes", "no"], len(df))
    df.to_csv(path, index=False)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shoppers.csv")
        write_shoppers(path, seed=5)
        df = pd.read_csv(path)
    features = ["annual_spend", "visits_per_month", "avg_basket", "days_since_last"]
    X = df[features].copy()
    X["annual_spend"] = np.log1p(X["annual_spend"])  # spend is log-normal
    scaler = StandardScaler().fit(X)
    km = KMeans(n_clusters=4, n_init=10, random_state=42).fit(scaler.transform(X))
    labels = km.labels_
    centers = pd.DataFrame(scaler.inverse_transform(km.cluster_centers_), columns=features)
    centers["annual_spend"] = np.expm1(centers["annual_spend"])
    sizes = np.bincount(labels, minlength=4)
    order = np.argsort(centers["annual_spend"].to_numpy())  # name clusters by spend, whatever their ids
    print(centers.round(1).assign(size=sizes).iloc[order].to_string())
    print(json.dumps({
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "sizes_by_spend": sizes[order].tolist(),
        "centers_by_spend": centers.to_numpy()[order].tolist(),
        "labels": labels.tolist(),
        "distance_to_center": np.min(km.transform(scaler.transform(X)), axis=1).tolist(),
    }))


if __name__ == "__main__":
    main()
