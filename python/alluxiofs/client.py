"""``AlluxioClient``: the cluster as a client sees it — workers and placement,
reads and writes through the owning worker, metadata, and distributed load
jobs. Paths are full under-storage URLs (``s3://bucket/key``, ``file:///dir``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Type

from alluxiofs import _core

logger = logging.getLogger(__name__)

#: The client's configuration keys as declared in Rust (``src/config/keys.rs``):
#: name, Alluxio properties, type, default, doc line, secret, CLI flag, metavar.
CLIENT_OPTIONS: Tuple[_core._ClientOption, ...] = tuple(_core.client_options())
#: Keyword arguments the native client understands (see README, "Configuration").
CLIENT_ARGS: Tuple[str, ...] = tuple(o["name"] for o in CLIENT_OPTIONS)

#: Load-job states reported by workers (a failed job reads "FAILED (...)").
LOAD_STATES = ("RUNNING", "VERIFYING", "STOPPED", "SUCCEEDED", "FAILED")


class AlluxioClient:
    """Client for an Alluxio cluster found through etcd or a static worker list.

    Exactly one of ``etcd_hosts`` and ``worker_hosts`` is required. Nothing is
    contacted until a method needs the cluster. Keyword arguments win over the
    same setting in ``options``. The parameters (listed below) are the keys of
    :func:`alluxiofs._core.client_options`.
    """

    def __init__(
        self,
        etcd_hosts: Optional[str] = None,
        worker_hosts: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        # Checked, read, validated and kept for pickling by the native client.
        _core._check_client_kwargs(type(self).__name__, kwargs)
        self._core = _core.Client(
            **kwargs, etcd_hosts=etcd_hosts, worker_hosts=worker_hosts, options=options
        )

    @property
    def page_size(self) -> int:
        """Page size in bytes (must match the workers')."""
        return self._core.page_size

    @property
    def local_cache(self) -> bool:
        """Whether the node-shared local cache (``local_cache_dir``) is on."""
        return self._core.local_cache

    @property
    def cluster_name(self) -> str:
        """Alluxio cluster name (``alluxio.cluster.name``)."""
        return self._core.cluster_name

    # ── membership ──

    def workers(self) -> List[Dict[str, Any]]:
        """Current workers as ``{"host", "http_port", "identity"}`` dicts.

        With etcd this waits for the first listing; it raises
        :class:`~alluxiofs.NoWorkersError` if none is registered and
        :class:`~alluxiofs.EtcdConnectionError` if etcd cannot be reached.
        """
        return self._core.workers()

    def worker_shares(self) -> List[float]:
        """Fraction of the hash space each worker of :meth:`workers` owns."""
        return self._core.shares()

    def locate(self, path: str, n: int = 1) -> List[Dict[str, Any]]:
        """The ``n`` workers that own ``path`` (a full UFS URL), in ring order."""
        return self._core.locate(path, n)

    # ── metadata and data ──

    def get_file_status(self, path: str) -> Dict[str, Any]:
        """Status of ``path`` from its worker (``type``, ``size``, ``ufs_path``, ...)."""
        return self._core.info(path)

    def listdir(self, path: str) -> List[Dict[str, Any]]:
        """Entries of the directory ``path``, as :meth:`get_file_status` dicts."""
        return self._core.list(path)

    def read(self, path: str) -> bytes:
        """The whole file."""
        return self._core.read(path, 0, None)

    def read_range(self, path: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at end of file); ``length=-1``
        reads to the end."""
        if offset < 0:
            raise ValueError(f"invalid offset={offset}: must be >= 0")
        if length < -1:
            raise ValueError(f"invalid length={length}: must be >= -1")
        if length == 0:
            return b""
        return self._core.read(path, offset, None if length == -1 else offset + length)

    def write(self, path: str, data: bytes) -> None:
        """Creates or replaces ``path`` with ``data`` (through its worker)."""
        self._core.write(path, bytes(data))

    # ── load jobs ──

    def submit_load(self, path: str) -> Dict[str, Any]:
        """Starts a distributed load of ``path`` (file or directory) into the
        cache; returns the worker's answer (``success``, ``jobId``, ``message``)."""
        return self._core.load(path, "submit")

    def load_progress(self, path: str) -> Dict[str, Any]:
        """Progress of the load job of ``path``: the worker's answer
        (``jobState``, ``message`` with Alluxio's report, ``respProperties``)
        plus ``state``, the plain state name."""
        resp = self._core.load(path, "progress")
        job_state = str(resp.get("jobState") or "")
        resp["state"] = next((s for s in LOAD_STATES if s in job_state), job_state)
        return resp

    def stop_load(self, path: str) -> Dict[str, Any]:
        """Stops the running load job of ``path``."""
        return self._core.load(path, "stop")

    def load(
        self,
        path: str,
        timeout: Optional[float] = None,
        progress: Optional[Callable[[Dict[str, Any]], None]] = None,
        poll_interval: float = 1.0,
    ) -> bool:
        """Loads ``path`` and waits: True when the job succeeds, False when it
        fails, is stopped, or ``timeout`` seconds pass. ``progress`` is called
        with every :meth:`load_progress` answer."""
        submitted = self.submit_load(path)
        if not submitted.get("success"):
            logger.warning(
                "alluxiofs: load of %s not submitted: %s", path, submitted.get("message")
            )
            return False
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.load_progress(path)
            if progress is not None:
                progress(status)
            state = status["state"]
            if state == "SUCCEEDED":
                return True
            if state in ("FAILED", "STOPPED"):
                logger.warning("alluxiofs: load of %s ended %s", path, status.get("jobState"))
                return False
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.warning("alluxiofs: load of %s still running after %ss", path, timeout)
                    return False
                time.sleep(min(poll_interval, remaining))
            else:
                time.sleep(poll_interval)

    # ── the rest ──

    def stats(self) -> Dict[str, int]:
        """Counters of this configuration in this process (bytes from workers,
        requests, retries, failovers, errors)."""
        return self._core.stats()

    def __reduce__(self) -> Tuple[Any, ...]:
        # The native client pickles its own arguments.
        return (_from_core, (type(self), self._core))

    def __repr__(self) -> str:
        return self._core._repr_as(type(self).__name__)


def _from_core(cls: Type[AlluxioClient], core: _core.Client) -> AlluxioClient:
    """Unpickles a client around its (unpickled) native client."""
    client = cls.__new__(cls)
    client._core = core
    return client


def _parameters_doc() -> str:
    """The numpydoc ``Parameters`` section for the client's keys."""
    lines = ["", "    Parameters", "    ----------"]
    for opt in CLIENT_OPTIONS:
        default = "optional" if opt["default"] is None else f"default {opt['default']}"
        lines.append(f"    {opt['name']} : {opt['type']}, {default}")
        doc = opt["doc"]
        if opt["properties"]:
            doc += "; also set by " + ", ".join(f"`{p}`" for p in opt["properties"])
        lines.append("        " + doc.replace("`", "``") + ".")
    return "\n".join(lines) + "\n"


AlluxioClient.__doc__ = (AlluxioClient.__doc__ or "") + _parameters_doc()
