"""R7 etcd auth: etcd with authentication on (a ``root`` user, and the
least-privilege user ``alluxio`` whose role may only read and write
``/ServiceDiscovery/``).

* Right credentials: two workers (``python -m alluxiofs worker
  --etcd-username/--etcd-password``) register; ``AlluxioClient`` and
  ``AlluxioFileSystem`` (keyword and ``options`` forms) see both and read every
  file of the dataset with the right bytes, from the workers (no fallback).
  A client without credentials is refused (auth is really on).
* Wrong credentials: the client raises ``EtcdAuthError`` (a ``PermissionError``)
  within seconds, naming etcd, the endpoint and the user but never the
  password; a worker with a wrong password exits non-zero with an etcd
  authentication message on stderr; while clients with the wrong password keep
  being used (dozens of calls), etcd sees only a handful of ``Authenticate``
  calls (its ``grpc_server_started_total`` counter): no retry storm.

CI: a 5 s window of wrong-credential use (~15 s in all); ``--long``: 60 s
(the client's 30 s auth back-off then shows up as at most 2 more attempts per
client).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from alluxiofs import AlluxioClient, AlluxioFileSystem, EtcdAuthError
from alluxiofs.etcd_process import EtcdProcess
from tests.cluster_util import wait_for
from tests.conftest import PAGE, SIZES
from tests.reliability.figures import figure
from tests.reliability.util_procs import ETCD_AUTHENTICATE, WorkerProcess

USER, PASSWORD = "alluxio", "pw-right-7f3a"
WRONG = "pw-wrong-91c2"
OPTS = {"alluxio.worker.page.store.page.size": str(PAGE)}


@pytest.fixture()
def auth_etcd(etcd: EtcdProcess) -> EtcdProcess:
    """``etcd`` with auth enabled and a user limited to the membership prefix."""
    etcd.ctl("user", "add", "root:root-pw-x", "--interactive=false")
    etcd.ctl("role", "add", "alluxio-members")
    etcd.ctl(
        "role",
        "grant-permission",
        "alluxio-members",
        "--prefix=true",
        "readwrite",
        "/ServiceDiscovery/",
    )
    etcd.ctl("user", "add", f"{USER}:{PASSWORD}", "--interactive=false")
    etcd.ctl("user", "grant-role", USER, "alluxio-members")
    etcd.ctl("auth", "enable")
    return etcd


def start_workers(
    etcd: EtcdProcess, ufs: Path, tmp: Path, n: int, password: str
) -> List[WorkerProcess]:
    return [
        WorkerProcess(
            f"file://{ufs}",
            str(tmp / f"cache-{i}"),
            etcd_hosts=etcd.endpoint,
            username=USER,
            password=password,
            extra=["--lease-ttl", "5"],
        )
        for i in range(n)
    ]


def read_all(fs: AlluxioFileSystem, dataset: Path) -> Tuple[int, int]:
    """Reads every file whole and by a few ranges; returns (reads, wrong reads)."""
    reads = wrong = 0
    for name in SIZES:
        path = str(dataset / name)
        want = (dataset / name).read_bytes()
        for a, b in [(0, None), (1, PAGE + 3), (PAGE - 2, 3 * PAGE)]:
            got = fs.cat_file(path, a, b)
            reads += 1
            wrong += got != want[a:b]
    return reads, wrong


def test_right_credentials(auth_etcd: EtcdProcess, dataset: Path, tmp_path: Path) -> None:
    workers = start_workers(auth_etcd, dataset, tmp_path, 2, PASSWORD)
    try:
        for w in workers:
            w.wait_healthy()
        want = {w.authority for w in workers}
        client = AlluxioClient(
            etcd_hosts=auth_etcd.endpoint,
            etcd_username=USER,
            etcd_password=PASSWORD,
            etcd_refresh_workers_interval=0,
        )

        def registered() -> bool:
            return {f"{x['host']}:{x['http_port']}" for x in client.workers()} == want

        seconds = wait_for(registered, 20, "both workers registered through etcd with auth")
        keys = auth_etcd.ctl(
            "--user", f"{USER}:{PASSWORD}", "get", "--prefix", "--keys-only", "/ServiceDiscovery/"
        )
        assert keys.count("/ServiceDiscovery/DefaultAlluxioCluster/worker-") == 2, keys
        assert client.read(f"file://{dataset}/many.bin") == (dataset / "many.bin").read_bytes()

        reads = wrong = 0
        for kwargs in (
            {"etcd_username": USER, "etcd_password": PASSWORD, "options": OPTS},
            {"options": {**OPTS, "alluxio.etcd.username": USER, "alluxio.etcd.password": PASSWORD}},
        ):
            fs = AlluxioFileSystem(
                etcd_hosts=auth_etcd.endpoint,
                target_protocol="file",
                skip_instance_cache=True,
                **kwargs,
            )
            r, bad = read_all(fs, dataset)
            reads, wrong = reads + r, wrong + bad
            stats = fs.stats()
            assert stats["fallbacks"] == 0 and stats["bytes_from_ufs"] == 0, stats
            assert stats["bytes_from_workers"] > 0, stats
        with pytest.raises(PermissionError):
            AlluxioClient(etcd_hosts=auth_etcd.endpoint, etcd_refresh_workers_interval=0).workers()
        figure(
            "R7 etcd auth (right credentials)",
            workers_registered=len(want),
            seconds_to_see_workers=round(seconds, 2),
            reads_ok=reads - wrong,
            wrong_reads=wrong,
        )
        assert wrong == 0
        assert all(w.proc.poll() is None for w in workers)
    finally:
        for w in workers:
            w.close()


def check_message(e: BaseException, etcd: EtcdProcess) -> None:
    text = f"{e} {e!r}"
    assert isinstance(e, EtcdAuthError) and isinstance(e, PermissionError), repr(e)
    assert "etcd" in text and etcd.endpoint in text and USER in text, text
    assert WRONG not in text, f"the password leaks in {text}"


def test_wrong_credentials_no_retry_storm(
    auth_etcd: EtcdProcess, dataset: Path, tmp_path: Path, long_mode: bool
) -> None:
    window = 60.0 if long_mode else 5.0
    etcd = auth_etcd
    start = etcd.metric(ETCD_AUTHENTICATE)

    # A worker with the wrong password fails clearly, and stops.
    (bad_worker,) = start_workers(etcd, dataset, tmp_path, 1, WRONG)
    try:
        t0 = time.monotonic()
        try:
            code: Optional[int] = bad_worker.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        worker_seconds = time.monotonic() - t0
        err = bad_worker.stderr()
    finally:
        bad_worker.close()
    assert code not in (None, 0), f"a worker with a wrong etcd password: exit code {code}"
    assert "etcd" in err and "authentication" in err.lower(), err
    assert WRONG not in err, "the worker prints the password"
    after_worker = etcd.metric(ETCD_AUTHENTICATE)

    common: Dict[str, Any] = {
        "etcd_hosts": etcd.endpoint,
        "etcd_username": USER,
        "etcd_password": WRONG,
    }
    client = AlluxioClient(**common)
    assert WRONG not in repr(client)
    t0 = time.monotonic()
    with pytest.raises(PermissionError) as info:
        client.workers()
    time_to_error = time.monotonic() - t0
    check_message(info.value, etcd)
    bare = AlluxioFileSystem(options=OPTS, skip_instance_cache=True, **common)
    with_fallback = AlluxioFileSystem(
        options=OPTS, target_protocol="file", skip_instance_cache=True, **common
    )
    one = f"file://{dataset}/one.bin"
    want = (dataset / "one.bin").read_bytes()

    # Keep using all three for the window: errors every time, bytes from the fallback.
    calls = errors = fallback_ok = 0
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        for op in (
            client.workers,
            lambda: bare.cat_file(one),
            lambda: bare.ls(f"file://{dataset}"),
        ):
            calls += 1
            try:
                op()
            except PermissionError as e:
                check_message(e, etcd)
                errors += 1
        assert with_fallback.cat_file(one) == want
        fallback_ok += 1
        time.sleep(0.05)
    client_attempts = etcd.metric(ETCD_AUTHENTICATE) - after_worker
    worker_attempts = after_worker - start
    # Each client authenticates once, then (documented back-off) at most once per 30 s.
    budget = 3 * (1 + int(window // 30) + 1)
    figure(
        "R7 etcd auth (wrong credentials)",
        window_s=window,
        calls=calls,
        permission_errors=errors,
        fallback_reads_ok=fallback_ok,
        client_auth_attempts=int(client_attempts),
        auth_attempts_per_10s=round(client_attempts * 10 / window, 1),
        time_to_error_s=round(time_to_error, 3),
        worker_auth_attempts=int(worker_attempts),
        worker_exit_code=code,
        worker_seconds_to_exit=round(worker_seconds, 2),
    )
    assert errors == calls
    assert time_to_error < 10
    assert with_fallback.stats()["fallbacks"] >= fallback_ok
    assert client_attempts <= budget, f"{client_attempts} Authenticate calls in {window}s"
    assert worker_attempts <= 5, f"the worker tried {worker_attempts} times"
