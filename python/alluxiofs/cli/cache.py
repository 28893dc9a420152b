"""``alluxiofs cache``: a local cache directory's size, pages and hit ratio;
``--clear`` empties it."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from alluxiofs import _core
from alluxiofs.cli.output import human_bytes, out, table
from alluxiofs.cli.parser import add_command


def run(args: argparse.Namespace) -> int:
    """The ``cache`` command."""
    rows = []
    for d in args.dirs:
        for ns in _core.local_cache_namespaces(os.path.abspath(d), clear=args.clear):
            looked = ns["hits"] + ns["misses"]
            rows.append(
                {
                    "dir": d,
                    **ns,
                    "hit_ratio": (ns["hits"] / looked) if looked else None,
                }
            )
    if args.json:
        out(json.dumps(rows, indent=2))
        return 0
    if not rows:
        out("no alluxiofs local cache in " + ", ".join(args.dirs))
        return 0
    verb = "REMOVED" if args.clear else "SIZE"
    cells = [["DIR", "NAMESPACE", "PAGES", verb, "HITS", "MISSES", "HIT RATIO"]]
    for r in rows:
        ratio = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        cells.append(
            [
                r["dir"],
                r["name"],
                str(r["pages"]),
                human_bytes(r["bytes"]),
                str(r["hits"]),
                str(r["misses"]),
                ratio,
            ]
        )
    for line in table(cells, right=(2, 3, 4, 5, 6)):
        out(line)
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``cache`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "cache",
        run,
        "show or clear a local cache directory",
        "Show each namespace (cluster and page size) in the local cache "
        "directories DIR: pages, bytes, and the hit ratio of every process "
        "that used it. With --clear, remove its pages and recorded versions "
        "(pages other processes are writing right now are left to them).",
        "  alluxiofs cache /mnt/nvme/alluxiofs\n"
        "  alluxiofs cache /mnt/nvme/alluxiofs /dev/shm/alluxiofs --json\n"
        "  alluxiofs cache /mnt/nvme/alluxiofs --clear\n",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="a local_cache_dir")
    p.add_argument("--clear", action="store_true", help="empty it")
    p.add_argument("--json", action="store_true", help="a JSON list")
