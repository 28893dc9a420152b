"""Shared fixtures: a real etcd started by the tests themselves."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.etcd_process import EtcdProcess, free_port, worker_registration
from alluxiofs.local_cluster import LocalCluster

ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("alluxiofs")
    group.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the reliability suites (tests/reliability) at full length, not CI size",
    )
    group.addoption(
        "--figures-json",
        default=None,
        metavar="PATH",
        help="also write the reliability figures to PATH as JSON",
    )


@pytest.fixture(scope="session")
def long_mode(request: pytest.FixtureRequest) -> bool:
    """True under ``--long``: suites use their full-length sizes and durations."""
    return bool(request.config.getoption("--long"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    from tests.reliability.figures import lines, recorded

    found = lines()
    if not found:
        return
    terminalreporter.section("reliability figures")
    for line in found:
        terminalreporter.write_line(line)
    path = config.getoption("--figures-json")
    if path:
        with open(path, "w") as f:
            json.dump([{"suite": s, **v} for s, v in recorded()], f, indent=1, default=str)


def asset(name: str) -> object:
    with open(os.path.join(ASSETS, name)) as f:
        return json.load(f)


def worker_value(identifier: str, host: str, http_port: int) -> str:
    """The §1.2 value a Java worker registers (built without the Rust code)."""
    return worker_registration(uuid.UUID(hex=identifier), host, http_port)[1]


def worker_key(identifier: str) -> str:
    return worker_registration(uuid.UUID(hex=identifier), "", 0)[0]


@pytest.fixture()
def etcd() -> Iterator[EtcdProcess]:
    if shutil.which("etcd") is None:
        if os.environ.get("CI"):
            pytest.fail("etcd is not installed (apt-get install etcd-server etcd-client)")
        pytest.skip("etcd is not installed (apt-get install etcd-server etcd-client)")
    server = EtcdProcess()
    try:
        yield server
    finally:
        server.close()


PAGE = 64 * 1024
#: File name → size: the awkward sizes around the page size.
SIZES = {
    "empty.bin": 0,
    "one.bin": 1,
    "page_minus.bin": PAGE - 1,
    "page.bin": PAGE,
    "page_plus.bin": PAGE + 1,
    "many.bin": 7 * PAGE + 12345,
    "sub/a.txt": 6,
    "sub/deeper/b.bin": 3 * PAGE,
}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local under storage with files of awkward sizes (seeded, read-only)."""
    root = tmp_path_factory.mktemp("ufs")
    rnd = random.Random(1234)
    for name, size in SIZES.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rnd.randbytes(size) if name != "sub/a.txt" else b"hello\n")
    return root


@pytest.fixture(scope="session")
def cluster(dataset: Path) -> Iterator[LocalCluster]:
    """Three workers with etcd over ``dataset`` (64 KiB pages), for the session."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    with LocalCluster(str(dataset), workers=3, start_etcd=True, page_size=str(PAGE)) as c:
        yield c


@pytest.fixture()
def afs(cluster: LocalCluster) -> AlluxioFileSystem:
    """A fresh filesystem on ``cluster`` with the local disk as under storage."""
    return AlluxioFileSystem(
        etcd_hosts=cluster.etcd_hosts,
        target_protocol="file",
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
        skip_instance_cache=True,
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A moto S3 server on a free port (its endpoint URL), for the module."""
    yield from moto_server()


def moto_server() -> Iterator[str]:
    """Starts a moto S3 server on a free port, yields its endpoint URL and
    stops it (for a fixture to ``yield from``)."""
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which(
        "moto_server"
    )
    if exe is None:
        pytest.fail("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.kill()
        proc.wait()


def cluster_over(root: Path, workers: int = 2, **kw: Any) -> Iterator[LocalCluster]:
    """A ``local-cluster`` with its own etcd over the directory ``root``, for
    a fixture to ``yield from`` (skips where etcd is not installed)."""
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    with LocalCluster(str(root), workers=workers, start_etcd=True, **kw) as c:
        yield c
