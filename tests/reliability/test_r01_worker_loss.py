"""R1 worker loss: ``kill -9`` one of three workers while eight readers verify
every byte, later restart it.

Proves: 0 wrong bytes and 0 failed reads while a worker dies and comes back
(reads of its files move on to the next ring worker, or to the under storage
for the readers that have it); the ring drops the dead worker once its etcd
lease (TTL 3 s) expires and takes it back after the restart.

Setup: a 3-worker :class:`LocalCluster` with etcd (lease TTL 3 s, 64 KiB pages)
over a seeded dataset of awkward and random sizes. Eight reader threads loop
random whole-file reads, ranges, file-object reads and ``cat_ranges``: four
share one filesystem with the local disk as fallback, four have a filesystem
each with no fallback at all (so only failover can save them). The victim is
the worker that owns the most files.

Sizes: CI: 24 files (~24 MB); 2 s of reads before the kill, 2 s with the worker
gone from the ring, 2 s after it is back (~15 s in all).
``--long``: 48 files (~200 MB); 30 s per phase (~2 min).

Figures: reads, bytes verified, wrong bytes, failed reads, the client's
failovers/retries and the fallbacks, seconds until the ring dropped the killed
worker and until it showed the restarted one, reads served in each phase.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from alluxiofs.client import AlluxioClient
from alluxiofs.local_cluster import LocalCluster
from tests.cluster_util import wait_for
from tests.reliability.figures import figure
from tests.reliability.util_cluster import (
    OPTIONS,
    PAGE,
    Readers,
    kill9,
    make_dataset,
    new_fs,
    restart,
    ring_ports,
    stats_delta,
)

LEASE_TTL = 3
READERS = 8


@pytest.fixture()
def r1_cluster(tmp_path: Path, long_mode: bool) -> Iterator[tuple[LocalCluster, dict[str, bytes]]]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    files, total = (48, 200 << 20) if long_mode else (24, 24 << 20)
    data = make_dataset(tmp_path / "ufs", files, total, seed=101)
    with LocalCluster(
        str(tmp_path / "ufs"),
        workers=3,
        start_etcd=True,
        page_size=str(PAGE),
        lease_ttl=str(LEASE_TTL),
        cache_dir=str(tmp_path / "cache"),
    ) as cluster:
        yield cluster, data


def test_worker_killed_and_restarted(
    r1_cluster: tuple[LocalCluster, dict[str, bytes]], long_mode: bool
) -> None:
    cluster, data = r1_cluster
    phase = 30.0 if long_mode else 2.0
    etcd = cluster.etcd_hosts
    assert etcd is not None
    watcher = AlluxioClient(etcd_hosts=etcd, options=OPTIONS)
    all_ports = set(cluster.ports)
    assert ring_ports(watcher) == all_ports

    shared = new_fs(etcd_hosts=etcd)
    readers = Readers(
        data,
        lambda i: shared if i < READERS // 2 else new_fs(etcd_hosts=etcd, ufs=False),
        READERS,
        seed=1000,
    )
    owners = Counter(shared.locate(url)[0]["http_port"] for url in data)
    victim_port, owned = owners.most_common(1)[0]
    victim = cluster.ports.index(victim_port)
    before = shared.stats()
    t_start = time.monotonic()
    readers.start()
    try:
        readers.wait_reads(20, 60)
        time.sleep(phase)
        reads_before = readers.count()

        kill9(cluster, victim)
        t_kill = time.monotonic()
        dropped = wait_for(
            lambda: ring_ports(watcher) == all_ports - {victim_port},
            LEASE_TTL + 15,
            "ring without the killed worker",
        )
        t_dropped = time.monotonic()
        time.sleep(phase)
        reads_down = readers.count() - reads_before

        t_restart = time.monotonic()
        restart(cluster, victim)
        regained = wait_for(
            lambda: ring_ports(watcher) == all_ports, 30, "ring with the restarted worker"
        )
        t_back = time.monotonic()
        reads_at_back = readers.count()
        time.sleep(phase)
        readers.wait_reads(20, 60)
        reads_after = readers.count() - reads_at_back
    finally:
        readers.stop()
    seconds = time.monotonic() - t_start
    delta = stats_delta(shared.stats(), before)
    # The no-fallback filesystems share the client core (same configuration),
    # so `delta` covers every reader's failovers and retries.
    fallbacks = delta.get("fallbacks", 0)
    figure(
        "R1 worker loss",
        **readers.summary(),
        failovers=delta.get("failovers", 0),
        retries=delta.get("retries", 0),
        fallbacks=fallbacks,
        killed_worker_files=owned,
        ring_drop_s=round(t_dropped - t_kill, 2),
        ring_regain_s=round(t_back - t_restart, 2),
        reads_before_kill=reads_before,
        reads_while_down=reads_down,
        reads_after_restart=reads_after,
        seconds=round(seconds, 1),
    )
    assert readers.errors == [], "\n".join(readers.errors)
    assert readers.failed == 0
    assert readers.wrong_bytes == 0
    assert readers.reads > 0 and readers.bytes_checked > 0
    assert reads_down > 0 and reads_after > 0, "reads stalled while the worker was gone/back"
    assert dropped <= LEASE_TTL + 10, f"ring kept the dead worker {dropped:.1f}s"
    assert regained <= 10, f"restarted worker joined the ring after {regained:.1f}s"
    # The killed worker owns files again once it is back.
    back = Counter(shared.locate(url)[0]["http_port"] for url in data)
    assert back[victim_port] == owned
