"""The seed document's examples (EXAMPLES.md), unchanged, against
``local-cluster`` workers whose under storage is S3 (moto on loopback) and an
etcd on localhost:2379, the port the examples assume.

This module also holds the fixtures other modules share by importing them:
``moto`` and ``s3_env`` (module-scoped, one per importing module) and
``ray_session`` (one Ray instance for the whole session)."""

from __future__ import annotations

import io
import os
import shutil
import warnings
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alluxiofs.etcd_process import EtcdProcess, port_is_free
from alluxiofs.local_cluster import LocalCluster

RAY_MISSING = "ray[data] is not installed (it is in requirements-dev.txt)"
#: Rows of the seed's ``file1.parquet``.
PARQUET_ROWS = 3072


def _parquet() -> bytes:
    """A real Parquet file of ~3 MiB (incompressible payloads, several row
    groups), so reads span several 1 MB pages."""
    rnd = os.urandom
    table = pa.table(
        {
            "id": pa.array(range(PARQUET_ROWS), pa.int64()),
            "label": pa.array([f"row-{i % 10}" for i in range(PARQUET_ROWS)]),
            "payload": pa.array([rnd(1024) for _ in range(PARQUET_ROWS)], pa.binary()),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=1000, compression="none")
    return buf.getvalue()


DATA = {
    "path/to/dataset/file1.parquet": _parquet(),
    "path/to/dataset/example.csv": b"a,b\n1,2\n3,4\n",
    "path/to/dataset/sub/part-0.bin": os.urandom(5000),
}
FILE1 = pq.read_table(pa.BufferReader(DATA["path/to/dataset/file1.parquet"]))


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """``ray.init(num_cpus=2)`` once for the session; skips without ``ray[data]``.
    Modules that import it get their own fixture object, so it is idempotent:
    the first to run starts Ray, and that one shuts it down at the end."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray 2.5x's read_parquet starts 32 footer-reading actors (one process
    # each) per execution: seconds apiece on a 2-core machine. One does here;
    # Ray's workers inherit the environment at ray.init().
    os.environ.setdefault("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", "1")
    try:
        import ray
        import ray.data
    except ImportError as e:
        pytest.skip(f"{RAY_MISSING}: {e}")
    started = not ray.is_initialized()
    # Ray's own deprecation warnings (pytest turns warnings into errors here).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if started:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                object_store_memory=256 * 1024 * 1024,
                logging_level="WARNING",
                log_to_driver=False,
            )
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    yield ray
    if started:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ray.shutdown()


@pytest.fixture(scope="module")
def s3_env(moto: str) -> Iterator[str]:
    """Credentials and endpoint for s3fs through the environment, as on a real machine."""
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto,
    )
    import fsspec

    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.mkdir("bucket")
    for key, data in DATA.items():
        s3.pipe_file(f"bucket/{key}", data)
    try:
        yield moto
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def seed_cluster(s3_env: str) -> Iterator[LocalCluster]:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed")
    if not port_is_free(2379):
        pytest.skip("port 2379 (the seed examples' etcd port) is taken on this machine")
    with EtcdProcess(client_port=2379) as etcd:
        cluster = LocalCluster(
            "s3://bucket",
            workers=3,
            etcd_hosts=etcd.endpoint,
            s3={
                "endpoint": s3_env,
                "region": "us-east-1",
                "access_key_id": "testing",
                "secret_access_key": "testing",
            },
        )
        with cluster:
            yield cluster


def test_load_data(seed_cluster: LocalCluster) -> None:
    from alluxiofs.client import AlluxioClient

    alluxio_client = AlluxioClient(etcd_hosts="localhost")
    alluxio_client.submit_load("s3://bucket/path/to/dataset/")
    alluxio_client.load_progress("s3://bucket/path/to/dataset/")
    alluxio_client.stop_load("s3://bucket/path/to/dataset/")
    # And a load run to completion, with the report users know.
    assert alluxio_client.load("s3://bucket/path/to/dataset/", timeout=60, poll_interval=0.2)
    report = alluxio_client.load_progress("s3://bucket/path/to/dataset/")
    assert report["state"] == "SUCCEEDED"
    for key in ("Job State", "Files Processed", "Bytes Loaded", "Throughput", "Files Failed"):
        assert key in report["message"], key


def test_create_and_hello_world(seed_cluster: LocalCluster) -> None:
    import fsspec

    from alluxiofs import AlluxioFileSystem

    fsspec.register_implementation("alluxiofs", AlluxioFileSystem, clobber=True)
    alluxio_fs = fsspec.filesystem("alluxiofs", etcd_hosts="localhost", target_protocol="s3")

    listing = alluxio_fs.ls("s3://bucket/path/to/dataset/")
    detailed = alluxio_fs.ls("s3://bucket/path/to/dataset/", detail=True)
    with alluxio_fs.open("s3://bucket/path/to/dataset/file1.parquet", "rb") as f:
        data = f.read()

    assert data == DATA["path/to/dataset/file1.parquet"]
    names = {e["name"] for e in detailed}
    assert "bucket/path/to/dataset/file1.parquet" in names
    assert {e["name"] for e in listing} == names  # ls defaults to detail=True in fsspec
    assert alluxio_fs.stats().get("fallbacks", 0) == 0, "served by the workers, not S3"


def test_advanced_options(seed_cluster: LocalCluster) -> None:
    import fsspec

    from alluxiofs.client import AlluxioClient

    alluxio_options = {
        "alluxio.worker.page.store.page.size": "20MB",
        "alluxio.user.worker.selection.policy.consistent.hash.virtual.node.count.per.worker": "5",
    }
    alluxio_client = AlluxioClient(
        etcd_hosts="host1,host2,host3", etcd_port=8888, options=alluxio_options
    )
    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts="localhost", target_protocol="s3", options=alluxio_options
    )
    assert alluxio_client.page_size == 20 * 1024 * 1024
    # A client page size that differs from the workers' still reads right:
    # pieces are checked against the size asked for.
    got = alluxio_fs.cat_file("s3://bucket/path/to/dataset/file1.parquet", 5, 100)
    assert got == DATA["path/to/dataset/file1.parquet"][5:100]


def test_s3_target_options(seed_cluster: LocalCluster) -> None:
    import fsspec

    s3_options = {
        "key": "your-aws-access-key",
        "secret": "your-aws-secret-key",
        "endpoint_url": "https://s3.your-endpoint.com",
    }
    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts="localhost", target_protocol="s3", target_options=s3_options
    )
    assert alluxio_fs.fs.endpoint_url == "https://s3.your-endpoint.com"
    # Reads go to the workers; the (unreachable) S3 endpoint is only the fallback.
    assert (
        alluxio_fs.cat_file("bucket/path/to/dataset/example.csv")
        == DATA["path/to/dataset/example.csv"]
    )


def test_pyarrow_example_1(seed_cluster: LocalCluster) -> None:
    import fsspec

    alluxio_fs = fsspec.filesystem("alluxiofs", etcd_hosts="localhost", target_protocol="s3")

    import pyarrow.dataset as ds

    dataset = ds.dataset("s3://bucket/path/to/dataset/file1.parquet", filesystem=alluxio_fs)
    dataset.count_rows()
    dataset.schema  # noqa: B018 (the seed line, unchanged)
    dataset.take([0])

    assert dataset.count_rows() == PARQUET_ROWS
    assert dataset.schema == FILE1.schema
    assert dataset.take([0]).equals(FILE1.take([0]))
    assert dataset.take([0, 999, 1000, PARQUET_ROWS - 1]).equals(
        FILE1.take([0, 999, 1000, PARQUET_ROWS - 1])
    )
    assert dataset.to_table().equals(FILE1)
    assert alluxio_fs.stats().get("fallbacks", 0) == 0, "served by the workers, not S3"


def test_pyarrow_example_2(seed_cluster: LocalCluster) -> None:
    import fsspec

    alluxio_fs = fsspec.filesystem("alluxiofs", etcd_hosts="localhost", target_protocol="s3")

    from pyarrow.fs import FSSpecHandler, PyFileSystem

    py_fs = PyFileSystem(FSSpecHandler(alluxio_fs))
    with py_fs.open_input_file("s3://bucket/path/to/dataset/file1.parquet") as f:
        data = f.read()

    assert data == DATA["path/to/dataset/file1.parquet"]
    assert pq.read_table(pa.BufferReader(data)).equals(FILE1)
    assert alluxio_fs.stats().get("fallbacks", 0) == 0, "served by the workers, not S3"


@pytest.mark.usefixtures("ray_session")
def test_ray_example(seed_cluster: LocalCluster) -> None:
    # Ray >= 2.5x resolves s3:// paths with PyArrow's own S3 filesystem before
    # using ours (see test_ray.py::test_s3_urls_resolved_without_s3): this
    # passes because s3_env points AWS_ENDPOINT_URL at moto, so the driver
    # could reach S3 itself.
    import fsspec

    alluxio_fs = fsspec.filesystem("alluxiofs", etcd_hosts="localhost", target_protocol="s3")

    import ray

    ds = ray.data.read_parquet("s3://bucket/path/to/dataset/file1.parquet", filesystem=alluxio_fs)
    ds = ray.data.read_csv("s3://bucket/path/to/dataset/example.csv", filesystem=alluxio_fs)
    count = ds.count()
    schema = ds.schema()
    first = ds.take(1)

    assert count == 2
    assert schema.names == ["a", "b"]
    assert first == [{"a": 1, "b": 2}]
    # The Parquet dataset the example read first (and then dropped).
    parquet = ray.data.read_parquet(
        "s3://bucket/path/to/dataset/file1.parquet", filesystem=alluxio_fs
    )
    assert parquet.count() == PARQUET_ROWS
    assert parquet.schema().names == FILE1.schema.names
    assert parquet.take(1) == FILE1.slice(0, 1).to_pylist()
