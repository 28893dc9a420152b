"""Type stubs for the native module ``alluxiofs._core`` (hand-written)."""

from typing import (
    Any,
    Awaitable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Tuple,
    TypedDict,
    Union,
    final,
)

__all__ = [
    "CLIENT_ARGS",
    "AlluxioError",
    "AlluxioTimeoutError",
    "Client",
    "EtcdAuthError",
    "EtcdConnectionError",
    "EtcdError",
    "NoWorkersError",
    "Upload",
    "WorkerConnectionError",
    "WorkerError",
    "__version__",
    "_after_fork",
    "_check_client_kwargs",
    "_trim",
    "client_options",
    "local_cache_namespaces",
    "parse_size",
    "run_worker",
    "worker_settings",
]
__version__: str
#: Keyword arguments ``Client`` takes (the names of ``client_options()``).
CLIENT_ARGS: List[str]

class _ClientOption(TypedDict):
    name: str
    properties: List[str]
    type: str
    default: Optional[str]
    doc: str
    secret: bool
    cli: Optional[str]
    metavar: str

def client_options() -> List[_ClientOption]:
    """The client's configuration keys, in the constructor's order: dicts with
    ``name``, ``properties`` (Alluxio property names; the later wins), ``type``,
    ``default`` (text as documented, or ``None``), ``doc`` (one Markdown line),
    ``secret``, ``cli`` (the CLI flag, or ``None``) and ``metavar``."""

def _check_client_kwargs(owner: str, names: Iterable[str]) -> None:
    """Raises ``TypeError("<owner> got unexpected argument(s) ...; valid: ...")``
    if a name in ``names`` is not a client key."""

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
class Upload:
    """A file being written piece by piece; dropped unfinished, nothing is written."""

    def write(self, data: bytes) -> None:
        """Sends the next piece; a failure ends the upload (nothing written)."""
    def finish(self) -> None:
        """Ends the upload: the file is written whole."""
    def write_async(self, data: bytes) -> Awaitable[None]:
        """``write`` as an awaitable."""
    def finish_async(self) -> Awaitable[None]:
        """``finish`` as an awaitable."""
    def abort(self) -> None:
        """Abandons the upload: nothing is written."""

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
        local_cache_dir: Optional[_Scalar] = None,
        local_cache_size: Optional[_Scalar] = None,
        local_cache_metadata_ttl: Optional[_Scalar] = None,
        local_cache_enabled: Union[bool, _Scalar, None] = None,
        local_cache_size_gb: Optional[_Scalar] = None,
    ) -> Client: ...
    @property
    def page_size(self) -> int:
        """Page size in bytes."""
    @property
    def local_cache(self) -> bool:
        """Whether the node-shared local cache is configured."""
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
    def read_async(
        self, path: str, start: int = 0, end: Optional[int] = None, size: Optional[int] = None
    ) -> Awaitable[bytes]:
        """``read`` as an awaitable (call from a coroutine)."""
    def info_async(self, path: str, fsspec: bool = False) -> Awaitable[Dict[str, Any]]:
        """``info`` as an awaitable."""
    def list_async(self, path: str, fsspec: bool = False) -> Awaitable[List[Dict[str, Any]]]:
        """``list`` as an awaitable."""
    def write_async(self, path: str, data: bytes) -> Awaitable[None]:
        """``write`` as an awaitable."""
    def mkdir_async(self, path: str) -> Awaitable[None]:
        """``mkdir`` as an awaitable."""
    def remove_async(self, path: str, recursive: bool = False) -> Awaitable[None]:
        """``remove`` as an awaitable."""
    def copy_async(self, src: str, dst: str, recursive: bool = False) -> Awaitable[None]:
        """``copy`` as an awaitable."""
    def start_upload(self, path: str) -> Upload:
        """Starts a streamed write of ``path`` (written whole when it finishes)."""
    def free(self, path: str) -> int:
        """Drops the cached pages of the file or tree ``path`` from every
        worker; returns how many workers were asked."""
    def load(self, path: str, op: str) -> Dict[str, Any]:
        """A load-job call (``submit``, ``progress`` or ``stop``) on the owner of ``path``."""
    def local_size(self, path: str) -> int:
        """The size of ``path`` as the local cache knows it (its version,
        trusted for ``local_cache_metadata_ttl``)."""
    def warm_local(
        self, path: str, allowance: int, start: int = 0, end: Optional[int] = None
    ) -> Tuple[int, int, bool]:
        """Fetches the pages of ``path`` (those holding ``[start, end)``, all by
        default) missing from the local cache into it, unless the file is
        bigger than ``allowance`` bytes; returns ``(size, bytes fetched, done)``."""
    def stats(self) -> Dict[str, int]:
        """Counters of this configuration in this process."""
    def __getnewargs_ex__(self) -> Tuple[Tuple[()], Dict[str, Any]]: ...
    def _repr_as(self, name: str) -> str:
        """``name(key=value, ...)``: the ``repr`` of a wrapper (``AlluxioClient``),
        secrets masked."""

# The worker's settings (declared in src/worker/settings.rs and described by
# ``worker_settings()``; tests/test_worker_settings.py keeps these in step).
_Text = Optional[_Scalar]

class _WorkerRequired(TypedDict):
    ufs: str
    cache_dir: str

class _WorkerSettings(_WorkerRequired, total=False):
    host: _Text
    advertise_host: _Text
    port: _Text
    cache_size: _Text
    page_size: _Text
    readahead_pages: _Text
    readahead_max_pages: _Text
    metadata_sync_interval: _Text
    etcd_hosts: _Text
    etcd_port: _Text
    worker_hosts: _Text
    cluster_name: _Text
    etcd_username: _Text
    etcd_password: _Text
    lease_ttl: _Text
    oss_strict: Optional[bool]
    allow_page_writes: Optional[bool]
    identity: _Text
    virtual_nodes: _Text
    node_response: Optional[Literal["array", "object"]]
    s3_endpoint: _Text
    s3_region: _Text
    s3_access_key_id: _Text
    s3_secret_access_key: _Text
    s3_port: _Text
    s3_credentials: _Text
    ufs_info_credentials: Optional[bool]

def worker_settings() -> List[Dict[str, Any]]:
    """The worker's settings, in the order of ``alluxiofs worker --help``: one
    dict per setting with ``name``, ``flag``, ``kind`` (``text``, ``flag`` or
    ``choice``), ``choices``, ``required``, ``default``, ``help`` and
    ``local_cluster``."""

def run_worker(settings: _WorkerSettings) -> None:
    """Runs a cache worker in this process until SIGINT/SIGTERM (``alluxiofs
    worker``); ``settings`` maps setting names to values (``None``: the default)."""

def _after_fork() -> None:
    """Forgets the parent's runtime and memberships in a forked child."""

class _CacheNamespace(TypedDict):
    name: str
    about: str
    pages: int
    bytes: int
    writing: int
    writing_bytes: int
    hits: int
    misses: int

def parse_size(label: str, text: str) -> int:
    """An Alluxio size (``512MB``, ``1GB``, ``1048576``) in bytes; ``ValueError``
    naming ``label`` if it is not one."""

def local_cache_namespaces(dir: str, clear: bool = False) -> List[_CacheNamespace]:
    """Every local cache namespace under the cache directory ``dir`` (pages
    and bytes recounted now, lifetime hits and misses); with ``clear``, each
    is emptied and the counts are what was removed."""

def _trim(runtime_threads: bool = True) -> None:
    """Gives the extension allocator's free memory back to the OS: the calling
    thread's heap and, with ``runtime_threads``, every I/O worker thread's
    (if the runtime exists: this never starts it)."""
