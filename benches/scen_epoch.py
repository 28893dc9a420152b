"""E1: training epochs. A dataset is read 3 times, each epoch in a new
shuffled order, by 1 or 4 loader processes forked from the process that
built the filesystem (as PyTorch DataLoader workers are, a fresh set per
epoch). Two datasets: 512 KiB "image" files (``open().read()``) and Parquet
files (``pq.read_table``).

Columns: ``ours`` is alluxiofs with the node-local cache (a fresh cache
directory per row; epochs 2-3 in the main rows, epoch 1 in the ``.cold``
rows); ``nocache`` is alluxiofs without it; ``limit`` is the same files read
from local disk (the page cache: what a local cache could at best reach);
``reference`` is the PyPI client 1.0.17 (forking in its own venv, see
``ref_timer.py``); ``ufs`` is s3fs reading the files' copies in moto. The
columns take turns epoch by epoch, so they see the machine in the same state.

Also ``E1.k8.cold`` (8 processes read S1's big file at once through a cold
local cache: bytes fetched from workers / file size) and ``E1.half`` (a
dataset twice the local cache: hit ratio of epochs 2-3).
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import epoch_loader
import fsspec
from epoch_loader import Item
from harness import COLUMNS, MIB, Ctx, Result, say

EPOCHS = 3
PROCS = (1, 4)
#: Processes of E1.k8.cold.
COLD_PROCS = 8
#: Revalidate a file's version with the cluster at most once a minute
#: (the documented default).
METADATA_TTL = 60
SEED = 19
#: Labels of the columns in the per-epoch details.
LABELS = {
    "ours": "ours + local cache",
    "nocache": "ours, no local cache",
    "limit": "local disk",
    "reference": "reference 1.0.17",
    "ufs": "s3fs (moto)",
}

Reader = Callable[[Item], int]
#: Per-item readers (fs None: local disk).
READERS = {"whole": epoch_loader.read_whole, "table": epoch_loader.read_table}


#: s3fs per process: an instance from before a fork has its event loop in
#: the parent (fsspec's cache makes a new one in a child, as here).
_S3: Dict[int, Any] = {}


def _s3(options: Dict[str, Any]) -> Any:
    pid = os.getpid()
    if pid not in _S3:
        _S3[pid] = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    return _S3[pid]


def s3_read(how: str, options: Dict[str, Any], item: Item) -> int:
    """``READERS[how]`` through this process's s3fs."""
    return READERS[how](_s3(options), item)


def e1(ctx: Ctx) -> None:
    """E1: every row; the local cache directories live in a temporary
    directory removed at the end."""
    tmp = tempfile.mkdtemp(prefix="alluxiofs-bench-e1-")
    ctx.svc.stack.callback(shutil.rmtree, tmp, True)
    try:
        Epochs(ctx, tmp).run()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Epochs:
    """The E1 rows of one benchmark run."""

    def __init__(self, ctx: Ctx, tmp: str) -> None:
        self.ctx = ctx
        self.tmp = tmp
        self.datasets = {
            "img": (ctx.data.e1_images, "whole"),
            "pq": (ctx.data.e1_parquets, "table"),
        }
        self.sizes = {p: os.path.getsize(p) for ds in self.datasets.values() for p in ds[0]}
        self._dirs = 0

    def run(self) -> None:
        orders = {
            name: self.orders(paths, SEED + i)
            for i, (name, (paths, _)) in enumerate(self.datasets.items())
        }
        say("E1 reference (all rows, forked in its own venv)")
        ref = self.reference(orders)
        for k in PROCS:
            for name, (_, how) in self.datasets.items():
                say(f"E1.k{k}.{name}")
                self.row(k, name, how, orders[name], ref.get((k, name)))
            self.workers_row(k)
        say("E1.k8.cold")
        self.cold()
        say("E1.half")
        self.half(orders["img"])

    # -- data and columns ------------------------------------------------

    @staticmethod
    def orders(paths: Sequence[str], seed: int) -> List[List[str]]:
        rng = random.Random(seed)
        out = []
        for _ in range(EPOCHS):
            order = list(paths)
            rng.shuffle(order)
            out.append(order)
        return out

    def items(self, order: Sequence[str], where: Callable[[str], str]) -> List[Item]:
        return [(where(p), self.sizes[p]) for p in order]

    def cache_dir(self) -> str:
        self._dirs += 1
        d = os.path.join(self.tmp, f"cache-{self._dirs}")
        os.makedirs(d)
        return d

    def cached_fs(self, size: int) -> Tuple[Optional[Any], str, str]:
        """Ours with a fresh local cache of ``size`` bytes: (fs or None,
        why not, its directory)."""
        d = self.cache_dir()
        try:
            fs = self.ctx.svc.fs(
                "file",
                local_cache_dir=d,
                local_cache_size=f"{max(1, size // MIB)}MB",
                local_cache_metadata_ttl=METADATA_TTL,
            )
        except (TypeError, ValueError) as e:
            return None, f"skipped: no local cache in this build ({e})"[:300], d
        return fs, "", d

    def timeout(self, nbytes: int) -> float:
        """Seconds an epoch may take before its processes are killed (5 MB/s)."""
        return 60 + nbytes / 5e6

    def readers(self, how: str, fs: Any, nocache: Any) -> Dict[str, Tuple[Reader, Any, Any]]:
        """Column -> (reader, path mapping, stats)."""
        url = self.ctx.data.url
        read = READERS[how]
        out: Dict[str, Tuple[Reader, Any, Any]] = {}
        if fs is not None:
            out["ours"] = (functools.partial(read, fs), url, fs.stats)
        out["nocache"] = (functools.partial(read, nocache), url, nocache.stats)
        out["limit"] = (functools.partial(read, None), lambda p: p, None)
        s3 = functools.partial(s3_read, how, self.ctx.svc.s3_options)
        out["ufs"] = (s3, self.ctx.data.s3_key, None)
        return out

    # -- the rows -----------------------------------------------------------

    def reference(self, orders: Dict[str, List[List[str]]]) -> Dict[Tuple[int, str], Any]:
        """Every (procs, dataset) through the reference client, one subprocess."""
        keys, ops = [], []
        for k in PROCS:
            for name, (paths, how) in self.datasets.items():
                if how == "table" and self.ctx.ref.python and not self.ctx.ref.has_pyarrow:
                    continue
                total = sum(self.sizes[p] for p in paths)
                keys.append((k, name))
                ops.append(
                    {
                        "kind": "epoch",
                        "read": how,
                        "procs": k,
                        "timeout": self.timeout(total),
                        "orders": [self.items(o, self.ctx.data.url) for o in orders[name]],
                    }
                )
        res = self.ctx.ref.run(self.ctx.svc.etcd_hosts, ops)
        return dict(zip(keys, res))

    def row(self, k: int, name: str, how: str, orders: List[List[str]], ref: Any) -> None:
        ctx = self.ctx
        paths = self.datasets[name][0]
        total = sum(self.sizes[p] for p in paths)
        what = (
            f"{len(paths)} x {self.sizes[paths[0]] // 1024} KiB files, open().read()"
            if how == "whole"
            else f"{len(paths)} Parquet files of {total / len(paths) / MIB:.0f} MiB, pq.read_table"
        )
        loaders = f"{k} forked loader{'s' if k > 1 else ''}"
        main = ctx.new(
            f"E1.k{k}.{name}",
            f"{what}, {loaders}, epochs 2-3 (ours: with the local cache)",
            "MB/s",
            "higher",
            "ours (local cache) >= 0.7 x limit (local disk) and >= 3 x ours without it",
            (("ratio", "limit", 0.7), ("ratio", "nocache", 3.0)),
        )
        cold = ctx.new(
            f"E1.k{k}.{name}.cold",
            f"{what}, {loaders}, epoch 1 (ours: cold local cache)",
            "MB/s",
            "higher",
            "ours (cold local cache) >= 0.9 x ours without it",
            ("ratio", "nocache", 0.9),
        )
        fs, why, d = self.cached_fs(2 * total + 64 * MIB)
        try:
            per = self.epochs(self.readers(how, fs, ctx.svc.fs("file")), orders, k, total)
        finally:
            del fs
            shutil.rmtree(d, ignore_errors=True)
        if why:
            per["ours"] = [{"error": why}]
        if ref is not None:
            per["reference"] = ref.get("epochs") or [ref]
        else:
            per["reference"] = [{"error": "pyarrow could not be installed in the reference venv"}]
        self.fill(main, cold, per)

    def epochs(
        self, cols: Dict[str, Tuple[Reader, Any, Any]], orders: List[List[str]], k: int, total: int
    ) -> Dict[str, List[Dict[str, Any]]]:
        """Each column's epochs, the columns taking turns epoch by epoch; a
        column stops at its first error."""
        per: Dict[str, List[Dict[str, Any]]] = {c: [] for c in cols}
        for order in orders:
            for col, (read, where, stats) in cols.items():
                if per[col] and "error" in per[col][-1]:
                    continue
                items = self.items(order, where)
                per[col].append(epoch_loader.run_epoch(read, items, k, self.timeout(total), stats))
        return per

    def fill(self, main: Result, cold: Result, per: Dict[str, List[Dict[str, Any]]]) -> None:
        """The rows' values, notes and per-epoch details from each column's epochs."""
        epochs: Dict[str, List[Optional[float]]] = {}
        workers: Dict[str, int] = {}
        for col, res in per.items():
            err = next((r["error"] for r in res if "error" in r), None)
            rates = [r["bytes"] / r["seconds"] / 1e6 for r in res if "error" not in r]
            epochs[LABELS[col]] = rates + [None] * (EPOCHS - len(rates))
            if err is not None or len(rates) < EPOCHS:
                main.skip(col, err or "no result")
                cold.skip(col, err or "no result")
                continue
            main.add(col, rates[1:])
            cold.add(col, rates if col == "nocache" else rates[:1])
            stats = [r["stats"] for r in res]
            if stats[0]:
                workers[LABELS[col]] = sum(s.get("bytes_from_workers", 0) for s in stats[1:])
                fallbacks = sum(s.get("fallbacks", 0) for s in stats)
                if fallbacks:
                    main.notes[col] = f"fell back to the under storage {fallbacks} times"
        main.detail = {"epochs": epochs, "from_workers_e23": workers}
        cold.notes.setdefault("nocache", "all 3 epochs (no local cache: every epoch alike)")
        for c in ("limit", "reference", "ufs"):
            if c in main.runs:
                cold.notes.setdefault(c, "epoch 1")
        ours, lim, nc = main.value("ours"), main.value("limit"), main.value("nocache")
        if ours and lim and nc:
            main.notes.setdefault(
                "ours",
                f"epochs 2-3: {ours / lim:.2f} x local disk, {ours / nc:.2f} x ours without "
                f"the local cache; {workers.get(LABELS['ours'], 0) / 1e6:.1f} MB from workers",
            )

    def workers_row(self, k: int) -> None:
        """Bytes from workers in epochs 2-3 of this k's two rows, from their details."""
        r = self.ctx.new(
            f"E1.k{k}.workers",
            f"MB fetched from workers in epochs 2-3, {k} loader(s), both datasets",
            "MB",
            "lower",
            "ours (local cache) = 0 (the datasets fit the cache)",
            ("abs", None, 0.0),
        )
        rows = [x for x in self.ctx.results if x.sid in (f"E1.k{k}.img", f"E1.k{k}.pq")]
        for col in ("ours", "nocache"):
            got = [x.detail.get("from_workers_e23", {}).get(LABELS[col]) for x in rows]
            if rows and None not in got:
                r.add(col, [sum(got) / 1e6])
            else:
                r.skip(col, next((x.notes[col] for x in rows if col in x.notes), "no result"))
        for c in COLUMNS[1:]:
            r.skip(c, "n/a: not a client of the workers" if c != "reference" else "n/a: no stats")

    def cold(self) -> None:
        """E1.k8.cold: 8 processes read one cold file at once, in 8 MiB reads."""
        ctx = self.ctx
        path, n = ctx.data.big, os.path.getsize(ctx.data.big)
        r = ctx.new(
            "E1.k8.cold",
            f"{COLD_PROCS} processes read one {n // MIB} MiB file at once, cold local cache:"
            " bytes from workers / file size",
            "x size",
            "lower",
            "ours <= 1.05 x file size",
            ("abs", None, 1.05),
        )
        items = [(ctx.data.url(path), n)] * COLD_PROCS
        timeout = self.timeout(COLD_PROCS * n)
        vals: Dict[str, List[float]] = {"ours": [], "nocache": []}
        secs: Dict[str, List[float]] = {"ours": [], "nocache": [], "limit": []}
        for _ in range(ctx.sizes.e1_cold_runs):
            fs, why, d = self.cached_fs(2 * n)
            try:
                if fs is None:
                    r.skip("ours", why)
                else:
                    self.cold_run(r, "ours", fs, items, timeout, vals, secs)
            finally:
                del fs
                shutil.rmtree(d, ignore_errors=True)
            self.cold_run(r, "nocache", ctx.svc.fs("file"), items, timeout, vals, secs)
            local = functools.partial(epoch_loader.read_chunks, None)
            res = epoch_loader.run_epoch(local, [(path, n)] * COLD_PROCS, COLD_PROCS, timeout)
            if "error" in res:
                r.skip("limit", res["error"])
            else:
                secs["limit"].append(res["seconds"])
        for col, v in vals.items():
            if v:
                r.add(col, v)
        parts = [
            f"{LABELS[c]} {min(s):.2f} s ({COLD_PROCS * n / min(s) / 1e6:,.0f} MB/s in all)"
            for c, s in secs.items()
            if s
        ]
        r.detail = {"seconds": secs}
        r.notes["time"] = "best of runs: " + "; ".join(parts)
        r.skip("limit", "n/a: local disk fetches nothing from workers (its time: see [time])")
        for c in ("reference", "ufs"):
            r.skip(c, "n/a: not measured")

    def cold_run(
        self,
        r: Result,
        col: str,
        fs: Any,
        items: List[Item],
        timeout: float,
        vals: Dict[str, List[float]],
        secs: Dict[str, List[float]],
    ) -> None:
        res = epoch_loader.run_epoch(
            functools.partial(epoch_loader.read_chunks, fs), items, COLD_PROCS, timeout, fs.stats
        )
        if "error" in res:
            r.skip(col, res["error"])
            return
        vals[col].append(res["stats"].get("bytes_from_workers", 0) / items[0][1])
        secs[col].append(res["seconds"])

    def half(self, orders: List[List[str]]) -> None:
        """E1.half: the image dataset through a local cache of half its size."""
        ctx = self.ctx
        paths = self.datasets["img"][0]
        total = sum(self.sizes[p] for p in paths)
        k = max(PROCS)
        cache = total // 2 // MIB * MIB
        bar = 0.9 * cache / total
        r = ctx.new(
            "E1.half",
            f"images ({total / MIB:.0f} MiB) through a local cache of {cache / MIB:.0f} MiB, "
            f"{k} loaders: hit ratio of epochs 2-3",
            "hit ratio",
            "higher",
            f"ours >= 0.9 x cache/dataset = {bar:.2f}",
            ("abs", None, bar),
        )
        for c in COLUMNS[1:]:
            r.skip(c, "n/a: only ours has a local cache")
        fs, why, d = self.cached_fs(cache)
        try:
            if fs is None:
                r.skip("ours", why)
                return
            read = functools.partial(epoch_loader.read_whole, fs)
            res = []
            for order in orders:
                res.append(
                    epoch_loader.run_epoch(
                        read, self.items(order, ctx.data.url), k, self.timeout(total), fs.stats
                    )
                )
                if "error" in res[-1]:
                    r.skip("ours", res[-1]["error"])
                    return
        finally:
            del fs
            shutil.rmtree(d, ignore_errors=True)
        ratios = []
        for x in res[1:]:
            hits, misses = (
                x["stats"].get("local_cache_hits", 0),
                x["stats"].get("local_cache_misses", 0),
            )
            ratios.append(hits / (hits + misses) if hits + misses else 0.0)
        r.add("ours", ratios)
        r.detail = {
            "epochs": {LABELS["ours"]: [x["bytes"] / x["seconds"] / 1e6 for x in res]},
            "from_workers_e23": {
                LABELS["ours"]: sum(x["stats"].get("bytes_from_workers", 0) for x in res[1:])
            },
        }
