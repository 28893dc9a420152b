"""Short calls (``info``, ``ls``, small reads) run on the calling thread when
the one short-call runtime is free (``src/short_runtime.rs``), else on the
shared runtime: many threads at once, contending for it, read every byte
right, and descriptors stay bounded as threads come and go (the short-call
client keeps at most 2 idle connections per worker)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import List

import pytest

from alluxiofs import AlluxioFileSystem
from tests.test_fork import read_and_verify

#: Threads at once: most find the short-call runtime busy.
THREADS = 40


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_short_lived_threads_read_right_and_leave_nothing_open(
    afs: AlluxioFileSystem, dataset: Path
) -> None:
    root = str(dataset)
    read_and_verify(afs, root, seed=1)
    errors: List[BaseException] = []

    def work(seed: int) -> None:
        try:
            read_and_verify(afs, root, seed=seed)
            assert afs.info(os.path.join(root, "sub/a.txt"))["size"] == 6
        except BaseException as e:  # reported below
            errors.append(e)

    counts = []
    for rnd in range(5):
        threads = [threading.Thread(target=work, args=(rnd * 100 + i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a reader hung"
        assert not errors, errors[:3]
        counts.append(open_fds())
    # A leak of even one descriptor per thread would add 40 a round; the
    # shared pool's connections (up to its idle bound) account for the rest.
    assert counts[-1] - counts[1] < THREADS, counts
