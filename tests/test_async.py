"""The async API (``AsyncAlluxioFileSystem``): results agree with the sync
API and the local files, fsspec's ways to ask for it work, it needs no
fsspec I/O thread, and it survives fork, cancellation and worker failure."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import fsspec
import pytest
from fsspec.callbacks import Callback

from alluxiofs import AlluxioFileSystem, AsyncAlluxioFileSystem
from alluxiofs.etcd_process import free_port
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over

PAGE = 64 * 1024


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = tmp_path_factory.mktemp("aio")
    (r / "big.bin").write_bytes(os.urandom(5 * PAGE + 123))
    (r / "d" / "e").mkdir(parents=True)
    (r / "d" / "a.txt").write_bytes(b"alpha\n")
    (r / "d" / "e" / "b.txt").write_bytes(b"beta\n")
    (r / "w").mkdir()
    return r


@pytest.fixture(scope="module")
def aio_cluster(root: Path) -> Iterator[LocalCluster]:
    yield from cluster_over(root, page_size=str(PAGE))


@pytest.fixture()
def so(aio_cluster: LocalCluster) -> Dict[str, Any]:
    return {
        "etcd_hosts": aio_cluster.etcd_hosts,
        "target_protocol": "file",
        "options": {"alluxio.worker.page.store.page.size": str(PAGE)},
    }


@pytest.fixture()
def afs(so: Dict[str, Any]) -> AsyncAlluxioFileSystem:
    fs = fsspec.filesystem("alluxiofs", asynchronous=True, skip_instance_cache=True, **so)
    assert isinstance(fs, AsyncAlluxioFileSystem)
    return fs


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_asked_for_the_fsspec_way(so: Dict[str, Any]) -> None:
    fs = AlluxioFileSystem(asynchronous=True, skip_instance_cache=True, **so)
    assert isinstance(fs, AsyncAlluxioFileSystem) and fs.async_impl and fs.asynchronous
    plain = AlluxioFileSystem(skip_instance_cache=True, **so)
    assert type(plain) is AlluxioFileSystem and not plain.async_impl
    # Cached apart from the sync instance, and rebuilt the same by pickling.
    import pickle

    again = pickle.loads(pickle.dumps(fs))
    assert isinstance(again, AsyncAlluxioFileSystem)


def test_reads_agree_with_the_files(afs: AsyncAlluxioFileSystem, root: Path) -> None:
    big = (root / "big.bin").read_bytes()
    p = str(root / "big.bin")

    async def main() -> None:
        assert await afs._cat_file(p) == big
        assert await afs._cat_file(p, PAGE - 5, 3 * PAGE + 7) == big[PAGE - 5 : 3 * PAGE + 7]
        assert await afs._cat_file(p, -100) == big[-100:]
        got = await afs._cat_ranges([p, p, p], [0, 10, -5], [5, 20, None])
        assert got == [big[:5], big[10:20], big[-5:]]
        many = await afs._cat(str(root / "d" / "*.txt"))
        assert many == {str(root / "d" / "a.txt"): b"alpha\n"}
        tree = await afs._cat(str(root / "d"), recursive=True)
        assert tree == {str(root / "d" / "a.txt"): b"alpha\n", str(root / "d/e/b.txt"): b"beta\n"}
        f = await afs.open_async(p)
        assert await f.read(10) == big[:10] and await f.read() == big[10:]
        await f.close()

    run(main())
    # The sync API of the same instance still works.
    assert afs.cat_file(p, 0, 10) == big[:10]


def test_metadata_agrees_with_the_sync_api(
    afs: AsyncAlluxioFileSystem, so: Dict[str, Any], root: Path
) -> None:
    sync = AlluxioFileSystem(skip_instance_cache=True, **so)
    r = str(root)

    async def main() -> None:
        assert await afs._ls(r, detail=False) == sync.ls(r, detail=False)
        info = await afs._info(r + "/big.bin")
        assert info["size"] == (root / "big.bin").stat().st_size and info["name"] == r + "/big.bin"
        assert await afs._find(r) == sync.find(r)
        assert await afs._find(r, withdirs=True) == sync.find(r, withdirs=True)
        assert await afs._find(r, maxdepth=1) == sync.find(r, maxdepth=1)
        assert await afs._find(r + "/big.bin") == [r + "/big.bin"]
        assert await afs._exists(r + "/d/e/b.txt") and not await afs._exists(r + "/nope")
        assert await afs._isdir(r + "/d") and await afs._size(r + "/d/a.txt") == 6
        with pytest.raises(FileNotFoundError):
            await afs._info(r + "/nope")
        with pytest.raises(FileNotFoundError):
            await afs._cat_file(r + "/nope")

    run(main())


class Progress(Callback):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    def relative_update(self, inc: int = 1) -> None:
        super().relative_update(inc)
        self.updates += 1


def test_writes_and_namespace(afs: AsyncAlluxioFileSystem, root: Path, tmp_path: Path) -> None:
    w = str(root / "w")

    async def main() -> None:
        await afs._pipe_file(w + "/p.bin", b"piped")
        assert (root / "w" / "p.bin").read_bytes() == b"piped"
        with pytest.raises(FileExistsError):
            await afs._pipe_file(w + "/p.bin", b"again", mode="create")
        with pytest.raises(ValueError, match="mode"):
            await afs._pipe_file(w + "/p.bin", b"again", mode="append")
        src = tmp_path / "up.bin"
        src.write_bytes(os.urandom(3 * PAGE))
        cb = Progress()
        await afs._put_file(str(src), w + "/up.bin", callback=cb)
        assert (root / "w" / "up.bin").read_bytes() == src.read_bytes()
        assert cb.size == 3 * PAGE and cb.value == 3 * PAGE
        cb = Progress()
        await afs._get_file(w + "/up.bin", str(tmp_path / "down.bin"), callback=cb)
        assert (tmp_path / "down.bin").read_bytes() == src.read_bytes() and cb.value == 3 * PAGE
        f = await afs.open_async(w + "/o.bin", "wb")
        await f.write(b"one ")
        await f.write(b"two")
        assert not (root / "w" / "o.bin").exists()  # nothing visible before close
        await f.close()
        assert (root / "w" / "o.bin").read_bytes() == b"one two"
        with pytest.raises(FileExistsError):
            await afs.open_async(w + "/o.bin", "xb")
        await afs._mkdir(w + "/sub/deeper")
        await afs._pipe_file(w + "/sub/deeper/x", b"x")
        await afs._cp_file(w + "/o.bin", w + "/sub/o2.bin")
        assert (root / "w" / "sub" / "o2.bin").read_bytes() == b"one two"
        await afs._rm(w + "/*.bin")
        assert not list((root / "w").glob("*.bin"))
        with pytest.raises(OSError):
            await afs._rm(w + "/sub")  # a non-empty directory needs recursive
        await afs._rm(w + "/sub", recursive=True)
        assert not (root / "w" / "sub").exists()
        assert await afs._ls(w, detail=False) == []

    run(main())
    # The same instance's sync methods are the sync filesystem's, not
    # coroutines by the same names.
    afs.pipe_file(w + "/s.bin", b"sync")
    afs.rm(w + "/s.bin")
    assert not (root / "w" / "s.bin").exists()


def test_many_concurrent_reads_and_cancellation(afs: AsyncAlluxioFileSystem, root: Path) -> None:
    big = (root / "big.bin").read_bytes()
    p = str(root / "big.bin")
    step = 4096

    async def main() -> None:
        n = len(big) // step
        got = await asyncio.gather(*(afs._cat_file(p, i * step, (i + 1) * step) for i in range(n)))
        assert b"".join(got) == big[: n * step]
        # Cancelled reads leave nothing behind that breaks the next ones.
        tasks = [asyncio.ensure_future(afs._cat_file(p)) for _ in range(50)]
        await asyncio.sleep(0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert await afs._cat_file(p) == big

    run(main())


def _child_reads(so: Dict[str, Any], path: str, q: Any) -> None:
    fs = fsspec.filesystem("alluxiofs", asynchronous=True, **so)
    q.put(asyncio.run(fs._cat_file(path, 0, 100)))


def test_fork_safe(so: Dict[str, Any], root: Path) -> None:
    fs = fsspec.filesystem("alluxiofs", asynchronous=True, **so)
    p = str(root / "big.bin")
    assert asyncio.run(fs._cat_file(p, 0, 100)) == (root / "big.bin").read_bytes()[:100]
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child_reads, args=(so, p, q))
    proc.start()
    assert q.get(timeout=60) == (root / "big.bin").read_bytes()[:100]
    proc.join(30)
    assert proc.exitcode == 0


def test_no_fsspec_io_thread(so: Dict[str, Any], root: Path) -> None:
    """The coroutines are the core's futures: no fsspec loop thread starts."""
    code = (
        "import asyncio, sys, threading, fsspec\n"
        f"fs = fsspec.filesystem('alluxiofs', asynchronous=True, **{so!r})\n"
        f"asyncio.run(fs._cat_file({str(root / 'big.bin')!r}, 0, 10))\n"
        "print(sorted(t.name for t in threading.enumerate()))\n"
        "print(fsspec.asyn.iothread[0] is None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split("\n")
    assert out[0] == "['MainThread']" and out[1] == "True", out


def test_falls_back_to_the_under_storage(root: Path) -> None:
    """Workers that cannot be reached: reads and listings come from the UFS."""
    fs = AsyncAlluxioFileSystem(
        worker_hosts=f"127.0.0.1:{free_port()}", target_protocol="file", skip_instance_cache=True
    )
    p = str(root / "d" / "a.txt")

    async def main() -> None:
        assert await fs._cat_file(p) == b"alpha\n"
        assert str(root / "d" / "a.txt") in await fs._ls(str(root / "d"), detail=False)

    run(main())
    assert fs.stats()["fallbacks"] >= 2


def test_zarr_uses_the_async_api_unwrapped(so: Dict[str, Any], root: Path) -> None:
    np = pytest.importorskip("numpy")
    zarr = pytest.importorskip("zarr")
    from zarr.storage import FsspecStore

    url = "alluxiofs://file://" + str(root / "g.zarr")
    store = FsspecStore.from_url(url, storage_options=so)
    assert isinstance(store.fs, AsyncAlluxioFileSystem)  # not fsspec's thread wrapper
    group = zarr.open_group(store, mode="w")
    for name in ("a", "b"):
        arr = group.create_array(name, shape=(40, 7), chunks=(8, 7), dtype="i4")
        arr[:] = np.arange(280).reshape(40, 7) * (2 if name == "b" else 1)
    again = zarr.open_group(url, mode="r", storage_options=so)
    np.testing.assert_array_equal(again["b"][:], np.arange(280).reshape(40, 7) * 2)
    assert sorted(again.array_keys()) == ["a", "b"]
    assert (root / "g.zarr" / "a" / "zarr.json").is_file()
