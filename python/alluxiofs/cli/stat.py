"""``alluxiofs stat``: the status of a file or directory."""

from __future__ import annotations

import argparse
import datetime
import json
from typing import Any

from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.output import jsonable, out
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import resolve


def run(args: argparse.Namespace) -> int:
    """The ``stat`` command."""
    fs = open_fs(args)
    info = dict(fs.info(resolve(fs, args.path)))
    if args.json:
        out(json.dumps(jsonable(info), indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, datetime.datetime):
            text = value.isoformat()
        elif isinstance(value, (dict, list)):
            text = json.dumps(jsonable(value))
        else:
            text = "" if value is None else str(value)
        out(f"{key}: {text}")
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``stat`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "stat",
        run,
        "show the status of a file or directory",
        "Show the status Alluxio reports for a path (type, size, mtime, "
        "share cached, ...), as 'key: value' lines or JSON.",
        "  alluxiofs stat s3://bucket/dataset/part-0.parquet\n"
        "  alluxiofs stat /data/dataset/part-0.parquet --json\n",
    )
    p.add_argument("path", help="file or directory")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_cluster_args(p)
