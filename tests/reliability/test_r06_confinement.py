"""R6 confinement: nothing outside the worker's under-storage root can be read,
written, moved or removed, over raw HTTP or through the Python client.

Layout (a fresh ``world`` directory per run)::

    world/ufsroot/          the worker's only root (--ufs file://.../ufsroot)
        data.bin, sub/a.txt
        link_file -> world/outside/secret.txt     (symlinks pointing out)
        link_dir  -> world/outside
        link_up   -> world
    world/ufsroot2/secret.txt                     (a sibling sharing the prefix)
    world/outside/secret.txt                      (canaries holding a random token)
    world/parent_canary.txt
    world/cache/                                  (the worker's page store)

Every attack (``..``, ``%2e%2e``, double encoding, ``..%2f``, backslashes,
absolute paths, other hosts and schemes, the symlinks, NUL bytes, a very long
path, unicode look-alikes, parameter pollution) is sent over ``http.client``
(the request target goes out byte for byte) to every endpoint of docs/protocol.md §5
that takes a path: info, files, page GET/POST, range, chunk GET/POST, head,
tail, load, mkdir, touch, rm, mv and copy (both directions); then the same
attempts run through ``AlluxioFileSystem`` (no UFS fallback) and
``AlluxioClient``. Proven: every attempt is refused (4xx, or 200 with
``success: false`` where the protocol answers so; never 2xx with data, never
5xx), no response carries a canary byte, the whole ``world`` tree (canaries,
root, siblings: content, size, mtime, ctime, mode) is unchanged, and the worker
still serves correct bytes afterwards. The same size in CI and ``--long``
(~500 attempts, a few seconds): the attack list is the point, not volume.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple

import pytest

from alluxiofs import AlluxioClient, AlluxioFileSystem
from tests.reliability.figures import figure
from tests.reliability.util_procs import WorkerProcess, diff, snapshot

PAGE = 65536


class World(NamedTuple):
    base: Path  # world/
    root: Path  # world/ufsroot
    outside: Path  # world/outside
    token: bytes  # what every canary holds
    data: bytes  # ufsroot/data.bin
    worker: WorkerProcess


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    base = tmp_path / "world"
    root, outside, sibling = base / "ufsroot", base / "outside", base / "ufsroot2"
    for d in (root / "sub", outside, sibling, base / "cache"):
        d.mkdir(parents=True)
    token = b"CANARY-" + secrets.token_hex(16).encode()
    for f in (outside / "secret.txt", sibling / "secret.txt", base / "parent_canary.txt"):
        f.write_bytes(token + b" " + f.name.encode())
    data = os.urandom(3 * PAGE + 17)
    (root / "data.bin").write_bytes(data)
    (root / "sub" / "a.txt").write_bytes(b"hello\n")
    os.symlink(outside / "secret.txt", root / "link_file")
    os.symlink(outside, root / "link_dir")
    os.symlink(base, root / "link_up")
    # Page writes on, so their file ids meet the confinement checks (off,
    # every page POST is refused before its id is looked at).
    with WorkerProcess(f"file://{root}", str(base / "cache"), extra=["--allow-page-writes"]) as w:
        w.wait_healthy()
        yield World(base, root, outside, token, data, w)


def pid(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def raw(port: int, method: str, target: str, body: bytes = b"") -> Tuple[int, bytes]:
    """One request with ``target`` sent exactly as given (urllib would normalise it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException) as e:
        return 0, repr(e).encode()
    finally:
        conn.close()


class Trick(NamedTuple):
    name: str
    make: Callable[[str], str]  # tail ("secret.txt", "planted") -> wire value
    writes: bool  # also tried on write endpoints (False: decodes to a name inside the root)


def tricks(w: World) -> List[Trick]:
    """The attack values, as raw query text (the worker percent-decodes once)."""
    u, o, r = f"file://{w.root}", str(w.outside), str(w.root)
    return [
        Trick("dotdot", lambda t: f"{u}/../outside/{t}", True),
        Trick("dotdot_deep", lambda t: f"{u}/sub/../../outside/{t}", True),
        Trick("dotdot_slashes", lambda t: f"{u}//..//outside/{t}", True),
        Trick("dot_dotdot", lambda t: f"{u}/./../outside/{t}", True),
        Trick("pct_dotdot", lambda t: f"{u}/%2e%2e/outside/{t}", True),
        Trick("pct_DOTDOT", lambda t: f"{u}/%2E%2E/outside/{t}", True),
        Trick("half_pct", lambda t: f"{u}/.%2e/outside/{t}", True),
        Trick("pct_slash", lambda t: f"{u}/..%2foutside%2f{t}", True),
        Trick("pct_all", lambda t: f"{u}/sub/%2e%2e%2f%2e%2e%2foutside%2f{t}", True),
        Trick("double_enc", lambda t: f"{u}/%252e%252e/outside/{t}", False),
        Trick("double_enc_slash", lambda t: f"{u}/..%252foutside%252f{t}", False),
        Trick("backslash", lambda t: f"{u}/..%5coutside%5c{t}", False),
        Trick("abs_plain", lambda t: f"{o}/{t}", True),
        Trick("abs_file", lambda t: f"file://{o}/{t}", True),
        Trick("abs_localhost", lambda t: f"file://localhost{o}/{t}", True),
        Trick("abs_file_colon", lambda t: f"file:{o}/{t}", True),
        Trick("abs_upper_scheme", lambda t: f"FILE://{o}/{t}", True),
        Trick("other_host", lambda t: f"file://evil.example{o}/{t}", True),
        Trick("encoded_scheme", lambda t: f"file%3A%2F%2F{o}/{t}", True),
        Trick("sibling_prefix", lambda t: f"file://{r}2/{t}", True),
        Trick("etc_passwd", lambda t: "/etc/passwd", False),
        Trick("etc_passwd_url", lambda t: "file:///etc/passwd", False),
        Trick("s3_scheme", lambda t: f"s3://bucket/{t}", True),
        Trick("http_scheme", lambda t: f"http://127.0.0.1:1/{t}", True),
        Trick("symlink_file", lambda t: f"{u}/link_file", True),
        Trick("symlink_dir", lambda t: f"{u}/link_dir/{t}", True),
        Trick("symlink_parent", lambda t: f"{u}/link_up/parent_canary.txt", True),
        Trick("nul_suffix", lambda t: f"file://{o}/{t}%00.txt", True),
        Trick("nul_inside", lambda t: f"{u}/data.bin%00", True),
        Trick("nul_dotdot", lambda t: f"{u}/sub/a.txt%00/../../outside/{t}", True),
        Trick("long", lambda t: f"{u}/" + "a/" * 3000 + "../" * 3001 + f"outside/{t}", True),
        Trick("fullwidth_dots", lambda t: f"{u}/%EF%BC%8E%EF%BC%8E/outside/{t}", False),
        Trick("overlong_utf8", lambda t: f"{u}/%C0%AE%C0%AE/outside/{t}", False),
        Trick("two_dot_leader", lambda t: f"{u}/%E2%80%A5/outside/{t}", False),
        Trick("division_slash", lambda t: f"{u}/..%E2%88%95outside%E2%88%95{t}", False),
        Trick("param_pollution", lambda t: f"file://{o}/{t}&ufsFullPath={u}/x&path={u}/x", True),
        Trick("fragment", lambda t: f"{u}/data.bin%23/../../outside/{t}", True),
    ]


READS = {
    "info": ("GET", "/v1/info?path={v}"),
    "files": ("GET", "/v1/files?path={v}"),
    "page_get": ("GET", "/v1/file/{id}/page/0?ufsFullPath={v}"),
    "range": ("GET", "/v1/range/{id}?ufsFullPath={v}&offset=0&length=4096"),
    "chunk_get": ("GET", "/v1/chunk/{id}?ufsFullPath={v}&chunkSize=65536"),
    "head": ("GET", "/v1/head/{id}?ufsFullPath={v}&numOfBytes=100"),
    "tail": ("GET", "/v1/tail/{id}?ufsFullPath={v}&numOfBytes=100"),
    "load": ("GET", "/v1/load?path={v}&opType=submit&verbose=true"),
}
#: Write endpoints: (method, target, tail of the outside path).
WRITES = {
    "chunk_post": ("POST", "/v1/chunk/{id}?ufsFullPath={v}&chunkSize=65536", "secret.txt"),
    "chunk_post_new": ("POST", "/v1/chunk/{id}?ufsFullPath={v}&chunkSize=65536", "planted"),
    "mkdir": ("POST", "/v1/mkdir/{id}?ufsFullPath={v}", "planted_dir"),
    "touch": ("POST", "/v1/touch/{id}?ufsFullPath={v}", "planted"),
    "rm": ("POST", "/v1/rm/{id}?ufsFullPath={v}&recursive=True", "secret.txt"),
    "mv_out": ("POST", "/v1/mv/{id}?srcPath={root}/data.bin&dstPath={v}", "planted"),
    "mv_in": ("POST", "/v1/mv/{id}?srcPath={v}&dstPath={root}/stolen", "secret.txt"),
    "copy_out": ("POST", "/v1/copy/{id}?srcPath={root}/data.bin&dstPath={v}", "planted"),
    "copy_in": ("POST", "/v1/copy/{id}?srcPath={v}&dstPath={root}/stolen", "secret.txt"),
}
#: Attacks in the URL path itself (the file id and the route).
PATH_ATTACKS = [
    ("page_get_id", "GET", "/v1/file/..%2f..%2f..%2f..%2fetc%2fpasswd/page/0"),
    ("page_get_id", "GET", "/v1/file/%2e%2e/page/0"),
    ("page_get_index", "GET", "/v1/file/{id}/page/..%2f..%2f0"),
    ("page_post_id", "POST", "/v1/file/..%2f..%2f..%2f..%2fplanted/page/0"),
    ("page_post_id", "POST", "/v1/file/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fplanted/page/0"),
    ("page_post_id", "POST", "/v1/file/..%5c..%5c..%5cplanted/page/0"),
    ("page_post_id", "POST", "/v1/file/abc%00def/page/0"),
    ("page_post_id", "POST", "/v1/file/" + "a" * 5000 + "/page/0"),
    ("page_post_index", "POST", "/v1/file/{id}/page/..%2f..%2f..%2fplanted"),
    ("route", "GET", "/v1/../../../../etc/passwd"),
    ("route", "GET", "/..%2f..%2f..%2fetc%2fpasswd"),
    ("route", "GET", "//etc/passwd"),
]


def refused(status: int, body: bytes) -> bool:
    """A 4xx, or the protocol's 200 ``{"success": false}`` (page POST, load)."""
    if 400 <= status < 500:
        return True
    if status == 200:
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        return isinstance(doc, dict) and doc.get("success") is False
    return False


def test_confinement_over_http_and_client(world: World) -> None:
    w = world
    before = snapshot(str(w.base), exclude=(str(w.base / "cache"),))
    port, root_url = w.worker.port, f"file://{w.root}"

    # Control: the harness sees a legitimate read succeed.
    status, body = raw(port, "GET", f"/v1/range/{pid(root_url)}?ufsFullPath={root_url}/data.bin")
    assert (status, body) == (200, w.data)

    per_endpoint: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    failures: List[str] = []
    leaked = 0

    def attempt(endpoint: str, method: str, target: str, body: bytes = b"") -> None:
        nonlocal leaked
        status, data = raw(port, method, target, body)
        per_endpoint[endpoint] += 1
        statuses[f"http_{status}"] += 1
        if w.token in data or b"root:x:0:0" in data:
            leaked += len(data)
        if not refused(status, data):
            failures.append(f"{endpoint} {method} {target[:200]} -> {status} {data[:200]!r}")

    for trick in tricks(w):
        for endpoint, (method, template) in READS.items():
            v = trick.make("secret.txt")
            attempt(endpoint, method, template.format(v=v, id=pid(v)))
        if not trick.writes:
            continue
        for endpoint, (method, template, tail) in WRITES.items():
            v = trick.make(tail)
            target = template.format(v=v, id=pid(v), root=root_url)
            attempt(endpoint, method, target, b"PLANTED" if endpoint.startswith("chunk") else b"")
    for endpoint, method, template in PATH_ATTACKS:
        attempt(endpoint, method, template.format(id=pid(root_url)), b"PLANTED")

    http_attempts = sum(per_endpoint.values())
    client = client_attempts(w)
    per_endpoint.update({f"client_{k}": n for k, n in client.attempts.items()})
    client_failures = client.failures
    leaked += client.leaked

    # The worker is alive and still serves correct bytes; nothing changed.
    assert w.worker.proc.poll() is None, "worker died"
    assert w.worker.healthy()
    status, body = raw(port, "GET", f"/v1/range/{pid(root_url)}?ufsFullPath={root_url}/data.bin")
    assert (status, body) == (200, w.data)
    changes = diff(before, snapshot(str(w.base), exclude=(str(w.base / "cache"),)))
    total = sum(per_endpoint.values())
    bad = len(failures) + len(client_failures)
    figure(
        "R6 confinement",
        attempts=total,
        http_attempts=http_attempts,
        client_attempts=total - http_attempts,
        refused=total - bad,
        not_refused=bad,
        outside_bytes_leaked=leaked,
        files_touched=len(changes),
        tricks=len(tricks(w)),
        **dict(sorted(statuses.items())),
    )
    figure("R6 confinement per endpoint", **dict(sorted(per_endpoint.items())))
    figure("R6 confinement client errors", **dict(sorted(client.errors.items())))
    assert not failures, f"{len(failures)} HTTP attempts not refused:\n" + "\n".join(failures)
    assert not client_failures, "client attempts not refused:\n" + "\n".join(client_failures)
    assert leaked == 0
    assert not changes, "the tree outside the cache changed:\n" + "\n".join(changes)
    assert total >= 20


class ClientResult(NamedTuple):
    attempts: Counter[str]  # per operation
    errors: Counter[str]  # exception type -> count
    failures: List[str]  # attempts that were not refused
    leaked: int  # canary bytes in any answer or message


def client_attempts(w: World) -> ClientResult:
    """The same attacks through the Python API (paths as a user would type them)."""
    fs = AlluxioFileSystem(
        worker_hosts=w.worker.authority,
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
        skip_instance_cache=True,
        retries=1,
    )
    client = AlluxioClient(worker_hosts=w.worker.authority, page_size=str(PAGE), retries=1)
    u, o = f"file://{w.root}", f"file://{w.outside}"
    secret_paths = [
        f"{u}/../outside/secret.txt",
        f"{u}/sub/../../outside/secret.txt",
        f"{u}/%2e%2e/outside/secret.txt",
        f"{o}/secret.txt",
        f"file://localhost{w.outside}/secret.txt",
        f"{u}2/secret.txt",
        f"{u}/link_file",
        f"{u}/link_dir/secret.txt",
        f"{u}/link_up/parent_canary.txt",
        f"{u}/data.bin\x00/../../outside/secret.txt",
        "file:///etc/passwd",
        str(w.outside / "secret.txt"),
    ]
    # "%2e%2e" is a legal name inside the root for a writer (the client escapes
    # the "%"), so it is only tried for reads.
    planted = [p.replace("secret.txt", "planted") for p in secret_paths if "secret" in p]
    planted = [p for p in planted if "%2e" not in p]
    planted.append(f"{u}/link_up/planted")
    dirs = [f"{u}/..", f"{u}/../outside", f"{u}/%2e%2e", o, f"{u}2", f"{u}/link_dir"]
    dirs += [f"{u}/link_up", f"{u}/sub/../..", "file:///etc", "file:///", "/"]
    ops: Dict[str, Tuple[List[str], Callable[[str], Any]]] = {
        "cat_file": (secret_paths, fs.cat_file),
        "open_rb": (secret_paths, lambda p: fs.open(p, "rb").read()),
        "cat_ranges": (secret_paths, lambda p: reraise(fs.cat_ranges([p], [0], [100])[0])),
        "info": (secret_paths, fs.info),
        "ls": (dirs, fs.ls),
        "listdir": (dirs, client.listdir),
        "read": (secret_paths, client.read),
        "read_range": (secret_paths, lambda p: client.read_range(p, 0, 10)),
        "status": (secret_paths, client.get_file_status),
        "load": (secret_paths, client.submit_load),
        "rm": (secret_paths, fs.rm),
        "mv_in": (secret_paths, lambda p: fs.mv(p, f"{u}/stolen")),
        "cp_in": (secret_paths, lambda p: fs.cp_file(p, f"{u}/stolen")),
        "pipe_file": (planted, lambda p: fs.pipe_file(p, b"PLANTED")),
        "open_wb": (planted, lambda p: write_via_file(fs, p)),
        "write": (planted, lambda p: client.write(p, b"PLANTED")),
        "mkdir": (planted, fs.mkdir),
        "touch": (planted, fs.touch),
        "mv_out": (planted, lambda p: fs.mv(f"{u}/data.bin", p)),
        "cp_out": (planted, lambda p: fs.cp_file(f"{u}/data.bin", p)),
    }
    res = ClientResult(Counter(), Counter(), [], 0)
    leaked = 0
    for name, (paths, op) in ops.items():
        for p in paths:
            res.attempts[name] += 1
            try:
                got = op(p)
            except (OSError, ValueError) as e:
                res.errors[type(e).__name__] += 1
                leaked += len(str(e)) if w.token.decode() in str(e) else 0
                continue
            leaked += len(str(got)) if w.token.decode() in str(got) else 0
            if name == "load" and isinstance(got, dict) and got.get("success") is False:
                res.errors["load_success_false"] += 1
                continue
            res.failures.append(f"client {name}({p[:120]!r}) returned {str(got)[:200]}")
    return res._replace(leaked=leaked)


def reraise(got: Any) -> Any:
    """``cat_ranges`` returns a failed range's exception in its place."""
    if isinstance(got, BaseException):
        raise got
    return got


def write_via_file(fs: AlluxioFileSystem, path: str) -> None:
    with fs.open(path, "wb") as f:
        f.write(b"PLANTED")


#: Attacks on the worker's S3 API (path-style `/{bucket}/{key}` below the one
#: root `ufsroot`: its top-level directories are the buckets), sent byte for
#: byte: (name, method, target).
S3_ATTACKS = [
    ("dotdot", "GET", "/sub/../../outside/secret.txt"),
    ("dotdot_bucket", "GET", "/../outside/secret.txt"),
    ("pct_dotdot", "GET", "/sub/%2e%2e/%2e%2e/outside/secret.txt"),
    ("pct_dotdot_bucket", "GET", "/%2e%2e/outside/secret.txt"),
    ("pct_slash", "GET", "/sub/..%2f..%2foutside%2fsecret.txt"),
    ("pct_slash_bucket", "GET", "/..%2foutside/secret.txt"),
    ("double_enc", "GET", "/sub/%252e%252e/%252e%252e/outside/secret.txt"),
    ("backslash", "GET", "/sub/..%5c..%5coutside%5csecret.txt"),
    ("nul", "GET", "/sub/a.txt%00/../../outside/secret.txt"),
    ("empty_segments", "GET", "/sub//..//..//outside/secret.txt"),
    ("no_bucket", "GET", "//etc/passwd"),
    ("abs_in_key", "GET", "/sub//etc/passwd"),
    ("symlink_file", "GET", "/link_file"),
    ("symlink_file_key", "GET", "/sub/../link_file"),
    ("symlink_dir_bucket", "GET", "/link_dir/secret.txt"),
    ("symlink_up_bucket", "GET", "/link_up/parent_canary.txt"),
    ("symlink_up_deep", "GET", "/link_up/outside/secret.txt"),
    ("sibling", "GET", "/..%2fufsroot2/secret.txt"),
    ("fullwidth", "GET", "/sub/%EF%BC%8E%EF%BC%8E/outside/secret.txt"),
    ("overlong", "GET", "/sub/%C0%AE%C0%AE/outside/secret.txt"),
    ("head_symlink", "HEAD", "/link_dir/secret.txt"),
    ("list_symlink_bucket", "GET", "/link_dir?list-type=2"),
    ("list_up_bucket", "GET", "/link_up?list-type=2&prefix=outside/"),
    ("list_prefix_dotdot", "GET", "/sub?list-type=2&prefix=../outside/"),
    ("list_prefix_pct", "GET", "/sub?list-type=2&prefix=%2e%2e%2foutside%2f&delimiter=/"),
    ("list_token_dotdot", "GET", "/sub?list-type=2&continuation-token=2e2e2f6f757473696465"),
    ("put_dotdot", "PUT", "/sub/../../outside/planted"),
    ("put_pct", "PUT", "/sub/..%2f..%2foutside%2fplanted"),
    ("put_symlink_dir", "PUT", "/link_dir/planted"),
    ("put_symlink_file", "PUT", "/sub/../link_file"),
    ("put_symlink_up", "PUT", "/link_up/planted"),
    ("put_mkdir_symlink", "PUT", "/link_dir/planted_dir/"),
    ("delete_symlink_dir", "DELETE", "/link_dir/secret.txt"),
    ("delete_symlink_up", "DELETE", "/link_up/parent_canary.txt"),
    ("delete_dotdot", "DELETE", "/sub/../../outside/secret.txt"),
]


def test_confinement_over_the_s3_api(world: World) -> None:
    """The S3 API refuses every trick (4xx; a DELETE of what it cannot name
    is refused too), leaks no canary byte and changes nothing outside."""
    w = world
    before = snapshot(str(w.base), exclude=(str(w.base / "cache"),))
    port = w.worker.s3_port
    assert raw(port, "GET", "/sub/a.txt") == (200, b"hello\n")  # control
    statuses: Counter[str] = Counter()
    failures: List[str] = []
    leaked = 0
    for name, method, target in S3_ATTACKS:
        status, data = raw(port, method, target, b"PLANTED" if method == "PUT" else b"")
        statuses[f"http_{status}"] += 1
        if w.token in data or b"root:x:0:0" in data:
            leaked += len(data)
        # A listing may answer 200 with keys of its own bucket (a token or
        # prefix is only a position in the key order), never a name from outside.
        outside_names = (b"secret.txt", b"parent_canary", b"planted")
        own_listing = (
            status == 200 and name.startswith("list") and not any(n in data for n in outside_names)
        )
        if not (400 <= status < 500 or own_listing):
            failures.append(f"{name}: {method} {target} -> {status} {data[:200]!r}")
    assert w.worker.proc.poll() is None and w.worker.healthy()
    assert raw(port, "GET", "/sub/a.txt") == (200, b"hello\n")
    changes = diff(before, snapshot(str(w.base), exclude=(str(w.base / "cache"),)))
    figure(
        "R6 confinement S3 API",
        attempts=len(S3_ATTACKS),
        not_refused=len(failures),
        outside_bytes_leaked=leaked,
        files_touched=len(changes),
        **dict(sorted(statuses.items())),
    )
    assert not failures, "\n".join(failures)
    assert leaked == 0
    assert not changes, "the tree outside the cache changed:\n" + "\n".join(changes)
