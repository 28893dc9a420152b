"""Read scenarios on the main cluster's ``file://`` root: S1 (one big file),
S2 (random reads), S3 (many small files), S4 (PyArrow ``read_table``).
``ufs`` is the same data read from local disk."""

from __future__ import annotations

import functools
import os
import random
import statistics
from typing import Any, Callable, List, Tuple

import limit_client as limit
import pyarrow.parquet as pq
from harness import (
    KIB,
    MIB,
    Ctx,
    add_ref,
    latencies_ms,
    mbps,
    one_after_other,
    pct,
    populate_ms,
    repeat,
    say,
    timed,
)

CHUNK = 8 * MIB
S2_SIZES = ((4 * KIB, "4KiB"), (64 * KIB, "64KiB"), (MIB, "1MiB"))


def read_chunks(fs: Any, url: str, chunk: int = CHUNK) -> None:
    with fs.open(url, "rb") as f:
        while f.read(chunk):
            pass


def local_chunks(path: str, chunk: int = CHUNK) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(chunk):
            pass


def local_whole(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def s1(ctx: Ctx) -> None:
    """S1: one big file with ``cat_file`` and with ``open().read()`` in 8 MiB chunks."""
    fs, path, n, runs = ctx.fs, ctx.data.big, ctx.sizes.s1_bytes, ctx.runs
    url = ctx.data.url(path)
    size = f"{n // MIB} MiB"
    target = "ours >= 0.85 x limit and >= 5 x reference"
    rules = (("ratio", "limit", 0.85), ("ratio", "reference", 5.0))
    cat = ctx.new("S1.cat", f"cat_file, {size} file", "MB/s", "higher", target, rules)
    chunks = ctx.new(
        "S1.read8m",
        f"open().read() in 8 MiB chunks, {size} file",
        "MB/s",
        "higher",
        target,
        rules,
    )
    say("S1 ours")
    # Each result lands in memory the process never touched (CPython maps big
    # objects afresh); the limit reuses its buffers. What faulting in as much
    # costs is timed right after each of our runs, in the state it ran in.
    fs.cat_file(url)
    cat_s: List[float] = []
    fault_ms: List[float] = []
    for _ in range(runs):
        cat_s.append(timed(lambda: fs.cat_file(url)))
        ms = populate_ms(n)
        if ms is not None:
            fault_ms.append(ms)
    cat.add("ours", mbps(n, cat_s))
    chunks.add("ours", mbps(n, repeat(lambda: read_chunks(fs, url), runs)))

    say("S1 limit (hyper and raw sockets)")
    _, vals, note = _best_mbps(ctx.planner.read(url, 0, n), n, runs)
    cat.add("limit", vals, note)
    with limit.record_reads(fs) as rec:
        read_chunks(fs, url)
    batches = [ctx.planner.reads(b) for b in rec.resolved()]
    _, vals, note = _best_mbps(batches, n, runs)
    chunks.add(
        "limit",
        vals,
        f"replays our {len(batches)} read-ahead fetches, one after another, "
        f"pieces concurrent; {note}",
    )

    say("S1 reference")
    res = ctx.ref.run(
        ctx.svc.etcd_hosts,
        [
            {"kind": "cat", "url": url, "runs": runs, "warmup": 1},
            {"kind": "read_chunks", "url": url, "chunk": CHUNK, "runs": runs, "warmup": 1},
        ],
    )
    add_ref(cat, res[0], lambda s: mbps(n, s))
    add_ref(chunks, res[1], lambda s: mbps(n, s))

    say("S1 ufs (local disk)")
    cat.add("ufs", mbps(n, repeat(lambda: local_whole(path), runs)), "local file read()")
    chunks.add("ufs", mbps(n, repeat(lambda: local_chunks(path), runs)), "local file read(8 MiB)")

    lim = cat.value("limit")
    if fault_ms and lim:
        # Ours can finish no sooner than its memory is faulted in and its bytes
        # have come (the limit); where both keep the two cores busy, their sum.
        fault = statistics.median(fault_ms)
        lim_ms = n / 1e3 / lim
        ceilings = [n / 1e3 / max(fault, lim_ms), n / 1e3 / (fault + lim_ms)]
        cat.notes["ours"] = (
            f"faulting in {size} of fresh memory, timed right after each run: "
            f"{fault:,.0f} ms ({min(fault_ms):,.0f}-{max(fault_ms):,.0f}); the limit's read "
            f"{lim_ms:,.0f} ms; ceiling for a result in fresh memory "
            + " (overlapped) to ".join(f"{c / lim:.2f} x limit" for c in ceilings)
            + " (one after the other)"
        )


def _best_mbps(plan: Any, n: int, runs: int) -> Tuple[str, List[float], str]:
    """MB/s of ``plan`` (``n`` bytes) through the better of the limit's transports."""
    lines = limit.both(plan, runs=runs)
    return limit.best(lines, lambda x: n / x["seconds"] / 1e6, fmt="{:,.0f} MB/s")


def s2(ctx: Ctx) -> None:
    """S2: random reads of 4 KiB, 64 KiB, 1 MiB from one thread; p50/p99 ms."""
    fs, path, n, runs = ctx.fs, ctx.data.big, ctx.sizes.s1_bytes, ctx.runs
    url = ctx.data.url(path)
    rng = random.Random(2)
    for size, label in S2_SIZES:
        offs = [rng.randrange(0, n - size) for _ in range(ctx.sizes.s2_reads)]
        title = f"random {label} reads, 1 thread ({len(offs)} per run)"
        p50 = ctx.new(
            f"S2.{label}.p50",
            title + ", p50",
            "ms",
            "lower",
            "ours <= 1.3 x limit and <= reference / 3",
            (("ratio", "limit", 1.3), ("ratio", "reference", 1 / 3)),
        )
        p99 = ctx.new(
            f"S2.{label}.p99",
            title + ", p99",
            "ms",
            "lower",
            "ours <= reference / 3",
            ("ratio", "reference", 1 / 3),
        )
        say(f"S2 {label}")

        a, b = _percentiles(functools.partial(_cat_range, fs, url, size), offs, runs)
        p50.add("ours", a)
        p99.add("ours", b)

        plan = [ctx.planner.read(url, o, o + size) for o in offs]
        lines = limit.both(plan, mode="latency", runs=runs)
        for row, key, note in (
            (p50, "p50_ms", "same pieces, one read at a time; "),
            (p99, "p99_ms", ""),
        ):
            _, vals, won = limit.best(lines, lambda x, k=key: x[k], higher=False, fmt="{:.3f} ms")
            row.add("limit", vals, note + won)

        op = {"kind": "ranges", "ranges": [[url, o, size] for o in offs], "runs": runs}
        res = ctx.ref.one(ctx.svc.etcd_hosts, {**op, "warmup": 1})
        if "error" in res:
            p50.skip("reference", res["error"])
            p99.skip("reference", res["error"])
        else:
            p50.add("reference", res["p50_ms"])
            p99.add("reference", res["p99_ms"])

        fd = os.open(path, os.O_RDONLY)
        try:
            a, b = _percentiles(functools.partial(os.pread, fd, size), offs, runs)
        finally:
            os.close(fd)
        p50.add("ufs", a, "os.pread on the local file")
        p99.add("ufs", b)


def _cat_range(fs: Any, url: str, size: int, offset: int) -> bytes:
    data: bytes = fs.cat_file(url, start=offset, end=offset + size)
    return data


def _percentiles(
    call: Callable[[int], Any], offs: List[int], runs: int
) -> Tuple[List[float], List[float]]:
    """Per-run p50 and p99 (ms) of ``call(offset)`` over ``offs``, one offset
    at a time, after one untimed run."""
    lat = [latencies_ms(call, offs) for _ in range(runs + 1)][1:]
    return [pct(x, 0.5) for x in lat], [pct(x, 0.99) for x in lat]


def s3(ctx: Ctx) -> None:
    """S3: many small files with ``fs.cat(list)``; files/s."""
    fs, runs = ctx.fs, ctx.runs
    paths = ctx.data.small
    nfiles, fbytes = len(paths), ctx.sizes.s3_file_bytes
    urls = [ctx.data.url(p) for p in paths]
    r = ctx.new(
        "S3.cat_list",
        f"fs.cat of {nfiles} files x {fbytes // KIB} KiB",
        "files/s",
        "higher",
        "ours >= 0.7 x limit and >= 10 x reference",
        (("ratio", "limit", 0.7), ("ratio", "reference", 10.0)),
    )

    def rate(secs: List[float]) -> List[float]:
        return [nfiles / s for s in secs]

    say("S3 ours")
    r.add("ours", rate(repeat(lambda: fs.cat(urls), runs)))
    say("S3 limit (hyper and raw sockets)")
    plan = ctx.planner.reads([(u, 0, fbytes) for u in urls])
    lines = limit.both(plan, runs=runs)
    win, vals, note = limit.best(lines, lambda x: nfiles / x["seconds"], fmt="{:,.0f} files/s")
    r.add("limit", vals, f"one range GET per file; {note}")
    # The limit drops each body; fs.cat returns them all, alive at once, and
    # CPython's heap gives each result fresh pages (freed memory goes back to
    # the OS when the results die). The least any client returning them adds
    # to the limit's work is faulting that memory in: measured, not modelled.
    say("S3 limit with fresh results")
    fresh_lines = limit.run(plan, mode="fresh", runs=runs, transport=win)
    fresh = statistics.median(rate(limit.seconds(fresh_lines)))
    say("S3 reference")
    res = ctx.ref.one(ctx.svc.etcd_hosts, {"kind": "cat_list", "urls": urls, "runs": runs})
    add_ref(r, res, rate)
    if "reference" in r.runs:
        r.notes["reference"] = "a cat_file loop (1.0.17's fs.cat needs a UFS for expand_path)"
    say("S3 ufs (local disk)")

    def local() -> None:
        for p in paths:
            local_whole(p)

    r.add("ufs", rate(repeat(local, runs)), "open().read() of each local file")
    lim, ours = r.value("limit"), r.value("ours")
    if lim and ours:
        r.notes["ours"] = (
            f"ceiling: the limit ({win}) also faulting in fresh memory (4 KiB pages, as "
            f"CPython's heap) for each body as it arrives, the least a client "
            f"returning them all adds, makes {fresh:,.0f} files/s = "
            f"{fresh / lim:.2f} x limit; ours is {ours / fresh:.2f} x that"
        )


def s4(ctx: Ctx) -> None:
    """S4: ``pq.read_table`` of a multi-row-group Parquet file; MB/s of file."""
    fs, path, runs = ctx.fs, ctx.data.table, ctx.runs
    url = ctx.data.url(path)
    n = os.path.getsize(path)
    r = ctx.new(
        "S4.read_table",
        f"pq.read_table, {n / MIB:.0f} MiB Parquet, 16 row groups",
        "MB/s",
        "higher",
        "ours >= 0.7 x ufs (PyArrow, local disk) and >= 3 x reference",
        (("ratio", "ufs", 0.7), ("ratio", "reference", 3.0)),
    )
    say("S4 ours")
    r.add("ours", mbps(n, repeat(lambda: pq.read_table(url, filesystem=fs), runs)))
    say("S4 limit")
    with limit.record_reads(fs) as rec:
        pq.read_table(url, filesystem=fs)
    batches = [ctx.planner.reads(b) for b in rec.resolved()]
    r.add(
        "limit",
        mbps(n, limit.seconds(limit.run(batches, runs=runs))),
        f"the {len(batches)} reads PyArrow made through us, bytes only (no decoding)",
    )
    say("S4 reference")
    if ctx.ref.python and not ctx.ref.has_pyarrow:
        r.skip("reference", "pyarrow could not be installed in the reference venv")
    else:
        res = ctx.ref.one(ctx.svc.etcd_hosts, {"kind": "read_table", "url": url, "runs": runs})
        add_ref(r, res, lambda s: mbps(n, s))
    say("S4 ours with the local cache")
    cached = ctx.new(
        "S4.read_table.cache",
        f"pq.read_table, {n / MIB:.0f} MiB Parquet, warm local cache",
        "MB/s",
        "higher",
        "ours (local cache) >= 0.8 x ufs (PyArrow, local disk)",
        ("ratio", "ufs", 0.8),
    )
    with ctx.svc.cached_fs(2 * n + 64 * MIB) as (cfs, why):
        if cfs is None:
            cached.skip("ours", why)
        else:
            # The untimed first run fills the local cache.
            secs = repeat(lambda: pq.read_table(url, filesystem=cfs), runs)
            cached.add("ours", mbps(n, secs), "after one untimed read that fills the cache")
    say("S4 ufs (PyArrow, local disk)")
    r.add("ufs", mbps(n, repeat(lambda: pq.read_table(path), runs)))
    cached.add("ufs", r.runs["ufs"], "S4.read_table's")
    for c in ("limit", "reference"):
        cached.skip(c, "see S4.read_table")
    # The machine's ceiling for ours: moving the bytes (the limit) and decoding
    # them (local disk, where reading costs little) both take every core here,
    # so they add up: no client can beat the two done one after the other by
    # much on 2 cores.
    lim_v, ufs_v, ref_v = r.value("limit"), r.value("ufs"), r.value("reference")
    if lim_v and ufs_v:
        ceiling = one_after_other(lim_v, ufs_v)
        r.notes["ours"] = (
            f"ceiling here (the limit's bytes, then decoding as from local disk): "
            f"{ceiling:,.0f} MB/s = {ceiling / ufs_v:.2f} x ufs"
            + (f" = {ceiling / ref_v:.2f} x reference" if ref_v else "")
        )
