"""R9 fork: fork after heavy use, while another thread is inside a big read.

A private 3-worker cluster serves the conftest dataset, 16 more files and a
48 MiB file. The parent first reads hard (8 threads, thousands of verified
range reads over every file; every worker owns some of them). A reader thread
then reads the big file whole, over and over, checking each copy; the main
thread forks only while that thread is inside ``cat_file`` (an in-flight flag
set before the call, a completion counter that must not move across the
``fork``: the fork provably lands mid-read). Each ``os.fork`` child verifies
the whole dataset (``tests.test_fork.read_and_verify``: whole files, ranges,
file objects, ``readinto``, ``cat_ranges``, ``ls``) with the inherited
filesystem and with a new one, and some big-file ranges; the parent waits under
a deadline and kills a child that has not finished (a hang = failure).
``multiprocessing``'s "fork" context is exercised the same way through
``tests.test_fork.run_children``. Proven: 0 wrong bytes, 0 hangs, 0 failed
children, children served by the workers (not the fallback), the parent's
reader finishes every read correctly and keeps going after the forks.

CI: 10 ``os.fork`` children + 2 ``multiprocessing`` fork children, 2,000
heavy-use reads. ``--long``: 200 + 16 children, 20,000 reads.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, Iterator, List, NoReturn, Tuple

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE, SIZES
from tests.reliability.figures import figure
from tests.test_fork import read_and_verify, run_children

BIG = 48 << 20
CHILD_DEADLINE = 60.0
MAX_ALIVE = 4

pytestmark = [
    pytest.mark.filterwarnings(
        r"ignore:.*use of fork\(\) may lead to deadlocks:DeprecationWarning"
    ),
    pytest.mark.timeout(1800),
]


@pytest.fixture(scope="module")
def fork_data(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fork-ufs")
    for name in SIZES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dataset / name, root / name)
    rnd = random.Random(909)
    (root / "more").mkdir()
    for i in range(16):
        (root / "more" / f"m{i:02d}.bin").write_bytes(rnd.randbytes(rnd.randint(1, 4 * PAGE)))
    (root / "big").mkdir()
    (root / "big" / "big.bin").write_bytes(rnd.randbytes(BIG))
    return root


@pytest.fixture(scope="module")
def fork_cluster(fork_data: Path) -> Iterator[LocalCluster]:
    with LocalCluster(str(fork_data), workers=3, start_etcd=True, page_size=str(PAGE)) as c:
        yield c


def new_fs(cluster: LocalCluster) -> AlluxioFileSystem:
    return AlluxioFileSystem(
        etcd_hosts=cluster.etcd_hosts,
        target_protocol="file",
        options={"alluxio.worker.page.store.page.size": str(PAGE)},
        skip_instance_cache=True,
    )


def all_files(root: Path) -> List[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def heavy_use(fs: AlluxioFileSystem, root: Path, reads: int) -> int:
    """``reads`` verified random range reads from 8 threads; returns wrong reads."""
    files = [(str(p), p.read_bytes()) for p in all_files(root)]
    wrong = [0]
    lock = threading.Lock()

    def run(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(reads // 8):
            path, want = rnd.choice(files)
            a = rnd.randint(0, len(want))
            b = min(len(want), a + rnd.randint(0, 3 * PAGE))
            if fs.cat_file(path, a, b) != want[a:b]:
                with lock:
                    wrong[0] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wrong[0]


def child(
    fs: AlluxioFileSystem, cluster: LocalCluster, root: Path, seed: int, wfd: int
) -> NoReturn:
    """The body of an ``os.fork`` child: verify, report on ``wfd``, ``_exit``."""
    code = 1
    try:
        t0 = time.monotonic()
        before = fs.stats()
        checks = read_and_verify(fs, str(root), seed)["checks"]
        after = fs.stats()
        fresh = new_fs(cluster)
        checks += read_and_verify(fresh, str(root), seed + 1)["checks"]
        big = str(root / "big" / "big.bin")
        rnd = random.Random(seed)
        wrong = 0
        with open(big, "rb") as f:
            for fs_ in (fs, fresh):
                for _ in range(4):
                    a = rnd.randint(0, BIG - 1)
                    f.seek(a)
                    wrong += fs_.cat_file(big, a, a + 3 * PAGE) != f.read(3 * PAGE)
                    checks += 1
        report = {
            "ok": True,
            "checks": checks,
            "wrong": wrong,
            "seconds": time.monotonic() - t0,
            "inherited_bytes": after["bytes_from_workers"] - before["bytes_from_workers"],
            "fallbacks": after.get("fallbacks", 0) + fresh.stats().get("fallbacks", 0),
        }
        code = 0
    except BaseException:
        report = {"ok": False, "error": traceback.format_exc()}
    finally:
        try:
            os.write(wfd, json.dumps(report).encode())
        finally:
            os._exit(code)


class BigReader:
    """A thread reading the big file whole, again and again, checking each copy."""

    def __init__(self, fs: AlluxioFileSystem, path: Path) -> None:
        self.fs, self.path, self.want = fs, str(path), path.read_bytes()
        self.in_flight = threading.Event()
        self.done = self.wrong = 0
        self.errors: List[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.in_flight.set()
                got = self.fs.cat_file(self.path)
                self.in_flight.clear()
                self.done += 1
                self.wrong += got != self.want
            except BaseException:
                self.in_flight.clear()
                self.errors.append(traceback.format_exc())
                return

    def wait_in_flight(self, rnd: random.Random) -> int:
        """Returns once a read is in flight (a few ms into it); the completion count."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.errors:
            self.in_flight.wait(0.1)
            done = self.done
            time.sleep(rnd.random() * 0.01)
            if self.in_flight.is_set() and self.done == done:
                return done
        raise AssertionError(f"the big read is never in flight: {self.errors[:1]}")


def reap(pid: int, rfd: int, started: float) -> Tuple[Dict[str, Any], float, bool]:
    """Waits for a child's report and exit under the deadline; kills it on a hang."""
    chunks: List[bytes] = []
    deadline = started + CHILD_DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([rfd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        data = os.read(rfd, 65536)
        if not data:
            break
        chunks.append(data)
    os.close(rfd)
    while time.monotonic() < deadline:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            report = json.loads(b"".join(chunks) or b'{"ok": false, "error": "no report"}')
            exited = os.WIFEXITED(status)
            report["exit"] = os.WEXITSTATUS(status) if exited else -os.WTERMSIG(status)
            return report, time.monotonic() - started, False
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return {"ok": False, "error": "hung"}, time.monotonic() - started, True


def test_fork_mid_read_after_heavy_use(
    fork_cluster: LocalCluster, fork_data: Path, long_mode: bool
) -> None:
    forks, mp_batches, heavy = (200, 8, 20000) if long_mode else (10, 1, 2000)
    fs = new_fs(fork_cluster)
    owners = {w["http_port"] for p in all_files(fork_data) for w in fs.locate(str(p))}
    assert len(owners) == 3, f"the dataset does not reach every worker: {owners}"
    heavy_wrong = heavy_use(fs, fork_data, heavy)
    reader = BigReader(fs, fork_data / "big" / "big.bin")
    reader.thread.start()
    rnd = random.Random(99)
    alive: List[Tuple[int, int, float]] = []
    results: List[Tuple[Dict[str, Any], float, bool]] = []
    mid_read = 0
    mp_children = 0
    try:
        for i in range(forks):
            while len(alive) >= MAX_ALIVE:
                results.append(reap(*alive.pop(0)))
            rfd, wfd = os.pipe()
            done = reader.wait_in_flight(rnd)
            pid = os.fork()
            if pid == 0:
                os.close(rfd)
                child(fs, fork_cluster, fork_data, i, wfd)
            mid_read += reader.in_flight.is_set() and reader.done == done
            os.close(wfd)
            alive.append((pid, rfd, time.monotonic()))
            if (i + 1) % max(1, forks // mp_batches) == 0 and mp_children < 2 * mp_batches:
                # multiprocessing's fork context, also while the big read runs.
                run_children(
                    "fork",
                    fs,
                    str(fork_data),
                    n=2,
                    before_start=lambda _: reader.wait_in_flight(rnd),
                )
                mp_children += 2
        while alive:
            results.append(reap(*alive.pop(0)))
        after = reader.done
        limit = time.monotonic() + 30
        while reader.done < after + 2 and time.monotonic() < limit and not reader.errors:
            time.sleep(0.01)
    finally:
        reader.stop.set()
        reader.thread.join(30)
        for pid, rfd, _ in alive:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(rfd)
    reports = [r for r, _, _ in results]
    failed = [r.get("error", r) for r in reports if not r["ok"] or r.get("exit") != 0]
    figure(
        "R9 fork",
        os_forks=len(results),
        forks_mid_read=mid_read,
        mp_fork_children=mp_children,
        heavy_reads=heavy,
        child_checks=sum(r.get("checks", 0) for r in reports),
        wrong_reads=heavy_wrong + reader.wrong + sum(r.get("wrong", 0) for r in reports),
        hangs=sum(h for _, _, h in results),
        failed_children=len(failed),
        max_child_s=round(max(s for _, s, _ in results), 2),
        parent_big_reads=reader.done,
    )
    assert not failed, f"{len(failed)} children failed, first:\n{failed[0]}"
    assert not any(h for _, _, h in results)
    assert heavy_wrong == 0 and reader.wrong == 0
    assert all(r["wrong"] == 0 and r["fallbacks"] == 0 for r in reports), reports
    assert all(r["inherited_bytes"] > 0 for r in reports), "children read from the fallback"
    assert not reader.errors, reader.errors[0]
    assert not reader.thread.is_alive(), "the parent's reader hangs"
    assert reader.done >= after + 2, "the parent's reader stalled after the forks"
    assert mid_read == forks, f"only {mid_read} of {forks} forks landed inside a read"
    assert fs.stats().get("fallbacks", 0) == 0
