"""Deterministic benchmark data (seeded): local files for the cluster's
``file://`` root and objects for its ``s3://`` root (moto)."""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, List

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from harness import MIB, Sizes, say

SEED = 20260611
#: Bump when the layout or the generators change (invalidates --data-dir).
LAYOUT = 3
BUCKET = "bench"


@dataclass(frozen=True)
class Dataset:
    """Where each scenario's data lives."""

    root: str  # local directory (the cluster's file:// root)
    big: str  # S1, S2, M1
    small: List[str]  # S3 (and S6 info)
    table: str  # S4
    listing: str  # S6 directory
    ray_prefix: str  # S5: "bench/ray" in S3
    ray_keys: List[str]
    ray_bytes: int
    ray_local: str  # S5: the same Parquet files on local disk (Ray's floor)
    cold_key: str  # C1: "bench/cold.bin" in S3
    e1_images: List[str]  # E1: 512 KiB "image" files
    e1_parquets: List[str]  # E1: Parquet files

    def url(self, path: str) -> str:
        return "file://" + path

    def s3_key(self, path: str) -> str:
        """The S3 key of an E1 file (its copy in moto, for s3fs)."""
        return f"{BUCKET}/e1/" + os.path.relpath(path, os.path.join(self.root, "e1"))


def _random_file(path: str, nbytes: int, rng: np.random.Generator) -> None:
    with open(path, "wb") as f:
        left = nbytes
        while left:
            n = min(left, 64 * MIB)
            f.write(rng.bytes(n))
            left -= n


def _table(rows: int, rng: np.random.Generator, first_id: int = 0) -> pa.Table:
    cols: Dict[str, Any] = {"id": np.arange(first_id, first_id + rows, dtype=np.int64)}
    for i in range(7):
        cols[f"f{i}"] = rng.standard_normal(rows)
    return pa.table(cols)


def _parquet(sink: Any, nbytes: int, row_groups: int, rng: np.random.Generator) -> None:
    """About ``nbytes`` of Parquet (8 numeric columns, random values, snappy)
    in ``row_groups`` row groups, written group by group."""
    rows = max(row_groups, nbytes // 64)
    per_group = -(-rows // row_groups)
    schema = _table(1, rng).schema
    with pq.ParquetWriter(sink, schema, compression="snappy") as w:
        done = 0
        while done < rows:
            n = min(per_group, rows - done)
            w.write_table(_table(n, rng, done), row_group_size=n)
            done += n


def _local(root: str, sizes: Sizes) -> None:
    rng = np.random.default_rng(SEED)
    _random_file(os.path.join(root, "big.bin"), sizes.s1_bytes, rng)
    os.makedirs(os.path.join(root, "small"), exist_ok=True)
    blob = rng.bytes(sizes.s3_files * sizes.s3_file_bytes)
    for i in range(sizes.s3_files):
        with open(os.path.join(root, "small", f"f-{i:05d}.bin"), "wb") as f:
            at = i * sizes.s3_file_bytes
            f.write(blob[at : at + sizes.s3_file_bytes])
    _parquet(os.path.join(root, "table.parquet"), sizes.s4_bytes, 16, rng)
    os.makedirs(os.path.join(root, "listing"), exist_ok=True)
    for i in range(sizes.s6_entries):
        open(os.path.join(root, "listing", f"e-{i:05d}"), "wb").close()
    for path in _e1_images(root, sizes):
        _random_file(path, sizes.e1_image_bytes, rng)
    for path in _e1_parquets(root, sizes):
        _parquet(path, sizes.e1_parquet_bytes, 4, rng)


def _e1_images(root: str, sizes: Sizes) -> List[str]:
    os.makedirs(os.path.join(root, "e1", "img"), exist_ok=True)
    return [os.path.join(root, "e1", "img", f"i-{i:05d}.jpg") for i in range(sizes.e1_images)]


def _e1_parquets(root: str, sizes: Sizes) -> List[str]:
    os.makedirs(os.path.join(root, "e1", "pq"), exist_ok=True)
    return [os.path.join(root, "e1", "pq", f"p-{i:03d}.parquet") for i in range(sizes.e1_parquets)]


def make_local(root: str, sizes: Sizes) -> Dataset:
    """Writes (or reuses, if generated with the same sizes) the local files."""
    stamp_path = os.path.join(root, "stamp.json")
    stamp = json.dumps({"layout": LAYOUT, "seed": SEED, "sizes": asdict(sizes)}, sort_keys=True)
    os.makedirs(root, exist_ok=True)
    try:
        with open(stamp_path) as f:
            reuse = f.read() == stamp
    except OSError:
        reuse = False
    if reuse:
        say(f"reusing the data in {root}")
    else:
        say(f"generating data in {root}")
        if os.path.exists(stamp_path):
            os.unlink(stamp_path)
        _local(root, sizes)
        with open(stamp_path, "w") as f:
            f.write(stamp)
    small = [os.path.join(root, "small", f"f-{i:05d}.bin") for i in range(sizes.s3_files)]
    return Dataset(
        root=root,
        big=os.path.join(root, "big.bin"),
        small=small,
        table=os.path.join(root, "table.parquet"),
        listing=os.path.join(root, "listing"),
        ray_prefix=f"{BUCKET}/ray",
        ray_keys=[f"{BUCKET}/ray/part-{i:03d}.parquet" for i in range(sizes.s5_files)],
        ray_bytes=0,
        ray_local=os.path.join(root, "ray"),
        cold_key=f"{BUCKET}/cold.bin",
        e1_images=_e1_images(root, sizes),
        e1_parquets=_e1_parquets(root, sizes),
    )


def upload_s3(s3: Any, ds: Dataset, sizes: Sizes) -> Dataset:
    """Writes the S3 objects (S5's Parquet files, C1's cold file, copies of
    E1's files) to moto, and S5's files to ``ds.ray_local`` too; returns
    ``ds`` with the Parquet bytes total."""
    rng = np.random.default_rng(SEED + 1)
    s3.mkdir(BUCKET)
    os.makedirs(ds.ray_local, exist_ok=True)
    total = 0
    for key in ds.ray_keys:
        buf = io.BytesIO()
        _parquet(buf, sizes.s5_file_bytes, 2, rng)
        s3.pipe_file(key, buf.getvalue())
        with open(os.path.join(ds.ray_local, os.path.basename(key)), "wb") as f:
            f.write(buf.getvalue())
        total += len(buf.getvalue())
    s3.pipe_file(ds.cold_key, rng.bytes(sizes.c1_bytes))
    for paths in (ds.e1_images, ds.e1_parquets):
        for at in range(0, len(paths), 64):
            batch = {}
            for p in paths[at : at + 64]:
                with open(p, "rb") as f:
                    batch[ds.s3_key(p)] = f.read()
            s3.pipe(batch)
    return Dataset(**{**asdict(ds), "ray_bytes": total})
