"""The seed's Ray example: Ray Data reads Parquet (and CSV) through Alluxio;
the filesystem travels to Ray's workers by pickling.

    python examples/ray_read_parquet.py s3://bucket/path/to/dataset/file1.parquet \
        [--csv s3://bucket/path/to/dataset/example.csv] [--etcd-hosts localhost] \
        [--ray-address ADDRESS]

Without ``--ray-address`` a local Ray instance is started (``num_cpus=2``).
"""

from __future__ import annotations

import argparse
import os

import fsspec
from fsspec.utils import get_protocol


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a Parquet file or a directory of them")
    ap.add_argument("--csv", default=None, help="also read this CSV file")
    ap.add_argument("--etcd-hosts", default="localhost", help="etcd of the cluster")
    ap.add_argument("--ray-address", default=None, help="a running Ray cluster to join")
    args = ap.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if args.ray_address:
        ray.init(address=args.ray_address, logging_level="WARNING", log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False

    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts=args.etcd_hosts, target_protocol=get_protocol(args.path)
    )
    try:
        ds = ray.data.read_parquet(args.path, filesystem=alluxio_fs)
        print(f"parquet rows: {ds.count()}")
        print(f"parquet schema: {ds.schema().names}")
        print(f"parquet first row: {ds.take(1)[0]}")
        if args.csv:
            ds = ray.data.read_csv(args.csv, filesystem=alluxio_fs)
            print(f"csv rows: {ds.count()}")
            print(f"csv schema: {ds.schema().names}")
            print(f"csv first row: {ds.take(1)[0]}")
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
