"""C1 (cold reads through fresh workers over S3), M1 (peak RSS of one big
read in a fresh process) and R1 (ring micro-benchmarks from cargo bench)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any, Dict, List, Tuple

import limit_client as limit
from harness import COLUMNS, MIB, Ctx, mbps, say, timed
from services import wait_members

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Peak RSS of this process image in bytes. VmHWM, not ru_maxrss: a child's
#: ru_maxrss starts at its parent's RSS (Linux keeps the max across fork and
#: exec), which would hide the growth being measured.
_PEAK = """
import gc, json, resource, sys
def peak():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

_RSS_OURS = (
    _PEAK
    + """
import fsspec
fs = fsspec.filesystem("alluxiofs", etcd_hosts=sys.argv[1], target_protocol="file",
                       concurrency=int(sys.argv[3]))
url = sys.argv[2]
fs.info(url)
fs.cat_file(url, start=0, end=4096)
gc.collect()
before = peak()
data = fs.cat_file(url)
print(json.dumps({"rss_delta": peak() - before, "bytes": len(data)}))
"""
)

_RSS_LOCAL = (
    _PEAK
    + """
gc.collect()
before = peak()
with open(sys.argv[1], "rb") as f:
    data = f.read()
print(json.dumps({"rss_delta": peak() - before, "bytes": len(data)}))
"""
)


def c1(ctx: Ctx) -> None:
    """C1: a cold ``cat_file`` through fresh workers whose UFS is moto, vs s3fs direct."""
    svc, runs, n = ctx.svc, ctx.runs, ctx.sizes.c1_bytes
    key = ctx.data.cold_key
    url = "s3://" + key
    r = ctx.new(
        "C1.cold",
        f"cold cat_file through fresh workers (UFS moto), {n // MIB} MiB",
        "MB/s",
        "higher",
        "ours >= 0.8 x ufs (s3fs direct)",
        ("ratio", "ufs", 0.8),
    )
    ours: List[float] = []
    lim: List[float] = []
    ref: List[float] = []
    ufs: List[float] = []
    ref_err = ""
    s3 = svc.s3fs()
    for i in range(runs):
        say(f"C1 run {i + 1}/{runs}")
        with svc.fresh_s3_cluster() as c:
            fs = svc.fs("s3", c.etcd_hosts)
            wait_members(fs, c.worker_hosts)
            secs, nbytes = _timed_cat(fs, url)
            assert nbytes == n, (nbytes, n)
            ours.append(secs)
        with svc.fresh_s3_cluster() as c:
            fs = svc.fs("s3", c.etcd_hosts)
            wait_members(fs, c.worker_hosts)
            plan = limit.Planner(fs).read(url, 0, n)
            lim.extend(limit.seconds(limit.run(plan, runs=1, warmup=0)))
        if ctx.ref.python and not ref_err:
            with svc.fresh_s3_cluster() as c:
                res = ctx.ref.one(c.etcd_hosts, {"kind": "cat", "url": url, "runs": 1, "warmup": 0})
            if "error" in res:
                ref_err = res["error"]
            else:
                ref.extend(res["seconds"])
        # s3fs in the same round as ours, so both see the machine in the same
        # state: measured only after all rounds, it ran on a quieter machine
        # in full suites (ours/s3fs 0.74x there, 1.09x with C1 alone).
        ufs.append(timed(lambda: s3.cat_file(key)))
    r.add("ours", mbps(n, ours), "new cluster (empty cache) for every run")
    r.add("limit", mbps(n, lim), "every page once, concurrently, against new workers")
    if ref:
        r.add("reference", mbps(n, ref))
    else:
        r.skip("reference", f"reference client failed: {ref_err or ctx.ref.reason}")
    r.add("ufs", mbps(n, ufs), "s3fs cat_file, once per run after ours")


def _timed_cat(fs: Any, url: str) -> Tuple[float, int]:
    """Seconds of one whole-file ``cat_file``, and the bytes it returned."""
    t = time.perf_counter()
    data = fs.cat_file(url)
    return time.perf_counter() - t, len(data)


def _rss_run(args: List[str]) -> Dict[str, Any]:
    out = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {out.returncode}: {tail}"}
    result: Dict[str, Any] = json.loads(lines[-1])
    return result


def m1(ctx: Ctx) -> None:
    """M1: peak RSS growth of one whole-file ``cat_file`` in a fresh process."""
    path, n, runs = ctx.data.big, ctx.sizes.s1_bytes, ctx.runs
    url = ctx.data.url(path)
    r = ctx.new(
        "M1.rss",
        f"peak RSS growth (VmHWM) of one cat_file of {n // MIB} MiB, fresh process",
        "x size",
        "lower",
        "ours <= 1.25 x file size",
        ("abs", None, 1.25),
    )
    cols: Dict[str, List[Dict[str, Any]]] = {"ours": [], "reference": [], "ufs": []}
    for i in range(runs):
        say(f"M1 run {i + 1}/{runs}")
        cols["ours"].append(
            _rss_run([sys.executable, "-c", _RSS_OURS, ctx.svc.etcd_hosts, url, "64"])
        )
        cols["ufs"].append(_rss_run([sys.executable, "-c", _RSS_LOCAL, path]))
        if ctx.ref.python:
            cols["reference"].append(ctx.ref.one(ctx.svc.etcd_hosts, {"kind": "rss", "url": url}))
    for col, results in cols.items():
        errors = [x["error"] for x in results if "error" in x]
        if errors or not results:
            r.skip(col, errors[0] if errors else ctx.ref.reason)
            continue
        assert all(x["bytes"] == n for x in results), results
        r.add(col, [x["rss_delta"] / n for x in results])
    if "ufs" in r.runs:
        r.notes["ufs"] = "plain open().read() of the local file"
    r.skip("limit", "n/a: the limit client discards the bytes")


def r1(ctx: Ctx, quick: bool) -> None:
    """R1: ``cargo bench --bench ring``: lookup ns and % of keys moved."""
    lookup = ctx.new(
        "R1.lookup",
        "ring lookup, 10,000 workers x 5 virtual nodes",
        "ns",
        "lower",
        "ours <= 1000 ns",
        ("abs", None, 1000.0),
    )
    moved = ctx.new(
        "R1.moved",
        "keys that move when 1 of 100 workers leaves",
        "%",
        "lower",
        "ours <= 2 %",
        ("abs", None, 2.0),
    )
    for res in (lookup, moved):
        for c in COLUMNS[1:]:
            res.skip(c, "n/a: in-process computation, no requests")
    say("R1 cargo bench --bench ring")
    cmd = ["cargo", "bench", "--bench", "ring"] + (["--", "--quick"] if quick else [])
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        for res in (lookup, moved):
            res.skip("ours", f"cargo bench failed: {e}")
        return
    m_lookup = re.search(r"R1 ring lookup.*?: ([\d.]+) ns/lookup", out.stdout)
    m_moved = re.search(r"R1 one of 100 workers leaves: ([\d.]+) % of (\d+) keys", out.stdout)
    if out.returncode != 0 or not m_lookup or not m_moved:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        for res in (lookup, moved):
            res.skip("ours", f"cargo bench exited {out.returncode}: {tail}")
        return
    note = "median of 5 repetitions inside cargo bench"
    lookup.add("ours", [float(m_lookup.group(1))], note)
    moved.add("ours", [float(m_moved.group(1))], f"{m_moved.group(2)} keys")
