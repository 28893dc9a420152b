"""A1: the async API under many small concurrent reads. 10,000 reads of
16 KiB at distinct seeded offsets of the S1 file (wrapping round where the
file has fewer slots), all awaited at once with ``asyncio.gather`` on
``AsyncAlluxioFileSystem._cat_file``, against the same ranges read by the
sync API in one call (``_read_many``, what ``cat_ranges`` runs, without its
merging) and by fsspec's ``AsyncFileSystemWrapper`` over the sync filesystem
(what zarr v3 did with us before: each read on a thread). Every byte is
checked. Unit: reads per second."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, List, Tuple

from harness import Ctx, say

READS = 10_000
SIZE = 16 * 1024


def _ranges(size: int) -> List[Tuple[int, int]]:
    slots = max(1, size // SIZE)
    order = list(range(slots))
    random.Random(7).shuffle(order)
    return [(order[i % slots] * SIZE, order[i % slots] * SIZE + SIZE) for i in range(READS)]


def _check(got: List[Any], data: bytes, ranges: List[Tuple[int, int]], who: str) -> None:
    for g, (s, e) in zip(got, ranges):
        if g != data[s:e]:
            raise AssertionError(f"A1 {who}: wrong bytes at {s}")


def a1(ctx: Ctx) -> None:
    """A1: 10,000 concurrent 16 KiB reads, async vs sync batch vs wrapped."""
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

    from alluxiofs import AsyncAlluxioFileSystem

    url = ctx.data.url(ctx.data.big)
    with open(ctx.data.big, "rb") as f:
        data = f.read()
    ranges = _ranges(len(data))
    opts = dict(ctx.fs.storage_options)
    opts.pop("skip_instance_cache", None)
    afs = AsyncAlluxioFileSystem(skip_instance_cache=True, **opts)
    wrapped = AsyncFileSystemWrapper(ctx.fs, asynchronous=True)
    row = ctx.new(
        "A1",
        f"{READS:,} concurrent 16 KiB reads: asyncio.gather(_cat_file) (ours) vs the sync batch",
        "reads/s",
        "higher",
        "ours >= 0.8 x sync batch (one cat_ranges call)",
        ("ratio", "sync", 0.8),
    )

    async def gather(fs: Any) -> List[Any]:
        out: List[Any] = await asyncio.gather(*(fs._cat_file(url, s, e) for s, e in ranges))
        return out

    rates = {"ours": [], "sync": [], "wrapped": []}
    for run in range(ctx.runs):
        say(f"A1 run {run + 1}")
        for col in ("ours", "sync", "wrapped"):
            t = time.perf_counter()
            if col == "ours":
                got = asyncio.run(gather(afs))
            elif col == "sync":
                got = ctx.fs._read_many([(url, s, e) for s, e in ranges])
            else:
                got = asyncio.run(gather(wrapped))
            rates[col].append(READS / (time.perf_counter() - t))
            _check(got, data, ranges, col)
    for col, v in rates.items():
        row.add(col, v)
    row.notes["sync"] = (
        f"sync batch {sorted(rates['sync'])[len(rates['sync']) // 2]:,.0f} reads/s; "
        f"fsspec AsyncFileSystemWrapper over the sync fs "
        f"{sorted(rates['wrapped'])[len(rates['wrapped']) // 2]:,.0f} reads/s"
    )
