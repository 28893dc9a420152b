"""The fsspec surface s3fs users rely on: the listings cache and its
invalidation, content-identity keys, rm with globs and maxdepth, mv."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Iterator

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import cluster_over


@pytest.fixture(scope="module")
def surface_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    yield from cluster_over(tmp_path_factory.mktemp("surface"))


@pytest.fixture
def tree(surface_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh directory in the under storage: a.txt, b.bin, sub/c.txt, sub/deep/d.txt."""
    root = Path(surface_cluster.ufs[len("file://") :]) / tmp_path_factory.mktemp("t").name
    (root / "sub" / "deep").mkdir(parents=True)
    for rel, data in {
        "a.txt": b"a",
        "b.bin": b"bb",
        "sub/c.txt": b"c",
        "sub/deep/d.txt": b"d",
    }.items():
        (root / rel).write_bytes(data)
    return root


def make(c: LocalCluster, **kw: object) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=c.etcd_hosts, target_protocol="file", skip_instance_cache=True, **kw
    )


def test_listings_are_cached_and_own_writes_drop_them(
    surface_cluster: LocalCluster, tree: Path
) -> None:
    fs = make(surface_cluster)
    names = fs.ls(str(tree), detail=False)
    assert str(tree) in fs.dircache
    # A change behind our back is not seen until refresh (s3fs semantics)...
    (tree / "other.txt").write_bytes(b"o")
    assert fs.ls(str(tree), detail=False) == names
    assert sorted(fs.ls(str(tree), detail=False, refresh=True)) == sorted(
        [*names, str(tree / "other.txt")]
    )
    # ...and info of a listed file comes from the listing.
    assert fs.info(str(tree / "a.txt"))["size"] == 1
    # Our own write drops the listing of its directory.
    fs.pipe_file(str(tree / "new.txt"), b"n")
    assert str(tree / "new.txt") in fs.ls(str(tree), detail=False)
    fs.rm(str(tree / "new.txt"))
    assert str(tree / "new.txt") not in fs.ls(str(tree), detail=False)
    fs.invalidate_cache(str(tree))
    assert str(tree) not in fs.dircache
    off = make(surface_cluster, use_listings_cache=False)
    off.ls(str(tree))
    assert str(tree) not in off.dircache


def test_ukey_and_checksum_follow_content_identity_only(
    surface_cluster: LocalCluster, tree: Path
) -> None:
    fs = make(surface_cluster, use_listings_cache=False)
    path = str(tree / "b.bin")
    before = fs.ukey(path), fs.checksum(path)
    assert fs.cat_file(path) == b"bb"  # the cluster caches it: residency changes
    assert (fs.ukey(path), fs.checksum(path)) == before
    fs.pipe_file(path, b"changed")
    assert fs.ukey(path) != before[0] and fs.checksum(path) != before[1]


def test_rm_with_globs_and_maxdepth(surface_cluster: LocalCluster, tree: Path) -> None:
    fs = make(surface_cluster)
    fs.rm(str(tree / "*.txt"))
    assert not (tree / "a.txt").exists() and (tree / "b.bin").exists()
    assert (tree / "sub" / "c.txt").exists()
    with pytest.raises(OSError) as e:
        # maxdepth 1 reaches sub/c.txt but not sub/deep: sub/deep is not empty.
        fs.rm(str(tree / "sub"), recursive=True, maxdepth=1)
    assert e.value.errno == errno.ENOTEMPTY, e.value
    assert (tree / "sub" / "deep" / "d.txt").exists()
    fs.rm(str(tree / "sub" / "*.txt"))
    assert not (tree / "sub" / "c.txt").exists()
    fs.rm(str(tree / "sub"), recursive=True)
    assert not (tree / "sub").exists()


def test_mv_of_a_directory_needs_recursive(surface_cluster: LocalCluster, tree: Path) -> None:
    fs = make(surface_cluster)
    with pytest.raises(IsADirectoryError, match="recursive"):
        fs.mv(str(tree / "sub"), str(tree / "moved"))
    assert (tree / "sub" / "c.txt").exists()
    fs.mv(str(tree / "sub"), str(tree / "moved"), recursive=True)
    assert (tree / "moved" / "deep" / "d.txt").read_bytes() == b"d"
    assert not (tree / "sub").exists()
    fs.mv(str(tree / "*.txt"), str(tree / "moved"))
    assert (tree / "moved" / "a.txt").read_bytes() == b"a"


def test_a_transaction_writes_at_its_end_or_not_at_all(
    surface_cluster: LocalCluster, tree: Path
) -> None:
    fs = make(surface_cluster)
    with fs.transaction:
        fs.pipe_file(str(tree / "t1"), b"one")
        with fs.open(str(tree / "t2"), "wb") as f:
            f.write(b"two")
        assert not (tree / "t1").exists() and not (tree / "t2").exists()
    assert (tree / "t1").read_bytes() == b"one" and (tree / "t2").read_bytes() == b"two"
    with pytest.raises(RuntimeError, match="boom"), fs.transaction:
        fs.pipe_file(str(tree / "t3"), b"three")
        raise RuntimeError("boom")
    assert not (tree / "t3").exists()


def test_put_and_get_report_progress(
    surface_cluster: LocalCluster, tree: Path, tmp_path: Path
) -> None:
    from fsspec.callbacks import Callback

    class Seen(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.updates = 0

        def call(self, *args: object, **kwargs: object) -> None:
            self.updates += 1

    fs = make(surface_cluster)
    local = tmp_path / "up.bin"
    local.write_bytes(b"x" * 100_000)
    up = Seen()
    fs.put_file(str(local), str(tree / "up.bin"), callback=up)
    assert up.size == 100_000 and up.value == 100_000 and up.updates > 0
    down = Seen()
    fs.get_file(str(tree / "up.bin"), str(tmp_path / "down.bin"), callback=down)
    assert down.size == 100_000 and down.value == 100_000
    assert (tmp_path / "down.bin").read_bytes() == local.read_bytes()


def test_bad_input_names_what_is_wrong(surface_cluster: LocalCluster, tree: Path) -> None:
    for fs in (make(surface_cluster), make(surface_cluster, local_cache_dir=str(tree / ".lc"))):
        with pytest.raises(IsADirectoryError):
            fs.open(str(tree / "sub"), "rb")
        with pytest.raises(ValueError, match="mode 'ab'"):
            fs.open(str(tree / "a.txt"), "ab")
        for bad in (-1, 1.5, "4MB"):
            with pytest.raises(ValueError, match="block_size"):
                fs.open(str(tree / "a.txt"), "rb", block_size=bad)
        with pytest.raises(IsADirectoryError):
            fs.pipe_file(str(tree / "sub"), b"x")
        with pytest.raises(ValueError, match="pipe_file mode"):
            fs.pipe_file(str(tree / "a.txt"), b"x", mode="append")
        a = str(tree / "a.txt")
        for method, args, what in (
            ("head", (a, -3), "head size -3"),
            ("tail", (a, -3), "tail size -3"),
            ("read_block", (a, -1, 10), "read_block offset -1"),
            ("read_block", (a, 0, -10), "read_block length -10"),
            ("open", (a, "r+b"), "mode 'r[+]b'"),
            ("cat_ranges", ([a], [0, 1], [1, 2]), "same length"),
        ):
            with pytest.raises(ValueError, match=what):
                getattr(fs, method)(*args)
        with pytest.raises(ValueError, match="maxdepth"):
            fs.rm(str(tree / "sub"), recursive=True, maxdepth=0)
        with pytest.raises(TypeError, match="path 5"):
            fs.open(5)  # type: ignore[arg-type]
        with pytest.raises(IsADirectoryError):
            fs.cat_file(str(tree / "sub"))
        with pytest.raises(FileNotFoundError):
            fs.put_file(str(tree / "no-such-local-file"), str(tree / "x"))
        assert fs.head(a, 0) == b"" and fs.tail(a, 1) == b"a" and fs.read_block(a, 0, 1) == b"a"
    assert (tree / "a.txt").read_bytes() == b"a"  # nothing written was lost


def test_free_drops_cached_pages_and_keeps_the_files(
    surface_cluster: LocalCluster, tree: Path
) -> None:
    fs = make(surface_cluster)
    files = ["a.txt", "b.bin", "sub/c.txt", "sub/deep/d.txt"]
    for f in files:
        fs.cat_file(str(tree / f))

    def cached(f: str) -> int:
        fs.invalidate_cache()
        pct: int = fs.info(str(tree / f))["in_alluxio_percentage"]
        return pct

    assert [cached(f) for f in files] == [100] * 4
    fs.free(str(tree / "a.txt"))
    assert [cached(f) for f in files] == [0, 100, 100, 100]
    fs.free(str(tree / "sub"))
    assert [cached(f) for f in files] == [0, 100, 0, 0]
    fs.free(str(tree))
    assert [cached(f) for f in files] == [0] * 4
    assert (tree / "sub" / "deep" / "d.txt").read_bytes() == b"d"  # the UFS is untouched
    assert fs.cat_file(str(tree / "b.bin")) == b"bb"
    with pytest.raises(PermissionError):
        fs.free("file:///etc")  # outside the workers' under storage


def test_created_is_the_under_storages_birth_time(
    surface_cluster: LocalCluster, tree: Path
) -> None:
    import datetime
    import os
    import time

    p = tree / "born.txt"
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    p.write_bytes(b"1")
    os.utime(p, (time.time() + 3600, time.time() + 3600))  # modified an hour "later"
    fs = make(surface_cluster)
    try:
        created = fs.created(str(p))
    except NotImplementedError:  # pragma: no cover - depends on the file system
        pytest.skip("the file system under the test's directory keeps no birth times")
    modified = fs.modified(str(p))
    assert before <= created <= datetime.datetime.now(datetime.timezone.utc)
    assert modified - created > datetime.timedelta(minutes=59)  # not a copy of mtime
