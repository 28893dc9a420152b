"""Fallback to the under storage (``target_protocol="file"``) for every kind of
Alluxio-side failure, retries and failover that make fallback unnecessary, and
faulty answers that must never turn into wrong or short bytes.

Each fallback scenario checks (a) the bytes equal the local file exactly, (b)
``fs.stats()`` counts every fallback (``fallbacks``, ``fallback_<op>``,
``bytes_from_ufs``), (c) one WARNING per (operation, exception kind) on the
``alluxiofs`` logger, and (d) without an under-storage filesystem the Alluxio
error reaches the caller with its own class.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple, Type

import pytest

from alluxiofs import (
    AlluxioError,
    AlluxioFileSystem,
    AlluxioTimeoutError,
    EtcdConnectionError,
    NoWorkersError,
    WorkerConnectionError,
    WorkerError,
)
from alluxiofs.etcd_process import EtcdProcess, free_port
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE, SIZES
from tests.fault_proxy import FaultProxy

OPTIONS = {"alluxio.worker.page.store.page.size": str(PAGE)}
#: Request paths that carry file data (a fault limited to them spares info/ls).
DATA = ("/v1/range", "/v1/file/")
#: Files read in every scenario (several pages, a page and a byte, a tiny one, an empty one).
FILES = ["many.bin", "page_plus.bin", "sub/a.txt", "empty.bin"]
BIG = "many.bin"


def make_fs(hosts: str = "", ufs: bool = True, etcd: str = "", **kw: Any) -> AlluxioFileSystem:
    """A fresh filesystem on static ``hosts`` (or ``etcd``), with or without the UFS."""
    where: Dict[str, Any] = {"etcd_hosts": etcd} if etcd else {"worker_hosts": hosts}
    return AlluxioFileSystem(
        **where,
        target_protocol="file" if ufs else None,
        options=OPTIONS,
        skip_instance_cache=True,
        **kw,
    )


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> Counter[Tuple[str, str]]:
    """(operation, exception kind) of every fallback WARNING on ``alluxiofs``."""
    out: Counter[Tuple[str, str]] = Counter()
    for r in caplog.records:
        if r.name == "alluxiofs" and r.levelno == logging.WARNING:
            assert isinstance(r.args, tuple)
            out[(str(r.args[0]), str(r.args[1]))] += 1
    return out


def stats_delta(after: Dict[str, int], before: Dict[str, int]) -> Dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def read_everything(fs: AlluxioFileSystem, root: Path, url: bool = False) -> Dict[str, int]:
    """Reads, lists and stats through ``fs`` and checks every byte against the
    local files; returns how many operations of each kind ran and the bytes read
    (what a full fallback must count)."""

    def p(name: str) -> str:
        return ("file://" if url else "") + str(root / name)

    n: Counter[str] = Counter()
    for _ in range(2):  # twice: the warning must still be logged once
        for name in FILES:
            assert fs.cat_file(p(name)) == (root / name).read_bytes(), name
            n["read"] += 1
            n["bytes"] += SIZES[name]
    big = (root / BIG).read_bytes()
    assert fs.cat_file(p(BIG), start=PAGE - 10, end=2 * PAGE + 10) == big[PAGE - 10 : 2 * PAGE + 10]
    n["read"] += 1
    n["bytes"] += PAGE + 20
    with fs.open(p(BIG), "rb") as f:  # info for the size, then one read-ahead fetch
        assert f.read() == big
    n["info"] += 1
    n["read"] += 1
    n["bytes"] += len(big)
    plus = (root / "page_plus.bin").read_bytes()
    got = fs.cat_ranges([p(BIG), p("page_plus.bin")], [0, 5], [10, PAGE + 1])
    assert got == [big[:10], plus[5 : PAGE + 1]]
    n["read"] += 2
    n["bytes"] += 10 + PAGE + 1 - 5
    names = sorted(os.path.basename(str(e["name"])) for e in fs.ls(p("")))
    assert names == sorted(os.listdir(root))
    n["ls"] += 1
    fs.invalidate_cache()  # else info answers from the listing just made
    assert fs.info(p(BIG))["size"] == len(big)
    n["info"] += 1
    return dict(n)


def assert_full_fallback(
    fs: AlluxioFileSystem,
    before: Dict[str, int],
    n: Dict[str, int],
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    """Every operation of ``n`` fell back, counted and logged once per kind."""
    st = fs.stats()
    d = stats_delta(st, before)
    assert st["fallback_read"] == n["read"]
    assert st["fallback_info"] == n["info"]
    assert st["fallback_ls"] == n["ls"]
    assert st["fallbacks"] == n["read"] + n["info"] + n["ls"]
    assert st["bytes_from_ufs"] == n["bytes"]
    assert d.get("bytes_from_workers", 0) == 0
    assert fallback_warnings(caplog) == {("read", kind): 1, ("info", kind): 1, ("ls", kind): 1}


def assert_raises_without_ufs(fs: AlluxioFileSystem, root: Path, cls: Type[BaseException]) -> None:
    """(d): every operation raises ``cls`` itself; nothing falls back or warns."""
    u = "file://" + str(root / BIG)
    ops: List[Callable[[], Any]] = [
        lambda: fs.cat_file(u),
        lambda: fs.open(u, "rb").read(),
        lambda: fs.info(u),
        lambda: fs.ls("file://" + str(root)),
    ]
    for op in ops:
        with pytest.raises(cls) as e:
            op()
        assert type(e.value) is cls, repr(e.value)
        assert isinstance(e.value, AlluxioError)
    assert fs.stats()["fallbacks"] == 0
    assert fs.stats()["bytes_from_ufs"] == 0


# ── fixtures ──


@pytest.fixture()
def proxy(cluster: LocalCluster) -> Iterator[FaultProxy]:
    """A fault proxy in front of worker 0 of the session cluster."""
    with FaultProxy(cluster.ports[0]) as p:
        yield p


@pytest.fixture()
def two_proxies(cluster: LocalCluster) -> Iterator[List[FaultProxy]]:
    """Fault proxies in front of workers 0 and 1 of the session cluster."""
    with FaultProxy(cluster.ports[0]) as a, FaultProxy(cluster.ports[1]) as b:
        yield [a, b]


def owner_proxy(fs: AlluxioFileSystem, proxies: List[FaultProxy], path: str) -> FaultProxy:
    port = fs.locate(path)[0]["http_port"]
    (p,) = [p for p in proxies if p.port == port]
    return p


# ── worker failures that end in fallback ──


def test_killed_worker_falls_back(
    dataset: Path, etcd: EtcdProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    # A long lease: the dead worker stays on the ring for the whole test.
    with LocalCluster(
        str(dataset), workers=1, etcd_hosts=etcd.endpoint, page_size=str(PAGE), lease_ttl="60"
    ) as c:
        fs = make_fs(etcd=etcd.endpoint, retries=1, timeout=2)
        bare = make_fs(etcd=etcd.endpoint, ufs=False, retries=1, timeout=2)
        assert fs.cat_file(str(dataset / BIG)) == (dataset / BIG).read_bytes()
        assert fs.stats()["bytes_from_workers"] == SIZES[BIG]
        c.procs[0].kill()
        c.procs[0].wait()
        assert [w["http_port"] for w in fs.client.workers()] == c.ports
        before = fs.stats()
        n = read_everything(fs, dataset)
        assert_full_fallback(fs, before, n, caplog, "WorkerConnectionError")
        caplog.clear()
        assert_raises_without_ufs(bare, dataset, WorkerConnectionError)
        with pytest.raises(WorkerConnectionError, match=f"127.0.0.1:{c.ports[0]}"):
            bare.cat_file("file://" + str(dataset / BIG))
        assert fallback_warnings(caplog) == {}


def test_worker_500_falls_back(
    dataset: Path, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    proxy.set_mode("status_500")
    fs = make_fs(proxy.authority, retries=2)
    n = read_everything(fs, dataset)
    assert_full_fallback(fs, {}, n, caplog, "WorkerError")
    # Alluxio was asked again (retries=2) before falling back.
    assert fs.stats()["retries"] > 0
    assert proxy.faults == proxy.requests > 0
    caplog.clear()
    bare = make_fs(proxy.authority, ufs=False, retries=2)
    assert_raises_without_ufs(bare, dataset, WorkerError)
    assert fallback_warnings(caplog) == {}


def test_worker_500_recovers_within_retries(
    dataset: Path, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    proxy.set_mode("status_500", budget=2)
    fs = make_fs(proxy.authority, retries=3)
    assert fs.cat_file(str(dataset / BIG)) == (dataset / BIG).read_bytes()
    st = fs.stats()
    assert proxy.faults == 2 and proxy.mode == "ok"
    assert st["retries"] == 2
    assert st["fallbacks"] == 0 and st["bytes_from_ufs"] == 0
    assert st["bytes_from_workers"] == SIZES[BIG]
    assert fallback_warnings(caplog) == {}


def test_etcd_without_workers_falls_back(
    dataset: Path, etcd: EtcdProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    bare = make_fs(etcd=etcd.endpoint, ufs=False)
    with pytest.raises(NoWorkersError, match=etcd.endpoint):
        bare.cat_file("file://" + str(dataset / BIG))
    assert_raises_without_ufs(bare, dataset, NoWorkersError)
    assert fallback_warnings(caplog) == {}
    fs = make_fs(etcd=etcd.endpoint)
    n = read_everything(fs, dataset)
    assert_full_fallback(fs, {}, n, caplog, "NoWorkersError")
    assert fs.stats()["requests"] == 0


def test_unreachable_etcd_falls_back(dataset: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    endpoint = f"127.0.0.1:{free_port()}"
    fs = make_fs(etcd=endpoint)
    n = read_everything(fs, dataset)
    assert_full_fallback(fs, {}, n, caplog, "EtcdConnectionError")
    assert_raises_without_ufs(make_fs(etcd=endpoint, ufs=False), dataset, EtcdConnectionError)


def test_path_refused_by_worker_falls_back(
    cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    # A path outside the workers' under-storage root: 403, read from the UFS.
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(cluster.worker_hosts)
    with open("/etc/passwd", "rb") as f:
        want = f.read()
    assert fs.cat_file("/etc/passwd") == want
    assert fs.cat_file("file:///etc/passwd") == want
    st = fs.stats()
    assert (st["fallback_read"], st["bytes_from_ufs"]) == (2, 2 * len(want))
    assert fallback_warnings(caplog) == {("read", "PermissionError"): 1}


# ── failover: the next ring candidate serves, no fallback ──


@pytest.mark.parametrize("mode", ["close", "status_500", "truncate", "extra"])
def test_failover_to_the_next_worker(
    dataset: Path, two_proxies: List[FaultProxy], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(",".join(p.authority for p in two_proxies), retries=2)
    path = str(dataset / BIG)
    bad = owner_proxy(fs, two_proxies, path)
    (good,) = [p for p in two_proxies if p is not bad]
    assert fs.locate(path, n=2)[1]["http_port"] == good.port
    bad.set_mode(mode)
    want = (dataset / BIG).read_bytes()
    assert fs.cat_file(path) == want
    with fs.open(path, "rb") as f:
        assert f.read() == want
    assert fs.info(path)["size"] == len(want)
    st = fs.stats()
    assert st["failovers"] >= 1
    assert st["fallbacks"] == 0 and st["bytes_from_ufs"] == 0
    assert st["bytes_from_workers"] == 2 * len(want)
    assert bad.faults >= 2 and good.requests >= 1
    assert fallback_warnings(caplog) == {}


# ── faulty answers: correct bytes or fallback bytes, never anything else ──


@pytest.mark.parametrize("mode", ["truncate", "extra"])
def test_faulty_data_is_never_returned(
    dataset: Path, proxy: FaultProxy, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    proxy.set_mode(mode, only=DATA)
    fs = make_fs(proxy.authority, retries=2)
    kind = "WorkerConnectionError" if mode == "truncate" else "WorkerError"
    for name in FILES:
        path = str(dataset / name)
        assert fs.cat_file(path) == (dataset / name).read_bytes()
        with fs.open(path, "rb") as f:
            assert f.read() == (dataset / name).read_bytes()
    st = fs.stats()
    nonempty = sum(1 for n in FILES if SIZES[n] > 0)
    # cat_file asks for the first page without knowing the size (the empty file
    # too); the file object knows the size, so empty.bin needs no data request.
    assert st["fallback_read"] == 2 * nonempty + 1
    assert st["fallbacks"] == st["fallback_read"]  # info (size) came from the worker
    assert st["bytes_from_ufs"] == 2 * sum(SIZES[n] for n in FILES)
    assert st["bytes_from_workers"] == 0
    assert proxy.faults > 0
    assert fallback_warnings(caplog) == {("read", kind): 1}
    # Without the UFS the fault is an error, never short or padded bytes.
    bare = make_fs(proxy.authority, ufs=False, retries=2)
    cls = WorkerConnectionError if mode == "truncate" else WorkerError
    for name in FILES:
        if SIZES[name] == 0:
            continue
        with pytest.raises(cls) as e:
            bare.cat_file("file://" + str(dataset / name))
        assert proxy.authority in str(e.value)
        if mode == "extra":
            assert getattr(e.value, "status", "missing") is None
            assert "expected" in str(e.value)


def test_a_first_piece_stalled_after_its_headers_does_not_hold_up_the_read(
    dataset: Path, proxy: FaultProxy
) -> None:
    # cat_file learns the size from the first piece's headers. A body that does
    # not follow them (its worker loading the window from the under storage) is
    # not waited for: the whole range is read at once, that piece included. The
    # stalled body is released only after the read: waiting for it would end in
    # the read's deadline instead.
    fs = make_fs(proxy.authority, ufs=False)
    want = (dataset / BIG).read_bytes()
    url = "file://" + str(dataset / BIG)
    pieces = -(-len(want) // PAGE)
    # cat_file, then fs.cat of a list (whose reads are planned in Rust).
    name = fs._strip_protocol(url)  # fs.cat of a list keys by name, as fsspec does
    for n, read in enumerate([lambda: fs.cat_file(url), lambda: fs.cat([url])[name]], 1):
        proxy.set_mode("stall_body", budget=1, only="/v1/range")
        try:
            assert read() == want
        finally:
            proxy.set_mode("ok")
        assert proxy.faults == n
        assert proxy.paths_seen("/v1/range") == n * (pieces + 1)
    st = fs.stats()
    assert st["retries"] == 0 and st["failovers"] == 0 and st["fallbacks"] == 0
    assert st["bytes_from_workers"] == 2 * len(want)


@pytest.mark.parametrize(
    ("mode", "only"),
    [("truncate", DATA), ("extra", DATA), ("status_500", DATA), ("close", None)],
)
def test_faulty_answers_are_retried(
    dataset: Path,
    proxy: FaultProxy,
    mode: str,
    only: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Three faulty answers on data pieces: each costs one retry, the bytes come
    # from the worker. "close" on every request: the first /v1/range closed
    # looks like a missing endpoint, so the page request is tried at once
    # (closed too: one retry), then range (closed) and page (ok): 1 retry.
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    proxy.set_mode(mode, budget=3, only=only)
    fs = make_fs(proxy.authority, retries=5)
    want = (dataset / BIG).read_bytes()
    assert fs.cat_file(str(dataset / BIG)) == want
    assert fs.cat_file(str(dataset / BIG), start=100, end=3 * PAGE) == want[100 : 3 * PAGE]
    st = fs.stats()
    assert proxy.faults == 3
    assert st["retries"] == (1 if mode == "close" else 3)
    assert st["fallbacks"] == 0 and st["bytes_from_ufs"] == 0
    assert st["bytes_from_workers"] == len(want) + 3 * PAGE - 100
    assert fallback_warnings(caplog) == {}


@pytest.mark.timeout(30)
def test_hanging_worker_ends_by_the_timeout(
    dataset: Path, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    proxy.set_mode("hang")
    fs = make_fs(proxy.authority, timeout=1, retries=1)
    want = (dataset / BIG).read_bytes()
    t = time.monotonic()
    assert fs.cat_file(str(dataset / BIG)) == want
    assert 0.9 < time.monotonic() - t < 5
    t = time.monotonic()
    with fs.open(str(dataset / BIG), "rb") as f:  # info, then the read: each times out once
        assert f.read() == want
    assert 1.9 < time.monotonic() - t < 8
    st = fs.stats()
    assert (st["fallback_read"], st["fallback_info"], st["fallbacks"]) == (2, 1, 3)
    assert st["bytes_from_ufs"] == 2 * len(want)
    assert fallback_warnings(caplog) == {
        ("read", "AlluxioTimeoutError"): 1,
        ("info", "AlluxioTimeoutError"): 1,
    }


def test_deadline_bounds_the_whole_operation(dataset: Path, proxy: FaultProxy) -> None:
    # 10 s per request and 5 attempts would be 50 s; the deadline ends it at 1 s.
    proxy.set_mode("hang")
    fs = make_fs(proxy.authority, ufs=False, timeout=10, retries=5, deadline=1)
    t = time.monotonic()
    with pytest.raises(AlluxioTimeoutError, match="deadline"):
        fs.cat_file("file://" + str(dataset / BIG))
    assert 0.9 < time.monotonic() - t < 3
    with pytest.raises(ValueError, match="deadline"):
        make_fs(proxy.authority, deadline=0)


@pytest.mark.timeout(30)
def test_hanging_owner_fails_over(
    dataset: Path, two_proxies: List[FaultProxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    fs = make_fs(",".join(p.authority for p in two_proxies), timeout=1, retries=1)
    path = str(dataset / BIG)
    owner_proxy(fs, two_proxies, path).set_mode("hang")
    t = time.monotonic()
    assert fs.cat_file(path) == (dataset / BIG).read_bytes()
    assert time.monotonic() - t < 8
    st = fs.stats()
    assert st["failovers"] >= 1 and st["fallbacks"] == 0
    assert fallback_warnings(caplog) == {}


# ── OSS-strict workers ──


def test_oss_strict_worker(dataset: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="alluxiofs")
    root = tmp_path / "ufs"
    shutil.copytree(dataset, root)
    with LocalCluster(str(root), workers=1, page_size=str(PAGE), oss_strict=True) as c, FaultProxy(
        c.ports[0]
    ) as seen:
        fs = make_fs(seen.authority, retries=2, timeout=5)
        for name in FILES:
            assert fs.cat_file(str(root / name)) == (root / name).read_bytes(), name
        assert seen.paths_seen("/v1/file/") > 0
        # Once known, /v1/range is not asked again.
        ranges = seen.paths_seen("/v1/range")
        with fs.open(str(root / BIG), "rb") as f:
            assert f.read() == (root / BIG).read_bytes()
        assert seen.paths_seen("/v1/range") == ranges
        assert sorted(os.path.basename(e) for e in fs.ls(str(root), detail=False)) == sorted(
            os.listdir(root)
        )
        assert fs.info(str(root / BIG))["size"] == SIZES[BIG]
        st = fs.stats()
        assert st["fallbacks"] == 0
        assert fallback_warnings(caplog) == {}
        # Writes: the strict worker closes the connection for /v1/chunk.
        data = os.urandom(3 * PAGE + 7)
        fs.pipe_file(str(root / "sub" / "written.bin"), data)
        assert (root / "sub" / "written.bin").read_bytes() == data
        assert seen.paths_seen("/v1/chunk") >= 1
        st = fs.stats()
        assert (st["fallbacks"], st["fallback_write"]) == (1, 1)
        assert fallback_warnings(caplog) == {("write", "WorkerConnectionError"): 1}
        # What was written reads back through the worker.
        assert fs.cat_file(str(root / "sub" / "written.bin")) == data
        assert fs.stats()["fallbacks"] == 1


def test_a_big_listing_is_parsed_while_used_and_a_malformed_one_asked_again(
    tmp_path: Path,
) -> None:
    # Over 256 KiB of JSON: parsed on a helper thread while the dicts are built.
    many = tmp_path / "ufs" / "many"
    many.mkdir(parents=True)
    want = {f"f{i:05d}.bin": i % 7 for i in range(1500)}
    for name, size in want.items():
        (many / name).write_bytes(b"x" * size)
    with LocalCluster(str(tmp_path / "ufs"), workers=1) as c, FaultProxy(c.ports[0]) as proxy:
        fs = make_fs(proxy.authority, ufs=False, retries=2, timeout=5)
        url = "file://" + str(many)

        def listed() -> Dict[str, int]:
            entries = fs.ls(url, refresh=True)  # past the listings cache: ask the worker
            return {os.path.basename(str(e["name"])): int(e["size"]) for e in entries}

        assert listed() == want
        # Trailing bytes make the JSON malformed after many entries were
        # handed over: they are dropped and the listing asked for again.
        proxy.set_mode("extra", budget=1, only="/v1/files")
        before = proxy.paths_seen("/v1/files")
        assert listed() == want
        assert proxy.paths_seen("/v1/files") == before + 2
        assert proxy.mode == "ok"


def test_readinto_falls_back_once(
    dataset: Path, proxy: FaultProxy, caplog: pytest.LogCaptureFixture
) -> None:
    fs = make_fs(proxy.authority, retries=1)
    want = (dataset / BIG).read_bytes()
    with fs.open(str(dataset / BIG), "rb") as f:
        proxy.set_mode("status_500")
        buf = bytearray(1000)
        assert f.readinto(buf) == 1000
        assert bytes(buf) == want[:1000]
        assert proxy.requests == 2  # info, then one failed read
        st = fs.stats()
        assert (st["fallbacks"], st["fallback_read"], st["bytes_from_ufs"]) == (1, 1, 1000)


def test_one_dropped_range_does_not_downgrade_the_worker(dataset: Path, proxy: FaultProxy) -> None:
    fs = make_fs(proxy.authority, retries=3)
    path = str(dataset / BIG)
    want = (dataset / BIG).read_bytes()
    proxy.set_mode("close", budget=1, only="/v1/range")
    assert fs.cat_file(path, 0, 10) == want[:10]
    proxy.reset_counters()
    for _ in range(3):
        assert fs.cat_file(path) == want
    assert proxy.paths_seen("/v1/range") > 0, "the worker must keep being read through /v1/range"
    assert proxy.paths_seen("/v1/file/") == 0
