"""``AsyncAlluxioFileSystem``: the async API of ``alluxiofs``.

``fsspec.filesystem("alluxiofs", asynchronous=True)`` (or
``AlluxioFileSystem(asynchronous=True)``) gives this class. Its coroutines
(``_cat_file``, ``_cat_ranges``, ``_cat``, ``_info``, ``_ls``, ``_find``,
``_exists``, ``_pipe_file``, ``_put_file``, ``_get_file``, ``_rm``, ...,
and ``open_async``) await the Rust core's futures directly: each request runs
on the process's Rust runtime and resolves an asyncio future on the caller's
loop, with no fsspec I/O thread in between. Its synchronous methods are
``AlluxioFileSystem``'s and keep working, so one instance serves both.
Fork-safe as the sync API is: a child process gets its own runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, Dict, List, Optional, Union

from fsspec.asyn import AbstractAsyncStreamedFile, AsyncFileSystem

from alluxiofs.file import DEFAULT_BLOCK_SIZE
from alluxiofs.filesystem import MAX_GAP, AlluxioFileSystem
from alluxiofs.ranges import RangePlan, by_path

logger = logging.getLogger(__name__)

#: Bytes per read of ``_get_file`` (memory per download).
GET_PIECE = 16 << 20


class AsyncAlluxioFileSystem(AlluxioFileSystem, AsyncFileSystem):  # type: ignore[misc]
    """``AlluxioFileSystem`` with fsspec's async API (``async_impl`` True).

    Parameters are :class:`~alluxiofs.AlluxioFileSystem`'s, plus fsspec's
    ``asynchronous`` (default True here), ``loop`` (kept, not needed: every
    coroutine runs on the loop that awaits it) and ``batch_size`` (how many
    coroutines fsspec's generic bulk methods run at once).
    """

    # Our sync methods are native: fsspec must not replace them with
    # wrappers that run the coroutines on its I/O thread.
    mirror_sync_methods = False

    def __init__(
        self,
        *args: Any,
        asynchronous: bool = True,
        loop: Any = None,
        batch_size: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        # AsyncFileSystem.__init__ is not run: it would start fsspec's I/O
        # thread for asynchronous=False, which nothing here uses.
        self.asynchronous = asynchronous
        self._loop = loop
        self._pid = os.getpid()
        self.batch_size = batch_size
        AlluxioFileSystem.__init__(self, *args, **kwargs)

    @property
    def loop(self) -> Any:
        """The loop given at construction, if any (not needed by this class)."""
        return self._loop

    # ── reads ──

    async def _cat_file(
        self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any
    ) -> bytes:
        url = self.ufs_path(path)
        if self._prefetches:
            self._reading(url)
        s = start or 0
        data: bytes = await self._fallback.run_async(
            "read",
            lambda: self.client._core.read_async(url, s, end, None),
            lambda: self._ufs_cat(url, s, end),
        )
        return data

    async def _read_all(self, reads: List[Any]) -> List[Any]:
        """``(path, start, end)`` each → ``bytes`` or its exception, all at once."""
        out: List[Any] = await asyncio.gather(
            *(self._cat_file(p, s, e) for p, s, e in reads), return_exceptions=True
        )
        return out

    async def _cat_ranges(
        self,
        paths: List[str],
        starts: Union[int, List[int]],
        ends: Union[int, List[int], None],
        max_gap: Optional[int] = None,
        batch_size: Optional[int] = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> List[Any]:
        plan = RangePlan(paths, starts, ends, MAX_GAP if max_gap is None else max_gap)
        return plan.results(await self._read_all(plan.reads), on_error)

    async def _cat(
        self,
        path: Union[str, List[str]],
        recursive: bool = False,
        on_error: str = "raise",
        batch_size: Optional[int] = None,
        **kwargs: Any,
    ) -> Union[bytes, Dict[str, Any]]:
        if recursive:
            found = await asyncio.gather(
                *(self._find(p) for p in ([path] if isinstance(path, str) else path))
            )
            paths = sorted({f for fs in found for f in fs})
        else:
            paths = await self._expand_path(path)
        if len(paths) == 1 and isinstance(path, str) and not self._is_glob(path) and not recursive:
            return await self._cat_file(paths[0], **kwargs)
        return by_path(paths, await self._read_all([(p, 0, None) for p in paths]), on_error)

    # ── metadata ──

    async def _info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        known = self._cached_info(path)
        if known is not None:
            return known
        url = self.ufs_path(path)
        rust_names = self._rust_names(url)

        async def from_alluxio() -> Dict[str, Any]:
            st: Dict[str, Any] = await self.client._core.info_async(url, rust_names)
            return st if rust_names else self._info_dict(st)

        def from_ufs() -> Dict[str, Any]:
            assert self.fs is not None
            out: Dict[str, Any] = self.fs.info(url, **kwargs)
            return out

        info: Dict[str, Any] = await self._fallback.run_async("info", from_alluxio, from_ufs)
        return info

    async def _ls(
        self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any
    ) -> List[Any]:
        name = self._strip_protocol(path)
        if not refresh:
            cached = self._cached_listing(name)
            if cached is not None:
                return cached if detail else [e["name"] for e in cached]
        url = self.ufs_path(path)
        rust_names = self._rust_names(url)

        async def from_alluxio() -> List[Dict[str, Any]]:
            st: List[Dict[str, Any]] = await self.client._core.list_async(url, rust_names)
            return st if rust_names else [self._info_dict(s) for s in st]

        entries: List[Dict[str, Any]] = await self._fallback.run_async(
            "ls", from_alluxio, lambda: self._ufs_ls(url, **kwargs)
        )
        if not (len(entries) == 1 and entries[0]["name"] == name and entries[0]["type"] == "file"):
            self.dircache[name] = entries
        return entries if detail else [e["name"] for e in entries]

    async def _find(
        self,
        path: str,
        maxdepth: Optional[int] = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Files under ``path`` (and directories with ``withdirs``), sorted;
        each level's directories are listed concurrently."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        name = self._strip_protocol(path)
        out: Dict[str, Dict[str, Any]] = {}
        try:
            top = await self._info(name)
        except FileNotFoundError:
            return {} if detail else []
        if top["type"] != "directory":
            out[name] = top
        else:
            if withdirs and name:
                out[name] = top
            level, depth = [name], 1
            while level and (maxdepth is None or depth <= maxdepth):
                listed = await asyncio.gather(
                    *(self._ls(d, detail=True, **kwargs) for d in level), return_exceptions=True
                )
                deeper: List[str] = []
                for d, entries in zip(level, listed):
                    if isinstance(entries, FileNotFoundError):
                        continue  # gone since its parent was listed
                    if isinstance(entries, BaseException):
                        raise entries
                    for e in entries:
                        if e["type"] == "directory":
                            if e["name"] != d:
                                deeper.append(e["name"])
                                if withdirs:
                                    out[e["name"]] = e
                        else:
                            out[e["name"]] = e
                level, depth = deeper, depth + 1
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        """Whether ``path`` exists. Only "not found" answers ``False``: a
        cluster that cannot answer raises, rather than pass for "absent"."""
        try:
            await self._info(path, **kwargs)
        except FileNotFoundError:
            return False
        return True

    # ── writes and namespace ──

    async def _write_async(self, url: str, data: bytes) -> None:
        def from_ufs() -> None:
            assert self.fs is not None
            self.fs.pipe_file(url, data)

        await self._fallback.run_async(
            "write", lambda: self.client._core.write_async(url, data), from_ufs
        )
        self.invalidate_cache(self._strip_protocol(url))

    async def _pipe_file(
        self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        if mode not in ("overwrite", "create"):
            raise ValueError(f"pipe_file mode {mode!r}: use 'overwrite' or 'create'")
        if mode == "create" and await self._exists(path):
            raise FileExistsError(f"{path} exists (pipe_file mode 'create')")
        if self._intrans:
            self.pipe_file(path, value)  # held back until the transaction ends
            return
        await self._write_async(self.ufs_path(path), bytes(value))

    async def _put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        if os.path.isdir(lpath):
            await self._makedirs(rpath, exist_ok=True)
            return
        if self._intrans:
            self.put_file(lpath, rpath, callback=callback)  # held back until it ends
            return
        loop = asyncio.get_running_loop()
        with open(lpath, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if callback is not None:
                callback.set_size(size)
            if size <= DEFAULT_BLOCK_SIZE:
                await self._write_async(self.ufs_path(rpath), f.read())
                if callback is not None:
                    callback.relative_update(size)
                return
            # A piece at a time (memory stays within a few pieces); the file
            # is written whole when the upload finishes, or not at all.
            url = self.ufs_path(rpath)
            upload = self.client._core.start_upload(url)
            try:
                while True:
                    piece = await loop.run_in_executor(None, f.read, DEFAULT_BLOCK_SIZE)
                    if not piece:
                        break
                    await upload.write_async(piece)
                    if callback is not None:
                        callback.relative_update(len(piece))
                await upload.finish_async()
            except BaseException:
                upload.abort()
                raise
            finally:
                self.invalidate_cache(self._strip_protocol(url))

    async def _get_file(self, rpath: str, lpath: str, callback: Any = None, **kwargs: Any) -> None:
        info = await self._info(rpath)
        if info["type"] == "directory":
            os.makedirs(lpath, exist_ok=True)
            return
        size = int(info["size"])
        if callback is not None:
            callback.set_size(size)
        with open(lpath, "wb") as f:
            for start in range(0, max(size, 1), GET_PIECE):
                data = await self._cat_file(rpath, start, min(start + GET_PIECE, size))
                if len(data) != min(GET_PIECE, size - start):
                    raise OSError(f"{rpath} changed size while it was read")
                f.write(data)
                if callback is not None:
                    callback.relative_update(len(data))

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        url = self.ufs_path(path)
        await self._fallback.run_async(
            "mkdir",
            lambda: self.client._core.mkdir_async(url),
            lambda: self.fs.mkdir(url, create_parents=create_parents) if self.fs else None,
        )
        self.invalidate_cache(path)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        if not exist_ok and await self._exists(path):
            raise FileExistsError(path)
        await self._mkdir(path)

    async def _rm_path(self, path: str, recursive: bool) -> None:
        url = self.ufs_path(path)
        await self._fallback.run_async(
            "rm",
            lambda: self.client._core.remove_async(url, recursive),
            lambda: self.fs.rm(url, recursive=recursive) if self.fs else None,
        )
        self.invalidate_cache(path)

    async def _rm(  # type: ignore[override]
        self,
        path: Union[str, List[str]],
        recursive: bool = False,
        maxdepth: Optional[int] = None,
        batch_size: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        """As ``rm``: plain paths are removed concurrently, one request each;
        globs and ``maxdepth`` are expanded and removed deepest first."""
        paths = [path] if isinstance(path, str) else list(path)
        if maxdepth is None and not any(self._is_glob(str(p)) for p in paths):
            await asyncio.gather(*(self._rm_path(p, recursive) for p in paths))
            return
        for p in reversed(await self._expand_path(paths, recursive=recursive, maxdepth=maxdepth)):
            with contextlib.suppress(FileNotFoundError):
                await self._rm_path(p, False)

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        await self._rm_path(path, False)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src, dst = self.ufs_path(path1), self.ufs_path(path2)
        try:
            await self._fallback.run_async(
                "copy",
                lambda: self.client._core.copy_async(src, dst, False),
                lambda: self.fs.cp_file(src, dst) if self.fs else None,
            )
        except IsADirectoryError:
            await self._makedirs(path2, exist_ok=True)
        self.invalidate_cache()

    # ── files ──

    async def open_async(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """An async file: ``await f.read(n)`` / ``await f.write(b)``, and
        ``async with``. ``"rb"``, ``"wb"`` and ``"xb"``."""
        if "b" not in mode or kwargs.get("compression"):
            raise ValueError(f"mode {mode!r}: open_async needs a binary mode, no compression")
        name = self._strip_protocol(path)
        if mode == "rb":
            info = await self._info(path)
            if info["type"] == "directory":
                raise IsADirectoryError(f"{path} is a directory")
            return AsyncAlluxioFile(self, name, mode="rb", size=int(info["size"]), **kwargs)
        if mode in ("wb", "xb"):
            if mode == "xb" and await self._exists(path):
                raise FileExistsError(f"{path} exists (mode 'xb')")
            return AsyncAlluxioFile(self, name, mode="wb", **kwargs)
        raise ValueError(f"mode {mode!r} is not supported (use 'rb', 'wb' or 'xb')")


class AsyncAlluxioFile(AbstractAsyncStreamedFile):  # type: ignore[misc]
    """A file of :class:`AsyncAlluxioFileSystem` opened with ``open_async``:
    reads fetch exactly the bytes asked for; writes stream to the worker a
    piece (``blocksize``) at a time and the file appears whole on close."""

    fs: AsyncAlluxioFileSystem

    def __init__(self, fs: AsyncAlluxioFileSystem, path: str, mode: str, **kwargs: Any) -> None:
        block = kwargs.pop("block_size", None) or kwargs.pop("blocksize", None)
        super().__init__(fs, path, mode=mode, block_size=block or DEFAULT_BLOCK_SIZE, **kwargs)
        #: The under-storage URL (``path`` is the fsspec name).
        self.url: str = fs.ufs_path(path)
        #: The native upload, once a piece went out.
        self._upload: Any = None

    def __del__(self) -> None:
        # fsspec's __del__ would call the coroutine close() and drop it
        # unawaited; a file being written and never closed is lost, as any
        # unclosed async file is.
        if self.mode != "rb" and not self.closed:
            logger.warning("alluxiofs: %s was never closed; nothing was written", self.path)

    async def _fetch_range(self, start: int, end: int) -> bytes:
        data: bytes = await self.fs._cat_file(self.url, start, end)
        return data

    async def _initiate_upload(self) -> None:
        pass

    async def _upload_chunk(self, final: bool = False) -> bool:
        piece = self.buffer.getvalue()
        if final and self._upload is None:
            await self.fs._write_async(self.url, piece)  # fits one piece: one request
            return True
        if self._upload is None:
            self._upload = self.fs.client._core.start_upload(self.url)
        try:
            if piece:
                await self._upload.write_async(piece)
            if final:
                await self._upload.finish_async()
        except BaseException:
            self._upload.abort()
            raise
        finally:
            if final:
                self.fs.invalidate_cache(self.path)
        return True


__all__ = ["AsyncAlluxioFile", "AsyncAlluxioFileSystem"]
