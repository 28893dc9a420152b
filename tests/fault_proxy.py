"""A fault-injecting HTTP/1.1 reverse proxy in front of one worker (test helper).

``FaultProxy(upstream_port)`` listens on a free port of 127.0.0.1 and forwards
every request verbatim (method, path and query, body, end-to-end headers;
``Host`` names the worker) to ``127.0.0.1:upstream_port``, one upstream
connection per request; the client side keeps HTTP/1.1 keep-alive. Clients
reach it through static membership::

    proxy = FaultProxy(worker_port)
    fs = AlluxioFileSystem(worker_hosts=proxy.authority, ...)

At runtime ``proxy.set_mode(mode, budget=None, only=None)`` switches the answer:

``ok``
    forward and relay the answer (an upstream that closes the connection or
    cannot be reached is mirrored by closing the client's connection).
``status_500``
    answer ``500`` with ``{"message": ...}`` without forwarding.
``close``
    read the request, then close the connection without answering.
``truncate``
    forward, then send the upstream's status and ``Content-Length`` but only
    half of the body (no byte for an empty body, whose length is then
    announced as 1), and close.
``extra``
    forward, then append ``EXTRA`` bytes to the body with a ``Content-Length``
    that matches what is sent: only the client's own expectation can tell.
``hang``
    read the request and never answer until :meth:`stop` (or a later
    ``set_mode``) releases it; the connection is then closed unanswered.
``stall_body``
    forward, send the upstream's status and headers, then hold the body until
    released as ``hang`` is; the body is then sent whole (a worker loading
    the page from its under storage looks like this).

``delay``
    forward, then hold the answer ``seconds`` before sending it, for a
    random ``fraction`` of the matching requests (seeded by ``seed``: the same
    requests in the same order are delayed on every run); the others are
    forwarded at once. ``set_mode("delay", seconds=0.2, fraction=0.01)``.

``budget=N`` applies the fault to the next N matching requests only, then the
proxy goes back to ``ok``; ``only`` (a path prefix or a tuple of them, e.g.
``("/v1/range", "/v1/file/")``) restricts the fault to matching request paths
(others are forwarded and do not use the budget).

Counters (thread-safe): ``requests`` (every request seen), ``faults`` (requests
answered with a fault), ``seen`` (``(method, path)`` of every request, in order)
and :meth:`paths_seen` for prefix counts. :meth:`stop` shuts the listener and
every open connection down, releases hanging requests and frees the port;
the proxy is also a context manager. Standard library only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional, Set, Tuple, Union

__all__ = ["EXTRA", "MODES", "FaultProxy"]

MODES = ("ok", "status_500", "close", "truncate", "extra", "hang", "stall_body", "delay")
#: What ``extra`` appends to every body.
EXTRA = b"#EXTRA#"
#: Request headers not forwarded (hop-by-hop, or set by http.client itself).
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # The default backlog of 5 overflows when a client opens many connections
    # at once; the kernel then drops SYNs and the client waits 1 s to resend.
    request_queue_size = 128
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client dropping its connection is normal here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode, release = proxy._take(self.command, self.path)
        if mode == "hang":
            release.wait()
            self.close_connection = True
            return
        if mode == "close":
            self.close_connection = True
            return
        if mode == "status_500":
            msg = json.dumps({"message": f"fault proxy: injected 500 for {self.path}"}).encode()
            self._answer(500, [("Content-Type", "application/json")], msg)
            return
        upstream = proxy._forward(self.command, self.path, list(self.headers.items()), body)
        if upstream is None:  # the worker closed or refused: mirror it
            self.close_connection = True
            return
        status, headers, data = upstream
        if mode == "truncate":
            declared = max(len(data), 1)
            self._answer(status, headers, data[: declared // 2], declared=declared)
            self.close_connection = True
            return
        if mode == "extra":
            data += EXTRA
        if mode == "delay":
            # Waits on the release event, so stop() and set_mode() cut it short.
            release.wait(proxy._delay)
        if mode == "stall_body":
            self._answer(status, headers, b"", declared=len(data))
            release.wait()
            self.wfile.write(data)
            self.wfile.flush()
            return
        self._answer(status, headers, data)

    def _answer(
        self,
        status: int,
        headers: List[Tuple[str, str]],
        data: bytes,
        declared: Optional[int] = None,
    ) -> None:
        self.send_response_only(status)
        for k, v in headers:
            if k.lower() not in _HOP and k.lower() not in ("date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if declared is None else declared))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()


class FaultProxy:
    """See the module docstring."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._mode = "ok"
        self._budget: Optional[int] = None
        self._only: Optional[Tuple[str, ...]] = None
        self._delay = 0.0
        self._fraction = 1.0
        self._rnd = random.Random(0)
        self.delayed = 0
        self._release = threading.Event()
        self._conns: Set[socket.socket] = set()
        self.requests = 0
        self.faults = 0
        self.seen: List[Tuple[str, str]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-proxy-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    @property
    def authority(self) -> str:
        """``127.0.0.1:PORT`` of the proxy (what clients list in ``worker_hosts``)."""
        return f"127.0.0.1:{self.port}"

    @property
    def mode(self) -> str:
        with self._lock:
            return self._mode

    def set_mode(
        self,
        mode: str,
        budget: Optional[int] = None,
        only: Union[str, Tuple[str, ...], None] = None,
        seconds: float = 0.0,
        fraction: float = 1.0,
        seed: int = 0,
    ) -> None:
        """Switches to ``mode``; with ``budget`` only for that many matching
        requests; with ``only`` only for requests whose path starts so;
        ``seconds``, ``fraction`` and ``seed`` are for ``delay``."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if budget is not None and budget < 0:
            raise ValueError(f"budget={budget}: must be >= 0")
        with self._lock:
            # Hanging requests of an earlier mode are let go (closed unanswered).
            self._release.set()
            self._release = threading.Event()
            self._mode = "ok" if budget == 0 else mode
            self._budget = budget
            self._only = (only,) if isinstance(only, str) else only
            self._delay = seconds
            self._fraction = fraction
            self._rnd = random.Random(seed)

    def paths_seen(self, prefix: str) -> int:
        """How many requests so far had a path starting with ``prefix``."""
        with self._lock:
            return sum(1 for _, p in self.seen if p.startswith(prefix))

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.faults = 0
            self.delayed = 0
            self.seen = []

    # ── used by the handler ──

    def _take(self, method: str, path: str) -> Tuple[str, threading.Event]:
        with self._lock:
            self.requests += 1
            self.seen.append((method, path))
            mode = self._mode
            if mode != "ok" and self._only is not None and not path.startswith(self._only):
                mode = "ok"
            if mode == "delay":
                if self._rnd.random() >= self._fraction:
                    mode = "ok"
                else:
                    self.delayed += 1
            if mode != "ok":
                self.faults += 1
                if self._budget is not None:
                    self._budget -= 1
                    if self._budget <= 0:
                        self._mode, self._budget = "ok", None
            return mode, self._release

    def _forward(
        self, method: str, path: str, headers: List[Tuple[str, str]], body: bytes
    ) -> Optional[Tuple[int, List[Tuple[str, str]], bytes]]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in headers:
                if k.lower() not in _HOP:
                    conn.putheader(k, v)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ── lifecycle ──

    def stop(self) -> None:
        """Stops serving, closes every connection, frees the port."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            self._release.set()
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FaultProxy({self.authority} -> {self.upstream[0]}:{self.upstream[1]}, {self.mode})"
