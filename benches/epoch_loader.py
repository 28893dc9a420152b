"""One epoch read by forked loader processes, the way PyTorch DataLoader
workers read it (``multiprocessing`` fork, a fresh set of processes per epoch
as with its default ``persistent_workers=False``).

Standard library only: ``ref_timer.py`` imports it in the reference client's
venv too, so that both clients are driven by the same code.
"""

import multiprocessing
import os
import time
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

#: An item of an epoch: (path or URL, size in bytes).
Item = Tuple[str, int]
#: Seconds a process that was killed gets to go away.
_REAP = 5.0


def _open(fs: Any, path: str) -> Any:
    """``fs.open``, or the builtin ``open`` for local disk (``fs`` None)."""
    return open(path, "rb") if fs is None else fs.open(path, "rb")


def read_whole(fs: Any, item: Item) -> int:
    """An item read as a loader reads an image: open, read it all."""
    with _open(fs, item[0]) as f:
        n = len(f.read())
    if n != item[1]:
        raise ValueError(f"{item[0]}: read {n} bytes, want {item[1]}")
    return n


def read_table(fs: Any, item: Item) -> int:
    """An item read with ``pq.read_table`` (from local disk if ``fs`` is None)."""
    import pyarrow.parquet as pq

    pq.read_table(item[0], filesystem=fs)
    return item[1]


def read_chunks(fs: Any, item: Item, chunk: int = 8 << 20) -> int:
    """An item read in ``chunk``-byte reads."""
    n = 0
    with _open(fs, item[0]) as f:
        while True:
            got = len(f.read(chunk))
            if not got:
                return n
            n += got


def run_epoch(
    read: Callable[[Item], int],
    items: Sequence[Item],
    procs: int,
    timeout: float,
    stats: Optional[Callable[[], Dict[str, Any]]] = None,
) -> Dict[str, Any]:
    """Reads ``items`` (one epoch, in its order) with ``procs`` processes
    forked from this one: process ``r`` reads items ``r, r + procs, ...`` (a
    DataLoader hands out batches round robin). ``read(item)`` returns the
    bytes it read. ``stats()``, if given, is called in each process before
    and after its reads; the integer deltas are summed.

    Returns ``{"seconds", "bytes", "stats"}`` or ``{"error"}``. The
    processes start reading together once all are forked (forking one takes
    longer than a small epoch's share); seconds run from then to the last
    one's end. A process still running after ``timeout`` seconds is killed
    and reported."""
    ctx = multiprocessing.get_context("fork")
    go = ctx.Event()
    children: List[Tuple[Any, Connection]] = []
    try:
        for rank in range(procs):
            r, w = ctx.Pipe(duplex=False)
            args = (read, list(items[rank::procs]), stats, go, timeout, w)
            p = ctx.Process(target=_child, args=args)
            p.start()
            w.close()
            children.append((p, r))
        go.set()
        return _collect(children, timeout)
    finally:
        for p, r in children:
            if p.is_alive():
                p.kill()
            p.join(_REAP)
            r.close()


def _collect(children: List[Tuple[Any, Connection]], timeout: float) -> Dict[str, Any]:
    pending = {r: p for p, r in children}
    results: List[Dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            pids = ", ".join(str(p.pid) for p in pending.values())
            return {"error": f"loader process(es) {pids} hung: killed after {timeout:.0f}s"}
        for r in wait(list(pending), timeout=left):
            p = pending.pop(r)  # type: ignore[call-overload]
            try:
                results.append(r.recv())  # type: ignore[union-attr]
            except EOFError:
                p.join(_REAP)
                return {"error": f"loader process {p.pid} died (exit code {p.exitcode})"}
    errors = [x["error"] for x in results if "error" in x]
    if errors:
        return {"error": errors[0]}
    total: Dict[str, int] = {}
    for x in results:
        for k, v in x["stats"].items():
            total[k] = total.get(k, 0) + v
    return {
        "seconds": max(x["end"] for x in results) - min(x["start"] for x in results),
        "bytes": sum(x["bytes"] for x in results),
        "stats": total,
    }


def _child(
    read: Callable[[Item], int],
    items: List[Item],
    stats: Optional[Callable[[], Dict[str, Any]]],
    go: Any,
    timeout: float,
    conn: Connection,
) -> None:
    """A loader process: reads its items, sends what it saw, and leaves
    without running the interpreter's teardown (as ``os.fork`` children of
    DataLoader do; a client's exit handlers are not what is measured)."""
    try:
        before = stats() if stats else {}
        go.wait(timeout)
        start = time.monotonic()
        n = 0
        for it in items:
            n += read(it)
        end = time.monotonic()
        after = stats() if stats else {}
        delta = {
            k: v - before.get(k, 0)
            for k, v in after.items()
            if isinstance(v, int) and not isinstance(v, bool)
        }
        conn.send({"start": start, "end": end, "bytes": n, "stats": delta})
    except BaseException as e:
        conn.send({"error": f"{type(e).__name__}: {e}"[:500]})
    finally:
        conn.close()
        os._exit(0)
