"""Fallback to the under-storage filesystem when Alluxio cannot serve.

Authoritative answers from Alluxio (not found, already exists, bad argument)
reach the user as they are; Alluxio-side failures (no workers, unreachable or
failing workers, etcd down, a worker refusing a path) are logged once per kind
at WARNING, counted, and the same operation runs on the under storage.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import threading
from collections import Counter
from typing import Any, Awaitable, Callable, Dict, Optional, Set, Tuple, TypeVar

logger = logging.getLogger("alluxiofs")

T = TypeVar("T")

#: Answers from Alluxio that the under storage would give too: never retried there.
AUTHORITATIVE = (
    FileNotFoundError,
    FileExistsError,
    ValueError,
    IsADirectoryError,
    NotADirectoryError,
)

#: ``OSError`` numbers that are such answers too (a non-empty directory
#: removed without ``recursive``).
AUTHORITATIVE_ERRNOS = frozenset({errno.ENOTEMPTY})


class Fallback:
    """Runs Alluxio operations with the under storage as the second choice."""

    def __init__(self, ufs: Callable[[], Optional[Any]]) -> None:
        self._ufs = ufs
        self.counts: Counter[str] = Counter()
        self._warned: Set[Tuple[str, str]] = set()
        self._pid = os.getpid()
        self._lock_obj = threading.Lock()

    @property
    def _lock(self) -> threading.Lock:
        # A lock held by another thread at fork time stays held in the child:
        # a forked child starts with a fresh one.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock_obj = threading.Lock()
        return self._lock_obj

    def run(self, op: str, alluxio: Callable[[], T], ufs: Callable[[], T]) -> T:
        """``alluxio()``, or ``ufs()`` if it fails on the Alluxio side."""
        try:
            return alluxio()
        except (OSError, TimeoutError) as e:
            self._decide(op, e)
        return ufs()

    async def run_async(
        self, op: str, alluxio: Callable[[], Awaitable[T]], ufs: Callable[[], T]
    ) -> T:
        """:meth:`run` for an awaitable: ``await alluxio()``, or ``ufs()`` on
        a thread of the loop's default executor (the under-storage
        filesystem's API is synchronous) if it fails on the Alluxio side."""
        try:
            return await alluxio()
        except (OSError, TimeoutError) as e:
            self._decide(op, e)
        return await asyncio.get_running_loop().run_in_executor(None, ufs)

    def _decide(self, op: str, e: OSError) -> None:
        """Re-raises ``e`` (being handled) unless the under storage should
        answer instead; then counts and logs the fallback."""
        if isinstance(e, AUTHORITATIVE) or e.errno in AUTHORITATIVE_ERRNOS or self._ufs() is None:
            raise e
        self.note(op, e)

    def note(self, op: str, e: BaseException) -> None:
        """Counts a fallback and logs its kind once."""
        kind = type(e).__name__
        with self._lock:
            self.counts["fallbacks"] += 1
            self.counts[f"fallback_{op}"] += 1
            first = (op, kind) not in self._warned
            self._warned.add((op, kind))
        if first:
            logger.warning(
                "alluxiofs: %s failed on Alluxio (%s: %s); using the under storage "
                "(logged once per operation and kind)",
                op,
                kind,
                e,
            )

    def add_bytes(self, n: int) -> None:
        """Counts bytes served by the under storage."""
        with self._lock:
            self.counts["bytes_from_ufs"] += n

    def snapshot(self) -> Dict[str, int]:
        """The counters."""
        with self._lock:
            return dict(self.counts)
