"""R3 misbehaving worker: whatever a worker answers, the client returns the
exact bytes on disk or raises a clear error within its time budget.

The systematic matrix (``tests/test_fallback.py`` checks single scenarios in
depth): a :class:`~tests.fault_proxy.FaultProxy` in front of real workers,
clients on static ``worker_hosts`` naming the proxies, and for every

* fault mode: ``truncate`` (half the body, then close), ``extra`` (bytes
  appended), ``status_500``, ``close`` (no answer), ``hang`` (no answer until
  released);
* scope: ``every`` request; ``transient`` (a budget of ``BUDGET`` faulty
  answers, fewer than ``RETRIES``, then ok); ``range`` (only ``/v1/range``
  requests, on an Enterprise-style worker); ``pages`` (only page requests
  ``/v1/file/...``, on OSS-strict workers, whose data path they are);
* read API: ``cat_file`` whole, ``cat_file`` with a range, ``open().read()``
  after a seek, ``cat_ranges`` over three ranges of two files;

in three configurations:

1. ``failover``: two proxies, the owner of the file misbehaves, no under
   storage: the next ring worker serves every read (0 errors, 0 fallbacks);
2. ``fallback``: one misbehaving proxy, ``target_protocol="file"``: every read
   is served (by the worker after retries, or by the under storage);
3. ``no_ufs``: one misbehaving proxy, no under storage: ``every`` scope raises
   the mode's error class (an ``AlluxioError``, i.e. ``OSError``) naming the
   worker, within ``RETRIES * timeout + backoff + SLACK`` seconds; ``transient``
   recovers; ``range``/``pages`` either recover or raise such an error.

In every configuration a ``transient`` fault is absorbed by a retry on the
same worker (no failover, no fallback).

Every returned byte is compared with the file on disk. Each cell gets its own
client core (a distinct ``cluster_name``), so nothing learnt in one cell (e.g.
that a worker lacks ``/v1/range``) carries over to the next. Timeouts are
``HANG_TIMEOUT`` for ``hang`` (so CI stays fast) and ``TIMEOUT`` otherwise.
The client's ``deadline`` (one operation across retries and failover) is
``HANG_DEADLINE`` for ``hang`` in ``no_ufs`` (shorter than the retry budget,
so the error must come from the deadline) and ``DEADLINE`` otherwise; it is
printed next to the measured times.

Cells run ``PARALLEL`` at a time, each with its own proxies.

Sizes: CI reads one multi-page file (``many.bin``; ``cat_ranges`` adds
``page_plus.bin``) once per cell: 15 tests x 16 cells, 240 calls, 360 reads.
``--long`` repeats every cell for each of the 7 non-empty files of the dataset
(1,680 calls, 2,520 reads) with the same timeouts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple, Type

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.exceptions import (
    AlluxioError,
    AlluxioTimeoutError,
    WorkerConnectionError,
    WorkerError,
)
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE, SIZES
from tests.fault_proxy import FaultProxy
from tests.reliability.figures import figure

MODES = ("truncate", "extra", "status_500", "close", "hang")
SCOPES = ("every", "transient", "range", "pages")
APIS = ("cat_whole", "cat_range", "open_read", "cat_ranges")
CONFIGS = ("failover", "fallback", "no_ufs")
#: What a persistent fault of each mode raises without an under storage.
ERROR_CLASS: Dict[str, Type[AlluxioError]] = {
    "truncate": WorkerConnectionError,
    "extra": WorkerError,
    "status_500": WorkerError,
    "close": WorkerConnectionError,
    "hang": AlluxioTimeoutError,
}
RETRIES = 2
BUDGET = 1
TIMEOUT = 5.0
HANG_TIMEOUT = 0.5
#: Allowance for scheduling on a loaded CI machine, on top of the retry budget.
SLACK = 1.5
#: The client's deadline for one operation across retries and failover.
DEADLINE = 30.0
#: ... for a hanging worker and nothing else to try: below RETRIES * HANG_TIMEOUT.
HANG_DEADLINE = 0.75
#: Cells run at once (each with its own proxies and client core).
PARALLEL = 4
OPTIONS = {"alluxio.worker.page.store.page.size": str(PAGE)}
BIG = "many.bin"
SMALL = "page_plus.bin"


def deadline_of(config: str, mode: str) -> float:
    return HANG_DEADLINE if (config, mode) == ("no_ufs", "hang") else DEADLINE


def error_bound(timeout: float, deadline: float) -> float:
    """Seconds one failing read may take: every attempt times out, with the
    client's backoff (50 ms, doubling, at most 1 s) between attempts, or the
    deadline ends it first."""
    backoff = sum(min(0.05 * 2.0**k, 1.0) for k in range(RETRIES - 1))
    return min(RETRIES * timeout + backoff, deadline) + SLACK


class Cell(NamedTuple):
    """One read under one fault."""

    config: str
    mode: str
    scope: str
    api: str
    name: str

    def __str__(self) -> str:
        return "/".join(self)


@dataclass
class Tally:
    """What one cell, or all cells of a (configuration, mode) test, saw."""

    reads: int = 0
    wrong_bytes: int = 0
    recovered: int = 0
    errors: int = 0
    faults: int = 0
    max_s_to_error: float = 0.0
    max_s_ok: float = 0.0
    stats: Dict[str, int] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)

    def add(self, o: Tally) -> None:
        for k in ("reads", "wrong_bytes", "recovered", "errors", "faults"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        self.max_s_to_error = max(self.max_s_to_error, o.max_s_to_error)
        self.max_s_ok = max(self.max_s_ok, o.max_s_ok)
        for k, v in o.stats.items():
            self.stats[k] = self.stats.get(k, 0) + v
        self.problems += o.problems


@pytest.fixture(scope="module")
def oss_cluster(dataset: Path) -> Iterator[LocalCluster]:
    """Two OSS-strict workers (pages only) over ``dataset``, static membership."""
    with LocalCluster(str(dataset), workers=2, page_size=str(PAGE), oss_strict=True) as c:
        yield c


# ── one cell ──


def wrong_count(got: bytes, want: bytes) -> int:
    """Bytes that differ, counting a length difference as wrong bytes."""
    return sum(a != b for a, b in zip(got, want)) + abs(len(got) - len(want))


def api_call(
    fs: AlluxioFileSystem, api: str, root: Path, name: str
) -> Tuple[Callable[[], List[Any]], List[bytes]]:
    """The read of ``api`` on ``name`` (a list of results) and what it must return."""
    url = "file://" + str(root / name)
    data = (root / name).read_bytes()
    if api == "cat_whole":
        return lambda: [fs.cat_file(url)], [data]
    if api == "cat_range":
        return lambda: [fs.cat_file(url, PAGE - 100, 3 * PAGE + 100)], [
            data[PAGE - 100 : 3 * PAGE + 100]
        ]
    if api == "open_read":

        def read() -> List[Any]:
            with fs.open(url, "rb") as f:
                f.seek(len(data) // 3)
                return [f.read()]

        return read, [data[len(data) // 3 :]]
    small_url = "file://" + str(root / SMALL)
    small = (root / SMALL).read_bytes()
    starts, ends = [0, 5 * PAGE, 1], [10, 6 * PAGE + 7, PAGE + 1]
    return lambda: fs.cat_ranges([url, url, small_url], starts, ends), [
        data[0:10],
        data[5 * PAGE : 6 * PAGE + 7],
        small[1 : PAGE + 1],
    ]


def make_fs(
    hosts: str, ufs: bool, timeout: float, deadline: float, cell: Cell
) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        worker_hosts=hosts,
        target_protocol="file" if ufs else None,
        options=OPTIONS,
        skip_instance_cache=True,
        timeout=timeout,
        retries=RETRIES,
        deadline=deadline,
        cluster_name=f"r3-{cell}",  # a client core of its own
    )


def run_cell(c: Cell, ports: List[int], root: Path) -> Tally:
    """Runs the cell's read through fresh proxies in front of ``ports`` (two
    for ``failover``, else the first) and judges every result."""
    with contextlib.ExitStack() as stack:
        n = 2 if c.config == "failover" else 1
        hosts = [stack.enter_context(FaultProxy(port)) for port in ports[:n]]
        return judge_cell(c, hosts, root)


def judge_cell(c: Cell, hosts: List[FaultProxy], root: Path) -> Tally:
    t = Tally()
    timeout = HANG_TIMEOUT if c.mode == "hang" else TIMEOUT
    deadline = deadline_of(c.config, c.mode)
    fs = make_fs(",".join(p.authority for p in hosts), c.config == "fallback", timeout, deadline, c)
    bad = hosts[0]
    if c.config == "failover":
        port = fs.locate("file://" + str(root / c.name))[0]["http_port"]
        (bad,) = [p for p in hosts if p.port == port]
    call, want = api_call(fs, c.api, root, c.name)
    only = {"range": "/v1/range", "pages": "/v1/file/"}.get(c.scope)
    bad.set_mode(c.mode, budget=BUDGET if c.scope == "transient" else None, only=only)
    t0 = time.monotonic()
    try:
        out: List[Any] = call()
    except Exception as e:  # judged below like an error returned by cat_ranges
        out = [e] * len(want)
    took = time.monotonic() - t0
    bad.set_mode("ok")  # releases hanging requests
    t.faults = bad.faults
    if bad.faults == 0:
        t.problems.append(f"{c}: no fault was injected")
    for got, expect in zip(out, want):
        t.reads += 1
        if isinstance(got, BaseException):
            t.errors += 1
            check_error(t, c, got, bad.authority)
        elif got != expect:
            t.wrong_bytes += wrong_count(got, expect)
            t.problems.append(f"{c}: {len(got)} bytes, {wrong_count(got, expect)} wrong")
        else:
            t.recovered += 1
    if t.errors:
        t.max_s_to_error = took
        if c.config != "no_ufs" or c.scope == "transient":
            t.problems.append(f"{c}: raised although it should recover")
        if took > error_bound(timeout, deadline):
            t.problems.append(
                f"{c}: error after {took:.2f}s > {error_bound(timeout, deadline):.2f}s"
            )
    else:
        t.max_s_ok = took
        if c.config == "no_ufs" and c.scope == "every":
            t.problems.append(f"{c}: returned bytes through a worker that always {c.mode}s")
    t.stats = fs.stats()
    if c.scope == "transient" and (t.stats.get("failovers") or t.stats.get("fallbacks")):
        t.problems.append(f"{c}: a transient fault was not absorbed by a retry: {t.stats}")
    return t


def check_error(t: Tally, c: Cell, e: BaseException, authority: str) -> None:
    """A clear error: the mode's AlluxioError subclass (an OSError) naming the worker."""
    want = ERROR_CLASS[c.mode]
    if not isinstance(e, want) or not isinstance(e, OSError):
        t.problems.append(f"{c}: {type(e).__name__}: {e}, want {want.__name__}")
    elif authority not in str(e):
        t.problems.append(f"{c}: the error does not name the worker {authority}: {e}")


# ── the matrix ──


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config", CONFIGS)
def test_misbehaving_worker(
    config: str,
    mode: str,
    dataset: Path,
    cluster: LocalCluster,
    oss_cluster: LocalCluster,
    long_mode: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="alluxiofs")  # fallback warnings are expected
    names = sorted(n for n in SIZES if SIZES[n] > 0) if long_mode else [BIG]
    cells = [Cell(config, mode, s, a, n) for s in SCOPES for a in APIS for n in names]
    ports = {"ee": cluster.ports[:2], "oss": oss_cluster.ports}

    def run(c: Cell) -> Tally:
        return run_cell(c, ports["oss" if c.scope == "pages" else "ee"], dataset)

    t = Tally()
    with ThreadPoolExecutor(PARALLEL) as pool:
        for part in pool.map(run, cells):
            t.add(part)
    timeout = HANG_TIMEOUT if mode == "hang" else TIMEOUT
    figure(
        f"R3 misbehaving [{config}] {mode}",
        reads=t.reads,
        wrong_bytes=t.wrong_bytes,
        recovered=t.recovered,
        errors=t.errors,
        faults_injected=t.faults,
        retries=t.stats.get("retries", 0),
        failovers=t.stats.get("failovers", 0),
        fallbacks=t.stats.get("fallbacks", 0),
        max_s_to_error=round(t.max_s_to_error, 3),
        max_s_ok=round(t.max_s_ok, 3),
        error_bound_s=round(error_bound(timeout, deadline_of(config, mode)), 2),
        deadline_s=deadline_of(config, mode),
    )
    assert not t.problems, "\n".join(t.problems)
    assert t.wrong_bytes == 0
    if config != "no_ufs":
        assert t.errors == 0 and t.recovered == t.reads
    if config == "failover":
        assert t.stats.get("fallbacks", 0) == 0 and t.stats.get("failovers", 0) > 0
    if config == "fallback":
        assert t.stats.get("fallbacks", 0) > 0
    if config == "no_ufs":
        assert t.errors > 0 and t.recovered > 0
