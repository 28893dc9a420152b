"""The seed's PyArrow example 2: Alluxio as a PyArrow filesystem
(``PyFileSystem(FSSpecHandler(fs))``), reading one file.

    python examples/pyarrow_pyfilesystem.py s3://bucket/path/to/dataset/file1.parquet \
        [--etcd-hosts localhost]
"""

from __future__ import annotations

import argparse
import hashlib

import fsspec
from fsspec.utils import get_protocol
from pyarrow.fs import FSSpecHandler, PyFileSystem


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a file, e.g. s3://bucket/path/to/dataset/file1.parquet")
    ap.add_argument("--etcd-hosts", default="localhost", help="etcd of the cluster")
    args = ap.parse_args()

    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts=args.etcd_hosts, target_protocol=get_protocol(args.path)
    )
    py_fs = PyFileSystem(FSSpecHandler(alluxio_fs))
    info = py_fs.get_file_info(args.path)
    print(f"{info.path}: {info.type.name}, {info.size} bytes")
    with py_fs.open_input_file(args.path) as f:
        data = f.read()
        tail = f.read_at(min(8, len(data)), max(0, len(data) - 8))
    print(f"read {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    print(f"last bytes: {tail!r}")
    return 0 if len(data) == info.size else 1


if __name__ == "__main__":
    raise SystemExit(main())
