"""Times operations of the PyPI reference client ``alluxiofs==1.0.17``.

Runs with the reference venv's interpreter (``tests/reference/
setup_reference_venv.sh``), never with ours; self-contained for that reason
(``epoch_loader.py`` next to it, which it imports, uses the standard library only)::

    REFVENV/bin/python benches/ref_timer.py SPEC.json

SPEC: ``{"etcd_host", "etcd_port" (int), "page_size", "ops": [OP, ...]}``; each
OP is ``{"kind", "url" | "urls" | "ranges", "runs", "warmup", ...}`` with kind
``cat``, ``read_chunks`` (``chunk``), ``ranges`` (``[[url, off, len], ...]``),
``cat_list``, ``ls``, ``info``, ``read_table``, ``rss``, ``ray_parquet``
(``src``, ``target_options``, ``num_cpus``, ``store_bytes``: Ray
``read_parquet`` of ``src`` through a reference filesystem with an S3 under
storage, in a Ray instance of this venv) or ``epoch`` (``orders``: per epoch
a list of ``[url, size]``, ``read``: ``"whole"`` or ``"table"``, ``procs``,
``timeout``: each epoch read by forked loader processes, see
``epoch_loader.py``). Prints one JSON line: ``{"results": [{"seconds":
[...]} | {"p50_ms": [...], "p99_ms": [...]} | {"rss_delta": N} |
{"epochs": [{"seconds", "bytes", "stats"} | {"error"}, ...]} | {"error":
"..."}, ...]}``.
"""

import os

os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import functools
import gc
import json
import logging
import resource
import sys
import time
from typing import Any, Callable, Dict, List


def pct(values: List[float], q: float) -> float:
    s = sorted(values)
    return float(s[round((len(s) - 1) * q)])


def make_fs(spec: Dict[str, Any], **extra: Any) -> Any:
    """A reference filesystem on the spec's etcd. A logger is always given:
    without one, 1.0.17 writes ``logs/user.log`` in the working directory
    (of every Ray worker too)."""
    from alluxiofs import AlluxioFileSystem

    return AlluxioFileSystem(
        etcd_hosts=spec["etcd_host"],
        etcd_port=int(spec["etcd_port"]),
        page_size=spec["page_size"],
        etcd_refresh_workers_interval=0,
        logger=logging.getLogger("reference-alluxiofs"),
        skip_instance_cache=True,
        **extra,
    )


def read_chunks(fs: Any, url: str, chunk: int) -> None:
    with fs.open(url, "rb") as f:
        while f.read(chunk):
            pass


def read_table(fs: Any, url: str) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(url, filesystem=fs)


def body(fs: Any, op: Dict[str, Any]) -> Callable[[], Any]:
    """The timed call of one op (kinds timed as a whole)."""
    kind = op["kind"]
    if kind == "cat":
        return lambda: fs.cat_file(op["url"])
    if kind == "read_chunks":
        return lambda: read_chunks(fs, op["url"], op["chunk"])
    if kind == "cat_list":
        # fs.cat(list) needs expand_path, which 1.0.17 leaves to the under
        # storage (NotImplementedError without one): time the cat_file loop
        # fsspec's cat runs after expanding.
        return lambda: [fs.cat_file(u) for u in op["urls"]]
    if kind == "ls":
        return lambda: fs.ls(op["url"], detail=True)
    if kind == "read_table":
        return lambda: read_table(fs, op["url"])
    raise ValueError(f"unknown op kind {kind!r}")


def latencies(fs: Any, op: Dict[str, Any]) -> Dict[str, List[float]]:
    """Per-run p50/p99 of single calls (``ranges``, ``info``)."""
    calls: List[Callable[[], Any]]
    if op["kind"] == "ranges":
        calls = [
            functools.partial(fs.cat_file, u, start=off, end=off + n) for u, off, n in op["ranges"]
        ]
    else:
        calls = [functools.partial(fs.info, u) for u in op["urls"]]
    calls[0]()
    p50: List[float] = []
    p99: List[float] = []
    for _ in range(op["warmup"] + op["runs"]):
        lat: List[float] = []
        for c in calls:
            t = time.perf_counter()
            res = c()
            lat.append((time.perf_counter() - t) * 1e3)
            del res  # freed after the clock stops, as in harness.timed
        p50.append(pct(lat, 0.5))
        p99.append(pct(lat, 0.99))
    w = op["warmup"]
    return {"p50_ms": p50[w:], "p99_ms": p99[w:]}


def peak_rss() -> int:
    """Peak RSS of this process image in bytes: VmHWM (ru_maxrss of a child
    starts at its parent's RSS, which would hide the growth)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss(fs: Any, op: Dict[str, Any]) -> Dict[str, int]:
    """Peak-RSS growth (bytes) of one whole-file read, after a small warm-up."""
    fs.info(op["url"])
    fs.cat_file(op["url"], start=0, end=4096)
    gc.collect()
    before = peak_rss()
    data = fs.cat_file(op["url"])
    return {"rss_delta": peak_rss() - before, "bytes": len(data)}


def ray_parquet(spec: Dict[str, Any], op: Dict[str, Any]) -> Dict[str, Any]:
    """Seconds of Ray ``read_parquet(src).materialize()`` through the
    reference client (S3 under storage, for scheme-less paths)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DATA_PARQUET_FOOTER_NUM_ACTORS", str(op["num_cpus"]))
    import warnings

    import ray
    import ray.data

    fs = make_fs(spec, target_protocol="s3", target_options=op["target_options"])
    ray.init(
        address="local",  # a Ray of its own, never the bench's
        num_cpus=op["num_cpus"],
        include_dashboard=False,
        object_store_memory=op["store_bytes"],
        logging_level=logging.WARNING,
        log_to_driver=False,
    )
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False

        def body() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ray.data.read_parquet(op["src"], filesystem=fs).materialize()

        return timed_runs(body, op)
    finally:
        ray.shutdown()


def epochs(fs: Any, op: Dict[str, Any]) -> Dict[str, Any]:
    """Each epoch of ``op["orders"]`` read by ``op["procs"]`` forked processes."""
    import epoch_loader

    fn = epoch_loader.read_whole if op["read"] == "whole" else epoch_loader.read_table
    out = []
    for order in op["orders"]:
        items = [(u, int(n)) for u, n in order]
        res = epoch_loader.run_epoch(functools.partial(fn, fs), items, op["procs"], op["timeout"])
        out.append(res)
        if "error" in res:
            break
    return {"epochs": out}


def timed_runs(fn: Callable[[], Any], op: Dict[str, Any]) -> Dict[str, Any]:
    """Seconds of ``op["runs"]`` calls of ``fn`` after ``op["warmup"]`` (1)."""
    for _ in range(op.get("warmup", 1)):
        fn()
    out = []
    for _ in range(op["runs"]):
        t = time.perf_counter()
        res = fn()
        out.append(time.perf_counter() - t)
        del res  # freed after the clock stops, as in harness.timed
    return {"seconds": out}


def run_op(fs: Any, op: Dict[str, Any]) -> Dict[str, Any]:
    if op["kind"] in ("ranges", "info"):
        return latencies(fs, op)
    if op["kind"] == "rss":
        return rss(fs, op)
    if op["kind"] == "epoch":
        return epochs(fs, op)
    return timed_runs(body(fs, op), op)


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    results = []
    try:
        fs = make_fs(spec)
    except Exception as e:
        results = [{"error": f"construct: {e!r}"[:500]}] * len(spec["ops"])
    else:
        for op in spec["ops"]:
            try:
                if op["kind"] == "ray_parquet":
                    results.append(ray_parquet(spec, op))
                else:
                    results.append(run_op(fs, op))
            except Exception as e:
                results.append({"error": f"{op['kind']}: {e!r}"[:500]})
    sys.stdout.write(json.dumps({"results": results}) + "\n")
    sys.stdout.flush()
    # The reference ring's __del__ joins its refresh thread: skip teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
