"""Shared pieces of the benchmark runner: sizes per mode, timing, statistics
and the per-scenario result record (see ``run.py`` for the whole picture)."""

from __future__ import annotations

import math
import mmap
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

KIB = 1024
MIB = 1024 * 1024
#: Columns of every result, in table order.
COLUMNS = ("ours", "limit", "reference", "ufs")
#: Requests in flight, for our client and the limit alike (our default).
CONCURRENCY = 64


@dataclass(frozen=True)
class Sizes:
    """Data sizes and counts of one mode (full or ``--quick``)."""

    runs: int
    s1_bytes: int
    s2_reads: int
    s3_files: int
    s3_file_bytes: int
    s4_bytes: int
    s5_files: int
    s5_file_bytes: int
    s6_entries: int
    s6_infos: int
    c1_bytes: int
    cache_size: str
    #: E1: "image" files (count, bytes each), Parquet files (count, bytes
    #: each), and runs of E1.k8.cold (8 processes on S1's big file).
    e1_images: int
    e1_image_bytes: int
    e1_parquets: int
    e1_parquet_bytes: int
    e1_cold_runs: int


FULL = Sizes(
    runs=5,
    s1_bytes=1024 * MIB,
    s2_reads=1000,
    s3_files=5000,
    s3_file_bytes=100 * KIB,
    s4_bytes=512 * MIB,
    s5_files=64,
    s5_file_bytes=8 * MIB,
    s6_entries=10_000,
    s6_infos=300,
    # moto re-reads the whole object for every ranged GET (146 ms per 1 MiB
    # range of a 256 MiB object, 8 ms of a 16 MiB one), so a big C1 file
    # measures moto, not the worker.
    c1_bytes=64 * MIB,
    cache_size="6GB",
    e1_images=512,
    e1_image_bytes=512 * KIB,
    e1_parquets=16,
    e1_parquet_bytes=16 * MIB,
    e1_cold_runs=3,
)
QUICK = Sizes(
    runs=5,
    s1_bytes=64 * MIB,
    s2_reads=100,
    s3_files=500,
    s3_file_bytes=100 * KIB,
    s4_bytes=32 * MIB,
    s5_files=8,
    s5_file_bytes=4 * MIB,
    s6_entries=1_000,
    s6_infos=100,
    c1_bytes=16 * MIB,
    cache_size="2GB",
    e1_images=64,
    e1_image_bytes=512 * KIB,
    e1_parquets=4,
    e1_parquet_bytes=4 * MIB,
    e1_cold_runs=1,
)


def say(msg: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, as ``benches/limit.rs`` computes it."""
    s = sorted(values)
    return s[round((len(s) - 1) * q)]


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes. Its result is freed after the clock
    stops: dropping a caller's data is not part of the call (freeing 500 MB
    of ``cat`` results took ~35 ms, in every column that returns data)."""
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    del out
    return dt


def repeat(fn: Callable[[], Any], runs: int, warmup: int = 1) -> List[float]:
    """Seconds of ``runs`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    return [timed(fn) for _ in range(runs)]


def one_after_other(*rates: float) -> float:
    """The rate of steps done one after the other, from each one's rate alone
    (the ceiling when every step keeps all the cores busy)."""
    return 1 / sum(1 / r for r in rates)


#: madvise(2) advice; ``mmap`` names it from Python 3.13 on.
_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)


def populate_ms(n: int) -> Optional[float]:
    """Milliseconds to fault in ``n`` bytes of a new private anonymous
    mapping the way ours does a big result (huge pages advised, one
    populate); ``None`` where the advice is not supported (not Linux, an old
    kernel)."""
    try:
        m = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, AttributeError, ValueError):
        return None
    try:
        m.madvise(mmap.MADV_HUGEPAGE)
        t = time.perf_counter()
        m.madvise(_POPULATE_WRITE)
        return (time.perf_counter() - t) * 1e3
    except (OSError, AttributeError, ValueError):
        return None
    finally:
        m.close()


def latencies_ms(fn: Callable[[Any], Any], items: Sequence[Any]) -> List[float]:
    """Milliseconds of ``fn(item)`` for each item, one at a time."""
    out = []
    for it in items:
        t = time.perf_counter()
        res = fn(it)
        out.append((time.perf_counter() - t) * 1e3)
        del res
    return out


@dataclass
class Result:
    """One row of the results: a value per column (the median of its runs)."""

    sid: str
    title: str
    unit: str
    better: str  # "higher" | "lower"
    target: str
    #: ("ratio", column, factor): ours vs factor x column; ("abs", None, bound);
    #: or a tuple of such rules, all of which must hold.
    rule: Any = ("ratio", "limit", 1.0)
    runs: Dict[str, List[float]] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)
    #: Extra figures for the JSON and the printed details (E1: per-epoch
    #: rates and bytes from workers per column).
    detail: Dict[str, Any] = field(default_factory=dict)

    def add(self, column: str, values: Optional[Sequence[float]], note: str = "") -> None:
        """Records the per-run values of ``column`` (None: no value, with ``note``)."""
        if values:
            self.runs[column] = [float(v) for v in values]
        if note:
            self.notes[column] = note

    def skip(self, column: str, reason: str) -> None:
        self.runs.pop(column, None)
        self.notes[column] = reason

    def value(self, column: str) -> Optional[float]:
        v = self.runs.get(column)
        return statistics.median(v) if v else None

    def ratio(self, column: str) -> Optional[float]:
        """ours / column (raw values)."""
        a, b = self.value("ours"), self.value(column)
        if a is None or b is None or b == 0:
            return None
        return a / b

    def perf_ratio(self, column: str) -> Optional[float]:
        """How ours performs relative to ``column``: > 1 means ours is better
        (ours/column for higher-is-better, column/ours for lower-is-better)."""
        r = self.ratio(column)
        if r is None or r == 0:
            return None
        return r if self.better == "higher" else 1 / r

    def rules(self) -> List[Tuple[str, Optional[str], float]]:
        """The target's rules (one, or several that must all hold)."""
        return [self.rule] if isinstance(self.rule[0], str) else list(self.rule)

    def met(self) -> Optional[bool]:
        """True if every rule holds, False if one fails, None if one cannot
        be judged (a missing value) and none fails."""
        verdicts = [self._met(r) for r in self.rules()]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    def _met(self, rule: Tuple[str, Optional[str], float]) -> Optional[bool]:
        kind, column, bound = rule
        ours = self.value("ours")
        if ours is None:
            return None
        base = bound if kind == "abs" else self.value(column or "")
        if base is None:
            return None
        bar = base if kind == "abs" else bound * base
        return ours >= bar if self.better == "higher" else ours <= bar

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {c: _round(self.value(c)) for c in COLUMNS}
        out.update(
            title=self.title,
            unit=self.unit,
            better=self.better,
            target=self.target,
            target_met=self.met(),
            ratio_ours_limit=_round(self.ratio("limit")),
            ratio_ours_reference=_round(self.ratio("reference")),
            runs={
                c: {
                    "n": len(v),
                    "median": _round(statistics.median(v)),
                    "min": _round(min(v)),
                    "max": _round(max(v)),
                    "values": [_round(x) for x in v],
                }
                for c, v in self.runs.items()
            },
        )
        if self.notes:
            out["notes"] = dict(self.notes)
        if self.detail:
            out["detail"] = self.detail
        return out


def _round(v: Optional[float]) -> Optional[float]:
    if v is None or math.isnan(v):
        return None
    return float(f"{v:.4g}")


def mbps(nbytes: int, seconds: Sequence[float]) -> List[float]:
    """MB/s (10^6 bytes) for each duration."""
    return [nbytes / s / 1e6 for s in seconds]


@dataclass
class Ctx:
    """What every scenario gets."""

    sizes: Sizes
    svc: Any  # services.Services
    data: Any  # datagen.Dataset
    fs: Any  # our filesystem on the main cluster (file:// root)
    planner: Any  # limit_client.Planner for the main cluster
    ref: Any  # reference.Reference
    results: List[Result] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return self.sizes.runs

    def new(self, *args: Any, **kwargs: Any) -> Result:
        """A result, appended to the run's results."""
        r = Result(*args, **kwargs)
        self.results.append(r)
        return r


def add_ref(result: Result, res: Dict[str, Any], convert: Callable[[List[float]], Any]) -> None:
    """Adds a reference result: ``convert(res["seconds"])``, or the error as a note."""
    if "error" in res:
        result.skip("reference", f"reference client failed: {res['error']}")
    else:
        result.add("reference", convert(res["seconds"]))
