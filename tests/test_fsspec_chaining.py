"""fsspec's caches chained in front of ``alluxiofs://`` see every read."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE


# fsspec's MMapCache leaves its block file to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_blockcache_fills_on_whole_file_reads(
    cluster: LocalCluster, dataset: Path, tmp_path: Path
) -> None:
    path = str(dataset / "many.bin")
    want = (dataset / "many.bin").read_bytes()
    bfs = fsspec.filesystem(
        "blockcache",
        target_protocol="alluxiofs",
        target_options={
            "etcd_hosts": cluster.etcd_hosts,
            "target_protocol": "file",
            "options": {"alluxio.worker.page.store.page.size": str(PAGE)},
            "skip_instance_cache": True,
        },
        cache_storage=str(tmp_path / "blocks"),
        skip_instance_cache=True,
    )
    inner = bfs.fs
    with bfs.open(path, "rb", block_size=PAGE) as f:
        assert f.read() == want
    first = inner.stats()["bytes_from_workers"]
    assert first >= len(want)
    # The second whole-file read came from the block cache, not Alluxio.
    with bfs.open(path, "rb", block_size=PAGE) as f:
        assert f.read() == want
    assert inner.stats()["bytes_from_workers"] == first
    # read_buffer (what PyArrow calls) goes through the block cache too.
    other = str(dataset / "page_plus.bin")
    head = (dataset / "page_plus.bin").read_bytes()[:100]
    for _ in range(2):
        with bfs.open(other, "rb", block_size=PAGE) as f:
            assert f.read_buffer(100) == head
        if _ == 0:
            first = inner.stats()["bytes_from_workers"]
    assert inner.stats()["bytes_from_workers"] == first
