"""``alluxiofs worker``: run an Alluxio-compatible cache worker in this
process until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any


def _add_worker_args(p: argparse.ArgumentParser) -> None:
    """The ``worker`` options."""
    p.add_argument(
        "--ufs",
        required=True,
        help="under-storage roots, comma separated: file:///dir, /dir or s3://bucket/prefix",
    )
    p.add_argument("--cache-dir", required=True, help="page store and identity directory")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--advertise-host", default=None, help="host published to clients (default --host)"
    )
    p.add_argument("--port", default=None, help="REST port (default 28080; 0 = any free port)")
    p.add_argument("--cache-size", default=None, help="page store quota, e.g. 10GB (default 1GB)")
    p.add_argument(
        "--page-size", default=None, help="page size, e.g. 1MB (default); must match clients"
    )
    p.add_argument(
        "--readahead-pages",
        default=None,
        help="pages read from the under storage in one read on a cache miss: the aligned "
        "window around the missed page (default 16 on S3, 1 on local files)",
    )
    p.add_argument(
        "--readahead-max-pages",
        default=None,
        help="most pages in one under-storage read, for a multi-page range or a "
        "sequential scan (default 4 x the window, at least 16)",
    )
    p.add_argument(
        "--metadata-sync-interval",
        default=None,
        help="seconds /v1/info answers a cached file from its record before asking the "
        "under storage again; a changed file then loses its cached pages "
        "(default 60; 0 = always ask; -1 = once)",
    )
    p.add_argument(
        "--etcd-hosts", default=None, help="register in etcd (comma list of host[:port])"
    )
    p.add_argument(
        "--etcd-port", default=None, help="port for --etcd-hosts entries without one (2379)"
    )
    p.add_argument(
        "--worker-hosts",
        default=None,
        help="static peers (host:port list, as clients' worker_hosts) instead of etcd",
    )
    p.add_argument(
        "--cluster-name", default=None, help="alluxio.cluster.name (DefaultAlluxioCluster)"
    )
    p.add_argument("--etcd-username", default=None)
    p.add_argument("--etcd-password", default=None)
    p.add_argument("--lease-ttl", default=None, help="etcd lease TTL in seconds (default 120)")
    p.add_argument(
        "--oss-strict",
        action="store_true",
        help="serve only the OSS endpoints and close the connection on errors",
    )
    p.add_argument(
        "--identity", default=None, help="fixed worker UUID (default: kept in --cache-dir)"
    )
    p.add_argument("--virtual-nodes", default=None, help="virtual nodes per worker (default 5)")
    p.add_argument(
        "--node-response",
        choices=["array", "object"],
        default=None,
        help="shape of /v1/node answers: array (default, what alluxiofs 1.0.17 reads) "
        "or object (a bare WorkerNetAddress)",
    )
    p.add_argument(
        "--s3-endpoint", default=None, help="S3 endpoint URL (e.g. http://127.0.0.1:5000)"
    )
    p.add_argument("--s3-region", default=None)
    p.add_argument("--s3-access-key-id", default=None)
    p.add_argument("--s3-secret-access-key", default=None)


def run(args: argparse.Namespace) -> int:
    """The ``worker`` command."""
    from alluxiofs import _core

    kwargs = {
        k: getattr(args, k)
        for k in (
            "ufs",
            "cache_dir",
            "host",
            "advertise_host",
            "port",
            "cache_size",
            "page_size",
            "etcd_hosts",
            "etcd_port",
            "worker_hosts",
            "cluster_name",
            "etcd_username",
            "etcd_password",
            "lease_ttl",
            "identity",
            "virtual_nodes",
            "s3_endpoint",
            "s3_region",
            "s3_access_key_id",
            "s3_secret_access_key",
            "node_response",
            "readahead_pages",
            "readahead_max_pages",
            "metadata_sync_interval",
        )
    }
    # The worker handles SIGINT/SIGTERM itself (graceful shutdown); Python's
    # handler may still raise once it returns.
    with contextlib.suppress(KeyboardInterrupt):
        _core.run_worker(oss_strict=args.oss_strict, **kwargs)
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``worker`` to the subparsers ``sub``."""
    w = sub.add_parser(
        "worker",
        help="run an Alluxio-compatible cache worker",
        description="Run an Alluxio-compatible cache worker until SIGINT/SIGTERM.",
    )
    _add_worker_args(w)
    w.set_defaults(func=run)
