"""Reads through the workers compared with the under-storage bytes, and every
metadata method of the filesystem."""

from __future__ import annotations

import datetime
import pickle
import random
from pathlib import Path

import cloudpickle
import fsspec
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE, SIZES


def test_whole_files_and_random_ranges(afs: AlluxioFileSystem, dataset: Path) -> None:
    rnd = random.Random(42)
    checks = 0
    for name in SIZES:
        path = str(dataset / name)
        want = (dataset / name).read_bytes()
        assert afs.cat_file(path) == want, name
        assert afs.cat_file(f"file://{path}") == want
        assert afs.cat_file(f"alluxiofs://{path}") == want
        for _ in range(25):
            n = len(want)
            start = rnd.randint(-n - 5, n + 5)
            end = rnd.choice([None, rnd.randint(-n - 5, n + 5)])
            assert afs.cat_file(path, start, end) == want[start:end], (name, start, end)
            checks += 1
        for start in (0, PAGE - 1, PAGE, PAGE + 1, n - 1, n):
            for length in (0, 1, 2, PAGE, 2 * PAGE + 3):
                assert afs.cat_file(path, start, start + length) == want[start : start + length]
                checks += 1
    assert checks > 300
    assert afs.stats()["bytes_from_workers"] > 0
    assert afs.stats().get("fallbacks", 0) == 0


def test_big_reads_are_whole_while_their_buffers_fault_in(
    afs: AlluxioFileSystem, cluster: LocalCluster
) -> None:
    # Results of 32 MiB and more are faulted in by a helper thread while the
    # pieces land (src/python/prefault.rs): cold and warm, from the start,
    # from an offset, and with the size known, every byte must be the file's.
    root = Path(cluster.ufs[len("file://") :]) / "scratch-big"
    root.mkdir()
    try:
        n = 40 * 1024 * 1024 + 12345
        want = random.Random(7).randbytes(n)
        path = root / "big.bin"
        path.write_bytes(want)
        url = str(path)
        assert afs.cat_file(url) == want  # cold: no size known, first piece then the rest
        assert afs.cat_file(url) == want  # warm
        assert afs.cat_file(url, PAGE + 3, None) == want[PAGE + 3 :]
        assert afs.cat_file(url, -(n - 5), n - 2) == want[5 : n - 2]  # size asked first
        with afs.open(url, "rb", block_size=0) as f:
            f.seek(11)
            assert f.read(36 * 1024 * 1024) == want[11 : 11 + 36 * 1024 * 1024]
    finally:
        afs.rm(str(root), recursive=True)


def test_file_objects(afs: AlluxioFileSystem, dataset: Path) -> None:
    path = str(dataset / "many.bin")
    want = (dataset / "many.bin").read_bytes()
    with afs.open(path, "rb") as f:
        assert f.size == len(want)
        assert f.read(10) == want[:10]
        f.seek(PAGE - 3)
        assert f.read(6) == want[PAGE - 3 : PAGE + 3]
        f.seek(-5, 2)
        assert f.read() == want[-5:]
        assert f.read() == b""
        f.seek(100)
        buf = bytearray(2 * PAGE)
        assert f.readinto(buf) == 2 * PAGE and bytes(buf) == want[100 : 100 + 2 * PAGE]
        f.seek(len(want) - 10)
        mv = memoryview(bytearray(50))
        assert f.readinto(mv) == 10 and bytes(mv[:10]) == want[-10:]
        f.seek(7)
        assert f.read_buffer(1000) == want[7:1007]
        assert f.tell() == 1007
    with afs.open(str(dataset / "empty.bin")) as f:
        assert f.read() == b"" and f.readinto(bytearray(4)) == 0
    assert afs.head(path, 100) == want[:100]
    assert afs.tail(path, 100) == want[-100:]


def test_cat_ranges_and_cat(afs: AlluxioFileSystem, dataset: Path) -> None:
    a, b = str(dataset / "many.bin"), str(dataset / "page_plus.bin")
    wa, wb = (dataset / "many.bin").read_bytes(), (dataset / "page_plus.bin").read_bytes()
    paths = [a, a, b, a, a, b]
    starts = [0, 10, PAGE, 5 * PAGE, -10, 0]
    ends = [5, 3 * PAGE, PAGE + 1, 5 * PAGE + 100, None, 1]
    got = afs.cat_ranges(paths, starts, ends)
    want = [(wa if p == a else wb)[s:e] for p, s, e in zip(paths, starts, ends)]
    assert got == want
    missing = str(dataset / "nope")
    got = afs.cat_ranges([a, missing], [0, 0], [3, 3])
    assert got[0] == wa[:3] and isinstance(got[1], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        afs.cat_ranges([missing], [0], [3], on_error="raise")
    many = afs.cat([str(dataset / n) for n in SIZES])
    assert many == {str(dataset / n): (dataset / n).read_bytes() for n in SIZES}
    assert afs.cat([a, missing], on_error="omit") == {a: wa}
    recursive = afs.cat(str(dataset / "sub"), recursive=True)
    assert sorted(recursive) == [str(dataset / "sub/a.txt"), str(dataset / "sub/deeper/b.bin")]


def test_metadata(afs: AlluxioFileSystem, dataset: Path) -> None:
    root = str(dataset)
    names = afs.ls(root, detail=False)
    assert names == sorted(str(dataset / n) for n in [*[k for k in SIZES if "/" not in k], "sub"])
    detail = {e["name"]: e for e in afs.ls(root)}
    many = detail[str(dataset / "many.bin")]
    assert many["type"] == "file" and many["size"] == SIZES["many.bin"]
    assert isinstance(many["mtime"], datetime.datetime)
    assert abs(many["mtime"].timestamp() - (dataset / "many.bin").stat().st_mtime) < 1
    assert many["ufs_path"] == f"file://{dataset}/many.bin"
    assert detail[str(dataset / "sub")]["type"] == "directory"
    info = afs.info(str(dataset / "page.bin"))
    assert (info["name"], info["size"], info["type"]) == (str(dataset / "page.bin"), PAGE, "file")
    assert afs.exists(str(dataset / "one.bin")) and not afs.exists(str(dataset / "nope"))
    assert afs.isdir(str(dataset / "sub")) and not afs.isdir(str(dataset / "one.bin"))
    assert afs.isfile(str(dataset / "one.bin")) and not afs.isfile(str(dataset / "sub"))
    assert afs.size(str(dataset / "many.bin")) == SIZES["many.bin"]
    assert afs.find(root) == sorted(str(dataset / n) for n in SIZES)
    assert afs.glob(f"{root}/sub/**/*.bin") == [str(dataset / "sub/deeper/b.bin")]
    walked = {d: sorted(f) for d, _, f in afs.walk(root)}
    assert walked[str(dataset / "sub")] == ["a.txt"]
    assert afs.du(root) == sum(SIZES.values())
    assert afs.modified(str(dataset / "one.bin")) == afs.info(str(dataset / "one.bin"))["mtime"]
    with pytest.raises(FileNotFoundError):
        afs.info(str(dataset / "nope"))
    with pytest.raises(FileNotFoundError):
        afs.ls(str(dataset / "nope"))


def test_rust_built_entries_match_the_python_ones(afs: AlluxioFileSystem, dataset: Path) -> None:
    # For local/S3/GCS under storages ls/info dicts are built in Rust; they must
    # equal what the generic path (the UFS filesystem's own name rules) makes.
    assert afs._names_from_url
    url = "file://" + str(dataset)
    for path in (str(dataset), str(dataset / "sub")):
        assert afs.ls(path) == [afs._info_dict(s) for s in afs.client._core.list("file://" + path)]
    afs.invalidate_cache()  # info straight from the worker, not the listings above
    for name in ("many.bin", "sub", "sub/deeper/b.bin", "empty.bin"):
        assert afs.info(str(dataset / name)) == afs._info_dict(
            afs.client._core.info(f"{url}/{name}")
        )


def test_writes_and_namespace(
    afs: AlluxioFileSystem, tmp_path: Path, cluster: LocalCluster
) -> None:
    # The workers' root is the session dataset: write under a scratch dir there.
    root = Path(cluster.ufs[len("file://") :]) / "scratch"
    try:
        afs.mkdir(str(root / "a" / "b"))
        assert (root / "a" / "b").is_dir()
        afs.makedirs(str(root / "a" / "b"), exist_ok=True)
        with pytest.raises(FileExistsError):
            afs.makedirs(str(root / "a"), exist_ok=False)
        afs.pipe_file(str(root / "p.bin"), b"x" * (PAGE + 3))
        assert (root / "p.bin").read_bytes() == b"x" * (PAGE + 3)
        afs.pipe_file(str(root / "p.bin"), b"shorter")
        assert afs.cat_file(str(root / "p.bin")) == b"shorter"
        with afs.open(str(root / "w.bin"), "wb") as f:
            for i in range(100):
                f.write(bytes([i]) * 1000)
            assert not (root / "w.bin").exists(), "nothing lands before close"
        assert (root / "w.bin").read_bytes() == b"".join(bytes([i]) * 1000 for i in range(100))
        with pytest.raises(FileExistsError):
            afs.open(str(root / "w.bin"), "xb")
        local = tmp_path / "local.txt"
        local.write_bytes(b"from disk")
        afs.put_file(str(local), str(root / "put.txt"))
        assert afs.cat_file(str(root / "put.txt")) == b"from disk"
        afs.touch(str(root / "t"))
        assert (root / "t").read_bytes() == b""
        afs.touch(str(root / "put.txt"), truncate=False)
        assert (root / "put.txt").read_bytes() == b"from disk"
        afs.mv(str(root / "put.txt"), str(root / "moved.txt"))
        assert not (root / "put.txt").exists() and (root / "moved.txt").read_bytes() == b"from disk"
        afs.cp_file(str(root / "moved.txt"), str(root / "copy.txt"))
        assert (root / "copy.txt").read_bytes() == b"from disk"
        afs.rm(str(root / "copy.txt"))
        assert not (root / "copy.txt").exists()
        afs.rm(str(root / "a"), recursive=True)
        assert not (root / "a").exists()
        assert afs.stats().get("fallbacks", 0) == 0
    finally:
        afs.rm(str(root), recursive=True)
    with pytest.raises(ValueError, match="mode"):
        afs.open(str(root / "x"), "ab")


def test_pickle_round_trips_still_read(afs: AlluxioFileSystem, dataset: Path) -> None:
    path = str(dataset / "page_plus.bin")
    want = (dataset / "page_plus.bin").read_bytes()
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        fs2 = loads(dumps(afs))
        assert fs2.cat_file(path) == want
        c2 = loads(dumps(afs.client))
        assert c2.read_range(f"file://{path}", 1, 10) == want[1:11]
        with afs.open(path) as f:
            f.seek(3)
            f2 = loads(dumps(f))
            assert f2.read(5) == want[3:8]


def test_entry_point_and_seed_registration(cluster: LocalCluster, dataset: Path) -> None:
    fsspec.register_implementation("alluxiofs", AlluxioFileSystem, clobber=True)
    fs = fsspec.filesystem(
        "alluxiofs",
        etcd_hosts=cluster.etcd_hosts,
        target_protocol="file",
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
    )
    assert fs.cat_file(str(dataset / "one.bin")) == (dataset / "one.bin").read_bytes()
    with fsspec.open(
        f"alluxiofs://{dataset}/sub/a.txt",
        "rb",
        etcd_hosts=cluster.etcd_hosts,
        target_protocol="file",
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
    ) as f:
        assert f.read() == b"hello\n"


def test_client_api(cluster: LocalCluster, dataset: Path) -> None:
    from alluxiofs.client import AlluxioClient

    c = AlluxioClient(
        etcd_hosts=cluster.etcd_hosts, options={"alluxio.worker.page.store.page.size": str(PAGE)}
    )
    url = f"file://{dataset}/many.bin"
    want = (dataset / "many.bin").read_bytes()
    assert c.read(url) == want
    assert c.read_range(url, 5, 10) == want[5:15]
    assert c.read_range(url, len(want) - 3, 10) == want[-3:]
    assert c.read_range(url, 7, -1) == want[7:]
    assert c.read_range(url, 0, 0) == b""
    with pytest.raises(ValueError):
        c.read_range(url, -1, 3)
    st = c.get_file_status(url)
    assert (st["type"], st["size"], st["ufs_path"]) == ("file", len(want), url)
    assert {e["name"] for e in c.listdir(f"file://{dataset}/sub")} == {"a.txt", "deeper"}
    seen = []
    assert c.load(f"file://{dataset}/sub", timeout=60, progress=seen.append, poll_interval=0.2)
    assert seen and seen[-1]["state"] == "SUCCEEDED"
    assert c.load_progress(f"file://{dataset}/sub")["state"] == "SUCCEEDED"
    assert c.stop_load(f"file://{dataset}/sub")["success"] is False
    resp = c.submit_load(f"file://{dataset}/sub")
    assert resp["success"] is True and resp["jobId"]
