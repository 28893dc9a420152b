"""``AlluxioFileSystem``: the fsspec filesystem (protocol ``alluxiofs``)."""

from __future__ import annotations

import contextlib
import datetime
import functools
import hashlib
import logging
import os
import re
import threading
import warnings
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

import fsspec
from fsspec import AbstractFileSystem
from fsspec.registry import known_implementations
from fsspec.registry import registry as fsspec_registry
from fsspec.utils import stringify_path

from alluxiofs import _core
from alluxiofs.client import AlluxioClient
from alluxiofs.fallback import AUTHORITATIVE, Fallback
from alluxiofs.file import DEFAULT_BLOCK_SIZE, AlluxioFile, buffer_address
from alluxiofs.prefetch import Prefetch
from alluxiofs.ranges import RangePlan, by_path
from alluxiofs.write_file import AlluxioWriteFile

logger = logging.getLogger(__name__)

# Options fsspec's base class and DirCache consume themselves.
_FSSPEC_ARGS = frozenset(
    {"use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache"}
)
_SCHEME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9+.-]*://")
_OWN_PREFIX = "alluxiofs://"
#: Paths whose URL ``ufs_path`` remembers per instance (it is on every open).
_URL_MEMO = 1 << 16
_LOCAL = ("file", "local")
#: Under-storage filesystems whose names are the URL without ``scheme://``.
_URL_NAMED = ("LocalFileSystem", "S3FileSystem", "GCSFileSystem")
#: Under-storage classes made lazily -> the protocol their ``unstrip_protocol``
#: puts in front of a path without a scheme.
_LAZY_UFS = {"s3fs.S3FileSystem": "s3", "gcsfs.GCSFileSystem": "gs"}


#: Unknown keyword names already warned about (once per process each).
_WARNED_KEYS: Set[str] = set()


def _drop_unknown(owner: str, kwargs: Dict[str, Any]) -> None:
    """Removes keywords that are no client option from ``kwargs``, warning
    once per name: fsspec clients (Hugging Face ``datasets``, zarr) pass
    ``storage_options`` with keys of their own, which must not fail."""
    for name in [k for k in kwargs if not _is_client_key(owner, k)]:
        kwargs.pop(name)
        if name not in _WARNED_KEYS:
            _WARNED_KEYS.add(name)
            warnings.warn(
                f"{owner}: ignoring unknown argument {name!r} "
                f"(valid: {', '.join(_core.CLIENT_ARGS)})",
                UserWarning,
                stacklevel=4,
            )


def _is_client_key(owner: str, name: str) -> bool:
    try:
        _core._check_client_kwargs(owner, [name])
    except TypeError:
        return False
    return True


class _ClassOrInstance:
    """Like ``classmethod``, passing the instance too (``None`` when called
    on the class): fsspec calls ``_strip_protocol`` on both, and only an
    instance knows its under storage's naming."""

    def __init__(self, func: Any) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: Any) -> Any:
        return functools.partial(self.func, owner, obj)


def _strip_name(cls: Any, fs: Optional[AlluxioFileSystem], path: Any) -> Any:
    """The fsspec name of ``path``. On an instance every accepted
    spelling of a file gives the one name ``ls``/``find``/``info``
    return: ``alluxiofs://`` dropped, a URL of the under storage's scheme
    in its own convention (``/abs/path``, ``bucket/key``); a URL of
    another scheme stays a URL. On the class only ``alluxiofs://`` and
    trailing slashes go (fsspec's URL parsing; the instance finishes)."""
    if isinstance(path, (list, tuple)):
        return [cls._strip_protocol(p) if fs is None else fs._strip_protocol(p) for p in path]
    path = stringify_path(path)
    if not isinstance(path, str):
        raise TypeError(f"path {path!r}: expected a str or os.PathLike, not {type(path).__name__}")
    if path.startswith(_OWN_PREFIX):
        path = path[len(_OWN_PREFIX) :]
    if fs is not None:
        return fs._name_of(path)
    local = _local_name(path)
    if local is not None:
        return local
    if len(path) > 1 and not path.endswith("://"):
        path = path.rstrip("/")
    return path


def _local_name(url: str) -> Optional[str]:
    """The name of a ``file://``/``local://`` URL of an absolute POSIX path
    (the path, as LocalFileSystem names it), else ``None``."""
    if os.sep != "/":
        return None
    for prefix in ("file://", "local://"):
        if url.startswith(prefix) and url[len(prefix) : len(prefix) + 1] == "/":
            return url[len(prefix) :].rstrip("/") or "/"
    return None


#: Option names whose values are secrets (``to_dict``/``to_json`` mask them).
_SECRET_WORDS = ("password", "secret", "token", "credential")


def _masked(value: Any) -> Any:
    """``value`` with every secret option's value replaced by ``"***"``."""
    if isinstance(value, dict):
        return {
            k: "***"
            if isinstance(k, str) and any(w in k.lower() for w in _SECRET_WORDS) and v
            else _masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _lazy_scheme(protocol: str) -> Optional[str]:
    """The scheme for scheme-less paths if ``protocol``'s fsspec
    implementation is one of ``_LAZY_UFS`` and not imported yet (then
    ``fsspec.filesystem`` would import it); else ``None``."""
    if protocol in fsspec_registry:
        return None  # imported or registered already: nothing to save
    return _LAZY_UFS.get(known_implementations.get(protocol, {}).get("class", ""))


#: Ranges of one file closer than this are read as one (``cat_ranges``).
MAX_GAP = 1024 * 1024
#: Ends the names of a worker's in-flight (or crash-orphaned) atomic-write temp
#: files, ``.<name>.<pid>.<n>.<nanos>.alluxiofs-tmp`` (src/worker/ufs/local.rs
#: ``TEMP_SUFFIX``): the worker's listings of a local UFS hide them, so the
#: fallback to a local UFS does too.
_WORKER_TEMP_SUFFIX = ".alluxiofs-tmp"


def _worker_temp(name: str) -> bool:
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(".") and base.endswith(_WORKER_TEMP_SUFFIX)


class AlluxioFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec filesystem that reads and writes through an Alluxio cluster.

    Parameters
    ----------
    etcd_hosts, worker_hosts, options, **kwargs
        Cluster settings, as for :class:`~alluxiofs.client.AlluxioClient`.
    target_protocol : str, optional
        Protocol of the under storage (e.g. ``"s3"``): resolves scheme-less
        paths (as Ray passes them) and serves as fallback.
    target_options : dict, optional
        Options for ``fsspec.filesystem(target_protocol, **target_options)``.
    fs : fsspec.AbstractFileSystem, optional
        An under-storage filesystem instance instead of ``target_protocol``.

    Paths may be ``alluxiofs://...``, full under-storage URLs
    (``s3://bucket/key``, ``file:///dir/f``) or scheme-less (``bucket/key``).
    """

    protocol: Union[str, Tuple[str, ...]] = "alluxiofs"
    root_marker = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> AlluxioFileSystem:
        # fsspec's way to ask for the async API (zarr v3 always does):
        # ``fsspec.filesystem("alluxiofs", asynchronous=True)``.
        if cls is AlluxioFileSystem and kwargs.get("asynchronous"):
            from alluxiofs.aio import AsyncAlluxioFileSystem

            cls = AsyncAlluxioFileSystem
        return super().__new__(cls)  # type: ignore[no-any-return]

    def __init__(
        self,
        etcd_hosts: Optional[str] = None,
        worker_hosts: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        target_protocol: Optional[str] = None,
        target_options: Optional[Mapping[str, Any]] = None,
        fs: Optional[AbstractFileSystem] = None,
        **kwargs: Any,
    ) -> None:
        base_args = {k: kwargs.pop(k) for k in list(kwargs) if k in _FSSPEC_ARGS}
        # fsspec's async keywords: asynchronous=True made this an
        # AsyncAlluxioFileSystem already (see __new__), which took them.
        kwargs.pop("asynchronous", None)
        kwargs.pop("loop", None)
        _drop_unknown(type(self).__name__, kwargs)
        # Not super(): in AsyncAlluxioFileSystem that would be
        # AsyncFileSystem.__init__, which starts fsspec's I/O thread.
        AbstractFileSystem.__init__(self, **base_args)
        if fs is not None and target_protocol is not None:
            raise ValueError("give either target_protocol or fs, not both")
        if target_options is not None and target_protocol is None:
            raise ValueError("target_options needs target_protocol")
        self._ufs: Optional[AbstractFileSystem] = fs
        self._ufs_options = dict(target_options or {})
        self._ufs_lock = threading.Lock()
        self._urls: Dict[str, str] = {}
        # Scheme of a known under storage whose module is imported only when
        # the filesystem is first needed (see `fs`).
        self._lazy_scheme: Optional[str] = None
        if fs is not None:
            proto = fs.protocol
            self.target_protocol: Optional[str] = proto if isinstance(proto, str) else proto[0]
        elif target_protocol is not None:
            self.target_protocol = target_protocol
            self._lazy_scheme = _lazy_scheme(target_protocol)
            if self._lazy_scheme is None:
                self._ufs = fsspec.filesystem(target_protocol, **self._ufs_options)
        else:
            self.target_protocol = None
        if self.target_protocol is not None:
            # Ray hands a path to a user filesystem only if the filesystem claims
            # the path's scheme (else it resolves s3:// itself, against AWS).
            self.protocol = ("alluxiofs", self.target_protocol)
        _core._check_client_kwargs(type(self).__name__, kwargs)
        self.client = AlluxioClient(
            etcd_hosts=etcd_hosts, worker_hosts=worker_hosts, options=options, **kwargs
        )
        self._fallback = Fallback(lambda: self.fs)
        #: Prefetches running on this filesystem (told what it reads), and
        #: the process they run in: a forked child has none of their threads
        #: (and maybe a lock one of them held), so it ignores them.
        self._prefetches: List[Prefetch] = []
        self._prefetch_pid = os.getpid()
        #: Bytes prefetched and never read, over finished prefetches.
        self._prefetch_unused = 0

    @property
    def fs(self) -> Optional[AbstractFileSystem]:
        """The under-storage filesystem (``None`` without one). For S3 and
        GCS it is made on first use: importing s3fs takes ~0.4 s, which every
        new process that unpickles this filesystem (each Ray worker and actor)
        would pay without ever falling back."""
        if self._ufs_pending:
            with self._ufs_lock:
                if self._ufs is None:
                    assert self.target_protocol is not None
                    self._ufs = fsspec.filesystem(self.target_protocol, **self._ufs_options)
        return self._ufs

    @property
    def _ufs_pending(self) -> bool:
        """Whether the under-storage filesystem is still to be made."""
        return self._ufs is None and self._lazy_scheme is not None

    # ── paths ──

    _strip_protocol = _ClassOrInstance(_strip_name)

    def _name_of(self, path: str) -> str:
        """The name of ``path`` (given without ``alluxiofs://``)."""
        if _SCHEME.match(path):
            return self._name(path)
        if self.target_protocol in _LOCAL and not path.startswith("/"):
            return self._name(self.ufs_path(path))  # relative: made absolute
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        return path

    def ufs_path(self, path: str) -> str:
        """The full under-storage URL for ``path``: the key Alluxio hashes.

        ``alluxiofs://`` is dropped; URLs with a scheme are kept verbatim;
        scheme-less paths get the under storage's protocol.
        """
        if not isinstance(path, str):
            path = stringify_path(path)
            if not isinstance(path, str):
                raise TypeError(
                    f"path {path!r}: expected a str or os.PathLike, not {type(path).__name__}"
                )
        url = self._urls.get(path)
        if url is None:
            url = self._ufs_url(path)
            # A relative local path depends on the working directory.
            if path.startswith("/") or self.target_protocol not in _LOCAL:
                if len(self._urls) >= _URL_MEMO:
                    self._urls.clear()
                self._urls[path] = url
        return url

    def _ufs_url(self, path: str) -> str:
        if path.startswith(_OWN_PREFIX):
            path = path[len(_OWN_PREFIX) :]
        if _SCHEME.match(path):
            return path
        local_target = self.target_protocol in _LOCAL or self.target_protocol is None
        if path.startswith("/") and local_target and os.sep == "/":
            # What LocalFileSystem.unstrip_protocol makes of an absolute
            # POSIX path, at a tenth of its cost (this is on every open).
            return "file://" + (path.rstrip("/") or "/")
        if self._ufs_pending:
            # What the filesystem's unstrip_protocol returns for a path
            # without a scheme, without importing it.
            full = f"{self._lazy_scheme}://{path}"
        elif self.fs is None:
            raise ValueError(
                f"path {path!r} has no scheme (like s3://) and no target_protocol or fs "
                "is configured to supply one"
            )
        else:
            full = self.fs.unstrip_protocol(path)
        if not full.startswith(("file", "local")):
            # "s3:///bucket/key" (from "/bucket/key") → "s3://bucket/key", as alluxiofs 1.0 did.
            full = full.replace(":///", "://", 1)
        return full

    def _name(self, ufs_url: str) -> str:
        """The fsspec name of an entry: the under storage's own convention
        (``bucket/key``, ``/abs/path``) for a URL of its scheme, else the
        URL itself."""
        scheme = ufs_url.split("://", 1)[0] if "://" in ufs_url else ""
        if self.target_protocol is None or self.target_protocol in _LOCAL:
            # Local files are named by their path with or without a local
            # under storage (as fsspec's URL parsing names them too).
            local = _local_name(ufs_url)
            if local is not None:
                return local
        if self.target_protocol is not None and scheme in self._ufs_schemes():
            fs = self.fs
            if fs is not None:
                name: str = fs._strip_protocol(ufs_url)
                return name
        if len(ufs_url) > 1 and not ufs_url.endswith("://"):
            ufs_url = ufs_url.rstrip("/")
        return ufs_url

    def _ufs_schemes(self) -> Tuple[str, ...]:
        """The URL schemes the under storage's filesystem names itself by."""
        if self._ufs_pending or self._ufs is None:
            tp = self.target_protocol or ""
            return ("file", "local") if tp in _LOCAL else (tp,)
        proto = self._ufs.protocol
        return (proto,) if isinstance(proto, str) else tuple(proto)

    def _rust_names(self, url: str) -> bool:
        """Whether the entries of ``url`` may be named in Rust (the URL
        without its scheme): for the under storage's own scheme only."""
        return self._names_from_url and url.split("://", 1)[0] in self._ufs_schemes()

    @property
    def _names_from_url(self) -> bool:
        """Whether fsspec names are the URL without ``scheme://`` (computed in
        Rust then), as for local paths and ``bucket/key`` stores."""
        if self._ufs_pending:
            return True  # one of _LAZY_UFS's classes, all in _URL_NAMED
        return type(self.fs).__qualname__ in _URL_NAMED and type(self.fs).__module__.startswith(
            ("fsspec.implementations.local", "s3fs.", "gcsfs.")
        )

    def _info_dict(self, st: Dict[str, Any]) -> Dict[str, Any]:
        info = dict(st)
        mtime_ms = st.get("last_modification_time_ms") or 0
        info["name"] = self._name(st["ufs_path"])
        info["size"] = st["size"] if st["type"] == "file" else 0
        info["mtime"] = datetime.datetime.fromtimestamp(mtime_ms / 1000, tz=datetime.timezone.utc)
        info["alluxio_name"] = st["name"]
        return info

    # ── metadata ──

    def ls(self, path: str, detail: bool = True, refresh: bool = False, **kwargs: Any) -> List[Any]:
        """Entries of the directory ``path`` (or ``path`` itself if a file).
        Directory listings are kept in fsspec's listings cache
        (``use_listings_cache``, ``listings_expiry_time``, ``max_paths``, as
        in s3fs); ``refresh=True`` asks again, and this filesystem's own
        writes, removes and moves drop what they change."""
        name = self._strip_protocol(path)
        if not refresh:
            cached = self._cached_listing(name)
            if cached is not None:
                return cached if detail else [e["name"] for e in cached]
        entries = self._ls_uncached(path, **kwargs)
        if not (len(entries) == 1 and entries[0]["name"] == name and entries[0]["type"] == "file"):
            self.dircache[name] = entries
        return entries if detail else [e["name"] for e in entries]

    def _cached_listing(self, name: str) -> Optional[List[Dict[str, Any]]]:
        """``ls`` of ``name`` from the listings cache: its own listing, or
        its entry in its parent's if it is a file; ``None`` if not known.
        ``FileNotFoundError`` if the parent's listing lacks it."""
        out: Optional[List[Dict[str, Any]]] = self._ls_from_cache(name)
        if out is not None and name not in self.dircache and out[0]["type"] != "file":
            return None  # a directory seen in its parent: its children are not known
        return out

    def _ls_uncached(self, path: str, **kwargs: Any) -> List[Dict[str, Any]]:
        url = self.ufs_path(path)

        def from_alluxio() -> List[Dict[str, Any]]:
            if self._rust_names(url):
                return self.client._core.list(url, True)
            return [self._info_dict(s) for s in self.client._core.list(url)]

        entries: List[Dict[str, Any]] = self._fallback.run(
            "ls", from_alluxio, lambda: self._ufs_ls(url, **kwargs)
        )
        return entries

    def _ufs_ls(self, url: str, **kwargs: Any) -> List[Dict[str, Any]]:
        """The under storage's listing of ``url``, without worker temp files."""
        assert self.fs is not None
        out: List[Dict[str, Any]] = self.fs.ls(url, detail=True, **kwargs)
        if self.target_protocol not in ("file", "local"):
            return out
        return [e for e in out if not _worker_temp(str(e["name"]))]

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        """Details of ``path``; from the listings cache when its parent (or
        itself, a directory) was listed and is still cached."""
        known = self._cached_info(path)
        if known is not None:
            return known
        url = self.ufs_path(path)

        def from_ufs() -> Dict[str, Any]:
            assert self.fs is not None
            out: Dict[str, Any] = self.fs.info(url, **kwargs)
            return out

        return self._fallback.run(
            "info",
            lambda: (
                self.client._core.info(url, True)
                if self._rust_names(url)
                else self._info_dict(self.client._core.info(url))
            ),
            from_ufs,
        )

    def _cached_info(self, path: str) -> Optional[Dict[str, Any]]:
        """``info`` of ``path`` from the listings cache, or ``None`` if it
        does not know; ``FileNotFoundError`` if its parent's listing lacks it."""
        name = self._strip_protocol(path)
        parent = self._parent(name)
        listing = self.dircache.get(parent) if parent != name else None
        if listing is not None:
            for e in listing:
                if e["name"] == name:
                    return dict(e)
            raise FileNotFoundError(name)  # its directory, listed, lacks it
        if name in self.dircache:
            return {"name": name, "type": "directory", "size": 0}
        return None

    def modified(self, path: str) -> datetime.datetime:
        mtime: datetime.datetime = self.info(path)["mtime"]
        return mtime

    def created(self, path: str) -> datetime.datetime:
        """When ``path`` was created, as its worker reports it (a local
        under storage's birth time); ``NotImplementedError`` where the under
        storage keeps none (S3), as fsspec's base class raises."""
        info = self.info(path)
        ms = info.get("creation_time_ms")
        if not ms:
            raise NotImplementedError(f"the under storage reports no creation time for {path}")
        return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)

    def sign(self, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """A signed URL from the under storage's filesystem (e.g. an S3
        presigned URL): Alluxio has none of its own."""
        if self.fs is None:
            raise NotImplementedError(
                "sign needs an under-storage filesystem (target_protocol or fs)"
            )
        url: str = self.fs.sign(self.ufs_path(path), expiration=expiration, **kwargs)
        return url

    def to_dict(self, *, include_password: bool = True) -> Dict[str, Any]:
        """fsspec's JSON-able description, with every secret (the etcd
        password, the under storage's ``secret``/``password``/``token``
        options) masked whatever ``include_password`` says: it ends up in
        logs and task graphs. Pickling (Ray, Dask) keeps them."""
        out: Dict[str, Any] = _masked(super().to_dict(include_password=include_password))
        return out

    def ukey(self, path: str) -> str:
        """A key that changes exactly when the file's content may have: its
        content hash, size and modification time (not cache residency or
        access time, which change as the cluster's cache warms)."""
        info = self.info(path)
        parts = [
            str(info.get(k, ""))
            for k in ("content_hash", "ETag", "size", "last_modification_time_ms", "mtime")
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def checksum(self, path: str) -> int:
        """The content identity of ``path`` as an integer (see ``ukey``)."""
        return int(self.ukey(path)[:16], 16)

    def invalidate_cache(self, path: Optional[str] = None) -> None:
        """Drops cached listings: all of them, or those of ``path`` and its
        parents (which list it)."""
        if path is None:
            self.dircache.clear()
            return
        name = self._strip_protocol(path)
        self.dircache.pop(name, None)
        while name:
            parent = self._parent(name)
            self.dircache.pop(parent, None)
            if parent == name:
                break
            name = parent

    # ── reads ──

    def _reading(self, url: str) -> None:
        """Tells running prefetches that ``url`` is being read."""
        if self._prefetch_pid != os.getpid():
            self._prefetches = []
            self._prefetch_pid = os.getpid()
            return
        for p in list(self._prefetches):
            p._consumed(url)

    def prefetch(
        self, paths: Iterable[str], budget: Union[int, str] = "1GB", threads: int = 4
    ) -> Prefetch:
        """Starts fetching ``paths``, in this order, into the node's local
        cache, keeping the files fetched and not yet read by this filesystem
        within ``budget`` bytes (an int or an Alluxio size such as
        ``"512MB"``); returns the running :class:`~alluxiofs.prefetch.Prefetch`
        (``progress()``, ``wait()``, ``cancel()``, a context manager). Needs
        ``local_cache_dir``. Cluster-wide warm-up is ``fs.client.load``."""
        if not self.client.local_cache:
            raise ValueError("prefetch needs the local cache: give local_cache_dir")
        if isinstance(budget, str):
            budget = _core.parse_size("budget", budget)
        urls = [self.ufs_path(p) for p in paths]
        if self._prefetch_pid != os.getpid():
            self._prefetches = []
            self._prefetch_pid = os.getpid()
        return Prefetch(self, urls, int(budget), threads)

    def _read(self, url: str, start: int, end: Optional[int], size: Optional[int] = None) -> bytes:
        if self._prefetches:
            self._reading(url)

        def from_ufs() -> bytes:
            assert self.fs is not None
            data: bytes = self.fs.cat_file(url, start=start, end=end)
            self._fallback.add_bytes(len(data))
            return data

        return self._fallback.run(
            "read", lambda: self.client._core.read(url, start, end, size), from_ufs
        )

    def _readinto(self, url: str, offset: int, view: memoryview, n: int, size: int) -> int:
        if self._prefetches:
            self._reading(url)

        def from_alluxio() -> int:
            arr, address = buffer_address(view, n)
            try:
                got: int = self.client._core.readinto_address(url, offset, address, n, size)
            finally:
                del arr
            return got

        def from_ufs() -> int:
            data = self._ufs_cat(url, offset, offset + n)
            view[: len(data)] = data
            return len(data)

        return self._fallback.run("read", from_alluxio, from_ufs)

    def head(self, path: str, size: int = 1024) -> bytes:
        """The first ``size`` bytes of ``path``."""
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"head size {size!r}: give a number of bytes >= 0")
        return self.cat_file(path, 0, size)

    def tail(self, path: str, size: int = 1024) -> bytes:
        """The last ``size`` bytes of ``path``."""
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"tail size {size!r}: give a number of bytes >= 0")
        return self.cat_file(path, -size, None) if size else b""

    def read_block(
        self,
        fn: str,
        offset: int,
        length: Optional[int],
        delimiter: Optional[bytes] = None,
    ) -> bytes:
        """fsspec's ``read_block``, with ``offset`` and ``length`` checked."""
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"read_block offset {offset!r}: give a byte offset >= 0")
        if length is not None and (not isinstance(length, int) or length < 0):
            raise ValueError(f"read_block length {length!r}: give a number of bytes >= 0 or None")
        out: bytes = super().read_block(fn, offset, length, delimiter)
        return out

    def cat_file(
        self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any
    ) -> bytes:
        return self._read(self.ufs_path(path), start or 0, end)

    def cat(
        self,
        path: Union[str, List[str]],
        recursive: bool = False,
        on_error: str = "raise",
        **kwargs: Any,
    ) -> Union[bytes, Dict[str, Any]]:
        if recursive:
            # Files only: a directory has no bytes to return.
            paths = sorted(
                {f for p in ([path] if isinstance(path, str) else path) for f in self.find(p)}
            )
        else:
            paths = self.expand_path(path)
        if len(paths) == 1 and isinstance(path, str) and not self._is_glob(path) and not recursive:
            return self.cat_file(paths[0], **kwargs)
        return by_path(paths, self._read_many([(p, 0, None) for p in paths]), on_error)

    @staticmethod
    def _is_glob(path: str) -> bool:
        return any(c in path for c in "*?[")

    def _read_many(self, reqs: Iterable[Any]) -> List[Any]:
        """Concurrent reads of ``(path, start, end)``: ``bytes`` or the exception,
        each falling back to the under storage on its own."""
        reqs = list(reqs)
        urls = [self.ufs_path(p) for p, _, _ in reqs]
        if self._prefetches:
            for u in set(urls):
                self._reading(u)
        try:
            results: List[Any] = self.client._core.read_many(
                [(u, s, e, None) for u, (_, s, e) in zip(urls, reqs)]
            )
        except (OSError, TimeoutError) as err:  # the batch as a whole, e.g. no workers
            if self.fs is None:
                raise
            results = [err] * len(reqs)
        for i, r in enumerate(results):
            if self.fs is None or not isinstance(r, (OSError, TimeoutError)):
                continue
            if isinstance(r, AUTHORITATIVE):
                continue
            self._fallback.note("read", r)
            try:
                results[i] = self._ufs_cat(urls[i], reqs[i][1], reqs[i][2])
            except Exception as err:
                results[i] = err
        return results

    def _ufs_cat(self, url: str, start: int, end: Optional[int]) -> bytes:
        assert self.fs is not None
        data: bytes = self.fs.cat_file(url, start=start, end=end)
        self._fallback.add_bytes(len(data))
        return data

    def cat_ranges(
        self,
        paths: List[str],
        starts: Union[int, List[int]],
        ends: Union[int, List[int], None],
        max_gap: Optional[int] = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> List[Any]:
        plan = RangePlan(paths, starts, ends, MAX_GAP if max_gap is None else max_gap)
        return plan.results(self._read_many(plan.reads), on_error)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        autocommit: bool = True,
        cache_options: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> Any:
        if block_size not in ("default", None) and (
            not isinstance(block_size, int) or isinstance(block_size, bool) or block_size < 0
        ):
            # 0 is fsspec's "no read-ahead block".
            raise ValueError(f"block_size {block_size!r}: give a number of bytes (0: none)")
        url = self.ufs_path(path)
        # fsspec's open() passes the name already; a URL given straight to
        # _open is named here.
        name = self._strip_protocol(path) if "://" in str(path) else str(path)
        if mode == "rb":
            size = kwargs.pop("size", None)
            if size is None and self.client.local_cache:
                # The local cache's version: no round trip per open in a warm epoch.
                size = self._fallback.run(
                    "info",
                    lambda: self.client._core.local_size(url),
                    lambda: self._file_size(path),
                )
            if size is None:
                size = self._file_size(path)
            return AlluxioFile(
                self,
                name,
                url=url,
                mode="rb",
                block_size=block_size,
                cache_options=cache_options,
                size=size,
                **kwargs,
            )
        if mode in ("wb", "xb"):
            if mode == "xb" and self.exists(path):
                raise FileExistsError(f"{path} exists (mode 'xb')")
            return AlluxioWriteFile(
                self,
                name,
                url=url,
                mode="wb",
                block_size=block_size,
                autocommit=autocommit,
            )
        raise ValueError(f"mode {mode!r} is not supported (use 'rb', 'wb' or 'xb')")

    def _file_size(self, path: str) -> int:
        """The size of the file ``path``; ``IsADirectoryError`` for a directory."""
        info = self.info(path)
        if info.get("type") == "directory":
            raise IsADirectoryError(f"{path} is a directory")
        size: int = info["size"]
        return size

    # ── writes and namespace ──

    def _write(self, url: str, data: bytes) -> None:
        def from_ufs() -> None:
            assert self.fs is not None
            self.fs.pipe_file(url, data)

        self._fallback.run("write", lambda: self.client._core.write(url, data), from_ufs)
        self.invalidate_cache(self._strip_protocol(url))

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        """Writes ``value`` as the whole of ``path``; ``mode="create"``
        raises ``FileExistsError`` if it exists (checked first, as fsspec
        does: not atomic against another writer)."""
        if mode not in ("overwrite", "create"):
            raise ValueError(f"pipe_file mode {mode!r}: use 'overwrite' or 'create'")
        if mode == "create" and self.exists(path):
            raise FileExistsError(f"{path} exists (pipe_file mode 'create')")
        if self._intrans:
            # Held back by the transaction until it ends.
            with self.open(path, "wb") as f:
                f.write(value)
            return
        url = self.ufs_path(path)
        if len(value) <= DEFAULT_BLOCK_SIZE:
            self._write(url, bytes(value))
            return

        def stream() -> None:
            # A piece at a time: no copy of all of ``value``.
            view = memoryview(value).cast("B")
            upload = self.client._core.start_upload(url)
            try:
                for i in range(0, len(view), DEFAULT_BLOCK_SIZE):
                    upload.write(bytes(view[i : i + DEFAULT_BLOCK_SIZE]))
                upload.finish()
            except BaseException:
                upload.abort()
                raise

        def from_ufs() -> None:
            assert self.fs is not None
            self.fs.pipe_file(url, value)  # all of it is at hand: nothing lost

        try:
            self._fallback.run("write", stream, from_ufs)
        finally:
            self.invalidate_cache(self._strip_protocol(url))

    def put_file(self, lpath: str, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        """Uploads the local file ``lpath`` as ``rpath``; a local directory
        becomes a directory (what ``put(recursive=True)`` hands over)."""
        if os.path.isdir(lpath):
            self.makedirs(rpath, exist_ok=True)
            return
        with open(lpath, "rb") as f, self.open(rpath, "wb") as out:  # aborted on error
            if callback is not None:
                callback.set_size(os.fstat(f.fileno()).st_size)
            # A piece at a time: memory stays within a few pieces.
            while True:
                piece = f.read(out.blocksize)
                if not piece:
                    break
                out.write(piece)
                if callback is not None:
                    callback.relative_update(len(piece))

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        url = self.ufs_path(path)
        self._fallback.run(
            "mkdir",
            lambda: self.client._core.mkdir(url),
            lambda: self.fs.mkdir(url, create_parents=create_parents) if self.fs else None,
        )
        self.invalidate_cache(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        if not exist_ok and self.exists(path):
            raise FileExistsError(path)
        self.mkdir(path)

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        url = self.ufs_path(path)
        if truncate:
            self._write(url, b"")
            return
        self._fallback.run(
            "touch",
            lambda: self.client._core.touch(url),
            lambda: self.fs.touch(url, truncate=False) if self.fs else None,
        )
        self.invalidate_cache(path)

    def rm(
        self, path: Union[str, List[str]], recursive: bool = False, maxdepth: Optional[int] = None
    ) -> None:
        """Removes ``path`` (a name, a list, or globs); directories need
        ``recursive``. Without globs or ``maxdepth`` each path is one request
        (the worker removes a tree); else the matches are expanded here and
        removed deepest first."""
        paths = [path] if isinstance(path, str) else list(path)
        if maxdepth is None and not any(self._is_glob(str(p)) for p in paths):
            for p in paths:
                self._rm_one(self.ufs_path(p), recursive)
                self.invalidate_cache(p)
            return
        for p in reversed(self.expand_path(paths, recursive=recursive, maxdepth=maxdepth)):
            # A directory may have gone with its last file (S3).
            with contextlib.suppress(FileNotFoundError):
                self._rm_one(self.ufs_path(p), False)
            self.invalidate_cache(p)

    def _rm_one(self, url: str, recursive: bool) -> None:
        self._fallback.run(
            "rm",
            lambda: self.client._core.remove(url, recursive),
            lambda: self.fs.rm(url, recursive=recursive) if self.fs else None,
        )

    def rm_file(self, path: str) -> None:
        self.rm(path)

    def _rm(self, path: str) -> None:
        self.rm(path)

    def rmdir(self, path: str) -> None:
        self.rm(path)

    def mv(
        self,
        path1: str,
        path2: str,
        recursive: bool = False,
        maxdepth: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(path1, str) or self._is_glob(path1):
            # Several sources: copied and removed one by one, as fsspec does.
            super().mv(path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)
            return
        if not recursive and self.isdir(path1):
            raise IsADirectoryError(f"{path1} is a directory (use mv(..., recursive=True))")
        src, dst = self.ufs_path(path1), self.ufs_path(path2)
        self._fallback.run(
            "mv",
            lambda: self.client._core.rename(src, dst),
            lambda: self.fs.mv(src, dst, recursive=recursive) if self.fs else None,
        )
        self.invalidate_cache()

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copies the file ``path1`` to ``path2``; a directory becomes an
        (empty) directory, as ``cp(recursive=True)`` expects of each path it
        expanded."""
        src, dst = self.ufs_path(path1), self.ufs_path(path2)
        try:
            self._fallback.run(
                "copy",
                lambda: self.client._core.copy(src, dst, False),
                lambda: self.fs.cp_file(src, dst) if self.fs else None,
            )
        except IsADirectoryError:
            self.makedirs(path2, exist_ok=True)
        self.invalidate_cache()

    # ── cluster ──

    def free(self, path: str) -> None:
        """Drops the cached pages of ``path`` (a file, or every file under a
        directory) from every worker; the under storage is not touched, and
        the next read fetches from it again. Raises if a worker cannot be
        asked (there is no under-storage fallback for a cache operation)."""
        self.client._core.free(self.ufs_path(path))

    def locate(self, path: str, n: int = 1) -> List[Dict[str, Any]]:
        """The ``n`` workers that own ``path``, in ring order, as
        ``{"host", "http_port", "identity"}`` dicts."""
        return self.client.locate(self.ufs_path(path), n)

    def stats(self) -> Dict[str, int]:
        """Bytes served by workers and by the under storage (fallback),
        requests, retries, failovers, errors and fallbacks per operation."""
        out = dict(self.client.stats())
        out["prefetch_unused_bytes"] = self._prefetch_unused
        out.setdefault("bytes_from_ufs", 0)
        out.setdefault("fallbacks", 0)
        out.update(self._fallback.snapshot())
        return out
