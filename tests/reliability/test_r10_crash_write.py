"""R10 crash mid-write: ``kill -9`` the worker while a write goes through it.

Proves: no partial file ever appears in the under storage (the target holds
its old content, or nothing, or the complete new bytes); an existing file being
overwritten is never corrupted; the client reports the failure with an OSError
subclass when it has no fallback, and with ``target_protocol="file"`` writes
the file to the under storage itself (complete and correct). Temp files the
killed worker leaves behind are never listed, neither by the worker nor by the
UFS fallback listing while the worker is down; how many stay on disk (and
survive a worker restart: the worker does not clean them) is a figure.

Kinds of kill, each with and without UFS fallback, onto a new path and over an
existing file, on a single-worker :class:`LocalCluster` (static membership):

``close``
    ``fs.open(path, "wb")``, data that fits one piece written (buffered), the
    worker killed, then ``close()`` (which sends the file in one request).
``stream``
    ``fs.open(path, "wb")`` of a file of many pieces, written 1 MiB at a
    time; the worker is killed once half of it was written (pieces already
    streamed to it). The client reports the failure (at the next write or at
    ``close``) with or without fallback: the pieces sent cannot be sent again
    (memory stays bounded), so the write fails whole and nothing is written.
``upload``
    ``pipe_file`` (streamed: the value is bigger than one piece) through a
    relay that forwards half of the request and holds the rest: the worker
    is killed with the POST in flight, then the relay goes on (and finds the
    worker gone).
``ufs_write``
    ``pipe_file`` straight to the worker, killed the moment it writes the file:
    its unnamed ``O_TMPFILE`` file of the target directory shows among its
    descriptors (or, where there is no ``O_TMPFILE``, its temp file
    ``.<name>.*.alluxiofs-tmp`` shows up in the directory).

Sizes: CI: bodies of 3 MiB (close), 24 MiB (stream), 16 MiB (upload), 24 MiB
(ufs_write), each combination once (16 writes, ~10 s idle, ~25 s on a loaded box). ``--long``: 3
rounds with 3x the bodies (~3 min on a loaded box).

Figures per kind and fallback: writes attempted, partial files found, errors
reported (and their class), complete fallback writes, leftover temp files.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sys
import threading
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from alluxiofs.etcd_process import free_port
from alluxiofs.local_cluster import LocalCluster
from tests.reliability.figures import figure
from tests.reliability.util_cluster import PAGE, kill9, listing, new_fs, restart

TEMP_SUFFIX = ".alluxiofs-tmp"
KINDS = {"close": 3 << 20, "stream": 24 << 20, "upload": 16 << 20, "ufs_write": 24 << 20}


class PausingRelay:
    """A TCP relay to the worker. :meth:`arm` makes the next connection stop
    forwarding request bytes after ``n`` of them (``paused`` is set) until
    :meth:`resume`; everything else is relayed as it comes."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.05)
        self.paused = threading.Event()
        self._go = threading.Event()
        self._limit: Optional[int] = None
        self._stop = threading.Event()
        self._socks: List[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def arm(self, n: int) -> None:
        self.paused.clear()
        self._go.clear()
        self._limit = n

    def resume(self) -> None:
        self._go.set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            limit, self._limit = self._limit, None
            try:
                up = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()  # the worker is gone: so is the answer
                continue
            self._socks += [client, up]
            threading.Thread(target=self._pump, args=(client, up, limit), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, limit: Optional[int]) -> None:
        sent = 0
        try:
            while True:
                chunk = src.recv(1 << 16)
                if not chunk:
                    break
                if limit is not None and sent + len(chunk) >= limit:
                    dst.sendall(chunk[: limit - sent])
                    chunk, sent, limit = chunk[limit - sent :], limit, None
                    self.paused.set()
                    self._go.wait(30)
                dst.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        self._go.set()
        self._thread.join(5)
        for s in [self.sock, *self._socks]:
            s.close()


@pytest.fixture(scope="module")
def r10(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[LocalCluster, PausingRelay]]:
    root = tmp_path_factory.mktemp("r10")
    (root / "ufs" / "out").mkdir(parents=True)
    with LocalCluster(
        str(root / "ufs"), workers=1, page_size=str(PAGE), cache_dir=str(root / "cache")
    ) as cluster:
        relay = PausingRelay(cluster.ports[0])
        try:
            yield cluster, relay
        finally:
            relay.stop()


def _ufs(cluster: LocalCluster) -> str:
    return cluster.ufs[len("file://") :]


def crash_one_write(
    cluster: LocalCluster, relay: PausingRelay, kind: str, fallback: bool, url: str, data: bytes
) -> Tuple[Optional[BaseException], bool]:
    """Writes ``data`` to ``url`` and kills the worker mid-way as ``kind`` says;
    returns the error the client raised (if any) and whether the kill landed
    where it was aimed."""
    hosts = relay.authority if kind == "upload" else cluster.worker_hosts
    fs = new_fs(worker_hosts=hosts, ufs=fallback)
    err: List[BaseException] = []

    def pipe() -> None:
        try:
            fs.pipe_file(url, data)
        except BaseException as e:
            err.append(e)

    if kind == "close":
        f = fs.open(url, "wb")
        for i in range(0, len(data), 3 << 20):
            f.write(data[i : i + (3 << 20)])
        kill9(cluster, 0)
        try:
            f.close()
        except Exception as e:
            err.append(e)
        return (err[0] if err else None), True
    if kind == "stream":
        f = fs.open(url, "wb")
        try:
            for i in range(0, len(data), 1 << 20):
                if i == len(data) // 2:
                    kill9(cluster, 0)
                f.write(data[i : i + (1 << 20)])
            f.close()
        except Exception as e:
            err.append(e)
            f.close()  # after a failure: closes, writes nothing
        return (err[0] if err else None), True
    if kind == "upload":
        relay.arm(len(data) // 2)
    t = threading.Thread(target=pipe)
    t.start()
    aimed = False
    if kind == "upload":
        aimed = relay.paused.wait(30)
        kill9(cluster, 0)
        relay.resume()
    else:
        folder = os.path.dirname(url[len("file://") :])
        pid = cluster.procs[0].pid
        while t.is_alive():
            if _writing_in(pid, folder):
                kill9(cluster, 0)
                aimed = True
                break
        if not aimed:
            kill9(cluster, 0)
    t.join(60)
    assert not t.is_alive(), "pipe_file hung after the worker was killed"
    return (err[0] if err else None), aimed


def _writing_in(pid: int, folder: str) -> bool:
    """Whether the worker is writing a file in ``folder``: a named temp file
    there, or (Linux ``O_TMPFILE``, named only once complete) an open unnamed
    file of that directory among the worker's descriptors."""
    if any(n.endswith(TEMP_SUFFIX) for n in os.listdir(folder)):
        return True
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder + "/#") and target.endswith("(deleted)"):
            return True
    return False


def _outcome(path: Path, old: Optional[bytes], new: bytes) -> str:
    if not path.exists():
        return "absent" if old is None else "LOST"
    got = path.read_bytes()
    if got == new:
        return "new"
    if got == old:
        return "old"
    return "PARTIAL"


@pytest.mark.parametrize("fallback", [False, True], ids=["no_fallback", "ufs_fallback"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_kill_worker_mid_write(
    r10: Tuple[LocalCluster, PausingRelay], kind: str, fallback: bool, long_mode: bool
) -> None:
    cluster, relay = r10
    rounds, scale = (3, 3) if long_mode else (1, 1)
    root = _ufs(cluster)
    out = Path(root) / "out"
    rnd = random.Random(f"{kind}-{fallback}")
    if cluster.procs[0].poll() is not None:
        restart(cluster, 0)
    outcomes: Dict[str, int] = {}
    errors: Dict[str, int] = {}
    temps_left = temps_after_restart = temps_in_fallback_ls = missed = 0
    writes = 0
    for r in range(rounds):
        for existing in (False, True):
            name = f"{kind}-{int(fallback)}-{r}-{'old' if existing else 'new'}.bin"
            path = out / name
            old = rnd.randbytes(PAGE * 3 + 5) if existing else None
            if old is not None:
                path.write_bytes(old)
            new = rnd.randbytes(KINDS[kind] * scale)
            before = listing(root)
            err, aimed = crash_one_write(cluster, relay, kind, fallback, "file://" + str(path), new)
            writes += 1
            missed += not aimed
            after = listing(root)
            state = _outcome(path, old, new)
            outcomes[state] = outcomes.get(state, 0) + 1
            if err is not None:
                errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
            extra = after - before - {os.path.join("out", name)}
            temps = {p for p in extra if os.path.basename(p).endswith(TEMP_SUFFIX)}
            assert extra == temps, f"unexpected new entries in the UFS: {sorted(extra - temps)}"
            temps_left += len(temps)
            if temps and fallback:
                # With the worker down, a listing falls back to the UFS itself.
                down = new_fs(worker_hosts=cluster.worker_hosts, ufs=True)
                names = [os.path.basename(e["name"]) for e in down.ls(str(out))]
                temps_in_fallback_ls += sum(n.endswith(TEMP_SUFFIX) for n in names)
                assert temps_in_fallback_ls == 0, f"fallback listing shows temp files: {names}"

            restart(cluster, 0)
            fs = new_fs(worker_hosts=cluster.worker_hosts, ufs=False)
            shown = [os.path.basename(e["name"]) for e in fs.ls("file://" + str(out))]
            assert not [n for n in shown if n.endswith(TEMP_SUFFIX)], f"listed temp files {shown}"
            still = {p for p in temps if os.path.exists(os.path.join(root, p))}
            temps_after_restart += len(still)
            for p in still:  # keep the next case's listing clean
                os.remove(os.path.join(root, p))

            assert state in ("absent", "old", "new"), f"{name}: {state} after the kill"
            if kind == "stream":
                # Pieces went to the killed worker: reported, never half written.
                assert isinstance(err, OSError), repr(err)
                assert state in ("absent", "old"), f"{name}: {state}"
            elif fallback:
                assert err is None, f"fallback write raised {err!r}"
                assert state == "new", f"fallback write left {state}"
            else:
                assert isinstance(err, OSError) or (err is None and state == "new"), repr(err)
            # The cache must not serve stale or partial bytes of the file either.
            expect = path.read_bytes() if path.exists() else None
            if expect is not None:
                assert fs.cat_file("file://" + str(path)) == expect
    figure(
        f"R10 crash mid-write ({kind}, {'ufs fallback' if fallback else 'no fallback'})",
        writes=writes,
        partial_files=outcomes.get("PARTIAL", 0) + outcomes.get("LOST", 0),
        outcomes=",".join(f"{k}:{v}" for k, v in sorted(outcomes.items())),
        errors_reported=sum(errors.values()),
        error_classes=",".join(sorted(errors)) or "-",
        kill_missed_target=missed,
        temp_files_left=temps_left,
        temp_files_after_restart=temps_after_restart,
        temp_files_in_fallback_ls=temps_in_fallback_ls,
    )
    assert missed == 0, f"{missed} kills did not land where aimed ({kind})"
    if sys.platform.startswith("linux"):
        # O_TMPFILE: the file has no name until it is complete.
        assert temps_left == 0, f"{temps_left} temp files left in the UFS by killed workers"
