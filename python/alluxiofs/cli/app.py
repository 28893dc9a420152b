"""The ``alluxiofs`` parser and entry point: one module per command, each
adding its parser; the client commands run through :mod:`alluxiofs.cli.runner`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional, Tuple

from alluxiofs import AlluxioError, __version__
from alluxiofs.cli import (
    cache,
    cat,
    get,
    load,
    local_cluster,
    locate,
    ls,
    stat,
    worker,
    workers,
)
from alluxiofs.cli.parser import OneLineParser
from alluxiofs.cli.runner import run
from alluxiofs.cli.worker_config import ConfigError, expand_config

#: The client subcommands (one-line errors, shared cluster options).
COMMANDS: Tuple[str, ...] = ("ls", "stat", "cat", "get", "load", "workers", "locate", "cache")

_MODULES = (ls, stat, cat, get, load, workers, locate, cache, worker, local_cluster)


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
    parser.add_argument("--version", action="version", version=f"alluxiofs {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _MODULES:
        module.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``alluxiofs`` console script."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        argv = expand_config(argv)  # worker --config FILE: the file's options first
    except ConfigError as e:
        print(f"alluxiofs worker: error: {e}", file=sys.stderr)
        return 2
    args, extra = parser.parse_known_args(argv)
    if args.command in COMMANDS:
        if extra:
            args.cli_parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return run(args, args.verbose)
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
