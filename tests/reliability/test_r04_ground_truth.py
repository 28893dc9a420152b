"""R4 ground truth: random reads through every read API return exactly the
bytes on disk.

Hypothesis draws (file, start, end) reads, many per example, with bounds taken
from ``None``, negative values (``-1``, ``-size``, ``-size-1``, far before the
start), ``0``, random values within the file, page boundaries (``k*PAGE-1``,
``k*PAGE``, ``k*PAGE+1``, also counted from the end), ``size-1``/``size``/
``size+1``, past EOF (``size+PAGE``, ``2**40``), ``start > end`` and zero-length
reads (``end == start``). They go through

* ``fs.cat_file(url, start, end)``,
* ``fs.cat_ranges(urls, starts, ends, max_gap=...)`` in batches (lists or one
  scalar start/end for the batch, merging on or off),
* file objects: ``fs.open(url, "rb", block_size=...)`` then a sequence of
  ``seek(offset, whence)`` + ``read(n)`` / ``read()`` / ``read_buffer(n)`` /
  ``readinto(buf)``, checking ``tell()`` after each,

and each answer is compared with (a) the Python slice of the bytes read from
disk (the fsspec contract: ``start``/``end`` follow slicing, negative counts
from the end) and (b) ``fsspec.filesystem("file")`` doing the same call. The
workers are a private 2-worker cluster over a copy of the session ``dataset``
(awkward sizes around the 64 KiB page) plus bigger multi-page files; the client
has no under-storage fallback, so every byte comes from the workers.

Where fsspec's own LocalFileSystem departs from slicing, the local answer must
be exactly its known quirk and the Alluxio answer the slice; those calls are
counted as ``localfs_quirks``. ``cat_file`` there calls ``f.read(end - pos)``:
an end one byte before the position returns the rest of the file, further
before raises ValueError, and a huge end (``2**40``) raises MemoryError (the
buffer is allocated first). Its file objects raise OSError, not ValueError,
for a seek before the start (either is accepted, the position must not move).

Any mismatch fails the Hypothesis example with the exact calls to reproduce it
(then Hypothesis shrinks it to the smallest failing batch).

Sizes: CI runs 10,100 reads (cat_file 4,250, cat_ranges 4,250, file objects
1,600) with the fixed seed ``SEED``; ``--long`` runs 20x as many (202,000)
with a fresh random seed that is printed in the figures (set ``R4_SEED`` to
replay any run).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import fsspec
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE, SIZES
from tests.reliability.figures import figure

SEED = 20261125
#: Reads per Hypothesis example (Hypothesis overhead is per example, not per read).
BATCH = 50
#: Operations (each a seek and a read) per file object.
FILE_OPS = 20
#: Examples per API in CI; ``--long`` multiplies them by LONG_FACTOR.
CI_EXAMPLES = {"cat_file": 85, "cat_ranges": 85, "file": 80}
LONG_FACTOR = 20
CI_MIN_READS = 10_000
#: Multi-page files added to the dataset's awkward sizes.
BIG = {
    "big/three_odd.bin": 3 * PAGE + 777,
    "big/five_minus.bin": 5 * PAGE - 1,
    "big/ten.bin": 10 * PAGE,
    "big/twelve_plus.bin": 12 * PAGE + 4097,
}
BLOCK_SIZES = ["default", 1, 1000, PAGE, 3 * PAGE + 5]
MAX_GAPS = [None, 0, 1, PAGE]

Bound = Optional[int]
Read = Tuple[int, Bound, Bound]


@dataclass
class Ground:
    """The files (name, URL, bytes), the Alluxio filesystem and the local one."""

    names: List[str]
    urls: List[str]
    paths: List[str]
    data: List[bytes]
    fs: AlluxioFileSystem
    local: Any
    reads: Dict[str, int] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    quirks: int = 0


@pytest.fixture(scope="module")
def ground(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ground]:
    root = tmp_path_factory.mktemp("r4ufs")
    rnd = random.Random(SEED)
    for name in SIZES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / name, root / name)
    for name, size in BIG.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(rnd.randbytes(size))
    names = sorted([*SIZES, *BIG])
    with LocalCluster(str(root), workers=2, page_size=str(PAGE)) as c:
        fs = AlluxioFileSystem(
            worker_hosts=c.worker_hosts,
            options={"alluxio.worker.page.store.page.size": str(PAGE)},
            skip_instance_cache=True,
        )
        paths = [str(root / n) for n in names]
        yield Ground(
            names=names,
            urls=["file://" + p for p in paths],
            paths=paths,
            data=[(root / n).read_bytes() for n in names],
            fs=fs,
            local=fsspec.filesystem("file"),
        )


# ── strategies ──


def bound_values(size: int) -> List[int]:
    """The interesting bounds for a file of ``size`` bytes."""
    vals = {0, 1, -1, size - 1, size, size + 1, -size, -size - 1, -size + 1, size + PAGE}
    vals |= {2**40, -(2**40)}
    for k in range(1, size // PAGE + 2):
        for d in (-1, 0, 1):
            vals |= {k * PAGE + d, -(k * PAGE + d), size - k * PAGE + d}
    return sorted(vals)


def bound_strategy(size: int) -> st.SearchStrategy[Bound]:
    special = st.sampled_from(bound_values(size))
    within = st.integers(-size - 2, size + 2)
    return st.one_of(st.none(), special, special, within, within)  # None one time in five


def read_strategy(sizes: List[int]) -> st.SearchStrategy[Read]:
    bounds = [bound_strategy(s) for s in sizes]

    @st.composite
    def one(draw: Callable[..., Any]) -> Read:
        i = draw(st.integers(0, len(sizes) - 1))
        start = draw(bounds[i])
        # One read in eight is zero-length (end == start) on purpose.
        if start is not None and draw(st.integers(0, 7)) == 0:
            return i, start, start
        return i, start, draw(bounds[i])

    return one()


# ── models and comparison ──


def localfs_quirk(size: int, start: Bound, end: Bound) -> Union[slice, str, None]:
    """What fsspec's LocalFileSystem.cat_file gives instead of the slice, if it
    differs: it calls ``f.read(end - pos)``, which returns the rest of the file
    for ``-1``, raises ValueError below, and MemoryError for a huge length
    (``end=2**40``: Python allocates the buffer first)."""
    pos = 0 if start is None else (start if start >= 0 else max(0, size + start))
    if end is None:
        return None
    length = (end if end >= 0 else size + end) - pos
    if length < 0:
        return slice(pos, None) if length == -1 else "ValueError"
    return "MemoryError" if length > 2**32 else None


def first_diff(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def check(g: Ground, call: str, got: Any, want: bytes) -> None:
    """Records a problem unless ``got`` equals ``want``."""
    if isinstance(got, BaseException):
        g.problems.append(f"{call} raised {type(got).__name__}: {got}")
    elif got != want:
        g.problems.append(
            f"{call} -> {len(got)} bytes, want {len(want)} "
            f"(first difference at {first_diff(got, want)})"
        )


def check_local(g: Ground, i: int, call: str, got: Any, start: Bound, end: Bound) -> None:
    """The local filesystem gives the slice, or exactly its known quirk."""
    data = g.data[i]
    call = "fsspec.filesystem('file')." + call
    quirk = localfs_quirk(len(data), start, end)
    if quirk is None:
        check(g, call, got, data[start:end])
        return
    g.quirks += 1
    if isinstance(quirk, slice):
        check(g, call, got, data[quirk])
    elif quirk == "MemoryError" and not isinstance(got, MemoryError):
        check(g, call, got, data[start:end])  # enough memory after all
    elif type(got).__name__ != quirk:
        g.problems.append(f"{call} -> {got!r}, want {quirk} (fsspec's f.read(end - pos))")


def try_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or the exception it raised (compared as an outcome)."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        return e


def fail_if_problems(g: Ground, before: int) -> None:
    """Fails the current example if it added problems (Hypothesis then shrinks
    it and prints the smallest failing example)."""
    new = list(dict.fromkeys(g.problems[before:]))
    if new:
        shown = "\n  ".join(new[:20])
        raise AssertionError(f"{len(new)} mismatches/errors, e.g.:\n  {shown}")


# ── the three APIs ──


def run_cat_file(g: Ground, reads: List[Read]) -> None:
    before = len(g.problems)
    for i, start, end in reads:
        got = try_call(g.fs.cat_file, g.urls[i], start, end)
        check(g, f"fs.cat_file({g.urls[i]!r}, {start}, {end})", got, g.data[i][start:end])
        local = try_call(g.local.cat_file, g.paths[i], start, end)
        check_local(g, i, f"cat_file({g.paths[i]!r}, {start}, {end})", local, start, end)
    g.reads["cat_file"] = g.reads.get("cat_file", 0) + len(reads)
    fail_if_problems(g, before)


def run_cat_ranges(
    g: Ground, reads: List[Read], scalar: Optional[Tuple[Bound, Bound]], gap: Optional[int]
) -> None:
    """One ``cat_ranges`` call over ``reads`` (or their files with one scalar
    start/end), checked element by element."""
    starts: Any = [s for _, s, _ in reads] if scalar is None else scalar[0]
    ends: Any = [e for _, _, e in reads] if scalar is None else scalar[1]
    urls = [g.urls[i] for i, _, _ in reads]
    paths = [g.paths[i] for i, _, _ in reads]
    got = try_call(g.fs.cat_ranges, urls, starts, ends, max_gap=gap)
    local = try_call(g.local.cat_ranges, paths, starts, ends)
    call = f"cat_ranges({urls!r}, {starts!r}, {ends!r}, max_gap={gap})"
    lcall = f"cat_ranges({paths!r}, {starts!r}, {ends!r})"
    for k, (i, s, e) in enumerate(reads):
        if scalar is not None:
            s, e = scalar
        one = got if isinstance(got, BaseException) else got[k]
        check(g, f"fs.{call}[{k}]", one, g.data[i][s:e])
        lone = local if isinstance(local, BaseException) else local[k]
        check_local(g, i, f"{lcall}[{k}]", lone, s, e)
    g.reads["cat_ranges"] = g.reads.get("cat_ranges", 0) + len(reads)


#: A file-object step: seek target position (None: no seek; may be < 0), the
#: whence used to get there, the read method and its length (None: no argument).
FileOp = Tuple[Optional[int], int, str, Optional[int]]


def read_step(f: Any, kind: str, n: Optional[int]) -> Any:
    """The bytes one read step returns (``readinto`` through a buffer of ``n``)."""
    if kind == "readinto":
        buf = bytearray(n or 0)
        cnt = f.readinto(buf)
        return bytes(buf[:cnt])
    fn = getattr(f, kind if hasattr(f, kind) else "read")
    return fn() if n is None else fn(n)


def run_file(g: Ground, i: int, block: Any, ops: List[FileOp]) -> None:
    """Seeks and reads on one file object, mirrored on a local file object;
    ``want`` follows a position model of the bytes on disk."""
    before = len(g.problems)
    data, size = g.data[i], len(g.data[i])
    done = [f"f = fs.open({g.urls[i]!r}, 'rb', block_size={block!r})"]
    pos = 0
    with g.fs.open(g.urls[i], "rb", block_size=block) as f, g.local.open(g.paths[i], "rb") as lf:
        for target, whence, kind, n in ops:
            if target is not None:
                offset = target - {0: 0, 1: pos, 2: size}[whence]
                done.append(f"f.seek({offset}, {whence})")
                outs = [("fs", try_call(f.seek, offset, whence))]
                outs.append(("local", try_call(lf.seek, offset, whence)))
                if target >= 0:
                    pos = target
                for who, out in outs if target < 0 else []:  # before the start: refused
                    if not isinstance(out, (ValueError, OSError)):
                        g.problems.append(f"{who}: {'; '.join(done)} -> {out!r}, want an error")
            done.append(f"f.{kind}({'' if n is None else n})")
            call = "; ".join(done)
            want = data[pos:] if n is None or n < 0 else data[pos : pos + n]
            check(g, call, try_call(read_step, f, kind, n), want)
            check(g, "local: " + call, try_call(read_step, lf, kind, n), want)
            pos += len(want)
            for who, tell in (("fs", f.tell()), ("local", lf.tell())):
                if tell != pos:
                    g.problems.append(f"{who}: {call}; f.tell() -> {tell}, want {pos}")
    g.reads["file"] = g.reads.get("file", 0) + len(ops)
    fail_if_problems(g, before)


def file_ops(size: int) -> st.SearchStrategy[List[FileOp]]:
    targets = [v for v in bound_values(size) if v >= -1] + [-PAGE]
    target = st.one_of(st.none(), st.sampled_from(targets), st.integers(0, size + 2))
    sizes = [0, 1, PAGE - 1, PAGE, PAGE + 1, size, size + 1]
    lengths = st.one_of(st.sampled_from(sizes), st.integers(0, size + 2))
    read = st.tuples(
        st.sampled_from(["read", "read_buffer"]), st.one_of(st.none(), st.just(-1), lengths)
    )
    readinto = st.tuples(st.just("readinto"), lengths)
    op = st.tuples(target, st.sampled_from([0, 1, 2]), st.one_of(read, read, readinto)).map(
        lambda t: (t[0], t[1], t[2][0], t[2][1])
    )
    return st.lists(op, min_size=FILE_OPS, max_size=FILE_OPS)


# ── the suite ──


def test_ground_truth(ground: Ground, long_mode: bool) -> None:
    g = ground
    run_seed = int(
        os.environ.get("R4_SEED") or (random.SystemRandom().randrange(2**32) if long_mode else SEED)
    )
    factor = LONG_FACTOR if long_mode else 1
    sizes = [len(d) for d in g.data]
    reads = read_strategy(sizes)
    batch = st.lists(reads, min_size=BATCH, max_size=BATCH)

    def hyp(api: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        cfg = settings(
            max_examples=CI_EXAMPLES[api] * factor,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        return lambda fn: seed(run_seed)(cfg(fn))

    @hyp("cat_file")
    @given(batch)
    def check_cat_file(rs: List[Read]) -> None:
        run_cat_file(g, rs)

    @hyp("cat_ranges")
    @given(
        batch,
        st.integers(1, BATCH),
        st.one_of(st.none(), st.tuples(bound_strategy(PAGE), bound_strategy(PAGE))),
        st.sampled_from(MAX_GAPS),
    )
    def check_cat_ranges(rs: List[Read], width: int, scalar: Any, gap: Any) -> None:
        before = len(g.problems)
        for k in range(0, len(rs), width):
            run_cat_ranges(g, rs[k : k + width], scalar, gap)
        fail_if_problems(g, before)

    @hyp("file")
    @given(
        st.integers(0, len(sizes) - 1).flatmap(
            lambda i: st.tuples(st.just(i), st.sampled_from(BLOCK_SIZES), file_ops(sizes[i]))
        )
    )
    def check_files(case: Tuple[int, Any, List[FileOp]]) -> None:
        run_file(g, *case)

    t0 = time.monotonic()
    try:
        check_cat_file()
        check_cat_ranges()
        check_files()
    finally:
        st_ = g.fs.stats()
        distinct = set(g.problems)  # a failing example is replayed while shrinking
        figure(
            "R4 ground truth",
            **{f"reads_{k}": v for k, v in g.reads.items()},
            reads=sum(g.reads.values()),
            mismatches=sum(" raised " not in p for p in distinct),
            errors=sum(" raised " in p for p in distinct),
            localfs_quirks=g.quirks,
            client_errors=st_.get("errors", 0),
            fallbacks=st_.get("fallbacks", 0),
            seed=run_seed,
            seconds=round(time.monotonic() - t0, 1),
        )
    assert not distinct, "\n".join(sorted(distinct)[:20])
    assert sum(g.reads.values()) >= CI_MIN_READS * factor
    assert st_.get("fallbacks", 0) == 0 and st_.get("errors", 0) == 0
