"""The ring through the Python API against the Java-generated golden vectors."""

from __future__ import annotations

import os

import fsspec
import pytest

from alluxiofs import AlluxioFileSystem
from tests.conftest import asset


def test_locate_reproduces_file_url_workers() -> None:
    hostnames = asset("workerHostnames.json")
    expected = asset("fileUrlWorkers.json")
    assert isinstance(hostnames, list) and isinstance(expected, dict)
    fs = fsspec.filesystem("alluxiofs", worker_hosts=",".join(hostnames))
    assert isinstance(fs, AlluxioFileSystem)
    assert len(expected) >= 10
    for key, ids in expected.items():
        got = fs.locate(key, n=len(ids))
        assert [w["identity"] for w in got] == [i["identifier"] for i in ids], key


def test_workers_shape_and_order() -> None:
    hostnames = asset("workerHostnames.json")
    assert isinstance(hostnames, list)
    fs = fsspec.filesystem("alluxiofs", worker_hosts=",".join(hostnames), worker_http_port=28081)
    workers = fs.client.workers()
    assert [w["host"] for w in workers] == hostnames
    assert all(w["http_port"] == 28081 for w in workers)
    # Identity = UUIDv3 of the host name (docs/protocol.md §2.2).
    assert workers[0] == {
        "host": "worker-fmvjygixyt-8993",
        "http_port": 28081,
        "identity": "4f23e7a1a230318a912dbdf8f78e0aed",
    }
    shares = fs.client.worker_shares()
    assert len(shares) == len(hostnames) and abs(sum(shares) - 1) < 1e-9


def test_worked_example() -> None:
    fs = AlluxioFileSystem(worker_hosts="worker1,worker2,worker3")
    hosts = [w["host"] for w in fs.locate("s3://bucket/path/to/file", 2)]
    assert hosts == ["worker3", "worker2"]
    assert [w["host"] for w in fs.locate("s3://bucket/file")] == ["worker1"]
    # Asking for more workers than exist returns each once.
    assert len(fs.locate("s3://bucket/file", 10)) == 3


def test_scheme_less_paths_use_target_protocol() -> None:
    fs = AlluxioFileSystem(worker_hosts="worker1,worker2,worker3", target_protocol="memory")
    assert fs.ufs_path("bucket/key") == "memory://bucket/key"
    assert fs.ufs_path("alluxiofs://bucket/key") == "memory://bucket/key"
    assert fs.ufs_path("s3://bucket/key") == "s3://bucket/key"
    assert fs.locate("bucket/key") == fs.locate("memory://bucket/key")
    local = AlluxioFileSystem(worker_hosts="w", target_protocol="file")
    assert local.ufs_path("/opt/x") == "file:///opt/x"
    assert local.ufs_path("alluxiofs:///opt/x") == "file:///opt/x"
    # The fast path for absolute local paths agrees with fsspec's own.
    from fsspec.implementations.local import LocalFileSystem

    for p in ("/opt/x", "/opt/x/", "/", "/a//b", "/a/./b", "/~x"):
        assert local.ufs_path(p) == LocalFileSystem().unstrip_protocol(p), p
    # A relative local path follows the working directory (not remembered).
    here = os.getcwd()
    try:
        os.chdir("/tmp")
        assert local.ufs_path("rel/x") == "file:///tmp/rel/x"
        os.chdir("/usr")
        assert local.ufs_path("rel/x") == "file:///usr/rel/x"
    finally:
        os.chdir(here)
    bare = AlluxioFileSystem(worker_hosts="w")
    with pytest.raises(ValueError, match="no scheme"):
        bare.locate("bucket/key")
    with pytest.raises(ValueError, match="n=0"):
        bare.locate("s3://b/k", n=0)


def test_entry_point_registration() -> None:
    from fsspec.registry import known_implementations

    assert "alluxiofs" in known_implementations
    cls = fsspec.get_filesystem_class("alluxiofs")
    assert cls is AlluxioFileSystem
    # The seed's explicit registration keeps working too.
    fsspec.register_implementation("alluxiofs", AlluxioFileSystem, clobber=True)
    assert fsspec.get_filesystem_class("alluxiofs") is AlluxioFileSystem
