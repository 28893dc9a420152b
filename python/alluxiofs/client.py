"""``AlluxioClient``: cluster membership, worker placement and (from the
client issue on) reads and distributed load jobs."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from alluxiofs import _core

Scalar = Union[str, int]

#: Keyword arguments the native client understands (see README, "Configuration").
CLIENT_ARGS: Tuple[str, ...] = (
    "etcd_hosts",
    "etcd_port",
    "worker_hosts",
    "worker_http_port",
    "options",
    "page_size",
    "hash_node_per_worker",
    "cluster_name",
    "etcd_username",
    "etcd_password",
    "etcd_refresh_workers_interval",
)


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
