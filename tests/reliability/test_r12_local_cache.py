"""R12 local cache: the node-shared page cache under many processes and faults.

Proves, against a real cluster (etcd, two workers, 64 KiB pages):

- **herd**: N forked processes reading the same cold file at once fetch each
  page from the workers about once (bytes from workers summed over the
  processes, vs the file size), every byte right;
- **kill**: readers SIGKILLed at random moments, fills in flight, leave no
  wrong byte for the next reader; once their temporary files are past the
  5 s grace the space they reserved is counted free again and nothing of
  theirs is left;
- **quota**: processes filling a small cache with distinct files never make
  its pages pass the quota by more than one page (sampled under the ledger
  lock by ``local_cache_namespaces``);
- **versions**: a file rewritten in the under storage (metadata TTL 0) and
  one rewritten through alluxiofs (default TTL) read back new, never old or
  mixed;
- **trouble**: the cache directory deleted while in use, unusable from the
  start, or unwritable (writes fail as on a full disk: ``RLIMIT_FSIZE``):
  reads go on from the cluster, right, with one warning.

Sizes: CI: 8 readers of an 8 MiB file, 3 kill rounds; ``--long``: 16 readers
of 64 MiB, 10 rounds.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from alluxiofs import AlluxioFileSystem, _core
from alluxiofs.local_cluster import LocalCluster
from tests.reliability.figures import figure

PAGE = 64 * 1024
GRACE = 5.0  # temporary files younger than this count as being written


@pytest.fixture(scope="module")
def ufs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("r12-ufs")


@pytest.fixture(scope="module")
def cluster(ufs: Path) -> Iterator[LocalCluster]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    # Workers re-check a file with the under storage after 1 s (default 60 s,
    # Alluxio's sync interval): the rewrite test waits for that.
    with LocalCluster(
        str(ufs), workers=2, start_etcd=True, page_size=str(PAGE), metadata_sync_interval="1"
    ) as c:
        yield c


def new_fs(c: LocalCluster, cache: Path, **kw: Any) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=c.etcd_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_dir=str(cache),
        skip_instance_cache=True,
        **kw,
    )


def write_files(root: Path, prefix: str, n: int, size: int, seed: int) -> Dict[str, bytes]:
    rnd = random.Random(seed)
    out = {}
    for i in range(n):
        p = root / f"{prefix}{i}.bin"
        b = rnd.randbytes(size + rnd.randint(0, PAGE))
        p.write_bytes(b)
        out[str(p)] = b
    return out


def usage(cache: Path) -> Dict[str, int]:
    """Pages, bytes and live writers of the one namespace in ``cache``."""
    (ns,) = _core.local_cache_namespaces(str(cache))
    return {k: int(ns[k]) for k in ("pages", "bytes", "writing", "writing_bytes")}  # type: ignore[literal-required]


def _herd_child(fs: AlluxioFileSystem, path: str, want: bytes, q: Any) -> None:
    got = fs.cat_file(path)
    q.put((got == want, fs.stats()["bytes_from_workers"]))


def test_herd_fetches_each_page_once(
    cluster: LocalCluster, ufs: Path, tmp_path: Path, long_mode: bool
) -> None:
    n, size = (16, 64 << 20) if long_mode else (8, 8 << 20)
    ((path, want),) = write_files(ufs, "herd", 1, size, 1).items()
    fs = new_fs(cluster, tmp_path / "cache")
    fs.info(path)  # the parent has its runtime; the children fork it
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_herd_child, args=(fs, path, want, q)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(ok for ok, _ in results), "a reader got wrong bytes"
    fetched = sum(b for _, b in results)
    figure(
        "R12 local cache herd",
        readers=n,
        file_bytes=len(want),
        bytes_from_workers=fetched,
        ratio=round(fetched / len(want), 3),
    )
    assert fetched <= 1.05 * len(want), f"{fetched} bytes fetched for a {len(want)}-byte file"


def _kill_child(c_hosts: str, cache: str, files: Dict[str, bytes], seed: int) -> None:
    fs = AlluxioFileSystem(
        etcd_hosts=c_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_dir=cache,
        local_cache_size="6MB",
        skip_instance_cache=True,
    )
    rnd = random.Random(seed)
    names = list(files)
    while True:
        p = rnd.choice(names)
        want = files[p]
        a = rnd.randint(0, len(want))
        b = rnd.randint(a, len(want))
        if fs.cat_file(p, a, b) != want[a:b]:
            os._exit(3)


def test_killed_readers_leave_no_wrong_byte_and_no_lost_space(
    cluster: LocalCluster, ufs: Path, tmp_path: Path, long_mode: bool
) -> None:
    rounds = 10 if long_mode else 3
    files = write_files(ufs, "kill", 12, 1 << 20, 2)
    cache = tmp_path / "cache"
    ctx = mp.get_context("spawn")
    rnd = random.Random(3)
    killed = bad_exits = 0
    for r in range(rounds):
        procs = [
            ctx.Process(
                target=_kill_child, args=(cluster.etcd_hosts, str(cache), files, r * 10 + i)
            )
            for i in range(6)
        ]
        for p in procs:
            p.start()
        time.sleep(1.5)
        for p in procs:
            time.sleep(rnd.random() * 0.2)
            if p.exitcode is not None:
                bad_exits += 1
            os.kill(p.pid, signal.SIGKILL)
            killed += 1
        for p in procs:
            p.join(10)
    # A new reader sees only right bytes.
    fs = new_fs(cluster, cache, local_cache_size="6MB")
    wrong = 0
    for p, want in files.items():
        wrong += fs.cat_file(p) != want
    left_now = usage(cache)["writing"]
    time.sleep(GRACE + 0.5)
    u = usage(cache)
    tmp_left = len(list(cache.glob("alluxiofs-cache-v1/*/tmp/*")))
    figure(
        "R12 local cache kill",
        rounds=rounds,
        killed=killed,
        early_exits=bad_exits,
        wrong_files=wrong,
        temp_files_at_end=left_now,
        temp_files_after_grace=tmp_left,
        pages=u["pages"],
        bytes=u["bytes"],
        reserved_after_grace=u["writing_bytes"],
    )
    assert bad_exits == 0, "a reader exited on its own (exit 3: wrong bytes)"
    assert wrong == 0
    assert tmp_left == 0 and u["writing_bytes"] == 0, u
    assert u["bytes"] <= 6 << 20


def _quota_child(c_hosts: str, cache: str, files: List[str], q: Any) -> None:
    fs = AlluxioFileSystem(
        etcd_hosts=c_hosts,
        target_protocol="file",
        page_size=str(PAGE),
        local_cache_dir=cache,
        local_cache_size="2MB",
        skip_instance_cache=True,
    )
    n = 0
    for p in files:
        n += len(fs.cat_file(p))
    q.put(n)


def test_quota_holds_across_processes(cluster: LocalCluster, ufs: Path, tmp_path: Path) -> None:
    files = list(write_files(ufs, "quota", 16, 512 << 10, 4))
    cache = tmp_path / "cache"
    new_fs(cluster, cache, local_cache_size="2MB").cat_file(files[0])
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [
        ctx.Process(target=_quota_child, args=(cluster.etcd_hosts, str(cache), files[i::4], q))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    peak = samples = 0
    while any(p.is_alive() for p in procs):
        u = usage(cache)
        peak = max(peak, u["bytes"])
        samples += 1
        time.sleep(0.01)
    for p in procs:
        p.join(10)
    read = sum(q.get(timeout=10) for _ in procs)
    # A page costs its data, a trailer and 4 KiB rounding.
    page_cost = PAGE + 8192
    figure(
        "R12 local cache quota",
        quota=2 << 20,
        samples=samples,
        max_bytes=peak,
        bytes_read=read,
        end_bytes=usage(cache)["bytes"],
    )
    assert peak <= (2 << 20) + page_cost, f"{peak} > quota + one page"
    assert usage(cache)["bytes"] <= 2 << 20


def test_a_rewritten_file_reads_new_never_old_or_mixed(
    cluster: LocalCluster, ufs: Path, tmp_path: Path
) -> None:
    ((path, old),) = write_files(ufs, "ver", 1, 5 * PAGE, 5).items()
    fs = new_fs(cluster, tmp_path / "cache", local_cache_metadata_ttl=0)
    assert fs.cat_file(path) == old
    assert fs.cat_file(path) == old  # now from the local cache
    new = random.Random(6).randbytes(3 * PAGE + 11)
    Path(path).write_bytes(new)
    # The under storage changed: once the cluster reports it, reads are new.
    # (Asked as the reads ask: workers keep a record per spelling of a path.)
    url = fs.ufs_path(path)
    deadline = time.monotonic() + 30
    while fs.client._core.info(url)["size"] != len(new) and time.monotonic() < deadline:
        got = fs.cat_file(path)
        assert got in (old, new), "a mix of two versions"
        time.sleep(0.1)
    seen = set()
    for _ in range(20):
        got = fs.cat_file(path)
        assert got in (old, new), "a mix of two versions"
        seen.add(got == new)
    assert seen == {True}, "old bytes after the cluster reported the new version"
    # Through alluxiofs, with the default TTL: the writer's next read is new.
    fs2 = new_fs(cluster, tmp_path / "cache2")
    assert fs2.cat_file(path) == new
    newer = random.Random(7).randbytes(2 * PAGE + 5)
    fs2.pipe_file(path, newer)
    assert fs2.cat_file(path) == newer
    figure("R12 local cache versions", ufs_rewrite="new", alluxiofs_rewrite="new")


def test_cache_directory_deleted_while_in_use(
    cluster: LocalCluster, ufs: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = write_files(ufs, "del", 4, 3 * PAGE, 8)
    cache = tmp_path / "cache"
    fs = new_fs(cluster, cache)
    for p, want in files.items():
        assert fs.cat_file(p) == want
    shutil.rmtree(cache)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        for p, want in files.items():
            assert fs.cat_file(p) == want
    warnings = [r for r in caplog.records if "local cache" in r.getMessage()]
    assert len(warnings) <= 1, [r.getMessage() for r in warnings]
    figure("R12 local cache deleted dir", wrong_bytes=0, warnings=len(warnings))


def test_cache_directory_unusable_from_the_start(
    cluster: LocalCluster, ufs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = write_files(ufs, "ro", 2, PAGE, 9)
    caplog.set_level(logging.WARNING)
    fs = new_fs(cluster, Path("/proc/alluxiofs-cache"))
    for p, want in files.items():
        assert fs.cat_file(p) == want
    assert fs.stats()["local_cache_hits"] == 0
    assert any("cannot be used" in r.getMessage() for r in caplog.records)


FULL_DISK_CHILD = textwrap.dedent(
    """
    import logging, resource, signal, sys
    logging.basicConfig(level=logging.WARNING)
    # Writes past 64 KiB fail with EFBIG, as writes to a full disk fail.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
    from alluxiofs import AlluxioFileSystem
    hosts, cache, *paths = sys.argv[1:]
    fs = AlluxioFileSystem(etcd_hosts=hosts, target_protocol="file", page_size="65536",
                           local_cache_dir=cache, skip_instance_cache=True)
    for _ in range(2):
        for p in paths:
            with open(p, "rb") as f:
                assert fs.cat_file(p) == f.read(), p
    print("OK", fs.stats()["local_cache_hits"])
    """
)


def test_full_disk_reads_go_on_from_the_cluster(
    cluster: LocalCluster, ufs: Path, tmp_path: Path
) -> None:
    files = write_files(ufs, "full", 3, 2 * PAGE, 10)
    r = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, cluster.etcd_hosts, str(tmp_path / "c"), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("OK"), r.stdout
    warnings = [line for line in r.stderr.splitlines() if "local cache" in line]
    assert len(warnings) == 1, r.stderr
    figure("R12 local cache full disk", wrong_bytes=0, warnings=len(warnings))
