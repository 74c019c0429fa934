"""The README's Python examples run as written, on small data defined here.

Each ```python block of README.md is executed in a namespace holding the names the
README takes as given (X, y, X_train, ...) and, in a temporary folder, the files it reads
(taxi/, X.npy, shards/, big.csv). The one substitution: a device the machine lacks
("cuda:0" without a GPU) becomes "cpu". The ``>>>`` example's output carries timings, so its
form is checked, not its digits.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str = "python") -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def _namespace(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    yr = X @ np.arange(1.0, 6.0)
    (tmp_path / "taxi").mkdir()
    for i in range(2):  # a folder of two Parquet files with a "fare" target
        df = pd.DataFrame(X[i * 150:(i + 1) * 150], columns=[f"f{j}" for j in range(5)])
        df["fare"] = yr[i * 150:(i + 1) * 150]
        df.to_parquet(tmp_path / "taxi" / f"part-{i}.parquet", index=False)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", yr)
    (tmp_path / "shards").mkdir()
    for i in range(3):
        np.save(tmp_path / "shards" / f"{i}.npy", np.column_stack([X, yr])[i * 100:(i + 1) * 100])
    pd.DataFrame(np.column_stack([X, yr]), columns=[*"abcde", "y"]).to_csv(tmp_path / "big.csv", index=False)

    def my_chunks():
        for s in range(0, 300, 100):
            yield X[s:s + 100], yr[s:s + 100]

    return {"np": np, "X": X, "y": yr, "X_train": X, "y_train": y, "X_test": X[:50], "my_chunks": my_chunks}


def _runnable(code: str) -> str:
    if not torch.cuda.is_available():
        code = re.sub(r'device="cuda(:\d+)?"', 'device="cpu"', code)
    return code


@pytest.mark.parametrize("i", range(len([b for b in _blocks() if ">>>" not in b])))
def test_readme_python_block_runs(i, tmp_path, monkeypatch):
    code = [b for b in _blocks() if ">>>" not in b][i]
    monkeypatch.chdir(tmp_path)
    exec(compile(_runnable(code), f"README.md block {i}", "exec"), _namespace(tmp_path))


def test_readme_engine_reason_example_has_the_stated_form(tmp_path):
    (doc,) = [b for b in _blocks() if ">>>" in b]
    call = re.search(r">>> (.*?)\s+#", doc).group(1)
    shown = re.search(r'\n"(.*)"', doc).group(1)
    ns = _namespace(tmp_path)
    ns["X"] = np.random.default_rng(0).standard_normal((2000, 20))  # as the README says
    from gpuml.cluster import KMeans

    ns["KMeans"] = KMeans
    reason = eval(call, ns)
    form = r"^(cpu|cuda:\d+|mps|xpu)/(gpuml|sklearn): "
    assert re.match(form, shown) and re.match(form, reason), (shown, reason)
    if not torch.cuda.is_available():
        assert reason.startswith("cpu/") and "no accelerator" in reason
