"""Writes stream with bounded memory and stay atomic: ``open("wb")``,
``pipe_file`` and ``put_file`` send a piece at a time to the owning worker,
which makes the file visible whole at the end or never. Memory is measured
on both sides while a big file is written (1 GiB in CI, 4 GiB with
``--long``); a client killed mid-write leaves nothing; an S3 under storage
gets a multipart upload; transactions and the async API stream too."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import fsspec
import pytest

from alluxiofs import AlluxioFileSystem, AsyncAlluxioFileSystem
from alluxiofs.etcd_process import free_port
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over

MIB = 1 << 20
#: The bounds the issue sets on peak RSS while writing a big file.
CLIENT_BOUND = 64 * MIB
WORKER_BOUND = 128 * MIB


@pytest.fixture(scope="module")
def ufs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("streamw")


@pytest.fixture(scope="module")
def sw_cluster(ufs: Path) -> Iterator[LocalCluster]:
    yield from cluster_over(ufs, workers=1)


@pytest.fixture()
def so(sw_cluster: LocalCluster) -> Dict[str, Any]:
    return {"etcd_hosts": sw_cluster.etcd_hosts, "target_protocol": "file"}


def make(so: Dict[str, Any], **kw: Any) -> AlluxioFileSystem:
    return AlluxioFileSystem(skip_instance_cache=True, **so, **kw)


def vm(pid: Any, key: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak) of ``pid`` in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key}")


def reset_peak(pid: Any) -> int:
    """Resets ``pid``'s peak RSS to its current RSS (``clear_refs`` 5,
    Linux >= 4.0) and returns that; the rise of ``VmHWM`` over it is then
    the peak of what follows."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return vm(pid, "VmRSS")


WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from alluxiofs import AlluxioFileSystem
    from tests.test_streaming_writes import reset_peak, vm
    so, path, size, how = json.loads(sys.argv[1])
    fs = AlluxioFileSystem(skip_instance_cache=True, **so)
    piece = bytes(range(256)) * (8 << 12)  # 8 MiB, made before the baseline
    fs.pipe_file(path + ".warm", piece[:100])  # connections and runtime up
    if how == "put":
        src = path + ".src"
        with open(src, "wb") as f:
            for _ in range(size // len(piece)):
                f.write(piece)
    base = reset_peak("self")
    t = time.perf_counter()
    if how == "open":
        with fs.open(path, "wb") as f:
            for _ in range(size // len(piece)):
                f.write(piece)
    else:
        fs.put_file(src, path)
    took = time.perf_counter() - t
    print(json.dumps({"rise": vm("self", "VmHWM") - base, "seconds": took}))
    """
)


@pytest.mark.parametrize("how", ["open", "put"])
def test_a_big_write_keeps_memory_bounded_on_both_sides(
    sw_cluster: LocalCluster, so: Dict[str, Any], ufs: Path, how: str, long_mode: bool
) -> None:
    import json

    size = (4096 if long_mode else 1024) * MIB
    if how == "put":
        size //= 2  # the source file is written first
    path = str(ufs / f"big-{how}.bin")
    worker = sw_cluster.procs[0].pid
    worker_before = reset_peak(worker)
    out = subprocess.run(
        [sys.executable, "-c", WRITER, json.dumps([so, path, size, how])],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    worker_rise = vm(worker, "VmHWM") - worker_before
    print(
        f"\n{how}: {size // MIB} MiB in {got['seconds']:.1f} s; peak RSS rise: client "
        f"{got['rise'] / MIB:.1f} MiB, worker {worker_rise / MIB:.1f} MiB"
    )
    assert os.path.getsize(path) == size
    with open(path, "rb") as f:
        assert f.read(MIB) == (bytes(range(256)) * (8 << 12))[:MIB]
    assert got["rise"] <= CLIENT_BOUND, f"client peak RSS rose {got['rise'] / MIB:.0f} MiB"
    assert worker_rise <= WORKER_BOUND, f"worker peak RSS rose {worker_rise / MIB:.0f} MiB"
    for p in (path, path + ".warm", path + ".src"):
        if os.path.exists(p):
            os.remove(p)


def test_nothing_is_visible_before_close_and_errors_keep_the_old_file(
    so: Dict[str, Any], ufs: Path
) -> None:
    fs = make(so)
    p = ufs / "atomic.bin"
    p.write_bytes(b"old")
    piece = os.urandom(3 * MIB)
    f = fs.open(str(p), "wb")
    for _ in range(5):
        f.write(piece)  # pieces stream out (the block is 4 MiB)
    assert p.read_bytes() == b"old" and fs.cat_file(str(p)) == b"old"
    assert [e.name for e in ufs.iterdir() if e.name.startswith(".")] == []  # no temp shows
    f.close()
    assert p.read_bytes() == piece * 5
    # An exception inside `with` discards the write: the file stays as it was.
    with pytest.raises(RuntimeError), fs.open(str(p), "wb") as f:
        f.write(os.urandom(10 * MIB))
        raise RuntimeError("the training step failed")
    assert p.read_bytes() == piece * 5
    # One write() of many pieces is taken a piece at a time.
    big = os.urandom(9 * MIB + 7)
    fs.pipe_file(str(p), big)
    assert p.read_bytes() == big
    with fs.open(str(p), "wb") as f:
        assert f.write(memoryview(big)) == len(big)
    assert p.read_bytes() == big


def test_a_killed_client_leaves_nothing(so: Dict[str, Any], ufs: Path) -> None:
    p = ufs / "killed.bin"
    p.write_bytes(b"precious")
    code = textwrap.dedent(
        f"""
        import os, sys
        from alluxiofs import AlluxioFileSystem
        fs = AlluxioFileSystem(skip_instance_cache=True, **{so!r})
        f = fs.open({str(p)!r}, "wb")
        for i in range(4):
            f.write(os.urandom(4 << 20))
        print("streaming", flush=True)
        sys.stdin.readline()  # killed while waiting here
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "streaming"
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            if child.poll() is None:
                child.kill()
    time.sleep(1)  # the worker sees the connection drop
    assert p.read_bytes() == b"precious"
    assert sorted(e.name for e in ufs.iterdir() if "killed" in e.name) == ["killed.bin"]


def test_put_file_streams_and_reports_progress(
    so: Dict[str, Any], ufs: Path, tmp_path: Path
) -> None:
    from fsspec.callbacks import Callback

    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(10 * MIB + 3))
    updates = []

    class Progress(Callback):  # type: ignore[misc]
        def relative_update(self, inc: int = 1) -> None:
            updates.append(inc)
            super().relative_update(inc)

    cb = Progress()
    make(so).put_file(str(src), str(ufs / "put.bin"), callback=cb)
    assert (ufs / "put.bin").read_bytes() == src.read_bytes()
    assert cb.size == src.stat().st_size == cb.value and len(updates) == 3  # a piece each


def test_a_transaction_spools_big_files_until_it_ends(so: Dict[str, Any], ufs: Path) -> None:
    fs = make(so)
    data = os.urandom(9 * MIB)
    with fs.transaction:
        with fs.open(str(ufs / "tx.bin"), "wb") as f:
            f.write(data)
        assert not (ufs / "tx.bin").exists()
    assert (ufs / "tx.bin").read_bytes() == data
    with pytest.raises(ValueError), fs.transaction:
        with fs.open(str(ufs / "tx2.bin"), "wb") as f:
            f.write(data)
        raise ValueError("rolled back")
    assert not (ufs / "tx2.bin").exists()


def test_a_write_falls_back_when_no_piece_reached_a_worker(ufs: Path) -> None:
    fs = AlluxioFileSystem(
        worker_hosts=f"127.0.0.1:{free_port()}", target_protocol="file", skip_instance_cache=True
    )
    data = os.urandom(9 * MIB)
    with fs.open(str(ufs / "fb.bin"), "wb") as f:
        f.write(data)
    fs.pipe_file(str(ufs / "fb2.bin"), data)
    assert (ufs / "fb.bin").read_bytes() == data == (ufs / "fb2.bin").read_bytes()
    assert fs.stats()["fallback_write"] == 2


def test_async_writes_stream(so: Dict[str, Any], ufs: Path, tmp_path: Path) -> None:
    afs = AsyncAlluxioFileSystem(skip_instance_cache=True, **so)
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(9 * MIB))

    async def main() -> None:
        await afs._put_file(str(src), str(ufs / "aput.bin"))
        f = await afs.open_async(str(ufs / "aopen.bin"), "wb")
        for _ in range(3):
            await f.write(src.read_bytes()[: 3 * MIB])
        assert not (ufs / "aopen.bin").exists()
        await f.close()

    asyncio.run(main())
    assert (ufs / "aput.bin").read_bytes() == src.read_bytes()
    assert (ufs / "aopen.bin").read_bytes() == src.read_bytes()[: 3 * MIB] * 3


def test_s3_gets_a_multipart_upload_or_nothing(moto: str) -> None:
    creds = {"key": "testing", "secret": "testing"}
    s3 = fsspec.filesystem("s3", endpoint_url=moto, skip_instance_cache=True, **creds)
    s3.mkdir("swrites")
    settings = {
        "endpoint": moto,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    with LocalCluster("s3://swrites", workers=1, s3=settings) as c:
        fs = AlluxioFileSystem(
            worker_hosts=c.worker_hosts,
            target_protocol="s3",
            target_options={"endpoint_url": moto, **creds},
            skip_instance_cache=True,
        )
        data = os.urandom(20 * MIB + 11)  # three 8 MiB parts on the worker
        with fs.open("swrites/big.bin", "wb") as f:
            f.write(data)
        s3.invalidate_cache()
        assert s3.cat_file("swrites/big.bin") == data
        with pytest.raises(RuntimeError), fs.open("swrites/gone.bin", "wb") as f:
            f.write(data)
            raise RuntimeError("abandoned")
        time.sleep(0.5)  # the worker aborts the multipart upload
        s3.invalidate_cache()
        assert not s3.exists("swrites/gone.bin")
        assert s3.call_s3("list_multipart_uploads", Bucket="swrites").get("Uploads", []) == []
