"""How the commands report failures: one line, never a traceback."""

from __future__ import annotations


class CliError(Exception):
    """A failure reported as one line, without a traceback."""


def one_line(text: str) -> str:
    """``text`` with its lines joined by single spaces."""
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def error_message(e: BaseException) -> str:
    """The one-line text for an exception."""
    text = one_line(str(e))
    if isinstance(e, (CliError, OSError, ValueError, TimeoutError)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
