"""``alluxiofs locate``: the workers that own a path, in ring order."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alluxiofs.cli.argtypes import positive_int
from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.output import out, table
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import resolve


def run(args: argparse.Namespace) -> int:
    """The ``locate`` command."""
    fs = open_fs(args)
    url = resolve(fs, args.path)
    owners = fs.client.locate(url, args.n)
    if args.json:
        out(json.dumps({"path": url, "workers": owners}, indent=2))
        return 0
    cells = [["#", "HOST", "PORT", "IDENTITY"]] + [
        [str(i), str(w["host"]), str(w["http_port"]), str(w["identity"])]
        for i, w in enumerate(owners, 1)
    ]
    for line in table(cells, right=(0, 2)):
        out(line)
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``locate`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "locate",
        run,
        "show the workers that own a path",
        "Show the N workers owning PATH on the hash ring, in ring order: the "
        "first serves it, the next ones take over when it fails. Fewer are "
        "shown when the cluster has fewer workers.",
        "  alluxiofs locate s3://bucket/dataset/part-0.parquet -n 2\n"
        "  alluxiofs locate /data/dataset/part-0.parquet --json\n",
    )
    p.add_argument("path", help="a path (hashed as its full URL)")
    p.add_argument(
        "-n", type=positive_int, default=1, metavar="N", help="how many workers (default 1)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_cluster_args(p)
