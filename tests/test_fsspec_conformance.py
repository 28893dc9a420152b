"""fsspec's own conformance suite (``fsspec.tests.abstract``: copy, get,
put, pipe and open) against ``local-cluster``, over a local under storage
and over S3 (moto).

Every test class of the suite is subclassed as is, once per under storage;
the fixtures below are all we supply. Nothing is skipped. Over S3, empty
directories exist (marker objects, as Alluxio makes them), unlike s3fs.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator

import fsspec
import fsspec.tests.abstract as abstract
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over


@pytest.fixture(scope="module")
def ufs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The under storage: an empty local directory."""
    return tmp_path_factory.mktemp("conformance-ufs")


@pytest.fixture(scope="module")
def conformance_cluster(ufs_root: Path) -> Iterator[LocalCluster]:
    """Two workers with etcd over ``ufs_root``."""
    yield from cluster_over(ufs_root)


class AlluxioFixtures(abstract.AbstractFixtures):
    """The suite's fixtures on ``local-cluster``: names are plain local
    paths (what ``target_protocol="file"`` lists)."""

    @pytest.fixture
    def fs(self, conformance_cluster: LocalCluster) -> AlluxioFileSystem:
        return AlluxioFileSystem(
            etcd_hosts=conformance_cluster.etcd_hosts,
            target_protocol="file",
            skip_instance_cache=True,
        )

    @pytest.fixture
    def fs_path(self, ufs_root: Path) -> Iterator[str]:
        path = ufs_root / uuid.uuid4().hex
        path.mkdir()
        yield str(path)
        shutil.rmtree(path, ignore_errors=True)

    @pytest.fixture
    def fs_join(self) -> Any:
        return os.path.join


class TestAlluxioCopy(abstract.AbstractCopyTests, AlluxioFixtures):  # type: ignore[misc]
    """fsspec's ``cp`` tests."""


class TestAlluxioGet(abstract.AbstractGetTests, AlluxioFixtures):  # type: ignore[misc]
    """fsspec's ``get`` tests."""


class TestAlluxioPut(abstract.AbstractPutTests, AlluxioFixtures):  # type: ignore[misc]
    """fsspec's ``put`` tests."""


class TestAlluxioPipe(abstract.AbstractPipeTests, AlluxioFixtures):  # type: ignore[misc]
    """fsspec's ``pipe`` tests."""


class TestAlluxioOpen(abstract.AbstractOpenTests, AlluxioFixtures):  # type: ignore[misc]
    """fsspec's ``open`` tests."""


BUCKET = "conformance"
S3_CREDENTIALS = {"key": "testing", "secret": "testing"}


@pytest.fixture(scope="module")
def s3_cluster(moto: str) -> Iterator[LocalCluster]:
    """Two workers with etcd over an S3 bucket in moto."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    s3 = fsspec.filesystem("s3", endpoint_url=moto, skip_instance_cache=True, **S3_CREDENTIALS)
    s3.mkdir(BUCKET)
    settings = {
        "endpoint": moto,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    with LocalCluster(f"s3://{BUCKET}", workers=2, start_etcd=True, s3=settings) as c:
        yield c


class AlluxioS3Fixtures(abstract.AbstractFixtures):
    """The suite's fixtures on ``local-cluster`` over S3: names are
    ``bucket/key`` (what ``target_protocol="s3"`` lists, as s3fs does)."""

    @pytest.fixture
    def fs(self, s3_cluster: LocalCluster, moto: str) -> AlluxioFileSystem:
        return AlluxioFileSystem(
            etcd_hosts=s3_cluster.etcd_hosts,
            target_protocol="s3",
            target_options={"endpoint_url": moto, **S3_CREDENTIALS},
            skip_instance_cache=True,
        )

    @pytest.fixture
    def fs_path(self, fs: AlluxioFileSystem) -> Iterator[str]:
        path = f"{BUCKET}/{uuid.uuid4().hex}"
        yield path
        if fs.exists(path):
            fs.rm(path, recursive=True)

    @pytest.fixture
    def fs_join(self) -> Any:
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        # Unlike s3fs: the workers keep a directory as a marker object
        # (``key/``), as Alluxio's S3 under storage does, so mkdir sticks.
        return True


class TestAlluxioS3Copy(abstract.AbstractCopyTests, AlluxioS3Fixtures):  # type: ignore[misc]
    """fsspec's ``cp`` tests over S3."""


class TestAlluxioS3Get(abstract.AbstractGetTests, AlluxioS3Fixtures):  # type: ignore[misc]
    """fsspec's ``get`` tests over S3."""


class TestAlluxioS3Put(abstract.AbstractPutTests, AlluxioS3Fixtures):  # type: ignore[misc]
    """fsspec's ``put`` tests over S3."""


class TestAlluxioS3Pipe(abstract.AbstractPipeTests, AlluxioS3Fixtures):  # type: ignore[misc]
    """fsspec's ``pipe`` tests over S3."""


class TestAlluxioS3Open(abstract.AbstractOpenTests, AlluxioS3Fixtures):  # type: ignore[misc]
    """fsspec's ``open`` tests over S3."""


def test_s3_names_round_trip(s3_cluster: LocalCluster, moto: str) -> None:
    fs = AlluxioFileSystem(
        etcd_hosts=s3_cluster.etcd_hosts,
        target_protocol="s3",
        target_options={"endpoint_url": moto, **S3_CREDENTIALS},
        skip_instance_cache=True,
    )
    fs.pipe_file(f"s3://{BUCKET}/names/d/f.txt", b"x")
    spellings = [
        f"alluxiofs://s3://{BUCKET}/names/d",
        f"s3://{BUCKET}/names/d",
        f"{BUCKET}/names/d/",
    ]
    assert {fs._strip_protocol(s) for s in spellings} == {f"{BUCKET}/names/d"}
    for s in spellings:
        assert fs.find(s) == [f"{BUCKET}/names/d/f.txt"]
    with fs.open(f"s3://{BUCKET}/names/d/f.txt") as f:
        assert f.path == f"{BUCKET}/names/d/f.txt" and f.read() == b"x"
    assert fs.info(f"{BUCKET}/names/d/f.txt")["name"] == f"{BUCKET}/names/d/f.txt"
    # S3 keeps no creation time: none is made up from the modification time.
    with pytest.raises(NotImplementedError, match="creation time"):
        fs.created(f"{BUCKET}/names/d/f.txt")
