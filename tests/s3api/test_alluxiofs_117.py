"""The newest alluxiofs client on PyPI, 1.1.17, in its own venv, reads our
cluster: its listings and infos through the REST API, its data through the
worker's S3 API (``GET <mPath>`` with a ``Range`` on port 29998 of the
worker ``/v1/node`` names), with its local cache off and on, over a local
and an S3 (moto) under storage, byte for byte.

Within 1.1.17's own limits (docs/protocol.md §8, spec S3API §9.1): it reads
the S3 API on port 29998 only, so each cluster here is one worker on
127.0.0.1:29998 (the test stops with an explanation if that port is taken);
it reads ``/v1/node`` as an object, so the worker runs with
``--node-response object``; it refuses answers over 20 MiB (curl's
``MAXFILESIZE``), so every file here is smaller; ``cat_file(start, end=None)``
returns the whole file (its Range header is malformed), so ranges here have
both ends; with its local cache on, ``cat_file`` without an ``end`` raises
in its own block math, so whole files are read with ``end=size``; names
with spaces are refused by curl before any request, so
they are left out."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import fsspec
import pytest

from alluxiofs.etcd_process import port_is_free
from alluxiofs.local_cluster import LocalCluster
from tests.s3api.conftest import BUCKET, CREDS, PAGE, tree, worker_s3

HERE = Path(__file__).parent
S3_PORT = 29998
UFS_BUCKET = "s3api-117"


@pytest.fixture(scope="session")
def venv_117(pytestconfig: pytest.Config) -> Path:
    venv = Path(str(pytestconfig.cache.mkdir("alluxiofs-1.1.17")))  # type: ignore[union-attr]
    py = venv / "bin" / "python"
    check = [str(py), "-c", "import importlib.metadata as m; print(m.version('alluxiofs'))"]
    ok = (
        py.exists()
        and subprocess.run(check, capture_output=True, text=True).stdout.strip() == "1.1.17"
    )
    if not ok:
        for cmd in (
            ["uv", "venv", "-q", "--python", sys.executable, str(venv)],
            ["uv", "pip", "install", "-q", "--python", str(py), "alluxiofs==1.1.17"],
        ):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr[-2000:]}"
    return venv


def files_for_117() -> dict:
    return {k: v for k, v in tree().items() if " " not in k}


@pytest.fixture(params=["local", "s3"])
def cluster_117(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple]:
    if not port_is_free(S3_PORT):
        pytest.fail(f"port {S3_PORT} is taken: alluxiofs 1.1.17 reads the S3 API there only")
    files = files_for_117()
    settings = {"node_response": "object"}
    if request.param == "local":
        root = tmp_path_factory.mktemp("s3api-117")
        for rel, data in files.items():
            (root / BUCKET / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / BUCKET / rel).write_bytes(data)
        ufs, s3 = str(root), None
    else:
        moto = request.getfixturevalue("s3_moto")
        fs = fsspec.filesystem("s3", endpoint_url=moto, skip_instance_cache=True, **CREDS)
        if not fs.exists(UFS_BUCKET):
            fs.mkdir(UFS_BUCKET)
        for rel, data in files.items():
            fs.pipe_file(f"{UFS_BUCKET}/{BUCKET}/{rel}", data)
        ufs = f"s3://{UFS_BUCKET}"
        s3 = worker_s3(moto)
    with LocalCluster(
        ufs, workers=1, page_size=str(PAGE), s3=s3, s3_ports=[S3_PORT], settings=settings
    ) as c:
        root_url = c.ufs if request.param == "local" else ufs
        yield c, files, root_url


@pytest.mark.parametrize("local_cache", [False, True], ids=["cache_off", "cache_on"])
def test_alluxiofs_1_1_17_reads_our_cluster(
    venv_117: Path, cluster_117: tuple, local_cache: bool, tmp_path: Path
) -> None:
    cluster, files, root = cluster_117
    big = "dir/big.bin"
    ranges: List[Any] = [
        [big, 0, 10],
        [big, PAGE - 3, PAGE + 3],
        [big, 3 * PAGE, 5 * PAGE + 17],
        ["dir/sub/deep.bin", 100, 200],
    ]
    args = {
        "worker_hosts": cluster.worker_hosts,
        "root": f"{root}/{BUCKET}",
        "dirs": ["dir", "many"],
        "files": sorted(files),
        "ranges": ranges,
        "cache_dir": str(tmp_path / "cache117") if local_cache else None,
    }
    r = subprocess.run(
        [str(venv_117 / "bin" / "python"), str(HERE / "driver_117.py"), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    for rel in args["files"]:
        assert got["info"][rel] == len(files[rel]), rel
        assert got["whole"][rel] == sha(files[rel]), rel
    want = [sha(files[rel][s:e]) for rel, s, e in ranges]
    assert got["ranges"] == want and got["open"] == want
    assert got["ls"]["many"] == [f"/{BUCKET}/many/f{i:02d}.txt" for i in range(7)]
