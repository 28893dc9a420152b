"""``fs.prefetch(paths, budget)``: the next files of an epoch's order kept in
flight into the node's local cache, within a byte budget.

A sampler's permutation or Ray's block order says which files come next; the
prefetcher fetches them in that order (pages missing from the local cache,
once per node, as reads fetch them) while the files fetched and not yet read
stay within ``budget`` bytes. A file counts as read once this filesystem
reads any of it; a file bigger than the whole budget is skipped (it could not
be fetched within it). Stopped by :meth:`Prefetch.cancel` or by leaving a
``with`` block; what was fetched and never read by then is counted in
``fs.stats()["prefetch_unused_bytes"]``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set

if TYPE_CHECKING:
    from alluxiofs.filesystem import AlluxioFileSystem

log = logging.getLogger("alluxiofs")


class Prefetch:
    """A running prefetch (see the module docstring). Thread-safe."""

    def __init__(self, fs: AlluxioFileSystem, urls: List[str], budget: int, threads: int) -> None:
        if budget <= 0:
            raise ValueError(f"prefetch budget must be positive, got {budget}")
        if threads < 1:
            raise ValueError(f"prefetch threads must be at least 1, got {threads}")
        self._fs = fs
        self._urls = urls
        self._budget = budget
        self._cv = threading.Condition()
        self._next = 0
        self._ahead: Dict[str, int] = {}  # fetched, not read yet: url -> size
        self._reserved = 0  # sizes of files being fetched now
        self._read: Set[str] = set()
        self._done = 0
        self._skipped: List[str] = []
        self._errors: List[str] = []
        self._fetched = 0
        self._peak = 0
        self._cancelled = False
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"alluxiofs-prefetch-{i}", daemon=True)
            for i in range(min(threads, max(1, len(urls))))
        ]
        fs._prefetches.append(self)
        for t in self._threads:
            t.start()

    # ── the fetching threads ──

    def _take(self) -> Optional[str]:
        with self._cv:
            while not self._cancelled and self._next < len(self._urls):
                url = self._urls[self._next]
                self._next += 1
                if url not in self._read and url not in self._ahead:
                    return url
            return None

    def _room(self, size: int) -> bool:
        """Waits until ``size`` more bytes fit the budget and reserves them;
        False if cancelled meanwhile."""
        with self._cv:
            while not self._cancelled:
                used = sum(self._ahead.values()) + self._reserved
                if used + size <= self._budget:
                    self._reserved += size
                    self._peak = max(self._peak, used + size)
                    return True
                self._cv.wait(0.5)
            return False

    def _run(self) -> None:
        core = self._fs.client._core
        while True:
            url = self._take()
            if url is None:
                return
            try:
                size, _, _ = core.warm_local(url, 0)  # the size (version) only
                if size > self._budget:
                    with self._cv:
                        self._skipped.append(url)
                    continue
                if not self._room(size):
                    return
                try:
                    size, fetched, done = core.warm_local(url, size)
                finally:
                    with self._cv:
                        self._reserved -= min(self._reserved, size)
                with self._cv:
                    self._fetched += fetched
                    if done and url not in self._read:
                        self._ahead[url] = size
                    self._done += 1
                    self._cv.notify_all()
            except Exception as e:
                log.debug("alluxiofs: prefetch of %s failed: %r", url, e)
                with self._cv:
                    self._errors.append(f"{url}: {e!r}")
                    self._cv.notify_all()

    # ── the reader's side ──

    def _consumed(self, url: str) -> None:
        """Called by the filesystem when it reads ``url``."""
        with self._cv:
            if url in self._read:
                return
            self._read.add(url)
            if self._ahead.pop(url, None) is not None:
                self._cv.notify_all()

    def progress(self) -> Dict[str, Any]:
        """Files in the order, fetched, skipped (bigger than the budget) and
        failed; bytes fetched from workers, bytes fetched and not read yet,
        the most ever ahead (never above ``budget``); whether it is over."""
        with self._cv:
            return {
                "files": len(self._urls),
                "files_fetched": self._done,
                "files_skipped": len(self._skipped),
                "files_failed": len(self._errors),
                "errors": list(self._errors[:10]),
                "bytes_fetched": self._fetched,
                "bytes_ahead": sum(self._ahead.values()),
                "max_bytes_ahead": self._peak,
                "budget": self._budget,
                "finished": self._cancelled or all(not t.is_alive() for t in self._threads),
            }

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Waits until every file has been fetched (or skipped), or the
        prefetch was cancelled; False on timeout."""
        for t in self._threads:
            t.join(timeout)
            if t.is_alive():
                return False
        return True

    def cancel(self) -> None:
        """Stops fetching (a file being fetched finishes first) and counts
        what was fetched and not read as unused. Idempotent."""
        with self._cv:
            self._cancelled = True
            self._cv.notify_all()
        for t in self._threads:
            t.join()
        with self._cv:
            if self._closed:
                return
            self._closed = True
            unused = sum(self._ahead.values())
        self._fs._prefetch_unused += unused
        with contextlib.suppress(ValueError):
            self._fs._prefetches.remove(self)

    def __enter__(self) -> Prefetch:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    def __repr__(self) -> str:
        p = self.progress()
        return (
            f"<Prefetch {p['files_fetched']}/{p['files']} files, "
            f"{p['bytes_ahead']} of {p['budget']} bytes ahead>"
        )
