"""P1: what our users would pick instead of alluxiofs, reading the same
files from the same cluster in the same run: PyArrow's native
``S3FileSystem`` through a worker's S3 API (``pyarrow_s3``), and the newest
alluxiofs on PyPI, 1.1.17 (``ref117``: REST for metadata, the S3 API on
port 29998 for data). Rows: the S1 file read whole, and ``pq.read_table``
of the S4 file; every column warm (the worker caches on a first read).

1.1.17 reads the S3 API only on 127.0.0.1:29998 and ``/v1/node`` as an
object, so it gets a one-worker cluster of its own over the same data
(``--node-response object``, S3 port 29998) rooted at the data directory's
parent, so that its files sit in a bucket; PyArrow reads through the S3
API of the main cluster's first worker; ours reads the main cluster. The
1.1.17 venv is made with uv under ``--ref117-venv`` when missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, Optional

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from harness import MIB, Ctx, mbps, repeat, say

from alluxiofs.etcd_process import port_is_free
from alluxiofs.local_cluster import LocalCluster

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 8 * MIB


def venv_117(where: str) -> Optional[str]:
    """The 1.1.17 venv's python (made if missing), or None with a reason printed."""
    py = os.path.join(where, "bin", "python")
    check = [py, "-c", "import importlib.metadata as m, pyarrow; print(m.version('alluxiofs'))"]
    if os.path.exists(py):
        r = subprocess.run(check, capture_output=True, text=True)
        if r.stdout.strip() == "1.1.17":
            return py
    for cmd in (
        ["uv", "venv", "-q", "--python", sys.executable, where],
        ["uv", "pip", "install", "-q", "--python", py, "alluxiofs==1.1.17", "pyarrow"],
    ):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            say(f"P1: no alluxiofs 1.1.17 venv: {r.stderr.strip()[-300:]}")
            return None
    return py


def p1(ctx: Ctx, ref117_venv: str) -> None:
    """P1: ours vs PyArrow S3FileSystem (worker S3 API) vs alluxiofs 1.1.17."""
    big, table = ctx.data.big, ctx.data.table
    n_big, n_table = os.path.getsize(big), os.path.getsize(table)
    runs = ctx.runs
    cat = ctx.new(
        "P1.cat",
        f"the {n_big // MIB} MiB S1 file read whole: ours cat_file vs pyarrow_s3 / ref117",
        "MB/s",
        "higher",
        "ours >= 1 x PyArrow S3FileSystem via the S3 API and >= 1 x alluxiofs 1.1.17",
        (("ratio", "pyarrow_s3", 1.0), ("ratio", "ref117", 1.0)),
    )
    rt = ctx.new(
        "P1.read_table",
        f"pq.read_table of the {n_table / MIB:.0f} MiB S4 file: ours vs pyarrow_s3 / ref117",
        "MB/s",
        "higher",
        "ours >= 1 x PyArrow S3FileSystem via the S3 API and >= 1 x alluxiofs 1.1.17",
        (("ratio", "pyarrow_s3", 1.0), ("ratio", "ref117", 1.0)),
    )
    say("P1 ours")
    fs = ctx.fs
    cat.add("ours", mbps(n_big, repeat(lambda: fs.cat_file(ctx.data.url(big)), runs)))
    rt.add(
        "ours",
        mbps(n_table, repeat(lambda: pq.read_table(ctx.data.url(table), filesystem=fs), runs)),
    )

    say("P1 PyArrow S3FileSystem through the worker's S3 API")
    cluster = ctx.svc.cluster
    s3 = pafs.S3FileSystem(
        endpoint_override=cluster.s3_hosts.split(",")[0],
        scheme="http",
        access_key="x",
        secret_key="y",
        region="us-east-1",
    )
    # Several roots: each is a bucket named by its last component.
    bucket = os.path.basename(ctx.data.root.rstrip("/"))

    def key(path: str) -> str:
        return f"{bucket}/{os.path.relpath(path, ctx.data.root)}"

    def pa_cat() -> None:
        with s3.open_input_stream(key(big)) as f:
            f.read()

    cat.add(
        "pyarrow_s3", mbps(n_big, repeat(pa_cat, runs)), "PyArrow S3FileSystem, worker 1's S3 API"
    )
    rt.add(
        "pyarrow_s3",
        mbps(n_table, repeat(lambda: pq.read_table(key(table), filesystem=s3), runs)),
        "PyArrow S3FileSystem, worker 1's S3 API",
    )

    say("P1 alluxiofs 1.1.17")
    py = venv_117(ref117_venv)
    if py is None:
        for r in (cat, rt):
            r.skip("ref117", "alluxiofs 1.1.17 could not be installed (see the log)")
        return
    if not port_is_free(29998):
        for r in (cat, rt):
            r.skip("ref117", "port 29998 is taken: 1.1.17 reads the S3 API there only")
        return
    # Its S3 path is the REST mPath, the path below the root, and the first
    # component of an S3 path is the bucket: the data directory must be one
    # level below the root for files at its top to have a bucket.
    with LocalCluster(
        os.path.dirname(ctx.data.root.rstrip("/")),
        workers=1,
        s3_ports=[29998],
        settings={"node_response": "object"},
        cache_size="4GB",
    ) as one:
        args = {
            "worker_hosts": one.worker_hosts,
            "big": ctx.data.url(big),
            "table": ctx.data.url(table),
            "runs": runs,
            "chunk": CHUNK,
        }
        r = subprocess.run(
            [py, os.path.join(HERE, "peer117.py"), json.dumps(args)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    lines = r.stdout.strip().splitlines()
    res: Dict[str, Any] = json.loads(lines[-1]) if lines else {"error": r.stderr[-300:]}
    if "error" in res:
        for row in (cat, rt):
            row.skip("ref117", f"alluxiofs 1.1.17 failed: {res['error']}")
        return
    for row, op, n, how in (
        (cat, "cat", n_big, "open().read(8 MiB) to the end"),
        (rt, "read_table", n_table, "pq.read_table(fs.open())"),
    ):
        got: Any = res[op]
        if isinstance(got, dict):
            row.skip("ref117", f"alluxiofs 1.1.17 failed: {got['error']}")
        else:
            row.add("ref117", mbps(n, got), f"alluxiofs 1.1.17: {how}")
