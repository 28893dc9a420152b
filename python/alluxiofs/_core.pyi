"""Type stubs for the native module ``alluxiofs._core`` (hand-written)."""

from typing import Any, Dict, List, Mapping, Optional, Tuple, Union, final

__all__ = [
    "CLIENT_ARGS",
    "AlluxioError",
    "AlluxioTimeoutError",
    "Client",
    "EtcdAuthError",
    "EtcdConnectionError",
    "EtcdError",
    "NoWorkersError",
    "WorkerConnectionError",
    "WorkerError",
    "__version__",
    "_after_fork",
    "_trim",
    "run_worker",
]
__version__: str
#: Keyword arguments ``Client`` takes.
CLIENT_ARGS: List[str]

_Scalar = Union[str, int, float]

class AlluxioError(OSError):
    """Base class of Alluxio-specific failures (an OSError)."""

class NoWorkersError(AlluxioError):
    """Membership is known but no Alluxio worker is registered."""

class EtcdError(AlluxioError):
    """Worker discovery through etcd failed."""

class EtcdConnectionError(EtcdError, ConnectionError):
    """etcd could not be reached (also a ConnectionError)."""

class EtcdAuthError(EtcdError, PermissionError):
    """etcd rejected the credentials (also a PermissionError)."""

class WorkerError(AlluxioError):
    """A worker answered with an error status or a malformed response (after retries)."""

    status: Optional[int]
    #: What failed: "status", "short_body", "long_body" or "bad_body".
    kind: str

class WorkerConnectionError(AlluxioError, ConnectionError):
    """A worker could not be reached (also a ConnectionError)."""

    #: "refused", "connect_failed", "closed_before_answer",
    #: "closed_mid_answer" or "bad_http".
    kind: str

class AlluxioTimeoutError(AlluxioError, TimeoutError):
    """An Alluxio operation timed out (also a TimeoutError)."""

    #: "connect_timeout", "answer_timeout", "deadline", or None when no
    #: worker request timed out (e.g. the first membership listing).
    kind: Optional[str]

@final
class Client:
    """The native client. Picklable: it is rebuilt from its arguments."""

    def __new__(
        cls,
        *,
        etcd_hosts: Optional[_Scalar] = None,
        etcd_port: Optional[_Scalar] = None,
        worker_hosts: Optional[_Scalar] = None,
        worker_http_port: Optional[_Scalar] = None,
        options: Optional[Mapping[str, Any]] = None,
        page_size: Optional[_Scalar] = None,
        hash_node_per_worker: Optional[_Scalar] = None,
        cluster_name: Optional[_Scalar] = None,
        etcd_username: Optional[_Scalar] = None,
        etcd_password: Optional[_Scalar] = None,
        etcd_refresh_workers_interval: Optional[_Scalar] = None,
        concurrency: Optional[_Scalar] = None,
        timeout: Optional[_Scalar] = None,
        retries: Optional[_Scalar] = None,
        deadline: Optional[_Scalar] = None,
        hedged_reads: Union[bool, _Scalar, None] = None,
    ) -> Client: ...
    @property
    def page_size(self) -> int:
        """Page size in bytes."""
    @property
    def virtual_nodes(self) -> int:
        """Virtual nodes per worker on the ring."""
    @property
    def cluster_name(self) -> str:
        """The Alluxio cluster name (etcd prefix)."""
    def workers(self) -> List[Dict[str, Any]]:
        """Current workers: ``[{"host", "http_port", "identity"}]``."""
    def shares(self) -> List[float]:
        """Fraction of the hash space each current worker owns, in ``workers()`` order."""
    def locate(self, key: str, n: int = 1) -> List[Dict[str, Any]]:
        """The ``n`` workers owning ``key`` (a full UFS path, used verbatim), in ring order."""
    def info(self, path: str, fsspec: bool = False) -> Dict[str, Any]:
        """Status of ``path`` from its worker (``fsspec=True``: plus the fsspec
        ``name`` (the URL without ``scheme://``), ``alluxio_name``, ``size`` and
        ``mtime``, a UTC ``datetime``)."""
    def list(self, path: str, fsspec: bool = False) -> List[Dict[str, Any]]:
        """Entries of the directory ``path`` (or the file itself); ``fsspec`` as for ``info``."""
    def read(
        self, path: str, start: int = 0, end: Optional[int] = None, size: Optional[int] = None
    ) -> bytes:
        """Bytes ``[start, end)`` of ``path`` (negative values count from the end)."""
    def readinto_address(
        self, path: str, offset: int, address: int, length: int, size: Optional[int] = None
    ) -> int:
        """Reads from ``offset`` into ``length`` bytes at ``address``; returns the count."""
    def read_many(
        self, requests: List[Tuple[str, int, Optional[int], Optional[int]]]
    ) -> List[Union[bytes, BaseException]]:
        """Many reads concurrently: ``bytes`` or the exception each raised."""
    def write(self, path: str, data: bytes) -> None:
        """Creates or replaces the file ``path`` with ``data``."""
    def mkdir(self, path: str) -> None:
        """Creates a directory with its parents."""
    def touch(self, path: str) -> None:
        """Creates an empty file if none exists."""
    def remove(self, path: str, recursive: bool = False) -> None:
        """Removes a file, or a directory tree with ``recursive``."""
    def rename(self, src: str, dst: str) -> None:
        """Renames ``src`` to ``dst``."""
    def copy(self, src: str, dst: str, recursive: bool = False) -> None:
        """Copies ``src`` to ``dst``."""
    def load(self, path: str, op: str) -> Dict[str, Any]:
        """A load-job call (``submit``, ``progress`` or ``stop``) on the owner of ``path``."""
    def stats(self) -> Dict[str, int]:
        """Counters of this configuration in this process."""
    def __getnewargs_ex__(self) -> Tuple[Tuple[()], Dict[str, Any]]: ...

def run_worker(
    *,
    ufs: str,
    cache_dir: str,
    host: Optional[str] = None,
    advertise_host: Optional[str] = None,
    port: Optional[str] = None,
    cache_size: Optional[str] = None,
    page_size: Optional[str] = None,
    etcd_hosts: Optional[str] = None,
    etcd_port: Optional[str] = None,
    worker_hosts: Optional[str] = None,
    cluster_name: Optional[str] = None,
    etcd_username: Optional[str] = None,
    etcd_password: Optional[str] = None,
    lease_ttl: Optional[str] = None,
    oss_strict: bool = False,
    identity: Optional[str] = None,
    s3_endpoint: Optional[str] = None,
    s3_region: Optional[str] = None,
    s3_access_key_id: Optional[str] = None,
    s3_secret_access_key: Optional[str] = None,
    virtual_nodes: Optional[str] = None,
    node_response: Optional[str] = None,
    readahead_pages: Optional[str] = None,
    readahead_max_pages: Optional[str] = None,
    metadata_sync_interval: Optional[str] = None,
) -> None:
    """Runs a cache worker in this process until SIGINT/SIGTERM (``alluxiofs worker``)."""

def _after_fork() -> None:
    """Forgets the parent's runtime and memberships in a forked child."""

def _trim(runtime_threads: bool = True) -> None:
    """Gives the extension allocator's free memory back to the OS: the calling
    thread's heap and, with ``runtime_threads``, every I/O worker thread's
    (if the runtime exists: this never starts it)."""
