"""The worker's request limits (docs/protocol.md §8 items 21 and 22) against a
real worker process of ``LocalCluster``.

Slow loris: 500 idle TCP connections and 20 that send a request head a byte
a second are held open against the only worker while ``AlluxioFileSystem``
keeps reading. Proven: every read succeeds with its usual latency (compared
with reads just before), new connections are still accepted, each trickling
connection is closed by the worker 10 s after its first byte (the header
timeout), and the idle ones are left open (they are closed only after the
90 s idle timeout; ``--long`` waits for that too, with 2000 idle and 200
trickling connections). About 15 s in CI.

Also: a request head over 64 KiB is answered 431, a page write of more than
one page 413, and page writes are refused (403) without ``allow_page_writes``.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import select
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.reliability.figures import figure

PAGE = 65536
OPTIONS = {"alluxio.worker.page.store.page.size": str(PAGE)}
#: src/worker/connection/mod.rs: HEADER_READ_TIMEOUT, IDLE_TIMEOUT, MAX_HEAD_BYTES.
HEAD_TIMEOUT = 10.0
IDLE_TIMEOUT = 90.0
MAX_HEAD = 64 << 10
FILES = 8
FILE_SIZE = 1 << 20


class Cluster(NamedTuple):
    port: int
    worker_hosts: str
    data: Dict[str, bytes]


def raise_fd_limit(want: int) -> int:
    """Raises the soft descriptor limit towards ``want`` (workers started
    afterwards inherit it); returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def sizes(long_mode: bool) -> Tuple[int, int]:
    """Idle and trickling connections, within the descriptor limit."""
    idle, slow = (2000, 200) if long_mode else (500, 20)
    room = raise_fd_limit(idle + slow + 1024) - 1024
    return min(idle, room - slow), slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, long_mode: bool) -> Iterator[Cluster]:
    sizes(long_mode)  # raises the descriptor limit before the worker starts
    root = tmp_path_factory.mktemp("ufs")
    rnd = random.Random(13)
    data = {}
    for i in range(FILES):
        path = root / f"f{i}.bin"
        path.write_bytes(rnd.randbytes(FILE_SIZE))
        data[f"file://{path}"] = path.read_bytes()
    cache = tmp_path_factory.mktemp("cache")
    with LocalCluster(
        str(root),
        workers=1,
        cache_dir=str(cache),
        page_size=str(PAGE),
        settings={"allow_page_writes": True},
    ) as c:
        yield Cluster(c.ports[0], c.worker_hosts, data)


def new_fs(c: Cluster) -> AlluxioFileSystem:
    return AlluxioFileSystem(worker_hosts=c.worker_hosts, options=OPTIONS, skip_instance_cache=True)


def timed_read(fs: AlluxioFileSystem, c: Cluster, rnd: random.Random) -> float:
    """Reads a random file whole, checks it, returns the seconds taken."""
    url = rnd.choice(list(c.data))
    t = time.monotonic()
    got = fs.cat_file(url)
    elapsed = time.monotonic() - t
    assert got == c.data[url], f"wrong bytes from {url}"
    return elapsed


def connect(port: int) -> socket.socket:
    """A blocking connection to the worker (no timeout: :func:`is_open`
    must not wait)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(None)
    return s


def is_open(s: socket.socket) -> bool:
    """Whether the worker has not closed ``s`` (nothing to read, no EOF)."""
    try:
        return s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


class SlowLoris:
    """``n`` connections sending one request head a byte a second; records
    when the worker closes each, counted from its first byte."""

    def __init__(self, port: int, n: int) -> None:
        self.socks: List[socket.socket] = []
        self.first: List[float] = []
        self.closed_after: Dict[int, float] = {}
        for _ in range(n):
            s = connect(port)
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: w\r\nX-Slow: ")
            self.first.append(time.monotonic())
            self.socks.append(s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _closed(self, i: int) -> None:
        self.closed_after.setdefault(i, time.monotonic() - self.first[i])

    def _run(self) -> None:
        next_byte = time.monotonic() + 1
        while not self._stop.is_set() and len(self.closed_after) < len(self.socks):
            live = {s.fileno(): i for i, s in enumerate(self.socks) if i not in self.closed_after}
            poll = select.poll()  # not select(): descriptors may exceed 1024
            for fd in live:
                poll.register(fd, select.POLLIN)
            for fd, _ in poll.poll(50):
                if not is_open(self.socks[live[fd]]):
                    self._closed(live[fd])
            if time.monotonic() >= next_byte:
                next_byte += 1
                for i in live.values():
                    try:
                        self.socks[i].send(b"a")
                    except OSError:
                        self._closed(i)

    def done(self) -> bool:
        return len(self.closed_after) == len(self.socks)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for s in self.socks:
            s.close()


def test_slow_loris_cannot_exhaust_the_worker(cluster: Cluster, long_mode: bool) -> None:
    c = cluster
    n_idle, n_slow = sizes(long_mode)
    rnd = random.Random(1)
    fs = new_fs(c)
    for url in c.data:  # warm: the pages are cached
        fs.cat_file(url)
    baseline = [timed_read(fs, c, rnd) for _ in range(40)]

    idle = [connect(c.port) for _ in range(n_idle)]
    loris = SlowLoris(c.port, n_slow)
    try:
        during: List[float] = []
        fresh: List[float] = []
        deadline = time.monotonic() + HEAD_TIMEOUT + 8
        while not loris.done() and time.monotonic() < deadline:
            during.append(timed_read(fs, c, rnd))
            if len(during) % 10 == 0:  # a new client: new connections are accepted
                fresh.append(timed_read(new_fs(c), c, rnd))
            time.sleep(0.01)
        closed = sorted(loris.closed_after.values())
        idle_open = sum(is_open(s) for s in idle)
        # An idle connection is still served in full.
        s = idle[0]
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: w\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 200"), "an idle connection was not served"
        idle_closed_by_timeout: Optional[int] = None
        if long_mode:
            time.sleep(max(0.0, IDLE_TIMEOUT + 5 - (time.monotonic() - loris.first[0])))
            idle_closed_by_timeout = sum(not is_open(s) for s in idle[1:])
    finally:
        loris.close()
        for s in idle:
            s.close()

    p50, p50_during = statistics.median(baseline), statistics.median(during)
    figure(
        "Worker limits slow loris",
        idle_connections=n_idle,
        trickling_connections=n_slow,
        reads_before=len(baseline),
        reads_during=len(during),
        reads_by_new_clients=len(fresh),
        read_ms_p50_before=p50 * 1000,
        read_ms_p50_during=p50_during * 1000,
        read_ms_max_during=max(during) * 1000,
        read_ms_max_new_client=max(fresh, default=0) * 1000,
        trickling_closed=len(closed),
        closed_after_s_min=min(closed, default=0),
        closed_after_s_max=max(closed, default=0),
        idle_still_open=idle_open,
        idle_closed_after_idle_timeout=idle_closed_by_timeout,
    )
    assert len(closed) == n_slow, f"only {len(closed)} of {n_slow} trickling connections closed"
    assert closed[0] >= HEAD_TIMEOUT - 0.5 and closed[-1] <= HEAD_TIMEOUT + 3, closed
    assert idle_open == n_idle, (
        f"{n_idle - idle_open} idle connections closed before the idle timeout"
    )
    assert p50_during <= 3 * p50 + 0.05, (p50, p50_during)
    assert max(during) < 2.0 and max(fresh, default=0) < 2.0
    if idle_closed_by_timeout is not None:
        assert idle_closed_by_timeout == n_idle - 1


def exchange(port: int, head: bytes, body: bytes = b"") -> Tuple[int, bytes]:
    """Sends ``head`` and ``body`` as they are; the answer's status and body,
    or status 0 if the worker closed the connection without one."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head + body)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, resp.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        s.close()


def test_an_overlong_request_head_is_431(cluster: Cluster) -> None:
    def head(pad: int, end: bytes = b"\r\n\r\n") -> bytes:
        return b"GET /v1/health HTTP/1.1\r\nHost: w\r\nX-Pad: " + b"a" * pad + end

    assert exchange(cluster.port, head(MAX_HEAD - 1024))[0] == 200
    assert exchange(cluster.port, head(MAX_HEAD + 1024))[0] == 431
    # A head that never ends is cut when the read buffer is full.
    assert exchange(cluster.port, head(4 * MAX_HEAD, b""))[0] in (431, 0)
    assert exchange(cluster.port, head(0))[0] == 200


def page_post(port: int, n: int, path: str = "/v1/file/abc/page/0") -> Tuple[int, Any]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: w\r\nContent-Length: {n}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    status, body = exchange(port, head, os.urandom(n))
    return status, json.loads(body or b"null")


def test_a_page_write_over_one_page_is_413(cluster: Cluster) -> None:
    status, doc = page_post(cluster.port, PAGE + 1)
    assert status == 413 and "one page" in doc["message"], (status, doc)
    status, doc = page_post(cluster.port, PAGE)
    assert (status, doc["success"]) == (200, True)


def test_page_writes_are_refused_without_the_setting(tmp_path: Path) -> None:
    with LocalCluster(str(tmp_path), workers=1, cache_dir=str(tmp_path / "c")) as c:
        status, doc = page_post(c.ports[0], 10)
    assert status == 403 and "--allow-page-writes" in doc["message"], (status, doc)
