"""Membership through the Python API against a real etcd."""

from __future__ import annotations

import multiprocessing
import threading
import time
from typing import Callable, List

import fsspec
import pytest

from alluxiofs import (
    AlluxioFileSystem,
    EtcdAuthError,
    EtcdConnectionError,
    NoWorkersError,
)
from alluxiofs.client import AlluxioClient
from alluxiofs.etcd_process import EtcdProcess, free_port
from tests.conftest import worker_key, worker_value

IDS = [
    "b785d1f098863821a4eb6bee226c35b7",
    "065141ec74bd3ad8bff25e7bc18408be",
    "8a812752548f33d4a7e83a2a7b4a5c80",
]


def register(etcd: EtcdProcess, identifier: str, port: int) -> None:
    etcd.put(worker_key(identifier), worker_value(identifier, "127.0.0.1", port))


def wait_until(pred: Callable[[], bool], limit: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if pred():
            return time.monotonic() - start
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {limit}s")


def ports(fs: AlluxioFileSystem) -> List[int]:
    return sorted(w["http_port"] for w in fs.client.workers())


def test_workers_join_and_leave(etcd: EtcdProcess) -> None:
    for i, ident in enumerate(IDS):
        register(etcd, ident, 1000 + i)
    fs = AlluxioFileSystem(etcd_hosts=etcd.endpoint, skip_instance_cache=True)
    workers = fs.client.workers()
    assert sorted(w["identity"] for w in workers) == sorted(IDS)
    assert {w["host"] for w in workers} == {"127.0.0.1"}
    assert len(fs.locate("s3://bucket/file", 3)) == 3

    etcd.ctl("del", worker_key(IDS[1]))
    took = wait_until(lambda: ports(fs) == [1000, 1002], 1.0)
    print(f"delete seen after {took:.3f}s")

    etcd.put(f"{worker_key(IDS[1])}", "garbage")
    register(etcd, "3e05246f5a4b37e7bd9a0b09b1706b95", 1009)
    wait_until(lambda: ports(fs) == [1000, 1002, 1009], 1.0)


def test_host_with_port_and_etcd_port(etcd: EtcdProcess) -> None:
    register(etcd, IDS[0], 1000)
    host, port = etcd.endpoint.split(":")
    a = AlluxioClient(etcd_hosts=host, etcd_port=int(port))
    b = AlluxioClient(etcd_hosts=f"{host}:{port}", etcd_port=1)
    assert a.workers() == b.workers()


def test_no_workers_is_raised_on_use_not_construction(etcd: EtcdProcess) -> None:
    fs = AlluxioFileSystem(etcd_hosts=etcd.endpoint, skip_instance_cache=True)
    with pytest.raises(NoWorkersError, match="no Alluxio worker is registered"):
        fs.client.workers()
    register(etcd, IDS[0], 1000)
    wait_until(lambda: len(fs.client.workers()) == 1, 1.0)


def test_unreachable_etcd_is_a_connection_error() -> None:
    port = free_port()
    c = AlluxioClient(etcd_hosts=f"127.0.0.1:{port}")
    with pytest.raises(ConnectionError) as e:
        c.workers()
    assert isinstance(e.value, EtcdConnectionError)
    assert f"127.0.0.1:{port}" in str(e.value)


def test_threads_share_one_watch(etcd: EtcdProcess) -> None:
    register(etcd, IDS[0], 1000)
    before = etcd.metric("etcd_debugging_mvcc_watch_stream_total")
    results: List[int] = []

    def use() -> None:
        # fsspec caches one instance per thread: 16 instances, one config.
        fs = fsspec.filesystem("alluxiofs", etcd_hosts=etcd.endpoint)
        results.append(len(fs.client.workers()))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [1] * 16
    streams = etcd.metric("etcd_debugging_mvcc_watch_stream_total") - before
    assert streams == 1, f"{streams} etcd watch streams for 16 filesystem instances"


def _child_workers(endpoint: str, q: multiprocessing.Queue[object]) -> None:
    try:
        fs = fsspec.filesystem("alluxiofs", etcd_hosts=endpoint)
        q.put(sorted(w["identity"] for w in fs.client.workers()))
    except BaseException as e:  # report, never hang the parent
        q.put(repr(e))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_membership_after_fork_and_spawn(etcd: EtcdProcess, method: str) -> None:
    register(etcd, IDS[0], 1000)
    fs = fsspec.filesystem("alluxiofs", etcd_hosts=etcd.endpoint)
    assert len(fs.client.workers()) == 1  # the parent's runtime and watch are live
    ctx = multiprocessing.get_context(method)
    q = ctx.Queue()
    procs = [ctx.Process(target=_child_workers, args=(etcd.endpoint, q)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
        assert p.exitcode == 0
    assert got == [[IDS[0]]] * 2


def test_etcd_auth(etcd: EtcdProcess) -> None:
    register(etcd, IDS[0], 1000)
    etcd.ctl("user", "add", "root:rootpw", "--interactive=false")
    etcd.ctl("auth", "enable")
    good = AlluxioClient(etcd_hosts=etcd.endpoint, etcd_username="root", etcd_password="rootpw")
    assert [w["identity"] for w in good.workers()] == [IDS[0]]
    via_options = AlluxioClient(
        etcd_hosts=etcd.endpoint,
        options={"alluxio.etcd.username": "root", "alluxio.etcd.password": "rootpw"},
    )
    assert len(via_options.workers()) == 1
    bad = AlluxioClient(etcd_hosts=etcd.endpoint, etcd_username="root", etcd_password="nope")
    with pytest.raises(PermissionError) as e:
        bad.workers()
    assert isinstance(e.value, EtcdAuthError)
    assert "etcd" in str(e.value) and "root" in str(e.value)
    assert "nope" not in str(e.value)
    anonymous = AlluxioClient(etcd_hosts=etcd.endpoint, etcd_refresh_workers_interval=0)
    with pytest.raises(PermissionError):
        anonymous.workers()
