"""Process helpers shared by the reliability suites: one worker process run by
the test itself (``python -m alluxiofs worker``), ``/proc`` probes (RSS, open
file descriptors) and a snapshot of a directory tree (to prove nothing changed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple, Union

from alluxiofs.etcd_process import free_port

#: Auth-related gRPC calls etcd has started (a prefix of ``/metrics`` lines).
ETCD_AUTHENTICATE = 'grpc_server_started_total{grpc_method="Authenticate"'


class WorkerProcess:
    """``python -m alluxiofs worker`` on a free loopback port; stderr goes to a
    file (read with :meth:`stderr`); :meth:`stop` ends exactly this process."""

    def __init__(
        self,
        ufs: str,
        cache_dir: str,
        *,
        etcd_hosts: Optional[str] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        page_size: str = "65536",
        extra: Optional[List[str]] = None,
        port: Optional[int] = None,
    ) -> None:
        self.port = port or free_port()
        #: The worker's S3 API port.
        self.s3_port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "alluxiofs",
            "worker",
            "--ufs",
            ufs,
            "--cache-dir",
            cache_dir,
            "--port",
            str(self.port),
            "--s3-port",
            str(self.s3_port),
            "--page-size",
            page_size,
        ]
        if etcd_hosts is not None:
            cmd += ["--etcd-hosts", etcd_hosts]
        if username is not None:
            cmd += ["--etcd-username", username]
        if password is not None:
            cmd += ["--etcd-password", password]
        cmd += extra or []
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        env = dict(os.environ)
        env.setdefault("ALLUXIOFS_WORKER_LOG", "WARNING")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._err, env=env)

    @property
    def authority(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """True if ``/v1/health`` answers 200."""
        try:
            with urllib.request.urlopen(f"http://{self.authority}/v1/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Waits until the worker answers, failing if it exits first."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(f"worker exited with {code}: {self.stderr()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker on {self.authority} not healthy after {timeout}s")
            time.sleep(0.05)

    def stderr(self) -> str:
        """Everything the worker wrote on stderr so far."""
        self._err.flush()
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL after 15 s; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self) -> None:
        self.stop()
        self._err.close()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_kb(pid: Union[int, str] = "self") -> int:
    """Resident set size (``VmRSS``) of a process in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def fd_count(pid: Union[int, str] = "self") -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def socket_count(pid: Union[int, str] = "self") -> int:
    """How many of a process's open file descriptors are sockets."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return n


#: One entry of :func:`snapshot`: kind, size, mtime_ns, ctime_ns, mode, content digest or link.
Entry = Tuple[str, int, int, int, int, str]


def snapshot(root: str, exclude: Tuple[str, ...] = ()) -> Dict[str, Entry]:
    """Every entry under ``root`` (symlinks not followed) with its metadata and
    a digest of its content; paths under ``exclude`` are left out."""
    out: Dict[str, Entry] = {}
    skip = tuple(os.path.abspath(e) for e in exclude)

    def excluded(p: str) -> bool:
        return any(p == s or p.startswith(s + os.sep) for s in skip)

    def record(p: str) -> None:
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            kind, digest = "link", os.readlink(p)
        elif stat.S_ISDIR(st.st_mode):
            kind, digest = "dir", ""
        else:
            kind = "file"
            with open(p, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        out[p] = (kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, digest)

    record(os.path.abspath(root))
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(root), followlinks=False):
        dirnames[:] = [d for d in dirnames if not excluded(os.path.join(dirpath, d))]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            if not excluded(p):
                record(p)
    return out


def diff(before: Dict[str, Entry], after: Dict[str, Entry]) -> List[str]:
    """Human-readable differences between two snapshots (empty if equal)."""
    out = [f"new: {p}" for p in sorted(set(after) - set(before))]
    out += [f"gone: {p}" for p in sorted(set(before) - set(after))]
    out += [
        f"changed: {p} {before[p]} -> {after[p]}"
        for p in sorted(set(before) & set(after))
        if before[p] != after[p]
    ]
    return out
