"""File objects: ``AlluxioFile`` reads ranges through the owning worker;
``AlluxioWriteFile`` buffers and writes the whole file on close."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Optional

from fsspec.spec import AbstractBufferedFile

if TYPE_CHECKING:
    from alluxiofs.filesystem import AlluxioFileSystem

#: Default read-ahead block.
DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024


class AlluxioFile(AbstractBufferedFile):  # type: ignore[misc]
    """A read-only file on Alluxio (``mode="rb"``). ``path`` is the full UFS URL."""

    def __init__(
        self,
        fs: AlluxioFileSystem,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        cache_type: str = "readahead",
        **kwargs: Any,
    ) -> None:
        if block_size == "default" or block_size is None:
            block_size = DEFAULT_BLOCK_SIZE
        super().__init__(
            fs, path, mode=mode, block_size=block_size, cache_type=cache_type, **kwargs
        )

    def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = self.fs._read(self.path, start, end, self.size)
        return data

    def read(self, length: int = -1) -> bytes:
        """Reads ``length`` bytes (all remaining if negative). A read of at
        least a block goes straight to Alluxio as one concurrent read: through
        the read-ahead cache it would be fetched a block too long and then
        copied twice more (slice and join)."""
        length = -1 if length is None else int(length)
        if length < 0:
            length = self.size - self.loc
        if length < self.blocksize or self.mode != "rb" or self.closed:
            data: bytes = super().read(length)
            return data
        return self.read_buffer(length)

    def read_buffer(self, nbytes: int = -1) -> bytes:
        """Reads ``nbytes`` (all remaining if negative) straight from Alluxio,
        bypassing the read-ahead cache: what PyArrow's ``PythonFile`` calls."""
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
        got: int = self.fs._readinto(self.path, self.loc, view, n, self.size)
        self.loc += got
        return got


class AlluxioWriteFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file being written (``mode="wb"``): buffered, written whole on close,
    so the under storage never sees a partial file."""

    def __init__(self, fs: AlluxioFileSystem, path: str, mode: str = "wb", **kwargs: Any) -> None:
        kwargs.pop("cache_type", None)
        block_size = kwargs.pop("block_size", None)
        if block_size in (None, "default"):
            block_size = DEFAULT_BLOCK_SIZE
        super().__init__(fs, path, mode=mode, block_size=block_size, **kwargs)

    def _initiate_upload(self) -> None:
        pass

    def _upload_chunk(self, final: bool = False) -> Optional[bool]:
        if not final:
            return False  # keep buffering: one write of the whole file on close
        self.fs._write(self.path, self.buffer.getvalue())
        return True


def buffer_address(view: memoryview, n: int) -> tuple[Any, int]:
    """A ctypes array over the first ``n`` bytes of ``view`` and its address;
    keep the array alive while the address is used."""
    arr = (ctypes.c_char * n).from_buffer(view)
    return arr, ctypes.addressof(arr)
