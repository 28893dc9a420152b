"""R8 soak: 16 readers (2 spawned processes x 8 threads) read random whole
files, ranges, file-object slices and ``cat_ranges`` batches of a 32-file
dataset (0 B to 1 MiB, ~12 MiB) through their own ``AlluxioFileSystem`` on a
private 3-worker cluster, checking every byte against the files on disk.

Each process samples its own ``VmRSS`` and open fds (sockets apart) twice a
second. RSS is taken with every reader stopped between two reads, after
``gc.collect()``, glibc's ``malloc_trim`` and the extension's ``_core._trim``
(on the sampling thread, every runtime worker and every parked reader, which
ran short calls on its own thread): what the process keeps between reads,
which a leak raises. Without ``_core._trim`` the allocator's per-thread caches
made a quiet sample wander by +-5 % over tens of seconds with no trend
(``/proc/self/smaps`` put all of it in mimalloc's arena), and medians over 18 s
windows differed by up to 5.6 %; with it the level is ~115 MB instead of ~240
and 5-s medians stay within a few MB.

What is left moves with the number of pooled connections (~0.5 MB each: their
read buffers). So the readers use ``concurrency=16``, not the default 64: the
pool (up to ``concurrency`` idle connections per worker) then fills to its
bound within seconds and stays there, where at 64 it kept creeping up for
minutes (156 -> 172 sockets within one run, +8 MB). The code paths are the
same.

The first 20 % of the run, and at least 30 s, is warm-up; the rest is cut in
two halves, the "warm" level taken over the first and the "end" level over the
second: the median for RSS, the maximum for fds. Proven per process: 0 errors,
0 wrong bytes, no fallback to the under storage, RSS growth end/warm < 5 %,
non-socket fds at the end <= warm + 2, and sockets either the same (+2) or
within the HTTP pools' bound (two families, data GETs and the rest, each
with ``concurrency`` idle connections per worker for 60 s plus 2 of the
short-call pool; a leak would pass it). The workers' RSS
and fds are sampled too (reported, not asserted).

CI: 120 s. ``--long``: 600 s.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import queue
import random
import statistics
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple, TypeVar

import pytest

from alluxiofs import AlluxioFileSystem, _core
from alluxiofs.local_cluster import LocalCluster
from tests.reliability.figures import figure
from tests.reliability.util_procs import fd_count, rss_kb, socket_count

PAGE = 64 * 1024
PROCESSES, THREADS, WORKERS = 2, 8, 3
WARMUP = 0.2
#: Warm-up lasts at least this long: the client's connection pool grows to its
#: working size meanwhile.
WARMUP_MIN_S = 30.0
#: Seconds of the CI run and of ``--long``.
CI_S, LONG_S = 120.0, 600.0


def windows(duration: float) -> Tuple[Tuple[float, float], Tuple[float, float]]:
    """The "warm" and "end" windows (seconds into the run): the two halves of
    what follows the warm-up."""
    start = min(max(WARMUP * duration, WARMUP_MIN_S), duration / 2)
    mid = (start + duration) / 2
    return (start, mid), (mid, duration + 1)


MAX_RSS_GROWTH, FD_SLACK = 0.05, 2
#: Readers run this long between two samples, and memory settles this long
#: (with every reader stopped) before one.
SAMPLE_EVERY_S, QUIET_SETTLE_S = 0.5, 0.05
#: The client's ``concurrency``: the HTTP pool keeps at most this many idle
#: connections per worker, and at 16 it reaches that bound during warm-up.
CONCURRENCY = 16
#: Idle connections per worker of the short-call client
#: (``SHORT_IDLE_PER_HOST`` in ``src/client/http.rs``).
SHORT_IDLE = 2
#: Sockets besides the worker pools (etcd, spare).
OTHER_SOCKETS = 6
#: Pool families: data GETs on the client's own connections
#: (``src/client/raw_get``) and reqwest for every other request, each with a
#: shared-runtime pool and a short-call one.
POOL_FAMILIES = 2
#: Sockets a reader process may keep: every pool full, plus the others.
POOL_BOUND = POOL_FAMILIES * WORKERS * (CONCURRENCY + SHORT_IDLE) + OTHER_SOCKETS

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def soak_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("soak-ufs")
    rnd = random.Random(808)
    sizes = [0, 1, PAGE - 1, PAGE, PAGE + 1, 1 << 20]
    sizes += [rnd.randint(2, 1 << 20) for _ in range(26)]
    for i, size in enumerate(sizes):
        (root / f"f{i:02d}.bin").write_bytes(rnd.randbytes(size))
    return root


@pytest.fixture(scope="module")
def soak_cluster(soak_data: Path) -> Iterator[LocalCluster]:
    with LocalCluster(str(soak_data), workers=WORKERS, start_etcd=True, page_size=str(PAGE)) as c:
        yield c


class Gate:
    """Lets the sampler stop the readers between two reads, so memory is
    measured with no read in flight and with each reader's allocator heap
    collected (the short-call runtime runs on the reader threads, so their
    heaps hold I/O memory too)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.paused = False
        self.busy = 0
        self.readers = 0
        #: Readers parked (heap collected) in the current pause.
        self.parked = 0

    @contextlib.contextmanager
    def reader(self) -> Iterator[None]:
        """Around one reader thread's life."""
        with self.cond:
            self.readers += 1
        try:
            yield
        finally:
            with self.cond:
                self.readers -= 1
                self.cond.notify_all()

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Around one read: parks (collecting this thread's heap) while the
        sampler measures."""
        with self.cond:
            if self.paused:
                _core._trim(runtime_threads=False)
                self.parked += 1
                self.cond.notify_all()
                while self.paused:
                    self.cond.wait()
            self.busy += 1
        try:
            yield
        finally:
            with self.cond:
                self.busy -= 1
                self.cond.notify_all()

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """No read runs inside, and every live reader has parked."""
        with self.cond:
            self.paused, self.parked = True, 0
            while self.busy or self.parked < self.readers:
                self.cond.wait()
        try:
            yield
        finally:
            with self.cond:
                self.paused = False
                self.cond.notify_all()


def _trim() -> None:
    """Hands glibc's free heap memory back to the OS (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def quiet_sample(gate: Gate) -> Tuple[int, int, int]:
    """RSS (KiB), open fds and sockets with no read in flight, after the
    garbage collector and the allocators gave back what they hold free: what
    the process keeps between reads, which a leak raises. (Counted while reads
    run, sockets included connections opened beyond the pool's bound for a
    burst, about to close.)"""
    with gate.quiet():
        gc.collect()
        _trim()
        _core._trim()
        # mimalloc returns freed pages after a short delay.
        time.sleep(QUIET_SETTLE_S)
        return rss_kb(), fd_count(), socket_count()


def _reader(
    fs: AlluxioFileSystem, files: Dict[str, bytes], seed: int, until: float, gate: Gate
) -> Dict[str, Any]:
    rnd = random.Random(seed)
    names = sorted(files)
    reads = nbytes = wrong = 0
    errors: List[str] = []
    with gate.reader():
        while time.monotonic() < until:
            # The bytes read are compared and dropped inside the gate: none
            # is alive while the sampler measures.
            with gate.read():
                n, b, w = _one_read(fs, files, names, rnd, errors)
            reads, nbytes, wrong = reads + n, nbytes + b, wrong + w
    return {"reads": reads, "bytes": nbytes, "wrong": wrong, "errors": errors}


def _one_read(
    fs: AlluxioFileSystem,
    files: Dict[str, bytes],
    names: List[str],
    rnd: random.Random,
    errors: List[str],
) -> Tuple[int, int, int]:
    """One random read, checked: reads, bytes and wrong bytes (an error goes
    to ``errors``)."""
    path = rnd.choice(names)
    want = files[path]
    size = len(want)
    a = rnd.randint(0, size)
    b = rnd.randint(a, size)
    op = rnd.random()
    try:
        if op < 0.3:
            got = [fs.cat_file(path)]
            exp = [want]
        elif op < 0.7:
            got = [fs.cat_file(path, a, b)]
            exp = [want[a:b]]
        elif op < 0.85:
            with fs.open(path, "rb") as f:
                f.seek(a)
                got = [f.read(b - a)]
            exp = [want[a:b]]
        else:
            starts = sorted(rnd.randint(0, size) for _ in range(4))
            ends = [min(size, s + rnd.randint(0, 3 * PAGE)) for s in starts]
            got = fs.cat_ranges([path] * 4, starts, ends)
            exp = [want[s:e] for s, e in zip(starts, ends)]
    except Exception:
        errors.append(traceback.format_exc(limit=3))
        return 0, 0, 0
    nbytes = wrong = 0
    for g, e in zip(got, exp):
        nbytes += len(e)
        if g != e:
            wrong += abs(len(g) - len(e)) + sum(x != y for x, y in zip(g, e))
    return len(got), nbytes, wrong


def soak_process(index: int, etcd_hosts: str, root: str, duration: float, q: Any) -> None:
    """One reader process (spawned): 8 reader threads and a sampler."""
    try:
        fs = AlluxioFileSystem(
            etcd_hosts=etcd_hosts,
            target_protocol="file",
            options={"alluxio.worker.page.store.page.size": str(PAGE)},
            skip_instance_cache=True,
            concurrency=CONCURRENCY,
        )
        files = {}
        for name in sorted(os.listdir(root)):
            with open(os.path.join(root, name), "rb") as f:
                files[os.path.join(root, name)] = f.read()
        start = time.monotonic()
        until = start + duration
        samples: List[Tuple[float, int, int, int]] = []
        results: List[Dict[str, Any]] = []
        lock = threading.Lock()
        gate = Gate()

        def run(seed: int) -> None:
            r = _reader(fs, files, seed, until, gate)
            with lock:
                results.append(r)

        threads = [
            threading.Thread(target=run, args=(index * 100 + i,), daemon=True)
            for i in range(THREADS)
        ]
        for t in threads:
            t.start()
        while time.monotonic() < until:
            samples.append((time.monotonic() - start, *quiet_sample(gate)))
            time.sleep(SAMPLE_EVERY_S)
        for t in threads:
            t.join(60)
        samples.append((time.monotonic() - start, *quiet_sample(gate)))
        stats = fs.stats()
        q.put(
            {
                "index": index,
                "ok": len(results) == THREADS,
                "reads": sum(r["reads"] for r in results),
                "bytes": sum(r["bytes"] for r in results),
                "wrong": sum(r["wrong"] for r in results),
                "errors": [e for r in results for e in r["errors"]],
                "samples": samples,
                "fallbacks": stats.get("fallbacks", 0),
            }
        )
    except BaseException:
        q.put({"index": index, "ok": False, "errors": [traceback.format_exc()]})


T = TypeVar("T", bound=Tuple[Any, ...])


def split(samples: List[T], duration: float) -> Tuple[List[T], List[T]]:
    """The samples (first item: seconds into the run) of the warm and the end
    window."""
    (lo, mid), (_, hi) = windows(duration)
    return [s for s in samples if lo <= s[0] < mid], [s for s in samples if mid <= s[0] <= hi]


def levels(samples: List[Tuple[float, int, int, int]], duration: float) -> Dict[str, float]:
    """RSS (MiB, median) and fds (max) in the warm and the end window."""
    warm, end = split(samples, duration)
    assert len(warm) >= 3 and len(end) >= 3, f"too few samples: {samples}"
    rss_warm = statistics.median(s[1] for s in warm) / 1024
    rss_end = statistics.median(s[1] for s in end) / 1024
    return {
        "rss_warm_MB": rss_warm,
        "rss_end_MB": rss_end,
        "growth_pct": 100 * (rss_end - rss_warm) / rss_warm,
        "fds_warm": max(s[2] for s in warm),
        "fds_end": max(s[2] for s in end),
        "other_fds_warm": max(s[2] - s[3] for s in warm),
        "other_fds_end": max(s[2] - s[3] for s in end),
        "sockets_warm": max(s[3] for s in warm),
        "sockets_end": max(s[3] for s in end),
    }


def test_soak(soak_cluster: LocalCluster, soak_data: Path, long_mode: bool) -> None:
    duration = LONG_S if long_mode else CI_S
    assert soak_cluster.etcd_hosts is not None
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(
            target=soak_process,
            args=(i, soak_cluster.etcd_hosts, str(soak_data), duration, q),
            daemon=True,
        )
        for i in range(PROCESSES)
    ]
    worker_samples: List[Tuple[float, List[int], List[int]]] = []
    reports: Dict[int, Dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        for p in procs:
            p.start()
        deadline = t0 + duration + 120
        next_sample = t0
        while len(reports) < PROCESSES and time.monotonic() < deadline:
            if time.monotonic() >= next_sample:
                pids = [p.pid for p in soak_cluster.procs]
                worker_samples.append(
                    (time.monotonic() - t0, [rss_kb(x) for x in pids], [fd_count(x) for x in pids])
                )
                next_sample += 1.0
            try:
                r = q.get(timeout=0.5)
            except queue.Empty:
                if any(p.exitcode is not None for i, p in enumerate(procs) if i not in reports):
                    break
                continue
            reports[r["index"]] = r
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(5)
        q.close()
    assert len(reports) == PROCESSES, f"reader processes hung or died: got {sorted(reports)}"
    failed = [e for r in reports.values() for e in r["errors"]]
    broken = [r for r in reports.values() if not r["ok"]]
    assert not broken, f"reader process failed: {broken[0]['errors'][:1]}"
    totals = {"reads": 0, "bytes": 0, "wrong": 0}
    lvs = [levels(reports[i]["samples"], duration) for i in range(PROCESSES)]
    for i, lv in enumerate(lvs):
        r = reports[i]
        for k in totals:
            totals[k] += r[k]
        figure(
            f"R8 soak process {i}",
            reads=r["reads"],
            MB=round(r["bytes"] / 2**20),
            errors=len(r["errors"]),
            wrong_bytes=r["wrong"],
            fallbacks=r["fallbacks"],
            **lv,
        )
    wl = worker_levels(worker_samples, duration)
    figure(
        "R8 soak",
        seconds=duration,
        readers=PROCESSES * THREADS,
        pool_bound=POOL_BOUND,
        reads=totals["reads"],
        GB=totals["bytes"] / 2**30,
        errors=len(failed),
        wrong_bytes=totals["wrong"],
        **wl,
    )
    assert not failed, f"{len(failed)} errors, first:\n{failed[0]}"
    for i, lv in enumerate(lvs):
        r = reports[i]
        assert r["wrong"] == 0 and r["fallbacks"] == 0, r
        assert r["reads"] > 100, r
        assert lv["growth_pct"] < 100 * MAX_RSS_GROWTH, f"process {i}: RSS grew {lv}"
        assert lv["other_fds_end"] <= lv["other_fds_warm"] + FD_SLACK, f"process {i}: fds grew {lv}"
        assert (
            lv["sockets_end"] <= lv["sockets_warm"] + FD_SLACK or lv["sockets_end"] <= POOL_BOUND
        ), f"process {i}: sockets beyond the pool's bound {POOL_BOUND}: {lv}"
    assert all(p.poll() is None for p in soak_cluster.procs), "a worker died"


def worker_levels(
    samples: List[Tuple[float, List[int], List[int]]], duration: float
) -> Dict[str, Any]:
    """The workers' summed RSS (MiB) and fds, warm window vs final window."""
    warm, end = split(samples, duration)
    if not warm or not end:
        return {}
    return {
        "workers_rss_warm_MB": max(sum(s[1]) for s in warm) / 1024,
        "workers_rss_end_MB": max(sum(s[1]) for s in end) / 1024,
        "workers_fds_warm": max(sum(s[2]) for s in warm),
        "workers_fds_end": max(sum(s[2]) for s in end),
    }
