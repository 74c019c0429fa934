"""Delivery logistics around New York: nearest depots of each stop (NearestNeighbors on projected
UTM metres, ~4.5e6 from the origin), delivery-time regression from the k nearest past deliveries
(KNeighborsRegressor on latitude/longitude), and the same lookup on float32 coordinates."""

import json

import numpy as np
import pandas as pd
from sklearn.metrics import mean_absolute_error
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors


def main() -> None:
    rng = np.random.RandomState(8)
    # depots and stops in UTM zone 18N metres (easting ~ 585 km, northing ~ 4 510 km)
    depots = pd.DataFrame({"easting": 585_000 + rng.uniform(-15_000, 15_000, 60),
                           "northing": 4_510_000 + rng.uniform(-20_000, 20_000, 60)})
    stops = pd.DataFrame({"easting": 585_000 + rng.normal(0, 6_000, 2000),
                          "northing": 4_510_000 + rng.normal(0, 8_000, 2000)})
    nn = NearestNeighbors(n_neighbors=3).fit(depots)
    dist_m, depot_idx = nn.kneighbors(stops)

    # past deliveries in degrees: minutes grow with the distance to Midtown, plus traffic noise
    n = 3000
    lat = 40.75 + rng.normal(0, 0.06, n)
    lon = -73.98 + rng.normal(0, 0.08, n)
    km = np.hypot((lat - 40.754) * 111.0, (lon + 73.984) * 84.2)
    minutes = 12 + 2.8 * km + rng.gamma(2.0, 3.0, n)
    past = pd.DataFrame({"lat": lat, "lon": lon})
    train, test = past.iloc[:2400], past.iloc[2400:]
    reg = KNeighborsRegressor(n_neighbors=8, weights="distance").fit(train, minutes[:2400])
    pred = reg.predict(test)

    # the same stops read from a float32 column store
    coords32 = stops.to_numpy(dtype=np.float32)
    nn32 = NearestNeighbors(n_neighbors=3).fit(depots.to_numpy(dtype=np.float32))
    dist32, idx32 = nn32.kneighbors(coords32)

    print(f"median distance to nearest depot {np.median(dist_m[:, 0]):.0f} m, "
          f"delivery-time MAE {mean_absolute_error(minutes[2400:], pred):.2f} min")
    print(json.dumps({
        "depot_idx": depot_idx.tolist(),
        "depot_dist_m": dist_m.tolist(),
        "depot_counts": np.bincount(depot_idx[:, 0], minlength=60).tolist(),
        "pred_minutes": pred.tolist(),
        "mae": mean_absolute_error(minutes[2400:], pred),
        "r2": reg.score(test, minutes[2400:]),
        "depot_idx32": idx32.tolist(),
        "depot_dist32": dist32.astype(np.float64).tolist(),
    }))


if __name__ == "__main__":
    main()
