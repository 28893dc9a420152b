"""The seed's PyArrow example 1: a ``pyarrow.dataset`` over Alluxio.

    python examples/pyarrow_dataset.py s3://bucket/path/to/dataset/file1.parquet \
        [--etcd-hosts localhost] [--partitioning hive]

The path may be one Parquet file or a directory of them.
"""

from __future__ import annotations

import argparse

import fsspec
import pyarrow.dataset as ds
from fsspec.utils import get_protocol


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a Parquet file or a directory of them")
    ap.add_argument("--etcd-hosts", default="localhost", help="etcd of the cluster")
    ap.add_argument("--partitioning", default=None, help='e.g. "hive" for key=value dirs')
    args = ap.parse_args()

    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts=args.etcd_hosts, target_protocol=get_protocol(args.path)
    )
    dataset = ds.dataset(
        args.path, filesystem=alluxio_fs, format="parquet", partitioning=args.partitioning
    )
    print(f"files: {len(dataset.files)}")
    print(f"rows: {dataset.count_rows()}")
    print(f"schema: {', '.join(f'{f.name}: {f.type}' for f in dataset.schema)}")
    print(f"first row: {dataset.take([0]).to_pylist()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
