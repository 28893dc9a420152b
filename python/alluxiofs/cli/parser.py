"""The argument parser class of ``alluxiofs`` and the shape of a client
subcommand's parser (description, examples, the ``paths`` and ``cluster``
notes)."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any, Callable, NoReturn

from alluxiofs.cli.errors import one_line
from alluxiofs.cli.options import CLUSTER_HELP
from alluxiofs.cli.paths import PATHS_HELP


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line,
    ``<prog>: error: <message>`` (exit 2), when built with ``one_line=True``;
    otherwise argparse's usual usage-and-error output."""

    def __init__(self, *args: Any, one_line: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_line = one_line

    def error(self, message: str) -> NoReturn:
        if not self.one_line:
            super().error(message)
        hint = f" (see {self.prog} --help)"
        self.exit(2, f"{self.prog}: error: {one_line(message)}{hint}\n")


_COMMON_EPILOG = "\n" + PATHS_HELP + "\n" + CLUSTER_HELP


def add_command(
    sub: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
    description: str,
    examples: str,
    paths: bool = True,
) -> argparse.ArgumentParser:
    """Adds the client subcommand ``name`` to the subparsers ``sub``: one-line
    errors, the examples, then the notes on paths (unless ``paths`` is false)
    and on cluster selection."""
    epilog = "examples:\n" + examples
    epilog += _COMMON_EPILOG if paths else "\n" + CLUSTER_HELP
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, 78),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        one_line=True,
    )
    p.set_defaults(func=func, cli_parser=p)
    return p
