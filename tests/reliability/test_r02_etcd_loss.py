"""R2 etcd loss: etcd stops while readers run, then comes back.

Proves: (a) with etcd gone, reads go on with the last ring (0 failed reads,
0 wrong bytes, 0 fallbacks to the under storage: the workers serve them);
after ``etcd.start()`` (same port, same data directory) the client's watch
resumes and a worker that registers afterwards is in the client's ring within
2 s of its registration. (b) The same 2 s bound in the worst phase of the
client's reconnect loop: etcd comes back just after a failed reconnect attempt,
once the attempts have backed off (no worker processes: the registrations are
written with etcdctl, and a listener on etcd's port records each attempt).

Setup (a): a 2-worker :class:`LocalCluster` with etcd over a seeded dataset;
four reader threads (two share a filesystem with the local disk as fallback,
two have none) verify every byte. After the outage a third worker process is
started; its registration time is taken by polling etcd's own range API.

Sizes: CI: (a) 12 files (~8 MB), a 4 s outage (~11 s); (b) etcd returns right
after the first reconnect attempt that followed a pause of >= 3 s, or after 7 s
right after the next attempt (~12 s). ``--long``: (a) 24 files (~60 MB), a 60 s
outage (~70 s); (b) unchanged. The client's reconnect backoff is capped at 1 s
(src/membership/etcd.rs ``BACKOFF_MAX``), so a worker registering just after
etcd is back is seen within ~1 s whatever the outage's length; (b) is the worst
phase of that backoff.

Figures: reads (during the outage), failures, wrong bytes, fallbacks, seconds
from registration to the client seeing the new worker; for (b) the reconnect
attempts seen and the longest pause between two of them.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

from alluxiofs.client import AlluxioClient
from alluxiofs.etcd_process import EtcdProcess, free_port, worker_registration
from alluxiofs.local_cluster import LocalCluster
from tests.cluster_util import wait_for
from tests.reliability.figures import figure
from tests.reliability.util_cluster import (
    OPTIONS,
    PAGE,
    Readers,
    make_dataset,
    new_fs,
    ring_ports,
    stats_delta,
)

#: A worker registered after etcd is back must reach the client's ring within this.
SEEN_WITHIN = 2.0


def registered_workers(etcd: EtcdProcess) -> int:
    """Keys under ``/ServiceDiscovery/`` (etcd's JSON gateway, no subprocess)."""
    body = {
        "key": base64.b64encode(b"/ServiceDiscovery/").decode(),
        "range_end": base64.b64encode(b"/ServiceDiscovery0").decode(),
        "count_only": True,
    }
    req = urllib.request.Request(
        f"http://{etcd.endpoint}/v3/kv/range", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=2) as r:
        return int(json.loads(r.read()).get("count", 0))


@pytest.fixture()
def r2_cluster(tmp_path: Path, long_mode: bool) -> Iterator[tuple[LocalCluster, dict[str, bytes]]]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    files, total = (24, 60 << 20) if long_mode else (12, 8 << 20)
    data = make_dataset(tmp_path / "ufs", files, total, seed=202)
    with LocalCluster(
        str(tmp_path / "ufs"),
        workers=2,
        start_etcd=True,
        page_size=str(PAGE),
        lease_ttl="5",
        cache_dir=str(tmp_path / "cache"),
    ) as cluster:
        yield cluster, data


def test_reads_go_on_without_etcd_and_watch_resumes(
    r2_cluster: tuple[LocalCluster, dict[str, bytes]], long_mode: bool
) -> None:
    cluster, data = r2_cluster
    outage = 60.0 if long_mode else 4.0
    assert cluster.etcd is not None and cluster.etcd_hosts is not None
    etcd, hosts = cluster.etcd, cluster.etcd_hosts
    watcher = AlluxioClient(etcd_hosts=hosts, options=OPTIONS)
    ring = set(cluster.ports)
    assert ring_ports(watcher) == ring
    shared = new_fs(etcd_hosts=hosts)
    readers = Readers(
        data, lambda i: shared if i < 2 else new_fs(etcd_hosts=hosts, ufs=False), 4, seed=2000
    )
    before = shared.stats()
    readers.start()
    try:
        readers.wait_reads(20, 60)
        etcd.stop()
        t_down = time.monotonic()
        at_down = readers.count()
        time.sleep(outage)
        reads_outage = readers.count() - at_down
        ring_during = ring_ports(watcher)
        fails_outage = readers.failed

        etcd.start()
        t_up = time.monotonic()
        cluster.ports.append(free_port())
        new_port = cluster.ports[-1]
        cluster.start_worker(len(cluster.ports) - 1)
        registered = seen = None
        deadline = time.monotonic() + 60
        while seen is None or registered is None:
            assert time.monotonic() < deadline, "new worker not registered/seen within 60s"
            now = time.monotonic()
            if seen is None and new_port in ring_ports(watcher):
                seen = now
            if registered is None and registered_workers(etcd) >= 3:
                registered = now
            time.sleep(0.01)
        readers.wait_reads(20, 60)
    finally:
        readers.stop()
    delta = stats_delta(shared.stats(), before)
    seen_after = max(0.0, seen - registered)
    figure(
        "R2 etcd loss",
        **readers.summary(),
        outage_s=round(outage, 1),
        reads_during_outage=reads_outage,
        failed_during_outage=fails_outage,
        fallbacks=delta.get("fallbacks", 0),
        etcd_restart_s=round(t_up - t_down - outage, 2),
        registered_after_etcd_up_s=round(registered - t_up, 2),
        new_worker_seen_after_registration_s=round(seen_after, 3),
    )
    assert readers.errors == [], "\n".join(readers.errors)
    assert readers.failed == 0 and readers.wrong_bytes == 0
    assert reads_outage > 0, "no read completed while etcd was down"
    assert ring_during == ring, f"ring changed while etcd was down: {ring_during}"
    assert delta.get("fallbacks", 0) == 0, f"reads fell back to the UFS: {delta}"
    assert seen_after <= SEEN_WITHIN, f"new worker seen {seen_after:.2f}s after it registered"


class AttemptRecorder:
    """Listens on etcd's client port while etcd is down and records every
    connection (a client reconnect attempt), closing it at once."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self._stop = threading.Event()
        self.times: List[float] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.times.append(time.monotonic())
            conn.close()

    def attempts(self) -> List[float]:
        """Connection times, those within 100 ms of each other counted once."""
        out: List[float] = []
        for t in list(self.times):
            if not out or t - out[-1] > 0.1:
                out.append(t)
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def _register(etcd: EtcdProcess, port: int) -> None:
    key, value = worker_registration(uuid.uuid4(), "127.0.0.1", port)
    etcd.put(key, value)


def test_new_worker_seen_within_2s_in_worst_reconnect_phase(etcd: EtcdProcess) -> None:
    _register(etcd, 1001)
    client = AlluxioClient(etcd_hosts=etcd.endpoint, options=OPTIONS)
    wait_for(lambda: ring_ports(client) == {1001}, 10, "first worker in the ring")
    etcd.stop()
    rec = AttemptRecorder(etcd.client_port)
    try:
        t_down = time.monotonic()

        def backed_off() -> bool:
            a = rec.attempts()
            return len(a) >= 2 and a[-1] - a[-2] >= 3.0

        # Right after an attempt that followed a pause of >= 3 s (the backoff
        # has grown), or after 7 s of outage right after the next attempt.
        wait_for(lambda: backed_off() or time.monotonic() - t_down > 7.0, 10, "outage")
        if not backed_off():
            n = len(rec.attempts())
            wait_for(lambda: len(rec.attempts()) > n, 15, "a reconnect attempt")
    finally:
        rec.close()
    attempts = rec.attempts()
    etcd.start()
    _register(etcd, 1002)
    t_reg = time.monotonic()
    waited = wait_for(lambda: 1002 in ring_ports(client), 30, "new worker in the ring")
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    figure(
        "R2 etcd loss (worst phase)",
        reconnect_attempts=len(attempts),
        longest_pause_s=round(max(gaps, default=0.0), 2),
        new_worker_seen_after_registration_s=round(waited, 3),
        etcd_restart_s=round(t_reg - attempts[-1], 2),
    )
    assert waited <= SEEN_WITHIN, f"new worker seen {waited:.2f}s after it registered"
