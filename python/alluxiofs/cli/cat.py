"""``alluxiofs cat``: a file's bytes, or a range of them, on stdout."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from alluxiofs.cli.argtypes import nonnegative
from alluxiofs.cli.errors import CliError
from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import is_dir, resolve
from alluxiofs.cli.transfer import copy_range


def run(args: argparse.Namespace) -> int:
    """The ``cat`` command."""
    fs = open_fs(args)
    url = resolve(fs, args.path)
    info = fs.info(url)
    if is_dir(info):
        raise CliError(f"{url} is a directory")
    size = int(info["size"])
    start = args.offset if args.offset >= 0 else max(0, size + args.offset)
    start = min(start, size)
    end = size if args.length is None else min(size, start + args.length)
    stdout = sys.stdout.buffer
    copy_range(fs, url, size, start, end, stdout.write)
    stdout.flush()
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``cat`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "cat",
        run,
        "write a file's bytes to stdout",
        "Write a file, or a byte range of it, to stdout (binary-safe), read "
        "through the worker that owns it.",
        "  alluxiofs cat s3://bucket/notes.txt\n"
        "  alluxiofs cat /data/big.bin --offset 1048576 --length 4096 | xxd | head\n"
        "  alluxiofs cat /data/big.bin --offset -1024 > tail.bin   # the last KiB\n",
    )
    p.add_argument("path", help="a file")
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        metavar="N",
        help="first byte (default 0; negative counts from the end)",
    )
    p.add_argument(
        "--length",
        type=nonnegative,
        default=None,
        metavar="N",
        help="bytes to write (default: to the end of the file)",
    )
    add_cluster_args(p)
