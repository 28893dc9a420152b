"""Fixtures for the worker's S3 API suite: the same tree of files in a local
under storage and in an S3 one (moto), each behind a ``local-cluster``."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict, Iterator, NamedTuple, Optional

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alluxiofs.local_cluster import LocalCluster

PAGE = 64 * 1024
#: The bucket (a directory below the worker's single root) the tests use.
BUCKET = "b1"
#: The moto bucket that is the worker's S3 root.
UFS_BUCKET = "s3api-ufs"
CREDS = {"key": "testing", "secret": "testing"}


def tree() -> Dict[str, bytes]:
    """Relative path in the bucket -> bytes (seeded)."""
    rnd = random.Random(21)
    files = {
        "dir/big.bin": rnd.randbytes(5 * PAGE + 17),
        "dir/small.txt": b"hello s3\n",
        "dir/empty.bin": b"",
        "dir/sub/deep.bin": rnd.randbytes(PAGE),
        "name with space+plus.txt": b"odd name\n",
    }
    for i in range(7):
        files[f"many/f{i:02d}.txt"] = f"file {i}\n".encode()
    table = pa.table({"x": list(range(60)), "y": [float(i) / 2 for i in range(60)]})
    for year in (2023, 2024):
        sink = pa.BufferOutputStream()
        pq.write_table(
            table.filter(pa.compute.equal(pa.compute.bit_wise_and(table["x"], 1), year % 2)), sink
        )
        files[f"tables/hive/year={year}/part-0.parquet"] = sink.getvalue().to_pybytes()
    return files


class Setup(NamedTuple):
    """A cluster over one of the under storages, and what it holds."""

    kind: str  # "local" or "s3"
    cluster: LocalCluster
    files: Dict[str, bytes]
    endpoint: str  # the first worker's S3 API, http://host:port
    ufs_root: str  # the worker's root URL


@pytest.fixture(scope="session")
def local_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("s3api-local")
    files = tree()
    for rel, data in files.items():
        p = root / BUCKET / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "other").mkdir()
    with LocalCluster(str(root), workers=2, start_etcd=True, page_size=str(PAGE)) as c:
        yield Setup("local", c, files, "http://" + c.s3_hosts.split(",")[0], "file://" + str(root))


@pytest.fixture(scope="session")
def s3_setup(s3_moto: str) -> Iterator[Setup]:
    s3 = fsspec.filesystem("s3", endpoint_url=s3_moto, skip_instance_cache=True, **CREDS)
    s3.mkdir(UFS_BUCKET)
    files = tree()
    for rel, data in files.items():
        s3.pipe_file(f"{UFS_BUCKET}/{BUCKET}/{rel}", data)
    with LocalCluster(
        f"s3://{UFS_BUCKET}", workers=2, start_etcd=True, page_size=str(PAGE), s3=worker_s3(s3_moto)
    ) as c:
        yield Setup("s3", c, files, "http://" + c.s3_hosts.split(",")[0], f"s3://{UFS_BUCKET}")


@pytest.fixture(scope="session")
def s3_moto() -> Iterator[str]:
    """A moto server for the session (the suite's S3 under storage)."""
    from tests.conftest import moto_server

    yield from moto_server()


@pytest.fixture(params=["local", "s3"])
def setup(request: pytest.FixtureRequest) -> Setup:
    """Each test once per under storage."""
    fixture: Setup = request.getfixturevalue(f"{request.param}_setup")
    return fixture


def worker_s3(endpoint: str) -> Dict[str, Optional[str]]:
    """The workers' settings for the moto under storage at ``endpoint``."""
    return {
        "endpoint": endpoint,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }


def boto(endpoint: str, key: str = "x", secret: str = "y") -> Any:
    import boto3
    import botocore.config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def env_without_aws() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


__all__ = ["BUCKET", "CREDS", "PAGE", "Path", "Setup", "boto", "env_without_aws", "tree"]
