"""``AlluxioWriteFile``: a file being written (``"wb"``, ``"xb"``).

Pieces of ``block_size`` bytes stream to the owning worker as they fill, as
one chunked request; the worker makes the file visible whole when the last
piece arrived, or never (an abort, a dropped connection, a crash on either
side): memory stays within a few pieces whatever the file's size, and no
reader ever sees a partial file. A file that fits one piece goes in one
request on close. If the first piece cannot be sent (no workers, the owner
unreachable) and an under-storage filesystem is configured, the file is
written there instead, as every other operation falls back; once a piece
went to a worker, a failure is raised (the bytes written so far cannot be
sent again) and nothing is written. In a transaction (``autocommit=False``)
the pieces are spooled (memory up to one piece, then an anonymous
temporary file) and stream out on ``commit()``. An exception inside
``with fs.open(path, "wb") as f:`` discards the write (``abort()``): the old
file, if any, stays as it was.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any, Optional

from fsspec.spec import AbstractBufferedFile

from alluxiofs.fallback import AUTHORITATIVE, AUTHORITATIVE_ERRNOS
from alluxiofs.file import DEFAULT_BLOCK_SIZE

if TYPE_CHECKING:
    from alluxiofs.filesystem import AlluxioFileSystem


class AlluxioWriteFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file being written; see the module docs. ``path`` is the fsspec
    name, ``url`` the under-storage URL written."""

    closed: bool
    buffer: Any

    def __init__(
        self,
        fs: AlluxioFileSystem,
        path: str,
        mode: str = "wb",
        url: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("cache_type", None)
        block_size = kwargs.pop("block_size", None)
        if block_size in (None, "default", 0):
            block_size = DEFAULT_BLOCK_SIZE
        super().__init__(fs, path, mode=mode, block_size=block_size, **kwargs)
        #: The under-storage URL written (``path`` is the fsspec name).
        self.url: str = url or fs.ufs_path(path)
        #: The native upload, once a piece went out.
        self._upload: Any = None
        #: The under-storage file written instead, after a fallback.
        self._ufs_file: Any = None
        #: What a transaction holds back until it commits.
        self._spool: Any = None
        #: Why the write failed after pieces went out: the file is dead.
        self._failed: Optional[BaseException] = None

    def write(self, data: Any) -> int:
        """Buffers ``data``; a full piece goes to the worker. Big writes are
        taken a piece at a time (fsspec would copy all of ``data`` into its
        buffer first)."""
        view = memoryview(data).cast("B")
        if len(view) <= self.blocksize:
            n: int = super().write(view)
            return n
        for i in range(0, len(view), self.blocksize):
            super().write(view[i : i + self.blocksize])
        return len(view)

    def _initiate_upload(self) -> None:
        pass

    def _upload_chunk(self, final: bool = False) -> bool:
        if self._failed is not None:
            raise OSError(f"the write of {self.path} failed ({self._failed}); nothing was written")
        piece = self.buffer.getvalue()
        if not self.autocommit:
            if self._spool is None:
                # Closed by commit() or discard().
                self._spool = tempfile.SpooledTemporaryFile(max_size=self.blocksize)  # noqa: SIM115
            self._spool.write(piece)
            return True
        if final and self._upload is None and self._ufs_file is None:
            self.fs._write(self.url, piece)  # the whole file, one request
            return True
        if piece:
            self._send(piece)
        if final:
            self._finish()
        return True

    def _send(self, piece: bytes) -> None:
        if self._ufs_file is not None:
            self._ufs_file.write(piece)
            return
        first = self._upload is None
        try:
            if first:
                self._upload = self.fs.client._core.start_upload(self.url)
            self._upload.write(piece)
        except (OSError, TimeoutError) as e:
            self._abandon()
            if not first or not self._may_fall_back(e):
                self._failed = e
                raise
            self.fs._fallback.note("write", e)
            self._ufs_file = self.fs.fs.open(self.url, "wb")
            self._ufs_file.write(piece)

    def _may_fall_back(self, e: OSError) -> bool:
        if isinstance(e, AUTHORITATIVE) or e.errno in AUTHORITATIVE_ERRNOS:
            return False
        return self.fs.fs is not None

    def _finish(self) -> None:
        try:
            if self._ufs_file is not None:
                self._ufs_file.close()
            elif self._upload is not None:
                self._upload.finish()
        except BaseException as e:
            self._failed = e
            raise
        finally:
            self._upload = self._ufs_file = None
            self.fs.invalidate_cache(self.path)

    def _abandon(self) -> None:
        """Drops the upload: the worker keeps nothing of it."""
        if self._upload is not None:
            self._upload.abort()
            self._upload = None

    def abort(self) -> None:
        """Closes the file without writing it: the worker discards what it
        got, an existing file keeps its content."""
        if self.closed:
            return
        self._abandon()
        if self._ufs_file is not None:
            # fsspec files commit on close; this one was never meant to be.
            discard = getattr(self._ufs_file, "discard", None)
            if discard is not None:
                discard()
            self._ufs_file = None
        self.discard()
        self.buffer = None
        self.closed = True

    def close(self) -> None:
        """Writes the file (the last piece, then the worker makes it
        visible); after a failed write it only closes (nothing is written)."""
        if self._failed is not None:
            self.abort()
            return
        super().close()

    def __exit__(self, exc_type: Any, *args: Any) -> None:
        # An exception inside ``with fs.open(p, "wb")`` discards the write
        # instead of writing what came before it over the old file.
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def commit(self) -> None:
        """Writes the file held back by a transaction (``autocommit=False``)."""
        spool, self._spool = self._spool, None
        if spool is None:
            return
        with spool:
            size = spool.tell()
            spool.seek(0)
            if size <= self.blocksize:
                self.fs._write(self.url, spool.read())
                return
            while True:
                piece = spool.read(self.blocksize)
                if not piece:
                    break
                self._send(piece)
            self._finish()

    def discard(self) -> None:
        """Drops the file held back by a transaction: nothing is written."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._abandon()
