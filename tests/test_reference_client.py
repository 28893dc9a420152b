"""Interop: the PyPI reference client ``alluxiofs==1.0.17`` (nobody here wrote it)
against ``local-cluster`` workers and etcd, with no under-storage fallback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from alluxiofs.local_cluster import LocalCluster

HERE = Path(__file__).parent / "reference"
PAGE = 64 * 1024


@pytest.fixture(scope="session")
def reference_python(pytestconfig: pytest.Config) -> str:
    venv = pytestconfig.cache.mkdir("alluxiofs-ref-1.0.17")
    r = subprocess.run(
        ["bash", str(HERE / "setup_reference_venv.sh"), str(venv)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        pytest.skip(f"reference client alluxiofs==1.0.17 cannot be installed: {r.stderr.strip()}")
    return str(venv / "bin" / "python")


@pytest.fixture()
def ufs(tmp_path: Path) -> Path:
    d = tmp_path / "ufs"
    (d / "sub" / "deeper").mkdir(parents=True)
    rnd = os.urandom
    files = {
        "multi.bin": rnd(PAGE * 5 + 321),
        "small.txt": b"hello alluxio\n" * 3,
        "empty.dat": b"",
        "exact.bin": rnd(PAGE),
        "sub/a.bin": rnd(PAGE + 1),
        "sub/b.csv": b"x,y\n1,2\n",
        "sub/deeper/c.bin": rnd(3 * PAGE - 1),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


@pytest.fixture()
def cluster(ufs: Path) -> Iterator[LocalCluster]:
    with LocalCluster(str(ufs), workers=3, start_etcd=True, page_size=str(PAGE)) as c:
        yield c


def test_reference_client_reads_byte_identical(
    reference_python: str, cluster: LocalCluster, ufs: Path, tmp_path: Path
) -> None:
    assert cluster.etcd_hosts is not None
    host, port = cluster.etcd_hosts.rsplit(":", 1)
    files = {
        f"file://{p}": hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(ufs.rglob("*"))
        if p.is_file()
    }
    multi = f"file://{ufs}/multi.bin"
    size = (ufs / "multi.bin").stat().st_size
    ranges = [
        [multi, 0, 1],
        [multi, PAGE - 10, 20],  # across a page boundary
        [multi, 2 * PAGE, PAGE],  # exactly one page
        [multi, size - 100, 500],  # across EOF
        [multi, size - 50, 50],  # inside the last page
        [f"file://{ufs}/sub/a.bin", PAGE, 1],
        [f"file://{ufs}/small.txt", 3, 7],
    ]
    args = {
        "etcd_host": host,
        "etcd_port": int(port),
        "dir": f"file://{ufs}",
        "files": files,
        "ranges": ranges,
        "page_size": str(PAGE),
        "load_path": f"file://{ufs}/sub",
    }
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps(args))
    r = subprocess.run(
        [reference_python, str(HERE / "driver.py"), str(args_file)],
        capture_output=True,
        text=True,
        timeout=330,
        cwd=tmp_path,  # the reference client may write ./logs
    )
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines, f"driver printed nothing; stderr:\n{r.stderr[-4000:]}"
    res = json.loads(lines[-1])
    print(json.dumps({k: res[k] for k in ("ok", "checks")}), file=sys.stderr)
    assert res["ok"], json.dumps(res["failures"], indent=1) + "\n" + r.stderr[-4000:]
    assert res["checks"] >= len(files) + len(ranges)
