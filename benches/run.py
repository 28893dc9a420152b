"""Benchmark runner (issue 6): alluxiofs against the best possible client, the
PyPI reference client and the under storage, in one run on the same workers.

    .venv/bin/python benches/run.py [--quick] [--json PATH] [--png PATH]
                                    [--only S1,S2,...] [--data-dir DIR] [--ref-venv DIR]

It starts moto_server and its own ``LocalCluster`` (3 workers, a private
etcd; roots ``file://DATA`` and ``s3://bench``), writes deterministic data
(seeded), warms the cache with load jobs, and measures every scenario
``--runs`` times (default 5; median, min and max) for four columns:

* ``ours``: alluxiofs through ``fsspec.filesystem("alluxiofs", ...)`` (and
  PyArrow / Ray where the scenario says);
* ``limit``: ``benches/limit.rs`` sending exactly the worker requests our
  client sends (page pieces of ``/v1/range`` to the ring owner, same
  concurrency) and discarding the bytes: the best any client could do (S1-S3:
  the better of hyper and plain sockets, ``benches/limit_raw.rs``);
* ``reference``: the PyPI client ``alluxiofs==1.0.17`` in its own venv
  (``tests/reference/setup_reference_venv.sh``, cached under
  ``~/.cache/alluxiofs-bench``), through ``benches/ref_timer.py``;
* ``ufs``: the same data read directly (local disk, or s3fs on moto).

Scenarios: S1 big-file ``cat_file`` / 8 MiB ``read`` (MB/s); S2 random 4 KiB,
64 KiB, 1 MiB reads, p50/p99; S3 ``fs.cat`` of many 100 KiB files (files/s);
S4 ``pq.read_table`` (MB/s); S5 Ray ``read_parquet`` (MB/s); S6 ``ls`` and
``info`` (ms); C1 cold read through fresh workers over moto (MB/s); M1 peak RSS
of one big ``cat_file`` (x file size); H1 hedged reads under stalls (ms); E1
training epochs by forked loader processes, ours with and without the local
cache (``scen_epoch.py``: its own columns, per-epoch rates printed after the
notes); R1 ``cargo bench --bench ring``.
``--quick`` shrinks the data so that a run takes a minute or two.

Outputs: ``--json`` (default ``bench-results.json``)
``{id: {"ours", "limit", "reference", "ufs", "unit", "better", "target",
"target_met", "ratio_ours_limit", "ratio_ours_reference", "runs": {column:
{"n", "median", "min", "max", "values"}}, "notes": {column: why}}}`` (a
missing value is null, with the reason in ``notes``); ``--png`` (default
``bench-results.png``); and a table on stdout. Progress goes to stderr.
Everything started (cluster, etcd, moto, Ray) is stopped at the end, also on
errors and Ctrl-C.

Everything it needs comes with ``bash scripts/setup.sh`` (requirements-dev.txt:
moto[server], s3fs, pyarrow, ray[data], matplotlib; etcd; cargo). Without
matplotlib the PNG is skipped; without ``ray[data]`` S5 is null with the
reason. The reference column needs ``uv`` and PyPI access the first time
(``alluxiofs==1.0.17``, plus ``pyarrow`` in that venv for S4); without them it
is null with the reason. The limit client and the ``ring`` bench are built
with cargo when missing (``CARGO_BUILD_JOBS`` is honoured).

Targets are ours against one column (``limit`` for client overhead, ``ufs``
where the scenario compares with the under storage) or an absolute bound;
see each scenario. Numbers from a shared 2-core machine are noisy: compare
ratios from the same run, not values across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

import datagen
import limit_client
import reference
import report
import scen_async
import scen_data
import scen_epoch
import scen_hedge
import scen_meta
import scen_misc
import scen_peers
import scen_write
from harness import COLUMNS, FULL, QUICK, Ctx, Result, say
from services import Services

SCENARIOS: Dict[str, Callable[..., None]] = {
    "S1": scen_data.s1,
    "S2": scen_data.s2,
    "S3": scen_data.s3,
    "S4": scen_data.s4,
    "S5": scen_meta.s5,
    "S6": scen_meta.s6,
    "C1": scen_misc.c1,
    "M1": scen_misc.m1,
    "H1": scen_hedge.h1,
    "E1": scen_epoch.e1,
    "A1": scen_async.a1,
    "W1": scen_write.w1,
}
#: Scenarios that never run the limit client (no cargo build for them alone).
NO_LIMIT = {"M1", "H1", "E1", "A1", "W1", "P1"}


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (CI: a minute or two)")
    p.add_argument("--json", default="bench-results.json", help="results JSON path")
    p.add_argument("--png", default="bench-results.png", help="chart path ('' for none)")
    p.add_argument("--runs", type=int, default=None, help="runs per scenario (default 5)")
    p.add_argument("--only", default="", help="comma list of scenarios, e.g. S1,S6,R1")
    p.add_argument("--data-dir", default=None, help="keep (and reuse) the local data here")
    p.add_argument("--ref-venv", default=None, help="reference client venv (built if missing)")
    p.add_argument(
        "--ref117-venv", default=None, help="alluxiofs 1.1.17 venv for P1 (built if missing)"
    )
    return p.parse_args(argv)


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt("SIGTERM")


def warm(ctx: Ctx) -> None:
    """Loads the data into the cache (load jobs), then checks one file is cached."""
    say("warming the cache (load jobs)")
    ok = ctx.fs.client.load(ctx.data.url(ctx.data.root), timeout=1800, poll_interval=0.2)
    fs_s3 = ctx.svc.fs("s3")
    ok = fs_s3.client.load("s3://" + ctx.data.ray_prefix, timeout=1800, poll_interval=0.2) and ok
    if not ok:
        say("WARNING: a load job did not succeed; reads warm the cache instead")
    for url in (ctx.data.url(ctx.data.big), ctx.data.url(ctx.data.table)):
        ctx.fs.cat_file(url)
    pct = ctx.fs.info(ctx.data.url(ctx.data.big)).get("in_alluxio_percentage")
    say(f"warm: {ctx.data.big} in_alluxio_percentage={pct}")


def run_scenario(ctx: Ctx, sid: str, fn: Callable[[], None]) -> None:
    first = len(ctx.results)
    t = time.monotonic()
    try:
        fn()
    except Exception as e:
        traceback.print_exc()
        if len(ctx.results) == first:
            ctx.new(sid, "failed", "-", "higher", "-", ("abs", None, 0.0))
        for r in ctx.results[first:]:
            for c in COLUMNS:
                if c not in r.runs:
                    r.notes.setdefault(c, f"scenario failed: {e!r}"[:300])
    say(f"{sid} done in {time.monotonic() - t:.1f}s")


def bench(args: argparse.Namespace, stack: contextlib.ExitStack) -> List[Result]:
    sizes = QUICK if args.quick else FULL
    if args.runs:
        sizes = dataclasses.replace(sizes, runs=max(1, args.runs))
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    unknown = only - {*SCENARIOS, "R1", "P1"}
    if unknown:
        raise SystemExit(f"--only: unknown scenario(s) {', '.join(sorted(unknown))}")
    wanted = [s for s in [*SCENARIOS, "R1", "P1"] if not only or s in only]

    if any(s not in NO_LIMIT for s in wanted):
        limit_client.ensure_binary()
    ref_dir = args.ref_venv or reference.default_venv_dir()
    say(f"reference client venv: {ref_dir}")
    python, why = reference.setup(ref_dir)
    if python is None:
        say(f"reference column unavailable: {why}")
    ref = reference.Reference(python, why)

    data_root = args.data_dir
    if data_root is None:
        data_root = tempfile.mkdtemp(prefix="alluxiofs-bench-data-")
        stack.callback(shutil.rmtree, data_root, True)
    data_root = os.path.abspath(data_root)
    ds = datagen.make_local(data_root, sizes)
    svc = Services(stack, data_root, sizes.cache_size)
    say("writing the S3 objects to moto")
    ds = datagen.upload_s3(svc.s3fs(), ds, sizes)
    svc.start_cluster()
    fs = svc.fs("file")
    ctx = Ctx(sizes, svc, ds, fs, limit_client.Planner(fs), ref)
    warm(ctx)
    for sid in wanted:
        if sid == "R1":
            run_scenario(ctx, sid, functools.partial(scen_misc.r1, ctx, args.quick))
        elif sid == "P1":
            venv117 = args.ref117_venv or os.path.join(
                os.path.dirname(reference.default_venv_dir()), "alluxiofs-1.1.17"
            )
            run_scenario(ctx, sid, functools.partial(scen_peers.p1, ctx, venv117))
        else:
            run_scenario(ctx, sid, functools.partial(SCENARIOS[sid], ctx))
    stats = fs.stats()
    if stats.get("fallbacks"):
        say(f"WARNING: our client fell back to the under storage: {stats}")
    return ctx.results


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            results = bench(args, stack)
            say("stopping everything")
    except KeyboardInterrupt:
        say("interrupted; everything started was stopped")
        return 130
    elapsed = time.monotonic() - started
    mode = "quick" if args.quick else "full"
    report.write_json(results, args.json)
    print(report.table(results))
    print("\nnotes:\n" + report.notes(results))
    per_epoch = report.details(results)
    if per_epoch:
        print("\nper epoch (MB/s):\n" + per_epoch)
    if args.png:
        err = report.write_png(results, args.png, f"alluxiofs benchmarks ({mode})")
        if err:
            say(err)
    print(
        f"\n{mode} run: {elapsed:.0f}s; JSON {args.json}"
        + (f", PNG {args.png}" if args.png else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
