"""E1: epochs at local-disk speed (issue 19). The main rows (``E1.k1.*``,
``E1.k4.*``: datasets read 3 times by forked loader processes; ours with and
without the node-local cache, the reference client, s3fs, local disk) are in
``scen_epoch_rows.py``. Here, the rows only the local cache has:

* ``E1.k8.cold``: 8 processes read S1's big file at once through a cold
  local cache (8 MiB reads): bytes fetched from workers / file size, which
  cross-process single-flight should keep near 1 (without the cache: 8);
* ``E1.half``: the image dataset through a local cache of half its size,
  4 loaders: the cache's hit ratio in epochs 2-3.

Every local cache directory is a new temporary one, removed afterwards.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Dict, List

import epoch_loader
from epoch_loader import Item
from harness import COLUMNS, MIB, Ctx, Result, say
from scen_epoch_rows import LABELS, METADATA_TTL, PROCS, Epochs, hit_ratio, timeout

#: Processes of E1.k8.cold.
COLD_PROCS = 8


def e1(ctx: Ctx) -> None:
    """E1: every row."""
    rows = Epochs(ctx)
    rows.run()
    say("E1.k8.cold")
    k8_cold(ctx)
    say("E1.half")
    half(rows)


def k8_cold(ctx: Ctx) -> None:
    """E1.k8.cold: 8 processes read one cold file at once, in 8 MiB reads."""
    path, n = ctx.data.big, os.path.getsize(ctx.data.big)
    r = ctx.new(
        "E1.k8.cold",
        f"{COLD_PROCS} processes read one {n // MIB} MiB file at once, cold local cache:"
        " bytes from workers / file size",
        "x size",
        "lower",
        "ours <= 1.05 x file size",
        ("abs", None, 1.05),
    )
    items = [(ctx.data.url(path), n)] * COLD_PROCS
    limit = timeout(COLD_PROCS * n)
    vals: Dict[str, List[float]] = {"ours": [], "nocache": []}
    secs: Dict[str, List[float]] = {"ours": [], "nocache": [], "limit": []}
    for _ in range(ctx.sizes.e1_cold_runs):
        with ctx.svc.cached_fs(2 * n, METADATA_TTL) as (fs, why):
            if fs is None:
                r.skip("ours", why)
            else:
                _cold_run(r, "ours", fs, items, limit, vals, secs)
        _cold_run(r, "nocache", ctx.svc.fs("file"), items, limit, vals, secs)
        local = functools.partial(epoch_loader.read_chunks, None)
        res = epoch_loader.run_epoch(local, [(path, n)] * COLD_PROCS, COLD_PROCS, limit)
        if "error" in res:
            r.skip("limit", res["error"])
        else:
            secs["limit"].append(res["seconds"])
    for col, v in vals.items():
        if v:
            r.add(col, v)
    parts = [
        f"{LABELS[c]} {min(s):.2f} s ({COLD_PROCS * n / min(s) / 1e6:,.0f} MB/s in all)"
        for c, s in secs.items()
        if s
    ]
    r.detail = {"seconds": secs}
    r.notes["time"] = "best of runs: " + "; ".join(parts)
    if "limit" not in r.notes:
        r.skip("limit", "n/a: local disk fetches nothing from workers (its time: see [time])")
    for c in ("reference", "ufs"):
        r.skip(c, "n/a: not measured")


def _cold_run(
    r: Result,
    col: str,
    fs: Any,
    items: List[Item],
    limit: float,
    vals: Dict[str, List[float]],
    secs: Dict[str, List[float]],
) -> None:
    """One read of ``items`` by 8 processes through ``fs``: its bytes from
    workers / file size into ``vals``, its seconds into ``secs``."""
    read = functools.partial(epoch_loader.read_chunks, fs)
    res = epoch_loader.run_epoch(read, items, COLD_PROCS, limit, fs.stats)
    if "error" in res:
        r.skip(col, res["error"])
        return
    vals[col].append(res["stats"].get("bytes_from_workers", 0) / items[0][1])
    secs[col].append(res["seconds"])


def half(rows: Epochs) -> None:
    """E1.half: the image dataset through a local cache of half its size."""
    ctx = rows.ctx
    order = rows.orders["img"]
    total = sum(rows.sizes[p] for p in order[0])
    k = max(PROCS)
    cache = total // 2 // MIB * MIB
    bar = 0.9 * cache / total
    r = ctx.new(
        "E1.half",
        f"images ({total / MIB:.0f} MiB) through a local cache of {cache / MIB:.0f} MiB, "
        f"{k} loaders: hit ratio of epochs 2-3",
        "hit ratio",
        "higher",
        f"ours >= 0.9 x cache/dataset = {bar:.2f}",
        ("abs", None, bar),
    )
    for c in COLUMNS[1:]:
        r.skip(c, "n/a: only ours has a local cache")
    res: List[Dict[str, Any]] = []
    with ctx.svc.cached_fs(cache, METADATA_TTL) as (fs, why):
        if fs is None:
            r.skip("ours", why)
            return
        read = functools.partial(epoch_loader.read_whole, fs)
        for o in order:
            items = rows.items(o, ctx.data.url)
            res.append(epoch_loader.run_epoch(read, items, k, timeout(total), fs.stats))
            if "error" in res[-1]:
                r.skip("ours", res[-1]["error"])
                return
    r.add("ours", [hit_ratio([x["stats"]]) or 0.0 for x in res[1:]])
    label = LABELS["ours"]
    r.detail = {
        "epochs": {label: [x["bytes"] / x["seconds"] / 1e6 for x in res]},
        "from_workers_e23": {label: sum(x["stats"].get("bytes_from_workers", 0) for x in res[1:])},
        "hit_ratio_e23": {label: hit_ratio([x["stats"] for x in res[1:]]) or 0.0},
    }
