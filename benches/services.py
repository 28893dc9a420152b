"""The processes a benchmark run needs — moto_server, the main
``LocalCluster`` (3 workers and a private etcd, roots ``file://DATA`` and
``s3://bench``), fresh clusters for C1 — all registered on one ``ExitStack``
so that they are stopped at the end, on errors and on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import fsspec
from harness import CONCURRENCY, MIB, say

from alluxiofs.etcd_process import EtcdProcess, free_port
from alluxiofs.local_cluster import LocalCluster

S3_KEY = "testing"
S3_REGION = "us-east-1"
#: An S3 endpoint where nothing listens: a fallback to it fails, so every byte
#: a filesystem built with it returns came from the cache workers.
DEAD_S3 = "http://127.0.0.1:9"


def start_moto(stack: contextlib.ExitStack) -> str:
    """Starts moto_server on a free port; returns its endpoint URL."""
    exe = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or shutil.which(
        "moto_server"
    )
    if exe is None:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_kill, proc)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=1).close()
            return endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Services:
    """Everything started for one benchmark run."""

    def __init__(self, stack: contextlib.ExitStack, data_root: str, cache_size: str) -> None:
        self.stack = stack
        self.moto = start_moto(stack)
        self.s3_options: Dict[str, Any] = {
            "key": S3_KEY,
            "secret": S3_KEY,
            "endpoint_url": self.moto,
        }
        self.worker_s3: Dict[str, Optional[str]] = {
            "endpoint": self.moto,
            "region": S3_REGION,
            "access_key_id": S3_KEY,
            "secret_access_key": S3_KEY,
        }
        self.data_root = data_root
        self.cache_size = cache_size
        self.cluster: Optional[LocalCluster] = None
        self._c1_etcd: Optional[EtcdProcess] = None

    def s3fs(self) -> Any:
        """A fresh s3fs filesystem on moto."""
        return fsspec.filesystem("s3", skip_instance_cache=True, **self.s3_options)

    def start_cluster(self) -> LocalCluster:
        """The main cluster: 3 workers over ``file://DATA`` and ``s3://bench``."""
        say("starting local-cluster (3 workers, etcd)")
        cluster = LocalCluster(
            f"file://{self.data_root},s3://bench",
            workers=3,
            start_etcd=True,
            cache_size=self.cache_size,
            s3=self.worker_s3,
        )
        cluster.start()
        self.stack.callback(cluster.stop)
        self.cluster = cluster
        return cluster

    @property
    def etcd_hosts(self) -> str:
        assert self.cluster is not None and self.cluster.etcd_hosts
        return self.cluster.etcd_hosts

    def fs(self, protocol: str = "file", etcd_hosts: Optional[str] = None, **extra: Any) -> Any:
        """Our filesystem on a cluster (the main one by default), with
        ``extra`` options. With ``protocol="s3"`` the fallback is a dead
        endpoint (see DEAD_S3)."""
        options = None
        if protocol == "s3":
            options = {**self.s3_options, "endpoint_url": DEAD_S3}
        return fsspec.filesystem(
            "alluxiofs",
            etcd_hosts=etcd_hosts or self.etcd_hosts,
            target_protocol=protocol,
            target_options=options,
            concurrency=CONCURRENCY,
            skip_instance_cache=True,
            **extra,
        )

    @contextlib.contextmanager
    def cached_fs(self, size: int, ttl: int = 60) -> Iterator[Tuple[Optional[Any], str]]:
        """Our filesystem with a node-local cache of ``size`` bytes (whole
        MiB) in a new temporary directory, removed afterwards; metadata
        revalidated every ``ttl`` seconds. Yields ``(fs, "")``, or ``(None,
        why)`` where this build has no local cache."""
        d = tempfile.mkdtemp(prefix="alluxiofs-bench-cache-")
        try:
            try:
                fs = self.fs(
                    "file",
                    local_cache_dir=d,
                    local_cache_size=f"{max(1, size // MIB)}MB",
                    local_cache_metadata_ttl=ttl,
                )
            except (TypeError, ValueError) as e:
                yield None, f"skipped: no local cache in this build ({e})"[:300]
            else:
                yield fs, ""
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @contextlib.contextmanager
    def fresh_s3_cluster(self) -> Any:
        """A new 3-worker cluster over ``s3://bench`` with an empty cache (C1),
        registered in an etcd of its own (kept across calls)."""
        if self._c1_etcd is None:
            self._c1_etcd = EtcdProcess()
            self.stack.callback(self._c1_etcd.close)
        cluster = LocalCluster(
            "s3://bench",
            workers=3,
            etcd_hosts=self._c1_etcd.endpoint,
            cache_size=self.cache_size,
            s3=self.worker_s3,
        )
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()


def wait_members(fs: Any, hosts: str, timeout: float = 30) -> None:
    """Waits until ``fs`` sees exactly the workers ``hosts`` (after a restart)."""
    want = set(hosts.split(","))
    deadline = time.monotonic() + timeout
    while True:
        have = {f"{w['host']}:{w['http_port']}" for w in fs.client.workers()}
        if have == want:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"client sees workers {sorted(have)}, want {sorted(want)}")
        time.sleep(0.05)


def owners(fs: Any, urls: List[str]) -> Dict[str, str]:
    """``host:port`` of the ring owner of each URL."""
    out = {}
    for u in urls:
        w = fs.client.locate(u)[0]
        out[u] = f"{w['host']}:{w['http_port']}"
    return out


def _proc_table() -> Dict[int, Tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (Linux /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry)] = (ppid, cmd)
    return out


def _descendants(root: int, table: Dict[int, Tuple[int, str]]) -> Set[int]:
    kids: Dict[int, List[int]] = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out: Set[int] = set()
    todo = [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def stop_ray(ray: Any) -> None:
    """``ray.shutdown()``, then ends any Ray process of ours that outlived it
    (after an interrupted job, Ray's agents can be left orphaned)."""
    table = _proc_table()
    mine = [
        p
        for p in _descendants(os.getpid(), table)
        if table[p][1].startswith(("ray::", "raylet", "gcs_server")) or "/ray/" in table[p][1]
    ]
    ray.shutdown()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in mine):
            time.sleep(0.1)
        for p in mine:
            with contextlib.suppress(OSError):
                os.kill(p, sig)
