"""W1: streamed writes. One file of ``min(S1, 256 MiB)`` written with
``open("wb")`` in 8 MiB pieces, per run: through alluxiofs to the main
cluster's S3 under storage (moto; the worker streams it on as a multipart
upload) against s3fs writing the same bytes straight to moto (``ufs``); and
through alluxiofs to the local under storage against writing the local file
directly and fsyncing it (``ufs``: the same write the worker makes, done
here; not a bound, since fsync's cost varies run to run with what else the
disk is flushing: CI once measured ours at 2x it). Every file is read back
once and compared. Unit: MB/s."""

from __future__ import annotations

import os
import time
from typing import Any, Callable, List

from harness import MIB, Ctx, mbps, say

PIECE = 8 * MIB


def _timed(open_w: Callable[[], Any], data: bytes) -> float:
    t = time.perf_counter()
    with open_w() as f:
        for i in range(0, len(data), PIECE):
            f.write(data[i : i + PIECE])
    return time.perf_counter() - t


class _SyncedFile:
    """A local file written and fsynced on close: what the worker does for
    a local under storage (before its rename)."""

    def __init__(self, path: str) -> None:
        self.f = open(path, "wb")  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> Any:
        return self.f

    def __exit__(self, *exc: Any) -> None:
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def w1(ctx: Ctx) -> None:
    """W1: write throughput, ours vs s3fs (S3) and vs the local disk."""
    n = min(ctx.sizes.s1_bytes, 256 * MIB)
    data = os.urandom(n)
    s3_row = ctx.new(
        "W1.s3",
        f"open('wb') of {n // MIB} MiB to S3 (moto): ours via the worker vs s3fs direct",
        "MB/s",
        "higher",
        "ours >= 0.5 x s3fs straight to the under storage",
        ("ratio", "ufs", 0.5),
    )
    local_row = ctx.new(
        "W1.local",
        f"open('wb') of {n // MIB} MiB to the local UFS: ours via the worker vs a local write",
        "MB/s",
        "higher",
        "ours >= 0.5 x ufs (the same local write the worker makes, done here)",
        ("ratio", "ufs", 0.5),
    )
    ours_s3, s3fs = ctx.svc.fs("s3"), ctx.svc.s3fs()
    ours_local = ctx.fs
    folder = os.path.join(ctx.data.root, "w1")
    os.makedirs(folder, exist_ok=True)
    times: dict[str, List[float]] = {"s3": [], "ufs": [], "local": [], "disk": []}
    for run in range(ctx.runs):
        say(f"W1 run {run + 1}")
        key = f"bench/w1/run-{run}"
        local = os.path.join(folder, f"run-{run}")
        writers = {
            "s3": (lambda k=key: ours_s3.open(f"s3://{k}.ours", "wb"), f"{key}.ours"),
            "ufs": (lambda k=key: s3fs.open(f"{k}.s3fs", "wb"), f"{key}.s3fs"),
            "local": (lambda p=local: ours_local.open(f"file://{p}.ours", "wb"), f"{local}.ours"),
            "disk": (lambda p=local: _SyncedFile(f"{p}.disk"), f"{local}.disk"),
        }
        for col, (open_w, where) in writers.items():
            times[col].append(_timed(open_w, data))
            if col in ("s3", "ufs"):
                s3fs.invalidate_cache()
                ok = s3fs.cat_file(where) == data
                s3fs.rm(where)
            else:
                with open(where, "rb") as f:
                    ok = f.read() == data
                os.remove(where)
            if not ok:
                raise AssertionError(f"W1 {col}: the file read back differs")
    s3_row.add("ours", mbps(n, times["s3"]))
    s3_row.add("ufs", mbps(n, times["ufs"]), "s3fs open('wb') straight to moto")
    local_row.add("ours", mbps(n, times["local"]))
    local_row.add("ufs", mbps(n, times["disk"]), "open('wb') of the local file, fsynced")
