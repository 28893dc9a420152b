"""alluxiofs: an fsspec filesystem for the Alluxio distributed cache.

``AlluxioFileSystem`` (protocol ``alluxiofs``) reads through Alluxio workers
found in etcd (or a static list) with the same consistent-hash ring the Java
servers use; ``AlluxioClient`` drives distributed load jobs.
"""

import os as _os

from alluxiofs import _core
from alluxiofs.aio import AsyncAlluxioFileSystem
from alluxiofs.client import AlluxioClient
from alluxiofs.exceptions import (
    AlluxioError,
    AlluxioTimeoutError,
    EtcdAuthError,
    EtcdConnectionError,
    EtcdError,
    NoWorkersError,
    WorkerConnectionError,
    WorkerError,
)
from alluxiofs.file import AlluxioFile
from alluxiofs.filesystem import AlluxioFileSystem

__version__: str = _core.__version__

__all__ = [
    "AlluxioClient",
    "AlluxioError",
    "AlluxioFile",
    "AlluxioFileSystem",
    "AlluxioTimeoutError",
    "AsyncAlluxioFileSystem",
    "EtcdAuthError",
    "EtcdConnectionError",
    "EtcdError",
    "NoWorkersError",
    "WorkerConnectionError",
    "WorkerError",
    "__version__",
]

# A forked child must not reuse the parent's runtime threads or sockets.
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_core._after_fork)
