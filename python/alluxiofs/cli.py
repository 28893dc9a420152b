"""The ``alluxiofs`` command: the client subcommands (``ls``, ``stat``,
``cat``, ``get``, ``load``, ``workers``, ``locate``; see :mod:`alluxiofs.cli_ops`),
``worker`` and ``local-cluster``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import List, Optional

from alluxiofs import AlluxioError
from alluxiofs.cli_ops import COMMANDS, OneLineParser, add_subcommands
from alluxiofs.cli_ops import run as run_op


def _add_worker_args(p: argparse.ArgumentParser) -> None:
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


def _run_worker(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``alluxiofs`` command."""
    parser = OneLineParser(
        prog="alluxiofs",
        description="alluxiofs: Alluxio cache client, worker and local cluster.",
        epilog="Run 'alluxiofs COMMAND --help' for the options and examples of a command.",
        one_line=True,
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_subcommands(sub)

    w = sub.add_parser(
        "worker",
        help="run an Alluxio-compatible cache worker",
        description="Run an Alluxio-compatible cache worker until SIGINT/SIGTERM.",
    )
    _add_worker_args(w)
    w.set_defaults(func=_run_worker)

    from alluxiofs.local_cluster import add_arguments, run_local_cluster

    lc = sub.add_parser(
        "local-cluster",
        help="start etcd (optional) and N workers on loopback; print one JSON line when ready",
        description="Start N workers (each its own process) on free loopback ports, and etcd "
        "if asked; print one JSON line when every worker is ready; stop everything on "
        "SIGINT/SIGTERM.",
    )
    add_arguments(lc)
    lc.set_defaults(func=run_local_cluster)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``alluxiofs`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in COMMANDS:
        if extra:
            args.cli_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return run_op(args, args.verbose)
    if extra:
        # worker and local-cluster: argparse's own message, as before.
        argparse.ArgumentParser.error(parser, f"unrecognized arguments: {' '.join(extra)}")
    level = logging.WARNING - 10 * min(args.verbose, 2)
    if args.command == "worker":
        # A worker logs its start and stop; local-cluster quiets its workers.
        level = min(level, logging.getLevelName(os.environ.get("ALLUXIOFS_WORKER_LOG", "INFO")))
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.func(args))
    except (AlluxioError, OSError, ValueError) as e:
        print(f"alluxiofs {args.command}: error: {e}", file=sys.stderr)
        return 1
