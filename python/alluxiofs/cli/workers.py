"""``alluxiofs workers``: the workers on the hash ring and their shares."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from alluxiofs.cli.errors import CliError
from alluxiofs.cli.options import add_cluster_args, open_client
from alluxiofs.cli.output import out, table
from alluxiofs.cli.parser import add_command


def run(args: argparse.Namespace) -> int:
    """The ``workers`` command."""
    client = open_client(args)
    for _ in range(5):
        workers, shares = client.workers(), client.worker_shares()
        if len(workers) == len(shares):
            break
        time.sleep(0.1)  # membership changed between the two calls
    else:
        raise CliError("the worker list keeps changing; try again")
    pairs = sorted(
        zip(workers, shares), key=lambda t: (-t[1], str(t[0]["host"]), int(t[0]["http_port"]))
    )
    if args.json:
        rows = [dict(w, share_percent=round(s * 100, 4)) for w, s in pairs]
        out(json.dumps(rows, indent=2))
        return 0
    cells = [["HOST", "PORT", "IDENTITY", "SHARE"]] + [
        [str(w["host"]), str(w["http_port"]), str(w["identity"]), f"{s * 100:.2f}%"]
        for w, s in pairs
    ]
    for line in table(cells, right=(1, 3)):
        out(line)
    total = sum(shares) * 100
    out(f"{len(pairs)} worker{'s' if len(pairs) != 1 else ''}, {total:.2f}% of the hash space")
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``workers`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "workers",
        run,
        "list the workers on the hash ring and their shares",
        "List the workers of the cluster: host, port, identity and the share of "
        "the consistent-hash space each owns, largest first, then a total line.",
        "  alluxiofs workers --etcd-hosts etcd1:2379\n"
        "  ALLUXIOFS_WORKER_HOSTS=w1:28080,w2:28080 alluxiofs workers --json\n",
        paths=False,
    )
    p.add_argument("--json", action="store_true", help="a JSON array (share_percent per worker)")
    add_cluster_args(p, paths=False)
