"""Running a client subcommand: its logging, and its failures reported as
one line on stderr, ``alluxiofs <cmd>: error: <message>``, exit 1 (``-v``
adds the traceback); Ctrl-C exits 130 without a word, a closed pipe 141."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import List, Optional, TextIO

from alluxiofs.cli.errors import error_message, one_line


class _Formatter(logging.Formatter):
    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        msg = one_line(record.getMessage())
        if msg.startswith("alluxiofs: "):
            msg = msg[len("alluxiofs: ") :]
        return f"alluxiofs {self.command}: {record.levelname.lower()}: {msg}"


class _HeldWarnings(logging.Handler):
    """Keeps the warnings of a command until it ends: shown after a success,
    counted in the error line of a failure (which stays one line)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)

    def flush_to(self, stream: TextIO) -> None:
        for line in self.lines:
            stream.write(line + "\n")
        self.lines.clear()
        stream.flush()


def _setup_logging(command: str, verbose: int) -> Optional[_HeldWarnings]:
    """Logging for a command: with ``-v`` everything at once on stderr, else
    only warnings, held (see :class:`_HeldWarnings`)."""
    root = logging.getLogger()
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        held = None
    else:
        handler = held = _HeldWarnings()
        handler.setFormatter(_Formatter(command))
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    return held


def _quiet_stdout() -> None:
    """After a broken pipe: send the rest of stdout nowhere (no error at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run(args: argparse.Namespace, verbose: int = 0) -> int:
    """Runs a client subcommand; returns the exit code."""
    command = str(args.command)
    verbose += int(getattr(args, "sub_verbose", 0) or 0)
    held = _setup_logging(command, verbose)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
        if held is not None:
            held.flush_to(sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except Exception as e:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_stdout()
        except (OSError, ValueError):
            pass
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = error_message(e)
        if held is not None and held.lines:
            n = len(held.lines)
            message += f" ({n} warning{'s' if n > 1 else ''} before it; -v shows them)"
        print(f"alluxiofs {command}: error: {message}", file=sys.stderr)
        return 1
