"""R11 quota: a worker's page store under sustained over-quota load.

Proves: with a 4 MB quota (64 KiB pages) and a dataset ten times larger read
at random by eight threads, the page data on disk never exceeds the quota plus
one page at any sample, every byte read is right, no read fails, and the worker
keeps serving to the end (reads complete in the last seconds).

What is measured: a sampler thread walks the store (``<cache>/pages/pages/*/*/
<index>`` page files and ``pages/tmp/*`` pages being written; ``meta.json``,
``store.json`` and the identity file are not page data) every ~20 ms and
counts each file's data (its size minus the 8-byte checksum header). A walk is
not atomic: a page evicted after it was counted and one written later in the
walk would both count. So every file is stat'ed again after the walk, and only
files that still exist (same inode) are kept: those all existed together at
the end of the walk, so their sum is a true lower bound of the usage at that
moment, and it is what is asserted (the raw walk's maximum is reported). The
worker exports no store counters (its ``in_alluxio_percentage`` per file is
rounded and cannot be summed atomically under this churn), so the disk is the
measure.

Sizes: CI: 20 files (~40 MB), 12 s of reads. ``--long``: 40 files (~160 MB),
150 s of reads.

Figures: samples, max verified / raw bytes vs quota (+ page), samples above the
bare quota, reads, bytes verified, wrong bytes, failed reads, reads in the
last 2 s, page files seen come and go (a lower bound of evictions; the worker
does not export its eviction counter).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.reliability.figures import figure
from tests.reliability.util_cluster import PAGE, Readers, make_dataset, new_fs, wrong_bytes

QUOTA = 4 << 20
HEADER = 8  # xxh3 checksum in front of each page's data


def read_range(fs: AlluxioFileSystem, url: str, data: bytes, rnd: random.Random) -> Tuple[int, int]:
    """A random range of up to 8 pages, unaligned."""
    s = rnd.randint(0, len(data))
    e = rnd.randint(s, min(len(data), s + 8 * PAGE))
    got = fs.cat_file(url, start=s, end=e)
    return e - s, wrong_bytes(got, data[s:e])


class StoreSampler:
    """Samples the page store's on-disk page data (see the module docstring)."""

    def __init__(self, store: Path) -> None:
        self.pages = store / "pages"
        self.tmp = store / "tmp"
        self.samples = 0
        self.max_verified = 0
        self.max_raw = 0
        self.over_quota = 0
        self.over_bound = 0
        self.errors: List[str] = []
        self.seen: Set[Tuple[str, int, int]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _walk(self) -> Dict[str, Tuple[int, int]]:
        """path -> (inode, data bytes) of every page file found."""
        found: Dict[str, Tuple[int, int]] = {}

        def add(entry: os.DirEntry[str], page: bool) -> None:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                return
            found[entry.path] = (st.st_ino, max(0, st.st_size - HEADER))
            if page:
                self.seen.add((entry.path, st.st_ino, st.st_mtime_ns))

        for top in _scandir(self.pages):
            for fdir in _scandir(Path(top.path)):
                for page in _scandir(Path(fdir.path)):
                    if page.name.isdigit():
                        add(page, True)
        for t in _scandir(self.tmp):
            add(t, False)
        return found

    def sample(self) -> None:
        found = self._walk()
        raw = sum(size for _, size in found.values())
        kept = 0
        for path, (ino, size) in found.items():
            try:
                if os.stat(path).st_ino == ino:
                    kept += size
            except FileNotFoundError:
                pass
        self.samples += 1
        self.max_raw = max(self.max_raw, raw)
        self.max_verified = max(self.max_verified, kept)
        self.over_quota += kept > QUOTA
        self.over_bound += kept > QUOTA + PAGE

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample()
            except Exception as e:  # reported and asserted on
                if len(self.errors) < 5:
                    self.errors.append(repr(e))
            self._stop.wait(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "sampler hung"


def _scandir(path: Path) -> List[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:  # a file's directory removed meanwhile
        return []


@pytest.fixture()
def r11(tmp_path: Path, long_mode: bool) -> Iterator[Tuple[LocalCluster, Dict[str, bytes]]]:
    files, total = (40, 160 << 20) if long_mode else (20, 40 << 20)
    data = make_dataset(tmp_path / "ufs", files, total, seed=1111)
    with LocalCluster(
        str(tmp_path / "ufs"),
        workers=1,
        page_size=str(PAGE),
        cache_size=str(QUOTA),
        cache_dir=str(tmp_path / "cache"),
    ) as cluster:
        yield cluster, data


def test_page_store_stays_within_quota(
    r11: Tuple[LocalCluster, Dict[str, bytes]], long_mode: bool
) -> None:
    cluster, data = r11
    seconds = 150.0 if long_mode else 12.0
    total = sum(len(v) for v in data.values())
    assert total >= 8 * QUOTA
    fs = new_fs(worker_hosts=cluster.worker_hosts, ufs=False)
    sampler = StoreSampler(Path(cluster.cache_dir) / "worker-0" / "pages")
    assert (sampler.pages.parent / "store.json").exists(), "page store layout changed?"
    before = fs.stats()
    readers = Readers(data, lambda i: fs, 8, seed=11000, once=read_range)
    sampler.start()
    t0 = time.monotonic()
    readers.start()
    try:
        time.sleep(seconds)
        t_end = time.monotonic()
        last = readers.reads_between(t_end - 2, t_end)
    finally:
        readers.stop()
        sampler.stop()
    elapsed = time.monotonic() - t0
    served = fs.stats()["bytes_from_workers"] - before["bytes_from_workers"]
    final_pages = sum(1 for p in sampler._walk() if not p.startswith(str(sampler.tmp)))
    figure(
        "R11 quota",
        quota=QUOTA,
        page=PAGE,
        samples=sampler.samples,
        max_bytes=sampler.max_verified,
        max_bytes_raw_walk=sampler.max_raw,
        samples_over_quota=sampler.over_quota,
        samples_over_quota_plus_page=sampler.over_bound,
        **readers.summary(),
        reads_last_2s=last,
        dataset_bytes=total,
        page_files_evicted_min=len(sampler.seen) - final_pages,
        seconds=round(elapsed, 1),
    )
    assert sampler.errors == [], sampler.errors
    assert readers.errors == [], "\n".join(readers.errors)
    assert readers.failed == 0 and readers.wrong_bytes == 0
    assert sampler.samples >= seconds * 10, f"only {sampler.samples} samples"
    assert sampler.max_verified <= QUOTA + PAGE, f"page store held {sampler.max_verified} bytes"
    assert sampler.over_bound == 0
    assert last > 0, "no read completed in the last 2 s"
    # The store really was under pressure: far more was served than fits.
    assert served > 4 * QUOTA and sampler.max_verified > QUOTA // 2
