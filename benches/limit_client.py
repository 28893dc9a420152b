"""The ``limit`` column: plans of raw worker requests, executed by
``benches/limit.rs`` (``target/release/examples/limit``) through hyper or
through plain sockets (``benches/limit_raw.rs``); ``best`` runs both and
keeps the better.

A plan holds exactly the requests our client sends for the same reads: each
read becomes page-aligned pieces (``/v1/range/{sha256(url)}?ufsFullPath=..&
offset=..&length=..``) to the file's ring owner. ``record_reads`` captures the
reads our filesystem makes during an operation (fsspec read-ahead, PyArrow) so
the limit can replay them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import urllib.parse
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from harness import CONCURRENCY, say

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "examples", "limit")
SOURCES = [os.path.join(ROOT, "benches", f) for f in ("limit.rs", "limit_raw.rs")]
#: How the limit sends requests: reqwest/hyper, or its own sockets.
TRANSPORTS = ("hyper", "raw")

Request = Tuple[str, str]  # ("host:port", "/v1/...?...")
#: A read: (ufs url, start, end) with resolved, non-negative bounds.
Read = Tuple[str, int, int]


def template_encode(v: str) -> str:
    """``ufsFullPath`` encoding, as src/client/http.rs ``template_encode``."""
    return urllib.parse.quote(v, safe="-._~!$'()*+,;=:@/[]")


def form_encode(v: str) -> str:
    """``path=`` encoding (``quote_plus``), as src/client/http.rs ``form_encode``."""
    return urllib.parse.quote_plus(v, safe="")


def ensure_binary() -> str:
    """Builds the limit client if it is missing or older than its source."""
    newest = max(os.path.getmtime(s) for s in SOURCES)
    if os.path.exists(BINARY) and os.path.getmtime(BINARY) >= newest:
        return BINARY
    say("building the limit client (cargo build --release --example limit)")
    subprocess.run(
        ["cargo", "build", "--release", "--example", "limit"],
        cwd=ROOT,
        check=True,
        timeout=1800,
    )
    return BINARY


class Planner:
    """Turns reads and metadata calls into worker requests for one cluster."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.page = int(fs.client.page_size)
        self._owner: Dict[str, str] = {}

    def owner(self, url: str) -> str:
        if url not in self._owner:
            w = self.fs.client.locate(url)[0]
            self._owner[url] = f"{w['host']}:{w['http_port']}"
        return self._owner[url]

    def read(self, url: str, start: int, end: int) -> List[Request]:
        """The page pieces of bytes ``[start, end)`` of ``url``."""
        w = self.owner(url)
        fid = hashlib.sha256(url.encode()).hexdigest()
        enc = template_encode(url)
        out = []
        pos = start
        while pos < end:
            n = min(self.page - pos % self.page, end - pos)
            out.append((w, f"/v1/range/{fid}?ufsFullPath={enc}&offset={pos}&length={n}"))
            pos += n
        return out

    def reads(self, reads: Sequence[Read]) -> List[Request]:
        return [r for u, s, e in reads for r in self.read(u, s, e)]

    def files(self, url: str) -> Request:
        return (self.owner(url), f"/v1/files?path={form_encode(url)}")

    def info(self, url: str) -> Request:
        return (self.owner(url), f"/v1/info?path={form_encode(url)}")


def run(
    plan: Sequence[Any],
    mode: str = "throughput",
    runs: int = 1,
    warmup: int = 1,
    concurrency: int = CONCURRENCY,
    timeout: float = 1800,
    transport: str = "hyper",
) -> List[Dict[str, float]]:
    """Executes ``plan`` (requests, or batches of requests) ``warmup + runs``
    times in one limit process; returns the last ``runs`` result lines."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    try:
        out = subprocess.run(
            [BINARY, f.name, str(concurrency), mode, str(warmup + runs), transport],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"limit exited with {out.returncode}: {tail}")
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
    return lines[warmup:]


def seconds(lines: List[Dict[str, float]]) -> List[float]:
    return [x["seconds"] for x in lines]


def both(plan: Sequence[Any], mode: str = "throughput", runs: int = 1) -> Dict[str, List[Any]]:
    """Result lines of ``plan`` through each transport, the runs interleaved
    (hyper, raw, hyper, ...; each after one untimed run in its process) so
    that both see the same moments of a noisy machine."""
    out: Dict[str, List[Any]] = {t: [] for t in TRANSPORTS}
    for _ in range(runs):
        for t in TRANSPORTS:
            out[t].extend(run(plan, mode=mode, runs=1, transport=t))
    return out


def best(
    lines: Dict[str, List[Any]],
    value: Callable[[Any], float],
    higher: bool = True,
    fmt: str = "{:,.0f}",
) -> Tuple[str, List[float], str]:
    """The transport whose median ``value`` is better, its per-run values,
    and a note naming both medians: the limit is the better of the two."""
    vals = {t: [value(x) for x in ls] for t, ls in lines.items()}
    med = {t: statistics.median(v) for t, v in vals.items()}
    win = (max if higher else min)(med, key=lambda t: med[t])
    note = f"{win} won: " + ", ".join(f"{t} {fmt.format(m)}" for t, m in med.items())
    return win, vals[win], note


class _Recorder:
    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.batches: List[List[Tuple[str, int, Optional[int], Optional[int]]]] = []

    def resolved(self) -> List[List[Read]]:
        """The recorded reads, one batch per call, with bounds resolved."""
        sizes: Dict[str, int] = {}

        def size(url: str, known: Optional[int]) -> int:
            if known is not None:
                return known
            if url not in sizes:
                sizes[url] = int(self.fs.client.get_file_status(url)["size"])
            return sizes[url]

        out = []
        for batch in self.batches:
            reads = []
            for url, start, end, known in batch:
                n = size(url, known)
                s = max(0, n + start) if start < 0 else min(start, n)
                e = n if end is None else (max(0, n + end) if end < 0 else min(end, n))
                if e > s:
                    reads.append((url, s, e))
            if reads:
                out.append(reads)
        return out


@contextlib.contextmanager
def record_reads(fs: Any) -> Iterator[_Recorder]:
    """Records every read ``fs`` makes (``_read``, ``_readinto``, ``_read_many``)
    while the block runs; the reads still happen."""
    rec = _Recorder(fs)
    orig_read, orig_into, orig_many = fs._read, fs._readinto, fs._read_many

    def read(url: str, start: int, end: Optional[int], size: Optional[int] = None) -> Any:
        rec.batches.append([(url, start, end, size)])
        return orig_read(url, start, end, size)

    def readinto(url: str, offset: int, view: Any, n: int, size: int) -> Any:
        rec.batches.append([(url, offset, offset + n, size)])
        return orig_into(url, offset, view, n, size)

    def read_many(reqs: Any) -> Any:
        reqs = list(reqs)
        rec.batches.append([(fs.ufs_path(p), s or 0, e, None) for p, s, e in reqs])
        return orig_many(reqs)

    fs._read, fs._readinto, fs._read_many = read, readinto, read_many
    try:
        yield rec
    finally:
        del fs._read, fs._readinto, fs._read_many
