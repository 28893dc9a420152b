"""Exceptions raised by alluxiofs.

Generic conditions raise builtins (``FileNotFoundError``, ``PermissionError``,
``TimeoutError``, ``ConnectionError``, ``ValueError``). Alluxio-specific
failures derive from :class:`AlluxioError`, itself an ``OSError``; where they
are also a builtin condition they derive from both (e.g.
:class:`EtcdConnectionError` is a ``ConnectionError``).
"""

from alluxiofs._core import (
    AlluxioError,
    AlluxioTimeoutError,
    EtcdAuthError,
    EtcdConnectionError,
    EtcdError,
    NoWorkersError,
    WorkerConnectionError,
    WorkerError,
)

__all__ = [
    "AlluxioError",
    "AlluxioTimeoutError",
    "EtcdAuthError",
    "EtcdConnectionError",
    "EtcdError",
    "NoWorkersError",
    "WorkerConnectionError",
    "WorkerError",
]
