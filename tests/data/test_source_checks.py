"""Sources that cannot lie: every file of a folder checked, headers checked against the data,
targets in range, chunks of one length, and bad values reported with their row, column and file."""

from __future__ import annotations

import numpy as np
import pytest

import gpuml
from gpuml.data import CsvSource, IterableSource, NpyShardsSource, NpySource, ParquetSource, open_source
from gpuml.linear_model import Ridge
from gpuml.preprocessing import StandardScaler

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
CPU = "cpu"


def _table(n, seed, dtype=np.float64, drop=None):
    rng = np.random.default_rng(seed)
    cols = {f"f{j}": rng.standard_normal(n).astype(dtype) for j in range(3)} | {"y": rng.standard_normal(n)}
    return {k: v for k, v in cols.items() if k != drop}


def _write_folder(root, tables):
    root.mkdir()
    for i, t in enumerate(tables):
        pq.write_table(pa.table(t), root / f"p{i}.parquet")
    return root


class TestParquetFolders:
    def test_float32_and_float64_files_are_read_as_float64(self, tmp_path):
        t32, t64 = _table(50, 0, np.float32), _table(60, 1)
        src = ParquetSource(_write_folder(tmp_path / "d", [t32, t64]), target="y")
        assert src.dtype == np.float64  # a float32 first file made the whole folder float32
        X = np.concatenate([c.X for c in src.chunks(1000)])
        np.testing.assert_array_equal(X[50:], np.c_[t64["f0"], t64["f1"], t64["f2"]])

    def test_a_later_file_missing_a_feature_names_the_file(self, tmp_path):
        folder = _write_folder(tmp_path / "d", [_table(50, 0), _table(50, 1, drop="f1")])
        with pytest.raises(ValueError, match=r"p1.parquet has no column\(s\) \['f1'\]"):
            ParquetSource(folder, target="y")  # the target was silently read in f1's place

    def test_a_later_file_with_text_in_a_feature_names_the_file(self, tmp_path):
        t = _table(50, 1) | {"f2": np.array(["x"] * 50)}
        with pytest.raises(ValueError, match="'f2' of .*p1.parquet is not numeric"):
            ParquetSource(_write_folder(tmp_path / "d", [_table(50, 0), t]), target="y")

    def test_a_bad_file_is_named_not_the_folder(self, tmp_path):
        folder = _write_folder(tmp_path / "d", [_table(50, 0)])
        (folder / "p1.parquet").write_bytes(b"not parquet at all")
        with pytest.raises(ValueError, match=r"p1.parquet is not a readable Parquet file"):
            ParquetSource(folder, target="y")

    def test_page_checksums_are_verified(self, tmp_path):
        path = tmp_path / "c.parquet"
        values = np.full(4000, 1.0)
        pq.write_table(pa.table({"a": values, "b": values}), path, compression="none", use_dictionary=False,
                       write_page_checksum=True)
        raw = bytearray(path.read_bytes())
        at = raw.find(np.full(8, 1.0).tobytes()) + 20  # inside the first data page's values
        raw[at] ^= 0x10
        path.write_bytes(bytes(raw))
        with pytest.raises(ValueError, match=r"c.parquet could not be read.*(CRC|checksum)"):
            StandardScaler(device=CPU).fit(ParquetSource(path))  # a flipped bit was a silently wrong value

    def test_a_pandas_index_is_never_a_feature(self, tmp_path):
        pd = pytest.importorskip("pandas")
        df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 7.0]}, index=[10, 20, 30])
        df.to_parquet(tmp_path / "i.parquet")
        assert "__index_level_0__" in pq.read_schema(tmp_path / "i.parquet").names
        src = ParquetSource(tmp_path / "i.parquet", target="b")
        assert src.feature_names == ["a"]
        np.testing.assert_allclose(Ridge(alpha=0, device=CPU).fit(src).coef_, [1.5], rtol=1e-12)


class TestNpy:
    def test_target_index_out_of_range_is_an_error(self, tmp_path):
        M = np.arange(33 * 4, dtype=np.float64).reshape(4, 33)
        np.save(tmp_path / "m.npy", M)
        with pytest.raises(ValueError, match="target=99 is out of range: .*m.npy has 33 columns"):
            open_source(tmp_path / "m.npy", target=99)  # wrapped to column 0
        with pytest.raises(ValueError, match="target=-34 is out of range"):
            NpySource(tmp_path / "m.npy", target=-34)
        for t, col in ((-1, 32), (-33, 0), (32, 32)):
            np.testing.assert_array_equal(NpySource(tmp_path / "m.npy", target=t).targets(), M[:, col])
        with pytest.raises(ValueError, match="target=33 is out of range"):
            NpyShardsSource(tmp_path, target=33)

    @pytest.mark.parametrize("change", ["longer", "shorter"])
    def test_size_must_agree_with_the_header(self, tmp_path, change):
        np.save(tmp_path / "x.npy", np.ones((100, 3)))
        raw = (tmp_path / "x.npy").read_bytes()
        (tmp_path / "x.npy").write_bytes(raw + b"\0" * 24 if change == "longer" else raw[:-24])
        with pytest.raises(ValueError, match=r"x.npy.*(header says|not a readable)"):
            NpySource(tmp_path / "x.npy")

    def test_broken_header_names_the_file(self, tmp_path):
        (tmp_path / "b.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8',")
        with pytest.raises(ValueError, match=r"b.npy is not a readable .npy file"):
            open_source(tmp_path / "b.npy")

    def test_a_file_holding_only_the_target(self, tmp_path):
        np.save(tmp_path / "y.npy", np.ones((10, 1)))
        with pytest.raises(ValueError, match="one column, and it is the target"):
            open_source(tmp_path / "y.npy", target=0)


def test_duplicate_csv_column_names_are_an_error(tmp_path):
    (tmp_path / "d.csv").write_text("a,a,y\n1,2,3\n3,4,5\n")
    with pytest.raises(ValueError, match=r"d.csv has duplicate column names \['a'\]"):
        CsvSource(tmp_path / "d.csv", target="y")


@pytest.mark.parametrize("bad", ["y longer", "y shorter", "w longer"])
def test_chunks_of_mismatched_lengths_are_an_error(bad):
    X, y, w = np.ones((10, 2)), np.ones(10), np.ones(10)
    item = {"y longer": (X, np.ones(12), w), "y shorter": (X, np.ones(8), w), "w longer": (X, y, np.ones(11))}[bad]
    src = IterableSource([(X, y, w), item])
    with pytest.raises(ValueError, match="the chunk at row 10 has 10 rows of X but (12|8|11) of"):
        Ridge(device=CPU).fit(src)  # a longer y was truncated


class TestNonFiniteValues:
    def test_npy_names_row_column_and_file(self, tmp_path):
        X = np.ones((20_000, 4))
        X[14_321, 2] = np.nan
        np.save(tmp_path / "x.npy", X)
        with gpuml.config_context(memory_limit="256KB"), pytest.raises(
                ValueError, match=r"Input X contains NaN \(row 14321 of .*x.npy, column 2 of the file\)"):
            StandardScaler(device=CPU).fit(NpySource(tmp_path / "x.npy"))
        with pytest.raises(ValueError, match=r"row 14321 of .*x.npy, column 2 of the file"):
            Ridge(device=CPU).fit(NpySource(tmp_path / "x.npy", target=0))  # feature 1 is the file's column 2

    def test_csv_names_the_column(self, tmp_path):
        lines = ["a,b"] + [f"{i},{i}" for i in range(3000)] + ["1,inf"] + ["2,2"] * 10
        (tmp_path / "n.csv").write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=r"Input X contains infinity \(row 3000 of .*n.csv, column 'b'\)"):
            StandardScaler(device=CPU).fit(CsvSource(tmp_path / "n.csv"))

    def test_folders_name_the_file_and_its_row(self, tmp_path):
        t = _table(50, 1)
        t["f1"][7] = np.nan
        folder = _write_folder(tmp_path / "d", [_table(40, 0), t])
        with pytest.raises(ValueError, match=r"row 7 of .*p1.parquet, row 47 of the folder, column 'f1'"):
            Ridge(device=CPU).fit(ParquetSource(folder, target="y"))
        (tmp_path / "s").mkdir()
        np.save(tmp_path / "s" / "a.npy", np.ones((30, 3)))
        np.save(tmp_path / "s" / "b.npy", np.c_[np.ones((5, 2)), [1, 1, np.inf, 1, 1]])
        with pytest.raises(ValueError, match=r"infinity \(row 2 of .*b.npy, row 32 of the folder, column 2"):
            StandardScaler(device=CPU).fit(NpyShardsSource(tmp_path / "s"))


def test_rows_known_never_reads_and_count_rows_says_it_does(tmp_path):
    calls = []

    def chunks():
        calls.append(1)
        return iter([np.ones((7, 2)), np.ones((5, 2))])

    src = IterableSource(chunks)
    read = len(calls)
    assert src.rows_known is None and len(calls) == read
    assert src.count_rows() == 12 and len(calls) == read + 1
    assert src.rows_known == 12 and src.count_rows() == 12 and len(calls) == read + 1
    np.save(tmp_path / "x.npy", np.ones((9, 2)))
    assert NpySource(tmp_path / "x.npy").rows_known == 9
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,4\n")
    csv = CsvSource(tmp_path / "x.csv")
    assert csv.rows_known is None and csv.count_rows() == 2
    with pytest.raises(ValueError, match="one-shot iterator"):
        IterableSource(iter([np.ones((3, 2))])).count_rows()
