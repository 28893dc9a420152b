"""S5 (Ray ``read_parquet`` over the cluster's ``s3://`` root vs s3fs on moto)
and S6 (``ls`` of a big directory, ``info`` latency, vs raw worker GETs)."""

from __future__ import annotations

import logging
import os
import signal
import statistics
import threading
import warnings
from typing import Any, Callable, List

import limit_client as limit
from fsspec.implementations.local import LocalFileSystem
from harness import (
    COLUMNS,
    MIB,
    Ctx,
    Result,
    add_ref,
    latencies_ms,
    mbps,
    one_after_other,
    pct,
    repeat,
    say,
)
from services import DEAD_S3, stop_ray

RAY_CPUS = 2
#: Seconds one Ray read may take before S5 gives up on that column.
RAY_TIMEOUT = 600


def _start_ray(ctx: Ctx, store_bytes: int) -> Any:
    import ray
    import ray.data

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray Data reads Parquet footers with 32 actor processes by default: on a
    # 2-core machine starting them dominates every read, for both columns.
    os.environ.setdefault("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", str(RAY_CPUS))
    handler = signal.getsignal(signal.SIGTERM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not ray.is_initialized():
            ray.init(
                num_cpus=RAY_CPUS,
                include_dashboard=False,
                object_store_memory=store_bytes,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
            ctx.svc.stack.callback(stop_ray, ray)
        dctx = ray.data.DataContext.get_current()
        dctx.enable_progress_bars = False
        dctx.print_on_execution_start = False
    signal.signal(signal.SIGTERM, handler)  # ours (stop everything), not Ray's
    return ray


def _bounded(fn: Callable[[], Any], timeout: float) -> None:
    """Runs ``fn`` in a thread; TimeoutError if it takes longer than ``timeout``."""
    err: List[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise TimeoutError(f"a Ray read took longer than {timeout:.0f}s")
    if err:
        raise err[0]


def s5(ctx: Ctx) -> None:
    """S5: Ray ``read_parquet`` of a directory of Parquet files; MB/s of files."""
    data = ctx.data
    n = data.ray_bytes
    r = ctx.new(
        "S5.ray",
        f"ray.data.read_parquet().materialize(), {len(data.ray_keys)} files, {n / MIB:.0f} MiB",
        "MB/s",
        "higher",
        "ours >= 2 x ufs (s3fs -> moto) and >= 2 x reference",
        (("ratio", "ufs", 2.0), ("ratio", "reference", 2.0)),
    )
    try:
        ray = _start_ray(ctx, max(512 * MIB, 3 * n))
    except Exception as e:  # ImportError, or Ray failing to start
        for c in COLUMNS:
            r.skip(c, f"Ray unavailable: {e!r}"[:300])
        return
    try:
        _s5_columns(ctx, r, ray)
    finally:
        # Only S5 uses Ray: an idle Ray (its threads in this process, its
        # processes, its object store) slowed the scenarios after it (C1's
        # worker stored pages 2-6x slower with it up).
        stop_ray(ray)


def _s5_columns(ctx: Ctx, r: Result, ray: Any) -> None:
    """The columns of S5, with Ray running."""
    data, runs = ctx.data, ctx.runs
    n = data.ray_bytes
    # Scheme-less, as Ray hands paths to filesystems anyway; with "s3://" Ray
    # first resolves the bucket's region with PyArrow's own S3 client (AWS).
    src = data.ray_prefix
    fs = ctx.svc.fs("s3")
    s3 = ctx.svc.s3fs()

    def read(filesystem: Any) -> None:
        def body() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ray.data.read_parquet(src, filesystem=filesystem).materialize()

        _bounded(body, RAY_TIMEOUT)

    say("S5 ours (Ray over alluxiofs)")
    try:
        r.add(
            "ours",
            mbps(n, repeat(lambda: read(fs), runs)),
            "fallback is a dead endpoint (cache only)",
        )
    except TimeoutError as e:
        r.skip("ours", str(e))
    say("S5 limit")
    urls = ["s3://" + k for k in data.ray_keys]
    sizes = {u: int(fs.info(u)["size"]) for u in urls}
    plan = limit.Planner(fs).reads([(u, 0, sizes[u]) for u in urls])
    r.add(
        "limit",
        mbps(n, limit.seconds(limit.run(plan, runs=runs))),
        "every page of every file, concurrently; bytes only (no Ray, no decoding)",
    )
    say("S5 reference (Ray over alluxiofs 1.0.17, its own Ray instance)")
    if not ctx.ref.has_ray:
        r.skip("reference", "Ray/s3fs could not be installed in the reference venv")
    else:
        # Our Ray is idle meanwhile; the reference runs in a Ray of its own venv.
        res = ctx.ref.one(
            ctx.svc.etcd_hosts,
            {
                "kind": "ray_parquet",
                # 1.0.17 names listed entries by base name, so Ray finds no
                # files under the directory: it gets the file paths.
                "src": list(data.ray_keys),
                "target_options": {**ctx.svc.s3_options, "endpoint_url": DEAD_S3},
                "num_cpus": RAY_CPUS,
                "store_bytes": max(512 * MIB, 3 * n),
                "runs": runs,
                "warmup": 1,
            },
        )
        add_ref(r, res, lambda s: mbps(n, s))
        if "reference" in r.runs:
            r.notes["reference"] = (
                "given the file paths (1.0.17 lists a directory's entries by base "
                "name, so Ray finds no files in it); fallback a dead endpoint, as ours"
            )
    say("S5 ufs (Ray over s3fs -> moto)")
    try:
        r.add("ufs", mbps(n, repeat(lambda: read(s3), runs)))
    except TimeoutError as e:
        r.skip("ufs", str(e))
    # Ray's own floor on this machine: the same files from local disk with
    # PyArrow's native filesystem (no fsspec, no network). No filesystem can
    # make Ray faster than this.
    say("S5 Ray's floor (local disk, PyArrow's own filesystem)")
    local = statistics.median(mbps(n, repeat(lambda: read_local(data.ray_local), runs)))
    lim, ufs, ref = r.value("limit"), r.value("ufs"), r.value("reference")
    note = (
        f"{r.notes.get('ours', '')}; Ray's floor here (same files on local disk, "
        f"PyArrow's filesystem): {local:,.0f} MB/s" + (f" = {local / ufs:.2f} x ufs" if ufs else "")
    ).lstrip("; ")
    # As S4: moving the bytes (the limit) and Ray's own work (the floor) both
    # take every core here, so a client through the cache adds the two.
    if lim:
        ceiling = one_after_other(local, lim)
        note += f"; ceiling through the cache (floor, then the limit's bytes): {ceiling:,.0f} MB/s"
        for name, v in (("ufs", ufs), ("reference", ref)):
            if v:
                note += f" = {ceiling / v:.2f} x {name}"
    r.notes["ours"] = note


def read_local(path: str) -> None:
    """Ray ``read_parquet`` of a local directory with PyArrow's filesystem."""
    import ray.data

    def body() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ray.data.read_parquet(path).materialize()

    _bounded(body, RAY_TIMEOUT)


def s6(ctx: Ctx) -> None:
    """S6: ``ls`` of a big directory and ``info`` p50, vs raw worker GETs."""
    fs, runs = ctx.fs, ctx.runs
    entries = ctx.sizes.s6_entries
    dir_url = ctx.data.url(ctx.data.listing)
    local = LocalFileSystem()
    ls = ctx.new(
        "S6.ls",
        f"ls(detail=True) of a {entries}-entry directory",
        "ms",
        "lower",
        "ours <= 1.5 x limit (raw GET /v1/files)",
        ("ratio", "limit", 1.5),
    )
    say("S6 ls")
    listed = fs.ls(dir_url, detail=True)
    assert len(listed) == entries, (len(listed), entries)
    ls.add("ours", [s * 1e3 for s in repeat(lambda: fs.ls(dir_url, detail=True), runs)])
    lines = limit.run([ctx.planner.files(dir_url)], mode="latency", runs=runs)
    ls.add("limit", [x["p50_ms"] for x in lines], "one raw GET /v1/files (JSON not parsed)")
    res = ctx.ref.one(ctx.svc.etcd_hosts, {"kind": "ls", "url": dir_url, "runs": runs})
    add_ref(ls, res, lambda s: [x * 1e3 for x in s])
    ls.add(
        "ufs",
        [s * 1e3 for s in repeat(lambda: local.ls(ctx.data.listing, detail=True), runs)],
        "fsspec LocalFileSystem.ls",
    )

    paths = ctx.data.small[: ctx.sizes.s6_infos]
    urls = [ctx.data.url(p) for p in paths]
    info = ctx.new(
        "S6.info.p50",
        f"info() p50 over {len(urls)} files",
        "ms",
        "lower",
        "ours <= 1.3 x limit (raw GET /v1/info)",
        ("ratio", "limit", 1.3),
    )
    say("S6 info")
    info.add("ours", _p50_runs(fs.info, urls, runs))
    lines = limit.run([ctx.planner.info(u) for u in urls], mode="latency", runs=runs)
    info.add("limit", [x["p50_ms"] for x in lines], "raw GET /v1/info, one at a time")
    res = ctx.ref.one(ctx.svc.etcd_hosts, {"kind": "info", "urls": urls, "runs": runs, "warmup": 1})
    _add_ref_p50(info, res)
    info.add("ufs", _p50_runs(local.info, paths, runs), "fsspec LocalFileSystem.info")


def _p50_runs(call: Any, items: List[Any], runs: int) -> List[float]:
    call(items[0])
    return [pct(latencies_ms(call, items), 0.5) for _ in range(runs + 1)][1:]


def _add_ref_p50(r: Result, res: Any) -> None:
    if "error" in res:
        r.skip("reference", f"reference client failed: {res['error']}")
    else:
        r.add("reference", res["p50_ms"])
