"""``AlluxioFile``: a file being read, ranges through the owning worker
(writing: ``write_file.py``)."""

from __future__ import annotations

import ctypes
import logging
import threading
from typing import TYPE_CHECKING, Any, Optional

from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from alluxiofs.filesystem import AlluxioFileSystem

#: Default read-ahead block.
DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024

#: Adaptive read-ahead into the local cache: the window after the first
#: sequential read, and its ceiling (it doubles per sequential read).
READAHEAD_MIN = 1 << 20
READAHEAD_MAX = 64 << 20

log = logging.getLogger("alluxiofs")


class ReadAhead:
    """Read-ahead of one open file into the node's local cache: a read that
    starts where the last one ended is sequential, and the next ``window``
    bytes are fetched into the cache in the background (pages another
    process fetched already are skipped); the window doubles on each
    sequential read up to ``READAHEAD_MAX`` and halves on a jump. At most one
    fetch runs per file, so the memory in flight is one window's pages."""

    def __init__(self, fs: AlluxioFileSystem, path: str, size: int) -> None:
        self.fs = fs
        self.path = path
        self.size = size
        self.next = 0  # where a sequential read would start
        self.window = 0
        self.until = 0  # fetched (or being fetched) up to here
        self._busy = threading.Lock()

    def read(self, start: int, end: int) -> None:
        """The reader read ``[start, end)``."""
        if start == self.next and end > start:
            self.window = min(max(self.window * 2, READAHEAD_MIN), READAHEAD_MAX)
        else:
            self.window //= 2
            self.until = end
        self.next = end
        if self.window == 0 or end >= self.size:
            return
        lo, hi = max(self.until, end), min(self.size, end + self.window)
        if hi <= lo or not self._busy.acquire(blocking=False):
            return
        self.until = hi
        threading.Thread(target=self._fetch, args=(lo, hi), daemon=True).start()

    def _fetch(self, lo: int, hi: int) -> None:
        try:
            self.fs.client._core.warm_local(self.path, self.size, lo, hi)
        except Exception as e:  # a read-ahead failure only costs its benefit
            log.debug("alluxiofs: read-ahead of %s [%d, %d) failed: %r", self.path, lo, hi, e)
        finally:
            self._busy.release()


class AlluxioFile(AbstractBufferedFile):  # type: ignore[misc]
    """A read-only file on Alluxio (``mode="rb"``). ``path`` is its fsspec
    name (what ``ls`` lists), ``url`` the under-storage URL Alluxio knows."""

    def __init__(
        self,
        fs: AlluxioFileSystem,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        cache_type: str = "readahead",
        url: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        if block_size == "default" or block_size is None:
            block_size = DEFAULT_BLOCK_SIZE
        super().__init__(
            fs, path, mode=mode, block_size=block_size, cache_type=cache_type, **kwargs
        )
        #: The under-storage URL read (``path`` is the fsspec name).
        self.url: str = url or fs.ufs_path(path)
        #: The cache object made here: one put in its place (fsspec's
        #: ``blockcache::`` swaps in its own) must see every read.
        self._own_cache = self.cache
        #: Adaptive read-ahead, with the local cache on; made by the first
        #: read that stops short of the end (a loader reading a small file
        #: whole never needs one).
        self._ahead: Optional[ReadAhead] = None

    @property
    def _cache_replaced(self) -> bool:
        """Whether someone put a cache object of their own in place of ours."""
        return self.cache is not self._own_cache

    def _read_ahead(self, start: int, end: int) -> None:
        """Tells the read-ahead that ``[start, end)`` was read."""
        if self._ahead is None:
            if end >= self.size or not self.fs.client.local_cache:
                return
            self._ahead = ReadAhead(self.fs, self.url, self.size)
        self._ahead.read(start, end)

    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs._read(self.url, start, end, self.size)
        self._read_ahead(start, start + len(data))
        return data

    def read(self, length: int = -1) -> bytes:
        """Reads ``length`` bytes (all remaining if negative). A read of at
        least a block, or of the rest of the file, goes straight to Alluxio as
        one concurrent read: through the read-ahead cache it would be fetched
        a block too long and then copied twice more (slice and join)."""
        length = -1 if length is None else int(length)
        if length < 0:
            length = self.size - self.loc
        # The rest of the file (a whole small file, as a loader reads it)
        # goes straight too: through the read-ahead cache it would be copied
        # once more when sliced out (30 us of a 512 KiB local-cache hit).
        rest = self.loc + length >= self.size
        if (
            (length < self.blocksize and not rest)
            or self.mode != "rb"
            or self.closed
            or self._cache_replaced
        ):
            data: bytes = super().read(length)
            return data
        return self.read_buffer(length)

    def read_buffer(self, nbytes: int = -1) -> bytes:
        """Reads ``nbytes`` (all remaining if negative) straight from Alluxio,
        bypassing the read-ahead cache: what PyArrow's ``PythonFile`` calls.
        A cache someone put in place of ours (``blockcache::``) is used."""
        if self._cache_replaced:
            data: bytes = super().read(nbytes)
            return data
        end = self.size if nbytes < 0 else min(self.loc + nbytes, self.size)
        if end <= self.loc:
            return b""
        data = self._fetch_range(self.loc, end)
        self.loc += len(data)
        return data

    def readinto(self, b: Any) -> int:
        """Reads into a writable buffer without an intermediate ``bytes``."""
        view = memoryview(b).cast("B")
        n = min(len(view), self.size - self.loc)
        if n <= 0:
            return 0
        if self._cache_replaced:
            data = super().read(n)
            view[: len(data)] = data
            return len(data)
        got: int = self.fs._readinto(self.url, self.loc, view, n, self.size)
        self._read_ahead(self.loc, self.loc + got)
        self.loc += got
        return got


def buffer_address(view: memoryview, n: int) -> tuple[Any, int]:
    """A ctypes array over the first ``n`` bytes of ``view`` and its address;
    keep the array alive while the address is used."""
    arr = (ctypes.c_char * n).from_buffer(view)
    return arr, ctypes.addressof(arr)
