"""``alluxiofs local-cluster``: etcd (optional) and N workers on loopback,
until SIGINT/SIGTERM (see :class:`alluxiofs.local_cluster.LocalCluster`)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

from alluxiofs.local_cluster import LocalCluster

logger = logging.getLogger("alluxiofs.local_cluster")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the ``local-cluster`` options to ``p``."""
    p.add_argument("--workers", type=int, default=3, help="number of workers (default 3)")
    p.add_argument(
        "--ufs", required=True, help="under storage: a directory, file:///dir or s3://bucket/prefix"
    )
    p.add_argument(
        "--start-etcd", action="store_true", help="start a private etcd (Debian etcd-server)"
    )
    p.add_argument("--etcd-hosts", default=None, help="use this etcd instead of starting one")
    p.add_argument("--page-size", default=None, help="page size (default 1MB)")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="parent of the workers' cache dirs (default: a temp dir, removed at exit)",
    )
    p.add_argument("--cache-size", default=None, help="page store quota per worker (default 1GB)")
    p.add_argument("--lease-ttl", default="10", help="etcd lease TTL in seconds (default 10)")
    p.add_argument("--oss-strict", action="store_true", help="workers serve only the OSS endpoints")
    p.add_argument(
        "--metadata-sync-interval",
        default=None,
        help="seconds a worker answers info of a cached file from its record before asking "
        "the under storage again (default 60; 0 = always ask; -1 = once)",
    )
    p.add_argument("--s3-endpoint", default=None)
    p.add_argument("--s3-region", default=None)
    p.add_argument("--s3-access-key-id", default=None)
    p.add_argument("--s3-secret-access-key", default=None)


def run(args: argparse.Namespace) -> int:
    """The ``local-cluster`` command."""
    cluster = LocalCluster(
        ufs=args.ufs,
        workers=args.workers,
        start_etcd=args.start_etcd,
        etcd_hosts=args.etcd_hosts,
        page_size=args.page_size,
        cache_dir=args.cache_dir,
        cache_size=args.cache_size,
        lease_ttl=args.lease_ttl,
        oss_strict=args.oss_strict,
        metadata_sync_interval=args.metadata_sync_interval,
        s3={
            "endpoint": args.s3_endpoint,
            "region": args.s3_region,
            "access_key_id": args.s3_access_key_id,
            "secret_access_key": args.s3_secret_access_key,
        },
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = cluster.start()
    try:
        print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            for i, p in enumerate(cluster.procs):
                if p.poll() is not None and not getattr(p, "_reported", False):
                    logger.warning("worker %d (pid %d) exited with code %s", i, p.pid, p.returncode)
                    p._reported = True  # type: ignore[attr-defined]
    finally:
        cluster.stop()
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``local-cluster`` to the subparsers ``sub``."""
    lc = sub.add_parser(
        "local-cluster",
        help="start etcd (optional) and N workers on loopback; print one JSON line when ready",
        description="Start N workers (each its own process) on free loopback ports, and etcd "
        "if asked; print one JSON line when every worker is ready; stop everything on "
        "SIGINT/SIGTERM.",
    )
    add_arguments(lc)
    lc.set_defaults(func=run)
