"""Smoke test of ``examples/``: each script runs as its own process against a
``local-cluster`` over a dataset made here, and must exit 0 and print what
it read. The Ray example joins the session's Ray instance."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alluxiofs.local_cluster import LocalCluster
from tests import test_seed_examples as seed
from tests.conftest import cluster_over

ray_session = seed.ray_session  # the session's Ray instance, shared

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ROWS = 1_000


@pytest.fixture(scope="module")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples-ufs")
    rnd = random.Random(5)
    table = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "name": pa.array([f"name-{i}" for i in range(ROWS)]),
            "part": pa.array([i % 2 for i in range(ROWS)], pa.int32()),
        }
    )
    pq.write_table(table, root / "file1.parquet")
    pq.write_to_dataset(
        table, str(root / "hive"), partition_cols=["part"], basename_template="p-{i}.parquet"
    )
    (root / "example.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "blob.bin").write_bytes(rnd.randbytes(1_500_000))
    return root


@pytest.fixture(scope="module")
def example_cluster(example_data: Path) -> Iterator[LocalCluster]:
    yield from cluster_over(example_data)


def run(script: str, *args: str, timeout: float = 120) -> str:
    """Runs ``examples/<script>``; returns its stdout (fails on a non-zero exit)."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def lines(out: str) -> List[str]:
    return out.strip().splitlines()


def test_hello_world(example_cluster: LocalCluster, example_data: Path) -> None:
    out = run("hello_world.py", str(example_data), "--etcd-hosts", str(example_cluster.etcd_hosts))
    assert f"{example_data}: 4 entries" in out
    assert "fallbacks: 0" in out
    assert any(line.startswith("read ") and " bytes of " in line for line in lines(out))


def test_pyarrow_dataset(example_cluster: LocalCluster, example_data: Path) -> None:
    etcd = ["--etcd-hosts", str(example_cluster.etcd_hosts)]
    out = run("pyarrow_dataset.py", str(example_data / "file1.parquet"), *etcd)
    assert "files: 1" in out
    assert f"rows: {ROWS}" in out
    assert "first row: {'id': 0, 'name': 'name-0', 'part': 0}" in out
    out = run("pyarrow_dataset.py", str(example_data / "hive"), "--partitioning", "hive", *etcd)
    assert "files: 2" in out
    assert f"rows: {ROWS}" in out
    assert "part: int32" in out


def test_pyarrow_pyfilesystem(example_cluster: LocalCluster, example_data: Path) -> None:
    path = example_data / "blob.bin"
    out = run("pyarrow_pyfilesystem.py", str(path), "--etcd-hosts", str(example_cluster.etcd_hosts))
    assert f"{path}: File, 1500000 bytes" in out
    assert "read 1500000 bytes" in out
    assert f"last bytes: {path.read_bytes()[-8:]!r}" in out


@pytest.mark.usefixtures("ray_session")
def test_ray_read_parquet(example_cluster: LocalCluster, example_data: Path) -> None:
    import ray

    address = ray.get_runtime_context().gcs_address
    out = run(
        "ray_read_parquet.py",
        str(example_data / "file1.parquet"),
        "--csv",
        str(example_data / "example.csv"),
        "--etcd-hosts",
        str(example_cluster.etcd_hosts),
        "--ray-address",
        address,
    )
    assert f"parquet rows: {ROWS}" in out
    assert "parquet schema: ['id', 'name', 'part']" in out
    assert "csv rows: 2" in out
    assert "csv first row: {'a': 1, 'b': 2}" in out


def test_load_job(example_cluster: LocalCluster, example_data: Path) -> None:
    out = run("load_job.py", str(example_data), "--etcd-hosts", str(example_cluster.etcd_hosts))
    assert "workers: 2" in out
    assert "load succeeded" in out
    assert "Files Processed" in out


def test_examples_are_tested() -> None:
    """Every example script but the demo (run by scripts/demo.sh) is covered here."""
    scripts = {p.name for p in EXAMPLES.glob("*.py")} - {"demo.py"}
    tested = {n[len("test_") :] + ".py" for n in globals() if n.startswith("test_")}
    assert scripts <= tested, sorted(scripts - tested)
