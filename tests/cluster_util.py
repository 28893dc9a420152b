"""Runs ``alluxiofs local-cluster`` as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional


class ClusterProcess:
    """``python -m alluxiofs local-cluster ...``; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, args: List[str], timeout: float = 90) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alluxiofs", "local-cluster", *args],
            stdout=subprocess.PIPE,
            stderr=None,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise RuntimeError(f"local-cluster printed nothing within {timeout}s")
        self.info: Dict[str, Any] = json.loads(line)

    @property
    def worker_ports(self) -> List[int]:
        return [int(h.rsplit(":", 1)[1]) for h in self.info["worker_hosts"].split(",")]

    def stop(self, timeout: float = 30) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> ClusterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); check its state.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(pred: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout}s")
