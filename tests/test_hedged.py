"""Hedged reads (``hedged_reads=True``) against a real cluster of two workers,
each behind a :class:`~tests.fault_proxy.FaultProxy`; the client names the
proxies in ``worker_hosts``. Workers read through from the local under
storage, so either can serve any page.

With 1 % of data requests stalled 200 ms (seeded), the read p99 with hedging
must be at least 5x lower than without, hedges stay within the budget (5 %
of the pieces, plus the bucket's burst) and every byte is right. Against a
healthy cluster the hedges stay within the budget too. Reads with and
without hedging alternate, so both see the same machine load.
"""

from __future__ import annotations

import random
import shutil
import time
from typing import Dict, Iterator, List, Tuple

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.fault_proxy import FaultProxy

PAGE = 64 * 1024
#: Pages per read: a stall in any of them stalls the read.
PAGES = 4
#: Extra requests the budget allows per piece, and the bucket's burst.
BUDGET = 0.05
BURST = 5
DATA_PATHS = ("/v1/range", "/v1/file/")


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tuple[List[FaultProxy], str, bytes]]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    root = tmp_path_factory.mktemp("hedge-ufs")
    data = random.Random(7).randbytes(4 * 1024 * 1024)
    (root / "big.bin").write_bytes(data)
    with LocalCluster(str(root), workers=2, start_etcd=True, page_size=str(PAGE)) as c:
        proxies = [FaultProxy(p) for p in c.ports]
        try:
            yield proxies, "file://" + str(root / "big.bin"), data
        finally:
            for p in proxies:
                p.stop()


def make_fs(proxies: List[FaultProxy], hedged: bool) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        worker_hosts=",".join(p.authority for p in proxies),
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
        hedged_reads=hedged,
        skip_instance_cache=True,
    )


def run(
    fss: Dict[bool, AlluxioFileSystem], url: str, data: bytes, reads: int, seed: int
) -> Dict[bool, List[float]]:
    """``reads`` reads of ``PAGES`` pages at random page offsets per
    filesystem, alternating; returns each one's latencies (s)."""
    rnd = random.Random(seed)
    pages = len(data) // PAGE
    out: Dict[bool, List[float]] = {k: [] for k in fss}
    for i in range(reads * len(fss)):
        hedged = list(fss)[i % len(fss)]
        start = rnd.randrange(0, pages - PAGES + 1) * PAGE
        end = start + PAGES * PAGE
        t = time.perf_counter()
        # The size is known (as for an open file): every page goes into the
        # result's own memory, the reads that are hedged.
        got = fss[hedged].client._core.read(url, start, end, len(data))
        out[hedged].append(time.perf_counter() - t)
        assert got == data[start:end], f"wrong bytes at {start} (hedged={hedged})"
    return out


def pct(xs: List[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


@pytest.mark.timeout(600)
def test_hedging_cuts_the_tail_of_stalls_within_its_budget(
    setup: Tuple[List[FaultProxy], str, bytes],
) -> None:
    proxies, url, data = setup
    fss = {True: make_fs(proxies, True), False: make_fs(proxies, False)}
    # Warm: the owner caches the file (cold pages read through from the
    # under storage are slow), then each client fills its latency window
    # (128 pieces) with warm reads only.
    for fs in fss.values():
        assert fs.cat_file(url) == data
    run(fss, url, data, 40, seed=1)
    before = {k: fs.stats() for k, fs in fss.items()}
    for i, p in enumerate(proxies):
        p.reset_counters()
        p.set_mode("delay", seconds=0.2, fraction=0.01, seed=100 + i, only=DATA_PATHS)
    try:
        lat = run(fss, url, data, 400, seed=2)
    finally:
        for p in proxies:
            p.set_mode("ok")
    delayed = sum(p.delayed for p in proxies)
    after = {k: fs.stats() for k, fs in fss.items()}
    hedges = after[True]["hedges"] - before[True]["hedges"]
    pieces = 400 * PAGES
    p50 = {k: pct(v, 0.5) * 1000 for k, v in lat.items()}
    p99 = {k: pct(v, 0.99) * 1000 for k, v in lat.items()}
    print(
        f"\nstalled {delayed} requests; p50 {p50[False]:.1f} -> {p50[True]:.1f} ms, "
        f"p99 {p99[False]:.1f} -> {p99[True]:.1f} ms; hedges {hedges} for {pieces} pieces "
        f"({hedges / pieces:.1%}), won {after[True]['hedge_wins'] - before[True]['hedge_wins']}"
    )
    assert delayed > 0
    assert after[False]["hedges"] == 0
    assert hedges <= BUDGET * pieces + BURST
    assert p99[True] * 5 <= p99[False], (p99, p50)


@pytest.mark.timeout(300)
def test_a_healthy_cluster_sees_no_hedging_beyond_the_budget(
    setup: Tuple[List[FaultProxy], str, bytes],
) -> None:
    proxies, url, data = setup
    fs = make_fs(proxies, True)
    assert fs.cat_file(url) == data
    run({True: fs}, url, data, 40, seed=3)
    before = fs.stats()
    for p in proxies:
        p.reset_counters()
    run({True: fs}, url, data, 300, seed=4)
    hedges = fs.stats()["hedges"] - before["hedges"]
    requests = sum(p.requests for p in proxies)
    pieces = 300 * PAGES
    print(f"\nhealthy: {hedges} hedges, {requests} requests for {pieces} pieces")
    assert hedges <= BUDGET * pieces + BURST
    assert requests <= pieces * (1 + BUDGET) + BURST
