"""Ray Data over alluxiofs: ``read_parquet``, ``read_csv``, ``read_images`` and
``read_binary_files`` with ``filesystem=fs``, on ``s3://`` paths and on
scheme-less ``bucket/key`` paths (Ray strips schemes; the filesystem adds
``target_protocol`` back).

The under storage is S3 (moto on loopback, from the seed fixtures) behind a
``local-cluster`` of its own (private etcd). The filesystem handed to Ray has
an under-storage fallback that cannot work (an S3 endpoint where nothing
listens), so every byte Ray gets came from the cache workers; Ray's worker
processes get the filesystem by pickling.

One Ray instance serves the whole session (``ray_session`` from
``test_seed_examples``, shared with the examples smoke test). Without
``ray[data]`` these tests skip.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
from typing import Any, Dict, Iterator, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests import test_seed_examples as seed

# The seed module's fixtures, shared: s3_env (module-scoped, over conftest's
# moto: one per module) and the session's Ray instance.
s3_env = seed.s3_env
ray_session = seed.ray_session

#: Under this prefix of the seed fixtures' bucket.
PREFIX = "bucket/ray"
#: An S3 endpoint where nothing listens: the fallback would fail.
DEAD_S3 = "http://127.0.0.1:9"
PARQUET_ROWS = 3_000


def _sources() -> Dict[str, bytes]:
    """Object key (under ``PREFIX``) → bytes."""
    from PIL import Image

    rnd = random.Random(42)
    out: Dict[str, bytes] = {}
    table = pa.table(
        {
            "id": pa.array(range(PARQUET_ROWS), pa.int64()),
            "value": pa.array([rnd.random() for _ in range(PARQUET_ROWS)]),
            "name": pa.array([f"n{rnd.randrange(1000)}" for _ in range(PARQUET_ROWS)]),
        }
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=1_000)
    out["table.parquet"] = buf.getvalue()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["id", "city", "temp"])
    for i in range(50):
        writer.writerow([i, f"city {rnd.randrange(9)}", round(rnd.uniform(-10, 30), 2)])
    out["weather.csv"] = text.getvalue().encode()
    for i in range(4):
        img = Image.frombytes("RGB", (8, 6), rnd.randbytes(8 * 6 * 3))
        png = io.BytesIO()
        img.save(png, format="PNG")
        out[f"images/img-{i}.png"] = png.getvalue()
    for name, size in (("a.bin", 0), ("b.bin", 1), ("c.bin", 100_000), ("d.bin", 2_500_000)):
        out[f"binary/{name}"] = rnd.randbytes(size)
    for i in range(3):
        out[f"fresh/f{i}.bin"] = rnd.randbytes(10_000 + i)
    return out


@pytest.fixture(scope="module")
def ray_data(s3_env: str) -> Dict[str, bytes]:
    """The objects, written to ``s3://bucket/ray/`` on moto (whose endpoint and
    credentials ``s3_env`` puts in the environment, as on a real machine)."""
    pytest.importorskip("PIL", reason="Pillow is not installed (it is in requirements-dev.txt)")
    import fsspec

    sources = _sources()
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    for key, value in sources.items():
        s3.pipe_file(f"{PREFIX}/{key}", value)
    return sources


@pytest.fixture(scope="module")
def s3_cluster(ray_data: Dict[str, bytes]) -> Iterator[LocalCluster]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    s3 = {
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    with LocalCluster("s3://bucket", workers=3, start_etcd=True, s3=s3) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ray_fs(s3_cluster: LocalCluster) -> AlluxioFileSystem:
    """What Ray gets: the cluster, with an under storage it cannot reach."""
    return AlluxioFileSystem(
        etcd_hosts=s3_cluster.etcd_hosts,
        target_protocol="s3",
        target_options={"key": "x", "secret": "y", "endpoint_url": DEAD_S3},
        skip_instance_cache=True,
    )


def _fresh(cluster: LocalCluster) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=cluster.etcd_hosts, target_protocol="s3", skip_instance_cache=True
    )


# Both spellings Ray users write; Ray hands the filesystem "bucket/key" either way.
STYLES = pytest.mark.parametrize("base", ["s3://" + PREFIX, PREFIX], ids=["s3-url", "no-scheme"])


def _no_fallback(fs: AlluxioFileSystem) -> None:
    stats = fs.stats()
    assert stats["fallbacks"] == 0, stats


@STYLES
def test_read_parquet(
    ray_session: Any, ray_fs: AlluxioFileSystem, ray_data: Dict[str, bytes], base: str
) -> None:
    want = pq.read_table(pa.BufferReader(ray_data["table.parquet"]))
    dataset = ray_session.data.read_parquet(f"{base}/table.parquet", filesystem=ray_fs)
    assert dataset.count() == PARQUET_ROWS
    assert dataset.schema().names == want.schema.names
    assert list(dataset.schema().types) == list(want.schema.types)
    rows = dataset.take(PARQUET_ROWS)  # one execution for all the rows
    assert rows[:5] == want.slice(0, 5).to_pylist()
    assert sorted(rows, key=lambda r: r["id"]) == want.to_pylist()
    _no_fallback(ray_fs)


@STYLES
def test_read_csv(
    ray_session: Any, ray_fs: AlluxioFileSystem, ray_data: Dict[str, bytes], base: str
) -> None:
    import pyarrow.csv as pcsv

    want = pcsv.read_csv(pa.BufferReader(ray_data["weather.csv"]))
    dataset = ray_session.data.read_csv(f"{base}/weather.csv", filesystem=ray_fs)
    assert dataset.count() == want.num_rows == 50
    assert dataset.schema().names == ["id", "city", "temp"]
    assert list(dataset.schema().types) == list(want.schema.types)
    rows = dataset.take(50)
    assert rows[:3] == want.slice(0, 3).to_pylist()
    assert rows == want.to_pylist()
    _no_fallback(ray_fs)


@STYLES
def test_read_images(
    ray_session: Any, ray_fs: AlluxioFileSystem, ray_data: Dict[str, bytes], base: str
) -> None:
    import numpy as np
    from PIL import Image

    dataset = ray_session.data.read_images(f"{base}/images", filesystem=ray_fs, include_paths=True)
    assert dataset.count() == 4
    assert dataset.schema().names == ["image", "path"]
    rows = dataset.take_all()
    assert sorted(r["path"] for r in rows) == [f"{PREFIX}/images/img-{i}.png" for i in range(4)]
    for row in rows:
        key = row["path"][len(PREFIX) + 1 :]
        want = np.asarray(Image.open(io.BytesIO(ray_data[key])))
        assert row["image"].shape == (6, 8, 3)
        assert np.array_equal(row["image"], want), key
    _no_fallback(ray_fs)


@STYLES
def test_read_binary_files(
    ray_session: Any, ray_fs: AlluxioFileSystem, ray_data: Dict[str, bytes], base: str
) -> None:
    dataset = ray_session.data.read_binary_files(
        f"{base}/binary", filesystem=ray_fs, include_paths=True
    )
    assert dataset.count() == 4
    assert dataset.schema().names == ["bytes", "path"]
    got = {r["path"]: r["bytes"] for r in dataset.take_all()}
    want = {f"{PREFIX}/{k}": v for k, v in ray_data.items() if k.startswith("binary/")}
    assert got == want
    # A list of files, mixing both spellings.
    files = [f"s3://{PREFIX}/binary/c.bin", f"{PREFIX}/binary/d.bin"]
    listed = ray_session.data.read_binary_files(files, filesystem=ray_fs).take_all()
    assert sorted(len(r["bytes"]) for r in listed) == [100_000, 2_500_000]
    _no_fallback(ray_fs)


def test_reads_happen_in_ray_workers(
    ray_session: Any,
    ray_fs: AlluxioFileSystem,
    s3_cluster: LocalCluster,
    ray_data: Dict[str, bytes],
) -> None:
    """Files nobody read before: the driver only lists them, Ray's workers
    read them through the cache (a fresh filesystem then sees them cached),
    and the under storage is never asked (it cannot be)."""
    keys = sorted(k for k in ray_data if k.startswith("fresh/"))
    fresh = _fresh(s3_cluster)
    assert [fresh.info(f"{PREFIX}/{k}")["in_alluxio_percentage"] for k in keys] == [0, 0, 0]
    before = ray_fs.stats()["bytes_from_workers"]

    dataset = ray_session.data.read_binary_files(f"s3://{PREFIX}/fresh", filesystem=ray_fs)
    assert sorted(r["bytes"] for r in dataset.take_all()) == sorted(ray_data[k] for k in keys)

    assert ray_fs.stats()["bytes_from_workers"] == before, "the driver read no data itself"
    assert [fresh.info(f"{PREFIX}/{k}")["in_alluxio_percentage"] for k in keys] == [100] * 3
    _no_fallback(ray_fs)


def test_filesystem_pickles_to_a_task(
    ray_session: Any, ray_fs: AlluxioFileSystem, ray_data: Dict[str, bytes]
) -> None:
    """The filesystem as a task argument: rebuilt in the worker process,
    which reads through the cache (its own counters say so)."""
    ray = ray_session

    @ray.remote  # type: ignore[misc]
    def read(fs: AlluxioFileSystem, paths: List[str]) -> Dict[str, Any]:
        data = [fs.cat_file(p) for p in paths]
        return {"pid": os.getpid(), "data": data, "stats": fs.stats(), "fs": repr(fs.fs)}

    paths = [f"{PREFIX}/binary/d.bin", f"s3://{PREFIX}/weather.csv"]
    out = ray.get(read.remote(ray_fs, paths))
    assert out["pid"] != os.getpid()
    assert out["data"] == [ray_data["binary/d.bin"], ray_data["weather.csv"]]
    assert out["stats"]["bytes_from_workers"] >= 2_500_000
    assert out["stats"]["fallbacks"] == 0
    assert out["stats"]["bytes_from_ufs"] == 0


# Ray hands s3:// paths to a user filesystem only if it claims "s3"; otherwise
# it resolves them with PyArrow's own S3 filesystem (HeadBucket to AWS).
def test_s3_urls_resolved_without_s3(ray_session: Any, ray_fs: AlluxioFileSystem) -> None:
    from pyarrow.fs import FSSpecHandler, PyFileSystem
    from ray.data.datasource.path_util import _is_filesystem_compatible_with_scheme

    assert _is_filesystem_compatible_with_scheme(PyFileSystem(FSSpecHandler(ray_fs)), "s3")
