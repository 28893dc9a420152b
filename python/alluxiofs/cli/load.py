"""``alluxiofs load``: submit a distributed load job and follow it (or show
its progress once, or stop it)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Mapping

from alluxiofs.cli.argtypes import seconds
from alluxiofs.cli.errors import CliError, one_line
from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.output import out
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import resolve
from alluxiofs.progress import ProgressDisplay, parse_report, plain_line


def _no_job(url: str, resp: Mapping[str, Any]) -> CliError:
    msg = one_line(str(resp.get("message") or "")) or "no report"
    return CliError(f"no load job for {url}: {msg}")


def _stop(client: Any, url: str) -> int:
    resp = client.stop_load(url)
    if resp.get("success"):
        out(f"load of {url} stopped")
        return 0
    status = client.load_progress(url)
    report = parse_report(status)
    if not report.found:
        raise _no_job(url, status)
    out(f"load of {url} is not running ({report.job_state}); nothing to stop")
    out(plain_line(url, report))
    return 0


def _show(client: Any, url: str, tty: bool) -> int:
    status = client.load_progress(url)
    report = parse_report(status)
    if not report.found:
        raise _no_job(url, status)
    display = ProgressDisplay(url, sys.stdout, tty)
    display.update(report)
    display.close()
    return 0


def run(args: argparse.Namespace) -> int:
    """The ``load`` command."""
    fs = open_fs(args)
    client = fs.client
    url = resolve(fs, args.path)
    tty = sys.stdout.isatty()
    if args.stop:
        return _stop(client, url)
    if args.progress:
        return _show(client, url, tty)
    resp = client.submit_load(url)
    if not resp.get("success"):
        msg = one_line(str(resp.get("message") or "")) or "the worker refused it"
        prefix = f"Failed to submit load job {url}: "
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
        raise CliError(f"load of {url} not submitted: {msg}")
    out(one_line(str(resp.get("message") or f"load of {url} submitted")))
    sys.stdout.flush()
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    display = ProgressDisplay(url, sys.stdout, tty)
    try:
        while True:
            status = client.load_progress(url)
            report = parse_report(status)
            if not report.found:  # e.g. the path's owner changed since the submit
                raise _no_job(url, status)
            display.update(report)
            if report.state == "SUCCEEDED":
                return 0
            if report.finished:
                display.close()
                raise CliError(f"load of {url} ended {report.job_state}")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                display.close()
                raise CliError(
                    f"load of {url} not finished after {args.timeout:g}s "
                    f"(still {report.state}; it keeps running: "
                    f"alluxiofs load --progress / --stop)"
                )
            wait = args.interval if deadline is None else min(args.interval, deadline - now)
            time.sleep(max(0.0, wait))
    finally:
        display.close()


def add_parser(sub: Any) -> None:
    """Adds ``load`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "load",
        run,
        "load a path into the cache (distributed load job) and wait",
        "Submit a distributed load job for PATH (a file or directory) and wait "
        "for it, showing its progress: on a terminal one bar redrawn in place "
        "(files processed/total, bytes loaded/total, throughput, state), "
        "otherwise a plain line whenever the numbers change (and every 10 s). "
        "The numbers are the worker's report. Exit 0 when the job SUCCEEDED, "
        "1 when it FAILED or was STOPPED, or --timeout passed (the job keeps "
        "running). Ctrl-C stops waiting, not the job (use --stop).",
        "  alluxiofs load s3://bucket/dataset --etcd-hosts etcd1\n"
        "  alluxiofs load /data/dataset --timeout 600\n"
        "  alluxiofs load s3://bucket/dataset --progress   # show once, do not wait\n"
        "  alluxiofs load s3://bucket/dataset --stop\n",
    )
    p.add_argument("path", help="file or directory to load")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--progress",
        action="store_true",
        help="show the current progress of the existing job once (exit 0 when there is one)",
    )
    mode.add_argument(
        "--stop",
        action="store_true",
        help="stop the running job (a finished job is reported, exit 0)",
    )
    p.add_argument(
        "--timeout", type=seconds, default=None, metavar="S", help="give up waiting after S s"
    )
    p.add_argument(
        "--interval",
        type=seconds,
        default=1.0,
        metavar="S",
        help="seconds between progress requests (default 1)",
    )
    add_cluster_args(p)
