"""A distributed load job: caches a dataset in the Alluxio workers and waits,
printing Alluxio's progress report.

    python examples/load_job.py s3://bucket/path/to/dataset/ [--etcd-hosts localhost] \
        [--timeout 600]

Exits 0 when the job succeeds, 1 when it fails, is stopped or times out.
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict

from alluxiofs.client import AlluxioClient


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a file or directory of the under storage")
    ap.add_argument("--etcd-hosts", default="localhost", help="etcd of the cluster")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    args = ap.parse_args()

    # Load jobs take full URLs; a plain local path is a file:// one.
    path = args.path if "://" in args.path else "file://" + os.path.abspath(args.path)
    client = AlluxioClient(etcd_hosts=args.etcd_hosts)
    print(f"workers: {len(client.workers())}")
    seen = set()

    def progress(status: Dict[str, Any]) -> None:
        if status["state"] not in seen:
            seen.add(status["state"])
            print(f"state: {status['state']}")

    ok = client.load(path, timeout=args.timeout, progress=progress, poll_interval=0.2)
    report = client.load_progress(path)
    print(report.get("message", "").strip())
    print("load succeeded" if ok else f"load did not succeed: {report.get('jobState')}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
