"""The PyData clients people point at fsspec, each reading (and where it
writes, writing) through ``alluxiofs://`` on ``local-cluster``, compared
with the local files under it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over

FRAME = pd.DataFrame({"x": np.arange(1000, dtype="int64"), "y": np.arange(1000) * 0.5})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The under storage: a Parquet file, a CSV file and a Parquet directory."""
    r = tmp_path_factory.mktemp("pydata")
    pq.write_table(pa.Table.from_pandas(FRAME, preserve_index=False), r / "t.parquet")
    FRAME.to_csv(r / "t.csv", index=False)
    (r / "parts").mkdir()
    for i in range(3):
        part = FRAME.iloc[i * 300 : (i + 1) * 300]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), r / f"parts/{i}.parquet")
    return r


@pytest.fixture(scope="module")
def pd_cluster(root: Path) -> Iterator[LocalCluster]:
    yield from cluster_over(root)


@pytest.fixture
def so(pd_cluster: LocalCluster) -> Dict[str, Any]:
    """``storage_options`` for ``alluxiofs://`` URLs."""
    return {"etcd_hosts": pd_cluster.etcd_hosts, "target_protocol": "file"}


def url(root: Path, rel: str) -> str:
    return f"alluxiofs://file://{root}/{rel}"


def test_pandas(root: Path, so: Dict[str, Any]) -> None:
    pd.testing.assert_frame_equal(
        pd.read_parquet(url(root, "t.parquet"), storage_options=so), FRAME
    )
    pd.testing.assert_frame_equal(pd.read_csv(url(root, "t.csv"), storage_options=so), FRAME)
    FRAME.to_parquet(url(root, "written.parquet"), storage_options=so, index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(root / "written.parquet"), FRAME)
    both = pd.read_parquet(url(root, "parts"), storage_options=so)
    pd.testing.assert_frame_equal(both.sort_values("x").reset_index(drop=True), FRAME.iloc[:900])


def test_dask(root: Path, so: Dict[str, Any]) -> None:
    import dask.dataframe as dd

    got = dd.read_parquet(url(root, "parts"), storage_options=so).compute()
    pd.testing.assert_frame_equal(got.sort_values("x").reset_index(drop=True), FRAME.iloc[:900])
    got = dd.read_csv(url(root, "t.csv"), storage_options=so).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), FRAME)


def test_polars_through_file_objects(root: Path, so: Dict[str, Any]) -> None:
    import polars as pl

    fs = fsspec.filesystem("alluxiofs", skip_instance_cache=True, **so)
    with fs.open(url(root, "t.parquet"), "rb") as f:
        got = pl.read_parquet(f)
    assert got.to_pandas().equals(FRAME)


def test_duckdb(root: Path, so: Dict[str, Any]) -> None:
    import duckdb

    fs = AlluxioFileSystem(skip_instance_cache=True, **so)
    con = duckdb.connect()
    con.register_filesystem(fs)
    total = con.sql(f"select sum(x) from read_parquet('{url(root, 't.parquet')}')").fetchall()
    assert total == [(int(FRAME.x.sum()),)]


def test_fastparquet(root: Path, so: Dict[str, Any]) -> None:
    # Its own API: pandas deprecates its fastparquet engine.
    import fastparquet

    fs = AlluxioFileSystem(skip_instance_cache=True, **so)
    got = fastparquet.ParquetFile(url(root, "t.parquet"), fs=fs).to_pandas()
    pd.testing.assert_frame_equal(got, FRAME)


def test_zarr_and_xarray(root: Path, so: Dict[str, Any]) -> None:
    import xarray as xr
    import zarr

    store = url(root, "arrays.zarr")
    group = zarr.open_group(store, mode="w", storage_options=so)
    a = group.create_array("a", shape=(100, 10), chunks=(10, 10), dtype="f8")
    a[:] = np.arange(1000.0).reshape(100, 10)
    again = zarr.open_group(store, mode="r", storage_options=so)
    np.testing.assert_array_equal(again["a"][:], np.arange(1000.0).reshape(100, 10))
    assert (root / "arrays.zarr" / "a").is_dir()  # really written to the under storage
    ds = xr.Dataset({"v": (("t",), np.arange(50.0))})
    ds.to_zarr(url(root, "ds.zarr"), mode="w", storage_options=so, consolidated=False)
    back = xr.open_zarr(url(root, "ds.zarr"), storage_options=so, consolidated=False)
    np.testing.assert_array_equal(back["v"].values, np.arange(50.0))


def test_hugging_face_datasets(root: Path, so: Dict[str, Any], monkeypatch: Any) -> None:
    # Its parquet builder needs no network (HF_HUB_OFFLINE would refuse
    # every remote fsspec URL, ours included).
    monkeypatch.setenv("HF_DATASETS_CACHE", str(root.parent / "hf-cache"))
    import datasets

    ds = datasets.load_dataset(
        "parquet", data_files=url(root, "t.parquet"), storage_options=dict(so), split="train"
    )
    assert ds.num_rows == len(FRAME) and ds["x"][:3] == [0, 1, 2]


# fsspec's MMapCache (blockcache) leaves its block file to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("cache", ["simplecache", "blockcache", "filecache"])
def test_fsspec_url_chaining(root: Path, so: Dict[str, Any], cache: str, tmp_path: Path) -> None:
    chained = f"{cache}::{url(root, 't.csv')}"
    opts = {"alluxiofs": so, cache: {"cache_storage": str(tmp_path / cache)}}
    for _ in range(2):
        with fsspec.open(chained, "rb", **opts) as f:
            assert f.read() == (root / "t.csv").read_bytes()


def test_open_files_with_globs_and_get_mapper(root: Path, so: Dict[str, Any]) -> None:
    files = fsspec.open_files(url(root, "parts/*.parquet"), "rb", **so)
    assert sorted(Path(f.path).name for f in files) == ["0.parquet", "1.parquet", "2.parquet"]
    for f in files:
        with f as fh:
            assert fh.read() == Path(f.path).read_bytes()
    m = fsspec.get_mapper(url(root, "parts"), **so)
    assert sorted(m) == ["0.parquet", "1.parquet", "2.parquet"]
    assert m["1.parquet"] == (root / "parts" / "1.parquet").read_bytes()
