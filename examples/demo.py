"""The main job on the embedded default: ``local-cluster`` (a private etcd and
three cache workers, each its own process) over a sample dataset this script
creates, read through ``fsspec.filesystem("alluxiofs", ...)``: listing, whole
files cold and warm, random ranges, and a PyArrow table. Every byte is checked
against the local files. Everything started is stopped at the end.

Run: ``bash scripts/demo.sh`` (or ``python examples/demo.py [--files N --mb M]``).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from alluxiofs.local_cluster import LocalCluster


def make_dataset(root: str, files: int, mb: int) -> list:
    rnd = random.Random(7)
    paths = []
    for i in range(files):
        part = os.path.join(root, "raw", f"part={i % 4}")
        os.makedirs(part, exist_ok=True)
        p = os.path.join(part, f"shard-{i:03d}.bin")
        with open(p, "wb") as f:
            f.write(rnd.randbytes(mb * 1024 * 1024 + rnd.randint(0, 4096)))
        paths.append(p)
    n = 200_000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "score": pa.array([rnd.random() for _ in range(n)]),
            "label": pa.array([f"item-{i % 97}" for i in range(n)]),
        }
    )
    pq.write_table(table, os.path.join(root, "table.parquet"), row_group_size=50_000)
    return paths


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:8.1f} MB/s ({nbytes / 1e6:.0f} MB in {seconds:.2f} s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=24, help="sample files (default 24)")
    ap.add_argument("--mb", type=int, default=4, help="MiB per file (default 4)")
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="alluxiofs-demo-") as root:
        paths = make_dataset(root, args.files, args.mb)
        print(f"dataset: {len(paths)} files of ~{args.mb} MiB and table.parquet under {root}")
        with LocalCluster(root, workers=args.workers, start_etcd=True) as cluster:
            print(f"local-cluster: etcd {cluster.etcd_hosts}, workers {cluster.worker_hosts}")
            fs = fsspec.filesystem(
                "alluxiofs", etcd_hosts=cluster.etcd_hosts, target_protocol="file"
            )

            workers = fs.client.workers()
            for w, share in zip(workers, fs.client.worker_shares()):
                print(f"  worker {w['host']}:{w['http_port']} owns {share:5.1%} of the ring")
            print(
                f"listing: {len(fs.ls(root))} entries at the top, {len(fs.find(root))} files in all"
            )

            expected = {}
            for p in paths:
                with open(p, "rb") as f:
                    expected[p] = f.read()
            total = sum(len(v) for v in expected.values())
            for label in ("cold", "warm"):
                t = time.perf_counter()
                got = fs.cat(paths)
                took = time.perf_counter() - t
                assert got == expected, "bytes differ"
                print(f"whole files, {label}: {rate(total, took)}  (verified)")

            rnd = random.Random(1)
            ranges = []
            for _ in range(500):
                p = rnd.choice(paths)
                s = rnd.randrange(len(expected[p]))
                ranges.append((p, s, s + rnd.randint(1, 256 * 1024)))
            t = time.perf_counter()
            parts = fs.cat_ranges(
                [r[0] for r in ranges], [r[1] for r in ranges], [r[2] for r in ranges]
            )
            took = time.perf_counter() - t
            assert all(part == expected[p][s:e] for part, (p, s, e) in zip(parts, ranges))
            print(f"500 random ranges: {rate(sum(map(len, parts)), took)}  (verified)")

            t = time.perf_counter()
            table = pq.read_table(os.path.join(root, "table.parquet"), filesystem=fs)
            took = time.perf_counter() - t
            assert table.equals(pq.read_table(os.path.join(root, "table.parquet")))
            print(
                f"PyArrow: {table.num_rows} rows x {table.num_columns} columns "
                f"({', '.join(table.schema.names)}) in {took:.2f} s  (verified)"
            )
            print(f"stats: {fs.stats()}")

            # Epochs with the node-shared local cache: the first fills it
            # from the workers, the second reads only local pages.
            cache_dir = os.path.join(root, "local-cache")
            cached = fsspec.filesystem(
                "alluxiofs",
                etcd_hosts=cluster.etcd_hosts,
                target_protocol="file",
                local_cache_dir=cache_dir,
                local_cache_size="1GB",
            )
            for epoch in (1, 2):
                order = list(paths)
                random.Random(epoch).shuffle(order)
                before = cached.stats()
                t = time.perf_counter()
                for p in order:
                    assert cached.cat_file(p) == expected[p], "bytes differ"
                took = time.perf_counter() - t
                after = cached.stats()
                print(
                    f"local cache, epoch {epoch}: {rate(total, took)}, "
                    f"{(after['bytes_from_workers'] - before['bytes_from_workers']) >> 20} MiB "
                    f"from workers, {after['local_cache_hits'] - before['local_cache_hits']} "
                    "local hits  (verified)"
                )
            type(fs).clear_instance_cache()
            del fs, cached
        print("stopped local-cluster")


if __name__ == "__main__":
    main()
