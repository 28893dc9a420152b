"""``alluxiofs ls``: list a directory through Alluxio."""

from __future__ import annotations

import argparse
import json
from typing import Any

from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.output import iso, jsonable, mtime, out, table
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import entry_url, is_dir, resolve


def run(args: argparse.Namespace) -> int:
    """The ``ls`` command."""
    fs = open_fs(args)
    url = resolve(fs, args.path)
    entries = [(entry_url(fs, e), e) for e in fs.ls(url, detail=True)]
    entries.sort(key=lambda t: t[0])
    if args.json:
        out(json.dumps([jsonable(e) for _, e in entries], indent=2))
    elif args.long:
        rows = [
            [
                str(e.get("type", "?")),
                str(e.get("size", 0) if not is_dir(e) else 0),
                iso(mtime(e)),
                u + ("/" if is_dir(e) else ""),
            ]
            for u, e in entries
        ]
        for line in table(rows, right=(1,)):
            out(line)
    else:
        for u, e in entries:
            out(u + ("/" if is_dir(e) else ""))
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``ls`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "ls",
        run,
        "list a directory through Alluxio",
        "List a directory (or show one file) as the workers see it: one URL per "
        "line, directories ending in '/'. -l adds type, size in bytes and "
        "modification time (UTC).",
        "  alluxiofs ls s3://bucket/dataset/ --etcd-hosts etcd1:2379\n"
        "  alluxiofs ls -l /data/dataset          # = file:///data/dataset\n"
        "  alluxiofs ls --target-protocol s3 bucket/dataset --json\n",
    )
    p.add_argument("path", help="directory or file")
    p.add_argument("-l", "--long", action="store_true", help="type, size, mtime, name")
    p.add_argument("--json", action="store_true", help="the entries as a JSON array")
    add_cluster_args(p)
