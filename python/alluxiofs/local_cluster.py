"""A local cluster: etcd (optional) and N workers on loopback (the
``alluxiofs local-cluster`` command, :mod:`alluxiofs.cli.local_cluster`).

Each worker is its own OS process (so a test can kill one). When every worker
answers ``/v1/health`` (and, with etcd, is registered) one JSON line is
printed on stdout::

    {"etcd_hosts": "127.0.0.1:PORT" | null, "worker_hosts": "127.0.0.1:P1,...",
     "s3_hosts": "127.0.0.1:S1,...", "worker_pids": [...], "ufs": "..."}

``s3_hosts`` are the workers' S3 API endpoints (path-style ``/bucket/key``),
in the order of ``worker_hosts``.

SIGINT/SIGTERM stops every process it started (workers first, so they revoke
their etcd leases), then removes the cache directory if it made one.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, List, Mapping, Optional

from alluxiofs.etcd_process import EtcdProcess, free_port

READY_TIMEOUT = 60.0

#: What ``--start-etcd`` says when there is no ``etcd`` on ``PATH`` (one line).
NO_ETCD = (
    "--start-etcd needs an etcd binary on PATH and there is none: install it "
    "(Debian/Ubuntu: apt install etcd-server; elsewhere: "
    "https://github.com/etcd-io/etcd/releases), or leave out --start-etcd "
    "to run static workers (clients then use worker_hosts)"
)


def _ufs_url(ufs: str) -> str:
    if "://" in ufs:
        return ufs
    path = os.path.abspath(ufs)
    if not os.path.isdir(path):
        raise ValueError(f"--ufs {ufs!r} is not a directory")
    return "file://" + path


def worker_args(values: Mapping[str, Any]) -> List[str]:
    """The ``alluxiofs worker`` options giving ``values`` (setting name to
    value; ``None`` and ``False`` are left out). A ValueError names a setting
    that is unknown or not one ``local-cluster`` passes to its workers (the
    port, cache directory, peers and identity are its own)."""
    from alluxiofs import _core

    shared = {s["name"]: s for s in _core.worker_settings() if s["local_cluster"]}
    args: List[str] = []
    for name, value in values.items():
        setting = shared.get(name)
        if setting is None:
            raise ValueError(
                f"{name!r} is not a worker setting local-cluster passes on "
                f"(those are: {', '.join(shared)})"
            )
        if value is None or value is False:
            continue
        if setting["kind"] == "flag":
            if value is not True:
                raise ValueError(f"invalid {name}={value!r}: expected True or False")
            args.append(setting["flag"])
        else:
            args += [setting["flag"], str(value)]
    return args


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


class LocalCluster:
    """The processes of one local cluster (usable from tests as a context manager).

    ``page_size`` to ``metadata_sync_interval`` and ``settings`` (more worker
    settings by name, e.g. ``{"readahead_pages": "4"}``) are passed to every
    worker (see :func:`worker_args`)."""

    def __init__(
        self,
        ufs: str,
        workers: int = 3,
        start_etcd: bool = False,
        etcd_hosts: Optional[str] = None,
        page_size: Optional[str] = None,
        cache_dir: Optional[str] = None,
        cache_size: Optional[str] = None,
        lease_ttl: str = "10",
        oss_strict: bool = False,
        s3: Optional[Dict[str, Optional[str]]] = None,
        metadata_sync_interval: Optional[str] = None,
        settings: Optional[Mapping[str, Any]] = None,
        s3_ports: Optional[List[int]] = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"--workers {workers}: need at least 1")
        if start_etcd and etcd_hosts:
            raise ValueError("give --start-etcd or --etcd-hosts, not both")
        self.ufs = _ufs_url(ufs)
        self.n = workers
        self.etcd: Optional[EtcdProcess] = None
        self.etcd_hosts = etcd_hosts
        self._own_cache = cache_dir is None
        self.cache_dir = cache_dir or tempfile.mkdtemp(prefix="alluxiofs-cluster-")
        self.ports = [free_port() for _ in range(workers)]
        #: Each worker's S3 API port (free ones unless given).
        self.s3_ports = list(s3_ports) if s3_ports else [free_port() for _ in range(workers)]
        if len(self.s3_ports) != workers:
            raise ValueError(f"s3_ports: {len(self.s3_ports)} ports for {workers} workers")
        self.procs: List[subprocess.Popen[bytes]] = []
        given: Dict[str, Any] = {
            "page_size": page_size,
            "cache_size": cache_size,
            "lease_ttl": lease_ttl,
            "metadata_sync_interval": metadata_sync_interval,
            "oss_strict": oss_strict,
        }
        given.update({f"s3_{key}": value for key, value in (s3 or {}).items()})
        given.update({k: v for k, v in (settings or {}).items() if v is not None})
        self._common = ["--ufs", self.ufs, *worker_args(given)]
        self._start_etcd = start_etcd

    @property
    def worker_hosts(self) -> str:
        """``127.0.0.1:P1,127.0.0.1:P2,...``"""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    @property
    def s3_hosts(self) -> str:
        """The workers' S3 API endpoints, ``127.0.0.1:S1,...``."""
        return ",".join(f"127.0.0.1:{p}" for p in self.s3_ports)

    def worker_command(self, i: int) -> List[str]:
        """The command line of worker ``i``."""
        while len(self.s3_ports) <= i:  # a worker added after construction
            self.s3_ports.append(free_port())
        cmd = [
            sys.executable,
            "-m",
            "alluxiofs",
            "worker",
            "--port",
            str(self.ports[i]),
            "--s3-port",
            str(self.s3_ports[i]),
            "--cache-dir",
            os.path.join(self.cache_dir, f"worker-{i}"),
            *self._common,
        ]
        if self.etcd_hosts:
            cmd += ["--etcd-hosts", self.etcd_hosts]
        else:
            cmd += ["--worker-hosts", self.worker_hosts]
        return cmd

    def start_worker(self, i: int) -> subprocess.Popen[bytes]:
        """Starts (or restarts) worker ``i`` on its port."""
        env = dict(os.environ)
        env.setdefault("ALLUXIOFS_WORKER_LOG", "WARNING")
        proc = subprocess.Popen(self.worker_command(i), stdout=subprocess.DEVNULL, env=env)
        if i < len(self.procs):
            self.procs[i] = proc
        else:
            self.procs.append(proc)
        return proc

    def start(self) -> Dict[str, Any]:
        """Starts everything and waits until ready; returns the JSON-line dict."""
        if self.procs or self.etcd is not None:
            # A second start would reuse the ports and orphan the first etcd.
            raise RuntimeError("this LocalCluster is already started")
        try:
            if self._start_etcd:
                if shutil.which("etcd") is None:
                    raise FileNotFoundError(NO_ETCD)
                self.etcd = EtcdProcess()
                self.etcd_hosts = self.etcd.endpoint
            for i in range(self.n):
                self.start_worker(i)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self.info()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Waits until every worker is healthy and, with etcd, registered."""
        deadline = time.monotonic() + timeout
        pending = set(range(self.n))
        while pending:
            for i in sorted(pending):
                code = self.procs[i].poll()
                if code is not None:
                    raise RuntimeError(f"worker {i} (port {self.ports[i]}) exited with code {code}")
                if _healthy(self.ports[i]):
                    pending.discard(i)
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {sorted(pending)} not ready after {timeout:.0f}s")
            time.sleep(0.05)
        if self.etcd_hosts:
            from alluxiofs.client import AlluxioClient

            client = AlluxioClient(etcd_hosts=self.etcd_hosts, etcd_refresh_workers_interval=0)
            want = {f"127.0.0.1:{p}" for p in self.ports}
            while True:
                try:
                    have = {f"{w['host']}:{w['http_port']}" for w in client.workers()}
                except OSError:
                    have = set()
                if want <= have:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers not registered in etcd: {sorted(want - have)}")
                time.sleep(0.05)

    def info(self) -> Dict[str, Any]:
        """The JSON-line dict."""
        return {
            "etcd_hosts": self.etcd_hosts,
            "worker_hosts": self.worker_hosts,
            "s3_hosts": self.s3_hosts,
            "worker_pids": [p.pid for p in self.procs],
            "ufs": self.ufs,
        }

    def stop(self) -> None:
        """Stops every process this cluster started, workers first."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.etcd is not None:
            self.etcd.close()
            self.etcd = None
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
