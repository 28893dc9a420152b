"""``alluxiofs local-cluster``: etcd (optional) and N workers on loopback,
until SIGINT/SIGTERM (see :class:`alluxiofs.local_cluster.LocalCluster`).
Besides its own options it offers the worker settings it passes to every
worker (those declared ``local_cluster`` in the Rust core)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any, Dict, List

from alluxiofs.cli.worker_options import add_setting, setting_values, worker_settings
from alluxiofs.local_cluster import LocalCluster

logger = logging.getLogger("alluxiofs.local_cluster")


#: Defaults of ``local-cluster`` that differ from a worker's own.
LOCAL_DEFAULTS = {"lease_ttl": "10"}  # a stopped worker leaves the ring within seconds


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the ``local-cluster`` options to ``p``: its own, then the worker
    settings it passes to every worker."""
    p.add_argument("--workers", type=int, default=3, help="number of workers (default 3)")
    p.add_argument(
        "--ufs", required=True, help="under storage: a directory, file:///dir or s3://bucket/prefix"
    )
    p.add_argument(
        "--start-etcd", action="store_true", help="start a private etcd (Debian etcd-server)"
    )
    p.add_argument("--etcd-hosts", default=None, help="use this etcd instead of starting one")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="parent of the workers' cache dirs (default: a temp dir, removed at exit)",
    )
    for setting in _shared():
        add_setting(p, setting, LOCAL_DEFAULTS.get(setting["name"]))


def _shared() -> List[Dict[str, Any]]:
    return [s for s in worker_settings() if s["local_cluster"]]


def run(args: argparse.Namespace) -> int:
    """The ``local-cluster`` command."""
    cluster = LocalCluster(
        ufs=args.ufs,
        workers=args.workers,
        start_etcd=args.start_etcd,
        etcd_hosts=args.etcd_hosts,
        cache_dir=args.cache_dir,
        settings=setting_values(args, _shared()),
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
