"""The ``reference`` column: the PyPI client ``alluxiofs==1.0.17`` in its own
venv (built by ``tests/reference/setup_reference_venv.sh``), driven through
``benches/ref_timer.py`` against the same etcd and workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional, Tuple

from harness import say

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP = os.path.join(ROOT, "tests", "reference", "setup_reference_venv.sh")
TIMER = os.path.join(ROOT, "benches", "ref_timer.py")


def default_venv_dir() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "alluxiofs-bench", "alluxiofs-ref-1.0.17")


def setup(venv: str) -> Tuple[Optional[str], str]:
    """Builds (idempotently) the reference venv; returns (python, "") or
    (None, reason). Also installs pyarrow there for S4 (optional: without it
    only S4's reference value is missing)."""
    try:
        out = subprocess.run(
            ["bash", SETUP, venv], capture_output=True, text=True, timeout=1200, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"setup_reference_venv.sh: {e}"
    if out.returncode != 0:
        return None, (out.stderr.strip().splitlines() or ["setup failed"])[-1]
    python = os.path.join(venv, "bin", "python")
    if not _has_pyarrow(python):
        say("installing pyarrow into the reference venv (for S4)")
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", python, "pyarrow"],
            capture_output=True,
            timeout=900,
            check=False,
        )
    ray_specs = _ray_specs()
    if ray_specs and not _imports(python, "ray.data, s3fs"):
        say("installing Ray and s3fs into the reference venv (for S5)")
        subprocess.run(
            ["uv", "pip", "install", "-q", "--python", python, *ray_specs, PROTOBUF_PIN],
            capture_output=True,
            timeout=900,
            check=False,
        )
    return python, ""


#: The reference client's etcd3 needs this protobuf (see setup_reference_venv.sh).
PROTOBUF_PIN = "protobuf>=3.20,<3.21"


def _ray_specs() -> List[str]:
    """Ray and s3fs pinned to the versions of this venv (so the two columns
    run the same Ray), or [] if this venv has no Ray."""
    try:
        import ray
        import s3fs
    except ImportError:
        return []
    return [f"ray[data]=={ray.__version__}", f"s3fs=={s3fs.__version__}"]


def _imports(python: str, modules: str) -> bool:
    out = subprocess.run(
        [python, "-c", f"import {modules}"],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python"},
    )
    return out.returncode == 0


def _has_pyarrow(python: str) -> bool:
    return _imports(python, "pyarrow.parquet")


class Reference:
    """Runs ops of ``ref_timer.py`` with the reference client on one etcd."""

    def __init__(self, python: Optional[str], reason: str = "") -> None:
        self.python = python
        self.reason = reason
        self.has_pyarrow = bool(python) and _has_pyarrow(python or "")
        self.has_ray = bool(python) and _imports(python or "", "ray.data, s3fs")

    def run(
        self, etcd_hosts: str, ops: List[Dict[str, Any]], timeout: float = 1800
    ) -> List[Dict[str, Any]]:
        """Results of ``ops`` (one subprocess); each result may be ``{"error": ...}``."""
        if self.python is None:
            return [{"error": self.reason}] * len(ops)
        host, port = etcd_hosts.rsplit(":", 1)
        spec = {"etcd_host": host, "etcd_port": int(port), "page_size": "1MB", "ops": ops}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(spec, f)
        try:
            out = subprocess.run(
                [self.python, TIMER, f.name],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=tempfile.gettempdir(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [{"error": f"reference timed out after {timeout:.0f}s"}] * len(ops)
        finally:
            os.unlink(f.name)
        lines = out.stdout.strip().splitlines()
        if out.returncode != 0 or not lines:
            tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
            return [{"error": f"ref_timer exited {out.returncode}: {tail}"}] * len(ops)
        results: List[Dict[str, Any]] = json.loads(lines[-1])["results"]
        return results

    def one(self, etcd_hosts: str, op: Dict[str, Any], timeout: float = 1800) -> Dict[str, Any]:
        return self.run(etcd_hosts, [op], timeout)[0]


def note_of(result: Dict[str, Any]) -> str:
    """The reason a reference result has no value ("" if it has one)."""
    return str(result.get("error", ""))


if __name__ == "__main__":  # pragma: no cover - manual check
    py, why = setup(default_venv_dir())
    print(py or why, file=sys.stderr)
