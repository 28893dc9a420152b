"""``AlluxioFileSystem``: the fsspec filesystem (protocol ``alluxiofs``)."""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List, Mapping, Optional

import fsspec
from fsspec import AbstractFileSystem

from alluxiofs.client import CLIENT_ARGS, AlluxioClient

logger = logging.getLogger(__name__)

# Options fsspec's base class and DirCache consume themselves.
_FSSPEC_ARGS = frozenset(
    {"use_listings_cache", "listings_expiry_time", "max_paths", "skip_instance_cache"}
)
_SCHEME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9+.-]*://")
_OWN_PREFIX = "alluxiofs://"


class AlluxioFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """fsspec filesystem that reads through an Alluxio cluster.

    Parameters
    ----------
    etcd_hosts, worker_hosts, options, **kwargs
        Cluster settings, as for :class:`~alluxiofs.client.AlluxioClient`.
    target_protocol : str, optional
        Protocol of the under storage (e.g. ``"s3"``); used to resolve
        scheme-less paths and for fallback.
    target_options : dict, optional
        Options for ``fsspec.filesystem(target_protocol, **target_options)``.
    fs : fsspec.AbstractFileSystem, optional
        An under-storage filesystem instance instead of ``target_protocol``.
    """

    protocol = "alluxiofs"
    root_marker = ""

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
        super().__init__(**base_args)
        if fs is not None and target_protocol is not None:
            raise ValueError("give either target_protocol or fs, not both")
        if target_options is not None and target_protocol is None:
            raise ValueError("target_options needs target_protocol")
        self.fs: Optional[AbstractFileSystem]
        if fs is not None:
            self.fs = fs
            proto = fs.protocol
            self.target_protocol: Optional[str] = proto if isinstance(proto, str) else proto[0]
        elif target_protocol is not None:
            self.fs = fsspec.filesystem(target_protocol, **dict(target_options or {}))
            self.target_protocol = target_protocol
        else:
            self.fs = None
            self.target_protocol = None
        client_args = {k: v for k, v in kwargs.items() if k in CLIENT_ARGS}
        unknown = sorted(set(kwargs) - set(client_args))
        if unknown:
            raise TypeError(f"AlluxioFileSystem got unexpected argument(s) {', '.join(unknown)}")
        self.client = AlluxioClient(
            etcd_hosts=etcd_hosts, worker_hosts=worker_hosts, options=options, **client_args
        )

    def ufs_path(self, path: str) -> str:
        """The full under-storage URL for ``path``: the key Alluxio hashes.

        ``alluxiofs://`` is dropped; URLs with a scheme are kept verbatim;
        scheme-less paths (as Ray passes them) get the under storage's protocol.
        """
        if path.startswith(_OWN_PREFIX):
            path = path[len(_OWN_PREFIX) :]
        if _SCHEME.match(path):
            return path
        if self.fs is None:
            raise ValueError(
                f"path {path!r} has no scheme (like s3://) and no target_protocol or fs "
                "is configured to supply one"
            )
        full: str = self.fs.unstrip_protocol(path)
        if not full.startswith(("file", "local")):
            # "s3:///bucket/key" (from "/bucket/key") → "s3://bucket/key", as alluxiofs 1.0 did.
            full = full.replace(":///", "://", 1)
        return full

    def locate(self, path: str, n: int = 1) -> List[Dict[str, Any]]:
        """The ``n`` workers that own ``path``, in ring order, as
        ``{"host", "http_port", "identity"}`` dicts."""
        return self.client.locate(self.ufs_path(path), n)
