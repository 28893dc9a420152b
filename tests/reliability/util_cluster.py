"""Helpers shared by the cluster suites R1, R2, R10 and R11: a seeded dataset
written to a local under storage, reader threads that verify every byte they
get against it, ``kill -9`` of one worker of a :class:`LocalCluster`, and a
view of the ring as a client sees it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set

from alluxiofs import AlluxioFileSystem
from alluxiofs.client import AlluxioClient
from alluxiofs.local_cluster import LocalCluster
from tests.cluster_util import wait_for

PAGE = 64 * 1024
OPTIONS = {"alluxio.worker.page.store.page.size": str(PAGE)}
#: Sizes every dataset includes: empty, a byte, around one page, several pages.
AWKWARD = [0, 1, PAGE - 1, PAGE, PAGE + 1, 3 * PAGE + 17]


def make_dataset(root: Path, files: int, total: int, seed: int) -> Dict[str, bytes]:
    """Writes ``files`` files (the awkward sizes first, the rest random, about
    ``total`` bytes in all) under ``root``; returns URL -> content."""
    rnd = random.Random(seed)
    sizes = AWKWARD[:files]
    rest = files - len(sizes)
    if rest > 0:
        budget = max(0, total - sum(sizes))
        weights = [rnd.random() + 0.05 for _ in range(rest)]
        scale = budget / sum(weights)
        sizes += [int(w * scale) + rnd.randint(0, PAGE) for w in weights]
    out: Dict[str, bytes] = {}
    for i, size in enumerate(sizes):
        path = root / f"d{i % 3}" / f"f{i:03d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(size)
        path.write_bytes(data)
        out["file://" + str(path)] = data
    return out


def wrong_bytes(got: bytes, want: bytes) -> int:
    """Bytes that differ, counting a length difference as wrong bytes."""
    if got == want:
        return 0
    same = sum(1 for a, b in zip(got, want) if a == b)
    return max(len(got), len(want)) - same


def new_fs(
    *, etcd_hosts: Optional[str] = None, worker_hosts: Optional[str] = None, ufs: bool = True
) -> AlluxioFileSystem:
    """A fresh filesystem (no instance cache), with the local disk as fallback
    if ``ufs``."""
    return AlluxioFileSystem(
        etcd_hosts=etcd_hosts,
        worker_hosts=worker_hosts,
        target_protocol="file" if ufs else None,
        options=OPTIONS,
        skip_instance_cache=True,
    )


def ring_ports(client: AlluxioClient) -> Set[int]:
    """HTTP ports of the workers in the client's current ring (empty on error)."""
    try:
        return {int(w["http_port"]) for w in client.workers()}
    except OSError:
        return set()


def kill9(cluster: LocalCluster, i: int) -> None:
    """``kill -9`` worker ``i`` of ``cluster`` and reaps it."""
    proc = cluster.procs[i]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def restart(cluster: LocalCluster, i: int, timeout: float = 30) -> subprocess.Popen[bytes]:
    """Starts worker ``i`` again on its port and waits until it is healthy."""
    proc = cluster.start_worker(i)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"worker {i} exited with {proc.returncode} on restart")
        try:
            url = f"http://127.0.0.1:{cluster.ports[i]}/v1/health"
            with urllib.request.urlopen(url, timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    wait_for(healthy, timeout, f"worker {i} healthy after restart")
    return proc


def read_once(fs: AlluxioFileSystem, url: str, data: bytes, rnd: random.Random) -> tuple[int, int]:
    """One random read of ``url`` (whole file, a range, a file object or
    ``cat_ranges``); returns (bytes checked, wrong bytes)."""
    n = len(data)
    kind = rnd.randrange(4)
    if kind == 0:
        got = fs.cat_file(url)
        return len(data), wrong_bytes(got, data)
    s = rnd.randint(0, n)
    e = rnd.randint(s, min(n, s + 4 * PAGE) + 3)  # sometimes past the end
    if kind == 1:
        got = fs.cat_file(url, start=s, end=e)
        return len(data[s:e]), wrong_bytes(got, data[s:e])
    if kind == 2:
        with fs.open(url, "rb") as f:
            f.seek(s)
            got = f.read(e - s)
        return len(data[s:e]), wrong_bytes(got, data[s:e])
    starts = [s, max(0, s - PAGE), 0]
    ends = [e, s, min(n, 10)]
    outs = fs.cat_ranges([url] * 3, starts, ends, on_error="raise")
    checked = wrong = 0
    for a, b, got in zip(starts, ends, outs):
        checked += len(data[a:b])
        wrong += wrong_bytes(got, data[a:b])
    return checked, wrong


class Readers:
    """Threads that each loop ``read_once`` on their own filesystem (from
    ``fs_for(i)``) over ``dataset`` until :meth:`stop`, counting reads, bytes
    checked, wrong bytes and failures (with the first few tracebacks) and the
    time of every completed read (to show reads kept being served)."""

    def __init__(
        self,
        dataset: Dict[str, bytes],
        fs_for: Callable[[int], AlluxioFileSystem],
        threads: int,
        seed: int,
        urls: Optional[List[str]] = None,
        once: Callable[[AlluxioFileSystem, str, bytes, random.Random], tuple[int, int]] = read_once,
    ) -> None:
        self.dataset = dataset
        self.urls = urls or sorted(dataset)
        self._once = once
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.reads = 0
        self.bytes_checked = 0
        self.wrong_bytes = 0
        self.failed = 0
        self.errors: List[str] = []
        self.done_at: List[float] = []
        self.fss = [fs_for(i) for i in range(threads)]
        self._threads = [
            threading.Thread(target=self._run, args=(self.fss[i], seed + i), daemon=True)
            for i in range(threads)
        ]

    def start(self) -> Readers:
        for t in self._threads:
            t.start()
        return self

    def _run(self, fs: AlluxioFileSystem, seed: int) -> None:
        rnd = random.Random(seed)
        while not self._stop.is_set():
            url = rnd.choice(self.urls)
            try:
                checked, wrong = self._once(fs, url, self.dataset[url], rnd)
            except Exception as e:
                with self._lock:
                    self.failed += 1
                    if len(self.errors) < 5:
                        self.errors.append(f"{url}: {e!r}\n{traceback.format_exc()}")
                continue
            with self._lock:
                self.reads += 1
                self.bytes_checked += checked
                self.wrong_bytes += wrong
                self.done_at.append(time.monotonic())

    def count(self) -> int:
        with self._lock:
            return self.reads

    def reads_between(self, t0: float, t1: float) -> int:
        with self._lock:
            return sum(1 for t in self.done_at if t0 <= t < t1)

    def wait_reads(self, n: int, timeout: float) -> None:
        """Waits until ``n`` more reads have completed."""
        target = self.count() + n
        wait_for(lambda: self.count() >= target, timeout, f"{n} more reads")

    def stop(self, timeout: float = 60) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"reader threads still running (hung?) after {timeout}s: {alive}"

    def summary(self) -> Dict[str, Any]:
        return {
            "reads": self.reads,
            "bytes_verified": self.bytes_checked,
            "wrong_bytes": self.wrong_bytes,
            "failed_reads": self.failed,
        }


def stats_delta(after: Dict[str, int], before: Dict[str, int]) -> Dict[str, int]:
    """Counters that changed between two ``fs.stats()`` snapshots."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def listing(root: str) -> Set[str]:
    """Every file and directory under ``root``, relative (what a user of the
    under storage would see)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out
