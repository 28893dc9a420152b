"""The node-shared local page cache (``local_cache_dir``): epochs served from
it, options, the ``alluxiofs cache`` command. Faults and many processes are in
``tests/reliability/test_r12_local_cache.py``."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator

import pytest

from alluxiofs import AlluxioFileSystem, _core
from alluxiofs.local_cluster import LocalCluster

PAGE = 64 * 1024


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, bytes]:
    """Files of awkward sizes (empty, one byte, page edges, several pages)."""
    root = tmp_path_factory.mktemp("lc-ufs")
    rnd = random.Random(7)
    out = {}
    for i, size in enumerate([0, 1, PAGE - 1, PAGE, PAGE + 1, 5 * PAGE + 17, 300_000]):
        p = root / f"f{i}.bin"
        b = rnd.randbytes(size)
        p.write_bytes(b)
        out[str(p)] = b
    return out


@pytest.fixture(scope="module")
def lc_cluster(data: Dict[str, bytes]) -> Iterator[LocalCluster]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    root = os.path.dirname(next(iter(data)))
    with LocalCluster(root, workers=2, start_etcd=True, page_size=str(PAGE)) as c:
        yield c


def make_fs(c: LocalCluster, cache: Path, **kw: object) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=c.etcd_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_dir=str(cache),
        skip_instance_cache=True,
        **kw,
    )


def read_all(fs: AlluxioFileSystem, data: Dict[str, bytes], seed: int) -> int:
    """Reads every file whole, in ranges and through a file object; checks
    every byte; returns how many reads."""
    rnd = random.Random(seed)
    n = 0
    for path, want in sorted(data.items(), key=lambda _: rnd.random()):
        assert fs.cat_file(path) == want
        a = rnd.randint(0, len(want))
        b = rnd.randint(a, len(want))
        assert fs.cat_file(path, a, b) == want[a:b]
        with fs.open(path, "rb") as f:
            f.seek(a)
            assert f.read(b - a) == want[a:b]
        n += 3
    got = fs.cat_ranges(list(data), [0] * len(data), [None] * len(data))
    assert got == list(data.values())
    return n + len(data)


def test_second_epoch_comes_from_the_local_cache(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    fs = make_fs(lc_cluster, tmp_path / "cache")
    read_all(fs, data, 1)
    first = fs.stats()
    assert first["local_cache_misses"] > 0 and first["bytes_from_workers"] > 0
    assert first["local_cache_store_us"] > 0, "storing the fetched pages took no time"
    for epoch in (2, 3):
        read_all(fs, data, epoch)
    s = fs.stats()
    assert s["bytes_from_workers"] == first["bytes_from_workers"], "epochs 2-3 asked the workers"
    assert s["local_cache_misses"] == first["local_cache_misses"]
    assert s["local_cache_store_us"] == first["local_cache_store_us"], "hits stored pages"
    assert s["local_cache_hits"] > first["local_cache_hits"]
    assert s["bytes_from_local_cache"] > 2 * sum(len(b) for b in data.values())
    # Another configuration (another core, as in another process) sharing
    # the directory finds it all there.
    fs2 = make_fs(lc_cluster, tmp_path / "cache", concurrency=7)
    read_all(fs2, data, 4)
    assert fs2.stats()["bytes_from_workers"] == 0
    assert fs2.stats()["local_cache_misses"] == 0


def test_off_unless_configured(lc_cluster: LocalCluster, data: Dict[str, bytes]) -> None:
    fs = AlluxioFileSystem(
        etcd_hosts=lc_cluster.etcd_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        skip_instance_cache=True,
    )
    read_all(fs, data, 1)
    s = fs.stats()
    assert s["bytes_from_local_cache"] == 0 and s["local_cache_hits"] == 0
    assert s["local_cache_misses"] == 0 and s["bytes_from_workers"] > 0


def test_two_directories_share_the_pages_by_size(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    fs = make_fs(lc_cluster, Path(f"{a},{b}"), local_cache_size="8MB,8MB")
    read_all(fs, data, 1)
    pages = [sum(n["pages"] for n in _core.local_cache_namespaces(str(d))) for d in (a, b)]
    assert pages[0] > 0 and pages[1] > 0, pages


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"local_cache_size": "10XB"}, "local_cache_size"),
        ({"local_cache_size": "0"}, "local_cache_size"),
        ({"local_cache_size": "1GB,2GB"}, "local_cache_size"),
        ({"local_cache_size": "1KB"}, "local_cache_size"),
        ({"local_cache_size_gb": "lots"}, "local_cache_size_gb"),
        ({"local_cache_size": "1GB", "local_cache_size_gb": 1}, "local_cache_size_gb"),
        ({"local_cache_metadata_ttl": "soon"}, "local_cache_metadata_ttl"),
    ],
)
def test_bad_options_name_the_option(
    lc_cluster: LocalCluster, tmp_path: Path, kw: Dict[str, object], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        make_fs(lc_cluster, tmp_path / "c", **kw)


def test_bad_directories_name_the_option(lc_cluster: LocalCluster, tmp_path: Path) -> None:
    f = tmp_path / "a-file"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="local_cache_dir"):
        make_fs(lc_cluster, f)
    with pytest.raises(ValueError, match="local_cache_dir"):
        make_fs(lc_cluster, Path(f"{tmp_path / 'x'},"))
    with pytest.raises(ValueError, match="local_cache_dir"):
        AlluxioFileSystem(etcd_hosts=lc_cluster.etcd_hosts, local_cache_enabled=True)


def test_alluxiofs_11_names(
    lc_cluster: LocalCluster,
    data: Dict[str, bytes],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    fs = AlluxioFileSystem(
        etcd_hosts=lc_cluster.etcd_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_enabled=True,
        local_cache_dir=str(tmp_path / "c"),
        local_cache_size_gb="0.01",
        local_cache_prefetch_policy="adaptive_window",
        skip_instance_cache=True,
    )
    read_all(fs, data, 1)
    read_all(fs, data, 2)
    assert fs.stats()["local_cache_hits"] > 0
    assert any("local_cache_prefetch_policy" in r.getMessage() for r in caplog.records)
    off = AlluxioFileSystem(
        etcd_hosts=lc_cluster.etcd_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_enabled=False,
        local_cache_dir=str(tmp_path / "d"),
        skip_instance_cache=True,
    )
    read_all(off, data, 1)
    assert off.stats()["local_cache_misses"] == 0
    assert not (tmp_path / "d").exists()


def test_a_flipped_byte_is_caught_and_refetched(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fs = make_fs(lc_cluster, cache)
    read_all(fs, data, 1)
    pages = sorted(cache.glob("alluxiofs-cache-v1/*/pages/*/*"))
    assert pages
    for p in pages:
        with open(p, "r+b") as f:
            f.seek(min(100, os.path.getsize(p) - 1))
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
    before = fs.stats()["bytes_from_workers"]
    read_all(fs, data, 2)
    assert fs.stats()["bytes_from_workers"] > before, "corrupt pages were not refetched"
    read_all(fs, data, 3)


def test_cache_command_shows_and_clears(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    fs = make_fs(lc_cluster, cache)
    read_all(fs, data, 1)
    read_all(fs, data, 2)

    def cli(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "alluxiofs", "cache", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    (ns,) = json.loads(cli(str(cache), "--json"))
    assert ns["pages"] > 0 and ns["bytes"] > 0 and ns["hits"] > 0 and ns["misses"] > 0
    assert f"page size: {PAGE}" in ns["about"]
    assert 0 < ns["hit_ratio"] < 1
    table = cli(str(cache))
    assert "HIT RATIO" in table and ns["name"] in table
    cli(str(cache), "--clear")
    (after,) = json.loads(cli(str(cache), "--json"))
    assert after["pages"] == 0 and after["hits"] == 0
    # The cache is still usable after a clear.
    before = fs.stats()["bytes_from_workers"]
    read_all(fs, data, 3)
    assert fs.stats()["bytes_from_workers"] > before


def test_prefetch_keeps_the_next_files_within_the_budget(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    root = Path(next(iter(data))).parent
    rnd = random.Random(11)
    files = {}
    for i in range(24):
        p = root / f"pf{i}.bin"
        b = rnd.randbytes(3 * PAGE + i)
        p.write_bytes(b)
        files[str(p)] = b
    big = root / "pf-big.bin"
    big.write_bytes(rnd.randbytes(20 * PAGE))
    fs = make_fs(lc_cluster, tmp_path / "cache")
    order = list(files)
    rnd.shuffle(order)
    order.insert(5, str(big))
    budget = 4 * (3 * PAGE + 24)  # about four files ahead
    with fs.prefetch(order, budget=budget, threads=3) as pf:
        # Nothing is read yet: it stops at the budget.
        deadline = time.monotonic() + 20
        while pf.progress()["files_fetched"] < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        p = pf.progress()
        assert 1 <= p["files_fetched"] <= 4 and p["bytes_ahead"] <= budget, p
        for path in order:
            if path == str(big):
                continue
            assert fs.cat_file(path) == files[path]
        assert pf.wait(30)
        p = pf.progress()
    s = fs.stats()
    assert p["files_skipped"] == 1, p  # bigger than the whole budget
    assert p["files_failed"] == 0, p
    assert p["max_bytes_ahead"] <= budget, p
    assert s["prefetch_bytes"] > 0
    assert s["local_cache_hits"] > s["local_cache_misses"], s
    assert s["prefetch_unused_bytes"] == 0, s  # every file fetched was read


def test_prefetch_cancel_counts_unused_and_needs_a_cache(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    fs = make_fs(lc_cluster, tmp_path / "cache")
    paths = list(data)
    pf = fs.prefetch(paths, budget="64MB")
    assert pf.wait(30)
    pf.cancel()
    pf.cancel()
    assert fs.stats()["prefetch_unused_bytes"] == sum(len(data[p]) for p in paths)
    with pytest.raises(ValueError, match="budget"):
        fs.prefetch(paths, budget="lots")
    plain = AlluxioFileSystem(
        etcd_hosts=lc_cluster.etcd_hosts, target_protocol="file", skip_instance_cache=True
    )
    with pytest.raises(ValueError, match="local_cache_dir"):
        plain.prefetch(paths)


def test_sequential_reads_of_an_open_file_are_read_ahead(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    root = Path(next(iter(data))).parent
    p = root / "ra.bin"
    want = random.Random(12).randbytes(160 * PAGE + 3)
    p.write_bytes(want)
    fs = make_fs(lc_cluster, tmp_path / "cache")
    got = bytearray()
    with fs.open(str(p), "rb") as f:
        buf = bytearray(PAGE)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            got += buf[:n]
            time.sleep(0.002)  # a consumer that does some work per chunk
    assert bytes(got) == want
    s = fs.stats()
    assert s["prefetch_bytes"] > len(want) // 2, s
    assert s["local_cache_hits"] > s["local_cache_misses"], s
    # Random reads (jumps) fetch little ahead.
    fs2 = make_fs(lc_cluster, tmp_path / "cache2", concurrency=9)
    rnd = random.Random(13)
    with fs2.open(str(p), "rb") as f:
        for _ in range(40):
            a = rnd.randrange(len(want) - PAGE)
            f.seek(a)
            assert f.read(100) == want[a : a + 100]
    assert fs2.stats()["prefetch_bytes"] < len(want) // 4, fs2.stats()


def _read_in_child(fs: AlluxioFileSystem, files: Dict[str, bytes], q: object) -> None:
    ok = all(fs.cat_file(p) == b for p, b in files.items())
    q.put(ok)  # type: ignore[attr-defined]


def test_a_forked_child_ignores_its_parents_prefetch(
    lc_cluster: LocalCluster, data: Dict[str, bytes], tmp_path: Path
) -> None:
    import multiprocessing as mp

    fs = make_fs(lc_cluster, tmp_path / "cache")
    with fs.prefetch(list(data) * 50, budget="64MB", threads=4):
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=_read_in_child, args=(fs, data, q)) for _ in range(3)]
        for p in procs:
            p.start()
        results = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
    assert results == [True] * 3
