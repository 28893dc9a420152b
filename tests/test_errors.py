"""Each error class through the public API: what raises it, its class and
bases, and a message that names the path or the worker. Authoritative answers
(not found, bad argument) are never a fallback; without an under-storage
filesystem Alluxio failures reach the caller as they are.

(``EtcdAuthError`` is covered in ``test_membership.py``.)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest

import alluxiofs
from alluxiofs import (
    AlluxioError,
    AlluxioFileSystem,
    AlluxioTimeoutError,
    EtcdAuthError,
    EtcdConnectionError,
    EtcdError,
    NoWorkersError,
    WorkerConnectionError,
    WorkerError,
)
from alluxiofs.etcd_process import EtcdProcess, free_port
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE
from tests.fault_proxy import FaultProxy

OPTIONS = {"alluxio.worker.page.store.page.size": str(PAGE)}


def make_fs(hosts: str = "", ufs: bool = False, etcd: str = "", **kw: Any) -> AlluxioFileSystem:
    where: Dict[str, Any] = {"etcd_hosts": etcd} if etcd else {"worker_hosts": hosts}
    return AlluxioFileSystem(
        **where,
        target_protocol="file" if ufs else None,
        options=OPTIONS,
        skip_instance_cache=True,
        **kw,
    )


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "alluxiofs" and r.levelno >= logging.WARNING]


def operations(fs: AlluxioFileSystem, url: str, dir_url: str) -> Dict[str, Callable[[], Any]]:
    """The public calls that ask a worker about ``url`` (and ``dir_url``)."""
    return {
        "cat_file": lambda: fs.cat_file(url),
        "cat_range": lambda: fs.cat_file(url, start=1, end=5),
        "info": lambda: fs.info(url),
        "open": lambda: fs.open(url, "rb"),
        "ls": lambda: fs.ls(dir_url),
    }


@pytest.fixture()
def proxy(cluster: LocalCluster) -> Iterator[FaultProxy]:
    with FaultProxy(cluster.ports[0]) as p:
        yield p


def test_exception_classes() -> None:
    assert issubclass(AlluxioError, OSError)
    for cls in (NoWorkersError, EtcdError, WorkerError):
        assert issubclass(cls, AlluxioError)
    both: List[Tuple[type, type]] = [
        (WorkerConnectionError, ConnectionError),
        (EtcdConnectionError, ConnectionError),
        (EtcdAuthError, PermissionError),
        (AlluxioTimeoutError, TimeoutError),
    ]
    for sub, builtin in both:
        assert issubclass(sub, AlluxioError) and issubclass(sub, builtin), sub
    assert issubclass(EtcdConnectionError, EtcdError) and issubclass(EtcdAuthError, EtcdError)
    assert not issubclass(WorkerError, ConnectionError)
    assert not issubclass(NoWorkersError, ConnectionError)
    for name in alluxiofs.exceptions.__all__:
        assert getattr(alluxiofs, name) is getattr(alluxiofs.exceptions, name)


# ── FileNotFoundError: an answer, not a failure ──


@pytest.mark.parametrize("ufs", [True, False], ids=["ufs", "no-ufs"])
def test_missing_file_is_file_not_found(
    cluster: LocalCluster, dataset: Path, ufs: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(etcd=str(cluster.etcd_hosts), ufs=ufs)
    missing = "file://" + str(dataset / "no-such-file.bin")
    missing_dir = "file://" + str(dataset / "no-such-dir")
    before = fs.stats()
    for name, op in operations(fs, missing, missing_dir).items():
        with pytest.raises(FileNotFoundError) as e:
            op()
        assert type(e.value) is FileNotFoundError, (name, repr(e.value))
        assert ("no-such-dir" if name == "ls" else "no-such-file.bin") in str(e.value), name
    assert fs.exists(missing) is False
    # Batched reads return the error in place of the bytes.
    ok = "file://" + str(dataset / "sub" / "a.txt")
    got = fs.cat_ranges([missing, ok], [0, 0], [3, 3])
    assert isinstance(got[0], FileNotFoundError) and got[1] == b"hel"
    after = fs.stats()
    assert after["fallbacks"] == 0 and after["bytes_from_ufs"] == 0
    assert after["errors"] == before["errors"]  # an answer, not a failure
    assert fallback_warnings(caplog) == []


# ── ValueError: bad arguments, never a fallback ──


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"retries": 0}, "retries"),
        ({"retries": "many"}, "retries"),
        ({"concurrency": 0}, "concurrency"),
        ({"options": {"alluxio.worker.page.store.page.size": "12XB"}}, "12XB"),
        ({"options": ["not", "a", "dict"]}, "options"),
        ({"worker_hosts": "127.0.0.1:99999"}, "99999"),
        ({"etcd_hosts": "127.0.0.1"}, "not both"),
        ({"target_options": {"anon": True}}, "target_protocol"),
    ],
)
def test_bad_options_are_value_errors(kwargs: Dict[str, Any], needle: str) -> None:
    args: Dict[str, Any] = {"worker_hosts": "127.0.0.1:28080", **kwargs}
    with pytest.raises(ValueError, match=needle):
        AlluxioFileSystem(skip_instance_cache=True, **args)


def test_bad_arguments_are_value_errors(
    cluster: LocalCluster, dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(etcd=str(cluster.etcd_hosts), ufs=True)
    path = str(dataset / "many.bin")
    with pytest.raises(ValueError, match="n=0"):
        fs.locate(path, n=0)
    with pytest.raises(ValueError, match="'ab'"):
        fs.open(path, "ab")
    with pytest.raises(ValueError, match="same length"):
        fs.cat_ranges([path], [0, 1], [1])
    with pytest.raises(ValueError, match="offset=-1"):
        fs.client.read_range(fs.ufs_path(path), -1, 10)
    with pytest.raises(ValueError, match="length=-2"):
        fs.client.read_range(fs.ufs_path(path), 0, -2)
    bare = make_fs(etcd=str(cluster.etcd_hosts))
    with pytest.raises(ValueError, match="no scheme"):
        bare.cat_file(path.lstrip("/"))
    assert fs.stats()["fallbacks"] == 0
    assert fallback_warnings(caplog) == []


# ── PermissionError: outside the worker's under-storage root ──


def test_path_outside_the_root_is_permission_error(
    cluster: LocalCluster, dataset: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(cluster.worker_hosts)
    for url, needle in (
        ("file:///etc/passwd", "/etc/passwd"),
        ("file://" + str(dataset) + "/../escape.bin", "escape.bin"),
    ):
        for name, op in operations(fs, url, "file:///etc").items():
            with pytest.raises(PermissionError) as e:
                op()
            assert type(e.value) is PermissionError, (name, repr(e.value))
            assert not isinstance(e.value, AlluxioError)
            assert ("/etc" if name == "ls" else needle) in str(e.value), name
    assert fs.stats()["fallbacks"] == 0
    assert fallback_warnings(caplog) == []


# ── cluster-level failures ──


def test_unreachable_etcd_is_etcd_connection_error() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    fs = make_fs(etcd=endpoint)
    for name, op in operations(fs, "file:///data/a.bin", "file:///data").items():
        with pytest.raises(EtcdConnectionError) as e:
            op()
        assert isinstance(e.value, ConnectionError), name
        assert isinstance(e.value, AlluxioError) and isinstance(e.value, EtcdError)
        assert endpoint in str(e.value), name
    with pytest.raises(EtcdConnectionError, match=endpoint):
        fs.client.workers()


def test_no_workers_is_no_workers_error(etcd: EtcdProcess) -> None:
    fs = make_fs(etcd=etcd.endpoint)
    for name, op in operations(fs, "file:///data/a.bin", "file:///data").items():
        with pytest.raises(NoWorkersError) as e:
            op()
        assert type(e.value) is NoWorkersError, name
        assert isinstance(e.value, AlluxioError) and not isinstance(e.value, ConnectionError)
        assert etcd.endpoint in str(e.value), name
    with pytest.raises(NoWorkersError, match="no Alluxio worker is registered"):
        fs.locate("file:///data/a.bin")


@pytest.mark.timeout(30)
def test_nothing_listening_is_worker_connection_error() -> None:
    worker = f"127.0.0.1:{free_port()}"
    fs = make_fs(worker, retries=1, timeout=1)
    ops = operations(fs, "file:///data/a.bin", "file:///data")
    ops["pipe_file"] = lambda: fs.pipe_file("file:///data/new.bin", b"data")
    t = time.monotonic()
    for name, op in ops.items():
        with pytest.raises(WorkerConnectionError) as e:
            op()
        assert isinstance(e.value, ConnectionError) and isinstance(e.value, AlluxioError), name
        assert worker in str(e.value), name
        assert e.value.kind == "refused", name
    assert time.monotonic() - t < 5
    assert fs.stats()["errors"] == len(ops)


# ── worker answers: error status, malformed, none at all ──


def test_worker_500_is_worker_error(proxy: FaultProxy, dataset: Path) -> None:
    proxy.set_mode("status_500")
    fs = make_fs(proxy.authority, retries=2)
    url = "file://" + str(dataset / "many.bin")
    for name, op in operations(fs, url, "file://" + str(dataset)).items():
        with pytest.raises(WorkerError) as e:
            op()
        assert type(e.value) is WorkerError, name
        assert isinstance(e.value, AlluxioError) and not isinstance(e.value, ConnectionError)
        assert e.value.status == 500 and e.value.kind == "status"
        assert proxy.authority in str(e.value) and "injected 500" in str(e.value), name
    # Each operation was tried `retries` times on the one worker.
    assert proxy.requests == 2 * 5


def test_malformed_answer_is_worker_error_without_status(proxy: FaultProxy, dataset: Path) -> None:
    proxy.set_mode("extra", only="/v1/info")
    fs = make_fs(proxy.authority, retries=2)
    with pytest.raises(WorkerError) as e:
        fs.info("file://" + str(dataset / "many.bin"))
    assert e.value.status is None and e.value.kind == "bad_body"
    assert proxy.authority in str(e.value) and "malformed" in str(e.value)
    assert proxy.faults == 2


@pytest.mark.timeout(30)
def test_hanging_worker_is_alluxio_timeout_error(proxy: FaultProxy, dataset: Path) -> None:
    proxy.set_mode("hang")
    fs = make_fs(proxy.authority, timeout=1, retries=1)
    t = time.monotonic()
    with pytest.raises(AlluxioTimeoutError) as e:
        fs.cat_file("file://" + str(dataset / "many.bin"))
    assert 0.9 < time.monotonic() - t < 5
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, AlluxioError)
    assert proxy.authority in str(e.value)
    assert e.value.kind in ("answer_timeout", "deadline")
    # Data requests time out too (the size comes from the worker in ok mode).
    proxy.set_mode("hang", only=("/v1/range", "/v1/file/"))
    with pytest.raises(AlluxioTimeoutError):
        fs.cat_file("file://" + str(dataset / "page_plus.bin"))


# ── each transport kind through the public API ──


@pytest.mark.parametrize(
    ("mode", "cls", "kind"),
    [
        ("close", WorkerConnectionError, "closed_before_answer"),
        ("truncate", WorkerConnectionError, "closed_mid_answer"),
        ("extra", WorkerError, "long_body"),
        ("status_500", WorkerError, "status"),
    ],
)
def test_data_faults_have_their_kind(
    proxy: FaultProxy, dataset: Path, mode: str, cls: type, kind: str
) -> None:
    fs = make_fs(proxy.authority, retries=1)
    url = "file://" + str(dataset / "many.bin")
    size = fs.info(url)["size"]
    proxy.set_mode(mode, only=("/v1/range", "/v1/file/"))
    with pytest.raises(AlluxioError) as e:
        fs.cat_file(url, start=0, end=min(size, PAGE))
    assert type(e.value) is cls, repr(e.value)
    assert e.value.kind == kind and proxy.authority in str(e.value)


@pytest.mark.timeout(30)
def test_the_deadline_has_its_kind(proxy: FaultProxy, dataset: Path) -> None:
    proxy.set_mode("hang")
    fs = make_fs(proxy.authority, timeout=5, deadline=0.5)
    with pytest.raises(AlluxioTimeoutError) as e:
        fs.info("file://" + str(dataset / "many.bin"))
    assert e.value.kind == "deadline" and "deadline" in str(e.value)
