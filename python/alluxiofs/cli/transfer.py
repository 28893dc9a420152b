"""Copying a byte range of a file out through Alluxio, chunk by chunk into
one reused buffer (``cat`` and ``get``)."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from alluxiofs.cli.errors import CliError

#: Bytes asked for at once by ``cat`` and ``get`` (rounded to whole pages).
CHUNK = 8 * 1024 * 1024


def _chunk(fs: Any) -> int:
    page = int(fs.client.page_size)
    return max(page, CHUNK // page * page)


def copy_range(
    fs: Any,
    url: str,
    size: int,
    start: int,
    end: int,
    write: Callable[[memoryview], Any],
    stop: Optional[threading.Event] = None,
) -> int:
    """Reads ``[start, end)`` of ``url`` chunk by chunk into ``write``; stops
    with a :class:`CliError` once ``stop`` is set."""
    if end <= start:
        return 0
    chunk = _chunk(fs)
    buf = bytearray(min(chunk, end - start))
    view = memoryview(buf)
    done = 0
    with fs.open(url, "rb", size=size) as f:
        f.seek(start)
        while start + done < end:
            if stop is not None and stop.is_set():
                raise CliError("interrupted")
            n = int(f.readinto(view[: min(len(buf), end - start - done)]))
            if n <= 0:
                raise CliError(f"{url}: ended at byte {start + done}, expected {end}")
            write(view[:n])
            done += n
    return done
