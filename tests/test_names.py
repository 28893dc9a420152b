"""Names round-trip: every name ``ls``/``find``/``glob``/``info`` return,
passed back to any method, names the same file; every accepted spelling of
a path strips to that name; listed names are under the path listed."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An under storage with a small tree and a hive-partitioned dataset."""
    r = tmp_path_factory.mktemp("names")
    (r / "sub" / "deeper").mkdir(parents=True)
    (r / "sub" / "a.txt").write_bytes(b"hello\n")
    (r / "sub" / "deeper" / "b.bin").write_bytes(bytes(range(256)) * 300)
    table = pa.table({"year": [2023, 2023, 2024], "x": [1, 2, 3]})
    pq.write_to_dataset(table, str(r / "hive"), partition_cols=["year"])
    return r


@pytest.fixture(scope="module")
def names_cluster(root: Path) -> Iterator[LocalCluster]:
    yield from cluster_over(root)


@pytest.fixture
def afs(names_cluster: LocalCluster) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=names_cluster.etcd_hosts, target_protocol="file", skip_instance_cache=True
    )


def test_every_spelling_strips_to_the_listed_name(afs: AlluxioFileSystem, root: Path) -> None:
    sub = str(root / "sub")
    spellings = [f"alluxiofs://file://{sub}", f"file://{sub}", sub, f"{sub}/"]
    assert {afs._strip_protocol(s) for s in spellings} == {sub}
    for listed in spellings:
        names = afs.find(listed)
        assert names and all(n.startswith(sub + "/") for n in names), (listed, names)
        for n in names:
            assert afs.info(n)["name"] == n
            with afs.open(n, "rb") as f:
                assert f.path == n
                assert f.read() == Path(n).read_bytes()
    assert afs.glob(f"file://{sub}/*") == [f"{sub}/a.txt", f"{sub}/deeper"]
    assert [e["name"] for e in afs.ls(f"alluxiofs://file://{sub}")] == [
        f"{sub}/a.txt",
        f"{sub}/deeper",
    ]
    # Another scheme stays a URL (the cluster may hold several under storages).
    assert afs._strip_protocol("s3://bucket/key/") == "s3://bucket/key"


def test_get_mapper_keys_are_relative(afs: AlluxioFileSystem, root: Path) -> None:
    m = afs.get_mapper(f"alluxiofs://file://{root}/sub")
    assert sorted(m) == ["a.txt", "deeper/b.bin"]
    assert m["a.txt"] == b"hello\n"


def test_pyarrow_discovers_a_hive_dataset_through_a_url(afs: AlluxioFileSystem, root: Path) -> None:
    path = afs._strip_protocol(f"alluxiofs://file://{root}/hive")
    got = ds.dataset(path, filesystem=afs, partitioning="hive").to_table()
    assert sorted(got.column("x").to_pylist()) == [1, 2, 3]
    assert sorted(pq.read_table(path, filesystem=afs)["x"].to_pylist()) == [1, 2, 3]
