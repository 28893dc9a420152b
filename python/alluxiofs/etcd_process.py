"""Start and stop a private etcd (Debian's ``etcd-server``) on free loopback
ports: used by ``local-cluster --start-etcd``, the demo and the tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from typing import List, Optional

__all__ = ["EtcdProcess", "free_port", "worker_registration"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether TCP port ``port`` on 127.0.0.1 can be bound right now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def worker_registration(
    identity: uuid.UUID,
    host: str,
    http_port: int,
    cluster: str = "DefaultAlluxioCluster",
) -> tuple[str, str]:
    """The etcd key and value a Java Alluxio worker registers (docs/protocol.md §1.2):
    compact JSON, Gson's field order. Written independently of the Rust code so
    tests can check one against the other."""
    value = {
        "Identity": {"version": 1, "identifier": identity.hex},
        "WorkerNetAddress": {
            "Host": host,
            "ContainerHost": "",
            "RpcPort": 29999,
            "DataPort": 29997,
            "SecureRpcPort": 0,
            "NettyDataPort": 29997,
            "WebPort": 30000,
            "DomainSocketPath": "",
            "HttpServerPort": http_port,
        },
        "State": "AUTHORIZED",
        "GenerationNumber": -1,
        "ServiceEntityName": f"worker-{identity}",
    }
    key = f"/ServiceDiscovery/{cluster}/worker-{identity}"
    return key, json.dumps(value, separators=(",", ":"))


class EtcdProcess:
    """An etcd process in its own temp dir; :meth:`stop` kills exactly that process.

    Parameters
    ----------
    extra_args : list of str, optional
        More command-line flags for etcd.
    client_port : int, optional
        Client port (default: a free one).
    """

    def __init__(
        self, extra_args: Optional[List[str]] = None, client_port: Optional[int] = None
    ) -> None:
        self.client_port = client_port or free_port()
        self.peer_port = free_port()
        self.dir = tempfile.mkdtemp(prefix="alluxiofs-etcd-")
        self.extra_args = extra_args or []
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.start()

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:port`` of the client listener."""
        return f"127.0.0.1:{self.client_port}"

    def start(self) -> None:
        """Starts etcd and waits until it reports healthy."""
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            [
                "etcd",
                "--name",
                "test",
                "--data-dir",
                os.path.join(self.dir, "data"),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"test={peer}",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as r:
                    if b"true" in r.read():
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"etcd did not become healthy on {self.endpoint}")

    def stop(self) -> None:
        """Kills etcd (its data directory is kept for :meth:`start`)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        """Kills etcd and removes its data directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, *args: str, stdin: Optional[bytes] = None) -> str:
        """Runs ``etcdctl`` (API v3) against this etcd and returns its output."""
        env = dict(os.environ, ETCDCTL_API="3")
        out = subprocess.run(
            ["etcdctl", "--endpoints", self.endpoint, *args],
            input=stdin,
            env=env,
            check=True,
            capture_output=True,
        )
        return out.stdout.decode()

    def put(self, key: str, value: str, lease: Optional[str] = None) -> None:
        """Writes ``key`` (optionally attached to a lease id)."""
        # Value via stdin: etcdctl would read a leading "-" as a flag.
        args = ["put", key]
        if lease:
            args += ["--lease", lease]
        self.ctl(*args, stdin=value.encode())

    def metric(self, name: str) -> float:
        """Sum of one Prometheus metric from etcd's ``/metrics``."""
        url = f"http://127.0.0.1:{self.client_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def __enter__(self) -> EtcdProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
