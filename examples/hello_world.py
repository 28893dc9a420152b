"""The seed's hello world: list a dataset directory through Alluxio and read
its first file.

    python examples/hello_world.py s3://bucket/path/to/dataset/ [--etcd-hosts localhost]

The under storage's protocol comes from the path (``s3://...``; a plain local
path means ``file``).
"""

from __future__ import annotations

import argparse

import fsspec
from fsspec.utils import get_protocol


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a directory, e.g. s3://bucket/path/to/dataset/")
    ap.add_argument("--etcd-hosts", default="localhost", help="etcd of the cluster")
    args = ap.parse_args()

    alluxio_fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts=args.etcd_hosts, target_protocol=get_protocol(args.dataset)
    )
    listing = alluxio_fs.ls(args.dataset, detail=True)
    print(f"{args.dataset}: {len(listing)} entries")
    for entry in listing[:10]:
        print(f"  {entry['type']:9} {entry['size']:>12} {entry['name']}")
    files = [e for e in listing if e["type"] == "file"]
    if not files:
        print("no files to read")
        return 1
    with alluxio_fs.open(files[0]["name"], "rb") as f:
        data = f.read()
    print(f"read {len(data)} bytes of {files[0]['name']}")
    stats = alluxio_fs.stats()
    print(f"from workers: {stats['bytes_from_workers']} bytes, fallbacks: {stats['fallbacks']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
