"""Argument types for the command-line options (argparse ``type=``)."""

from __future__ import annotations

import argparse
from typing import Tuple


def key_value(text: str) -> Tuple[str, str]:
    """``KEY=VALUE`` as a pair of stripped strings."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def nonnegative(text: str) -> int:
    """An integer >= 0."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative")
    return n


def positive_int(text: str) -> int:
    """An integer >= 1."""
    n = nonnegative(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not at least 1")
    return n


def seconds(text: str) -> float:
    """A positive number of seconds."""
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return s
