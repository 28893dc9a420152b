"""``AlluxioClient``: the cluster as a client sees it — workers and placement,
reads and writes through the owning worker, metadata, and distributed load
jobs. Paths are full under-storage URLs (``s3://bucket/key``, ``file:///dir``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from alluxiofs import _core

logger = logging.getLogger(__name__)

#: Keyword arguments the native client understands (see README, "Configuration").
CLIENT_ARGS: Tuple[str, ...] = tuple(_core.CLIENT_ARGS)

#: Load-job states reported by workers (a failed job reads "FAILED (...)").
LOAD_STATES = ("RUNNING", "VERIFYING", "STOPPED", "SUCCEEDED", "FAILED")


class AlluxioClient:
    """Client for an Alluxio cluster found through etcd or a static worker list.

    Parameters
    ----------
    etcd_hosts : str, optional
        Comma-separated etcd endpoints, each ``host`` or ``host:port``.
    worker_hosts : str, optional
        Comma-separated workers, each ``host`` or ``host:port`` (instead of etcd).
    options : dict, optional
        Alluxio properties, e.g. ``{"alluxio.worker.page.store.page.size": "20MB"}``.
    etcd_port : int, default 2379
        Port for ``etcd_hosts`` entries without one.
    worker_http_port : int, default 28080
        Port for ``worker_hosts`` entries without one.
    concurrency : int, default 64
        Requests in flight at once (process-wide for this configuration).
    timeout : float, default 30
        Seconds one worker request may take.
    retries : int, default 3
        Attempts per worker before moving on to the next ring candidate.
    deadline : float, default 120 (and at least 4 x ``timeout``)
        Seconds one operation may take across retries and failover; then
        ``AlluxioTimeoutError`` (or the under-storage fallback).
    hedged_reads : bool, default False
        When a page has not answered after 1.5 x its worker's recent p95
        latency (at least 20 ms), ask the next ring candidate too and use the first
        complete answer; at most 5 % extra requests.
    page_size, hash_node_per_worker, cluster_name, etcd_username, etcd_password,
    etcd_refresh_workers_interval
        The alluxiofs 1.0 keyword forms of the same settings; they win over
        ``options``.

    Exactly one of ``etcd_hosts`` and ``worker_hosts`` is required. Nothing is
    contacted until a method needs the cluster.
    """

    def __init__(
        self,
        etcd_hosts: Optional[str] = None,
        worker_hosts: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - set(CLIENT_ARGS))
        if unknown:
            raise TypeError(
                f"AlluxioClient got unexpected argument(s) {', '.join(unknown)}; "
                f"valid: {', '.join(CLIENT_ARGS)}"
            )
        args: Dict[str, Any] = dict(kwargs)
        args.update(etcd_hosts=etcd_hosts, worker_hosts=worker_hosts)
        if options is not None:
            if not isinstance(options, Mapping):
                raise ValueError(f"invalid options={options!r}: expected a dict")
            args["options"] = dict(options)
        self._args = {k: v for k, v in args.items() if v is not None}
        self._core = _core.Client(**self._args)

    @property
    def page_size(self) -> int:
        """Page size in bytes (must match the workers')."""
        return self._core.page_size

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
        return (_rebuild, (self._args,))

    def __repr__(self) -> str:
        shown = {k: ("***" if "password" in k else v) for k, v in self._args.items()}
        inner = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"AlluxioClient({inner})"


def _rebuild(args: Dict[str, Any]) -> AlluxioClient:
    options = args.get("options")
    rest = {k: v for k, v in args.items() if k != "options"}
    return AlluxioClient(options=options, **rest)
