"""H1: hedged reads under stalls. A ``FaultProxy`` (tests/fault_proxy.py) in
front of every worker of the main cluster holds 1 % of the data requests
200 ms (seeded); reads of 4 pages at random page offsets alternate between a
client with ``hedged_reads=True`` and one without (the same load for both),
every byte checked. Rows: p50 and p99 per client, in ms; the hedged p99
must be at most 40 ms (5x below the stall)."""

from __future__ import annotations

import os
import random
import sys
import time
from typing import Dict, List

from harness import Ctx, say

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.fault_proxy import FaultProxy

#: Pages per read, reads per client and run.
PAGES = 4
READS = 300
DATA_PATHS = ("/v1/range", "/v1/file/")


def _pct(xs: List[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def h1(ctx: Ctx) -> None:
    """H1: p50/p99 with and without hedging, 1 % of requests stalled 200 ms."""
    from alluxiofs import AlluxioFileSystem

    cluster = ctx.svc.cluster
    page = ctx.fs.client.page_size
    url = ctx.data.url(ctx.data.big)
    with open(ctx.data.big, "rb") as f:
        data = f.read()
    pages = len(data) // page
    reads = max(50, READS // (2 if ctx.sizes.runs < 3 else 1))
    rows = {}
    for q in ("p50", "p99"):
        for hedged in (True, False):
            name = "hedged" if hedged else "plain"
            rule = ("abs", None, 40.0) if (q, hedged) == ("p99", True) else ("abs", None, 1e9)
            target = "<= 40 ms" if (q, hedged) == ("p99", True) else "-"
            rows[(q, hedged)] = ctx.new(
                f"H1.{q}.{name}",
                f"4-page reads, 1 % stalled 200 ms, {name}, {q}",
                "ms",
                "lower",
                target,
                rule,
            )
    proxies = [FaultProxy(p) for p in cluster.ports]
    try:
        fss = {
            h: AlluxioFileSystem(
                worker_hosts=",".join(p.authority for p in proxies),
                options={"alluxio.worker.page.store.page.size": str(page)},
                hedged_reads=h,
                skip_instance_cache=True,
            )
            for h in (True, False)
        }
        values: Dict[tuple, List[float]] = {k: [] for k in rows}
        rng = random.Random(11)
        for run in range(ctx.runs):
            say(f"H1 run {run + 1}")
            for p in proxies:
                p.set_mode("ok")
            for _ in range(40):  # fill the latency windows with warm reads
                for fs in fss.values():
                    s = rng.randrange(0, pages - PAGES + 1) * page
                    fs.client._core.read(url, s, s + PAGES * page, len(data))
            for i, p in enumerate(proxies):
                p.set_mode("delay", seconds=0.2, fraction=0.01, seed=run * 10 + i, only=DATA_PATHS)
            lat: Dict[bool, List[float]] = {True: [], False: []}
            for i in range(2 * reads):
                hedged = i % 2 == 0
                s = rng.randrange(0, pages - PAGES + 1) * page
                t = time.perf_counter()
                # Size known, as for an open file: the pages are hedged.
                got = fss[hedged].client._core.read(url, s, s + PAGES * page, len(data))
                lat[hedged].append(time.perf_counter() - t)
                if got != data[s : s + PAGES * page]:
                    raise AssertionError(f"H1: wrong bytes at {s} (hedged={hedged})")
            for q, hedged in rows:
                values[(q, hedged)].append(_pct(lat[hedged], 0.5 if q == "p50" else 0.99) * 1000)
        st = fss[True].stats()
        for k, r in rows.items():
            r.add("ours", values[k], f"hedges {st['hedges']}, won {st['hedge_wins']}")
    finally:
        for p in proxies:
            p.stop()
