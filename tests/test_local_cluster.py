"""``alluxiofs local-cluster`` and ``alluxiofs worker`` as processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from alluxiofs.client import AlluxioClient
from tests.cluster_util import ClusterProcess, pid_alive, wait_for


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "ufs"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(os.urandom(3000))
    (d / "sub" / "b.bin").write_bytes(b"hello")
    return d


def health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2) as r:
            return r.read() == b"worker is active"
    except OSError:
        return False


def test_etcd_cluster_lifecycle(dataset: Path) -> None:
    c = ClusterProcess(["--workers", "3", "--ufs", str(dataset), "--start-etcd"])
    try:
        info = c.info
        assert set(info) == {"etcd_hosts", "worker_hosts", "s3_hosts", "worker_pids", "ufs"}
        assert info["ufs"] == f"file://{dataset}"
        assert len(info["worker_pids"]) == 3 and all(pid_alive(p) for p in info["worker_pids"])
        assert all(health(p) for p in c.worker_ports)
        workers = AlluxioClient(etcd_hosts=info["etcd_hosts"]).workers()
        assert sorted(w["http_port"] for w in workers) == sorted(c.worker_ports)
    finally:
        assert c.stop() == 0
    assert not any(pid_alive(p) for p in info["worker_pids"])
    assert not any(health(p) for p in c.worker_ports)
    port = int(info["etcd_hosts"].rsplit(":", 1)[1])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)


def test_kill_9_worker_leaves_the_ring_within_its_lease(dataset: Path) -> None:
    ttl = 3
    with ClusterProcess(
        ["--workers", "3", "--ufs", str(dataset), "--start-etcd", "--lease-ttl", str(ttl)]
    ) as c:
        client = AlluxioClient(etcd_hosts=c.info["etcd_hosts"])
        assert len(client.workers()) == 3
        victim_pid, victim_port = c.info["worker_pids"][1], c.worker_ports[1]
        os.kill(victim_pid, signal.SIGKILL)
        took = wait_for(
            lambda: victim_port not in [w["http_port"] for w in client.workers()],
            ttl + 3,
            "the killed worker leaving etcd",
        )
        print(f"killed worker left the ring after {took:.2f}s (lease TTL {ttl}s)")
        assert len(client.workers()) == 2


def test_graceful_worker_stop_leaves_at_once(dataset: Path) -> None:
    with ClusterProcess(
        ["--workers", "2", "--ufs", str(dataset), "--start-etcd", "--lease-ttl", "60"]
    ) as c:
        client = AlluxioClient(etcd_hosts=c.info["etcd_hosts"])
        os.kill(c.info["worker_pids"][0], signal.SIGTERM)
        took = wait_for(lambda: len(client.workers()) == 1, 5, "SIGTERM'd worker leaving")
        print(f"worker left {took:.2f}s after SIGTERM (lease TTL 60s: revoked, not expired)")


def test_static_cluster(dataset: Path) -> None:
    with ClusterProcess(["--workers", "2", "--ufs", f"file://{dataset}"]) as c:
        assert c.info["etcd_hosts"] is None
        client = AlluxioClient(worker_hosts=c.info["worker_hosts"])
        assert sorted(w["http_port"] for w in client.workers()) == sorted(c.worker_ports)
        assert all(health(p) for p in c.worker_ports)


@pytest.mark.parametrize("interval", ["-1", "0"])
def test_metadata_sync_interval_reaches_the_workers(dataset: Path, interval: str) -> None:
    """A file rewritten behind the cache: with -1 (check once) info and reads
    keep describing the cached version; with 0 (always ask) info sees the new
    one and reads return its bytes."""
    from alluxiofs import AlluxioFileSystem

    args = ["--workers", "2", "--ufs", f"file://{dataset}", "--metadata-sync-interval", interval]
    with ClusterProcess(args) as c:
        fs = AlluxioFileSystem(
            worker_hosts=c.info["worker_hosts"], target_protocol="file", skip_instance_cache=True
        )
        path = str(dataset / "sub" / "b.bin")
        assert fs.cat_file(path) == b"hello"
        assert fs.info(path)["size"] == 5
        st = os.stat(path)
        (dataset / "sub" / "b.bin").write_bytes(b"hello, world")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        if interval == "-1":
            assert fs.info(path)["size"] == 5
            assert fs.cat_file(path) == b"hello"
        else:
            assert fs.info(path)["size"] == 12
            assert fs.cat_file(path) == b"hello, world"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "alluxiofs",
            "worker",
            "--ufs",
            str(tmp_path / "missing"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--port",
            "0",
            "--s3-port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "missing" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "alluxiofs", "local-cluster", "--ufs", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0 and "nope" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "alluxiofs", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "local-cluster" in r.stdout and "worker" in r.stdout
