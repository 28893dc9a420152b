"""Ctrl-C during batched reads (``src/python/read_many.rs``).

``cat`` and ``cat_ranges`` lend each read its result ``bytes`` and the read
writes into it from a runtime thread. A ``KeyboardInterrupt`` ends the call
early: the reads must be stopped, and done writing, before those ``bytes``
are freed. Here SIGINT arrives every few milliseconds while a script reads
batch after batch; every batch that completes must hold the right bytes,
and so must one read after the interrupts stop (freed memory written to
would show as wrong bytes, or a crash).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE

SCRIPT = r"""
import os, random, signal, sys, threading, time

from alluxiofs import AlluxioFileSystem

fs = AlluxioFileSystem(
    etcd_hosts=sys.argv[1],
    target_protocol="file",
    options={"alluxio.worker.page.store.page.size": sys.argv[2]},
    skip_instance_cache=True,
)
# A whole-file read of one page (lent from its first answer's headers) and
# ranges of a bigger file (lent up front).
small, big = sys.argv[3], sys.argv[4]
want_small, want_big = open(small, "rb").read(), open(big, "rb").read()
n = 100
paths = [small] * n + [big] * n
starts = [0] * n + [i * 997 % 4096 for i in range(n)]
ends = [None] * n + [s + 150_000 for s in starts[n:]]


def check(got):
    assert len(got) == 2 * n, len(got)
    for i, g in enumerate(got):
        want = want_small if i < n else want_big[starts[i]:ends[i]]
        assert g == want, f"read {i}: wrong bytes"


stop = threading.Event()
# Ctrl-C as Python delivers it (the handler raises, at a signal check inside
# the call), but only while a batch is being read: anywhere else the
# script's own bookkeeping would be what got interrupted.
in_read = [False]


def on_sigint(signum, frame):
    if in_read[0]:
        raise KeyboardInterrupt


signal.signal(signal.SIGINT, on_sigint)


def kicker():
    rnd = random.Random(7)
    while not stop.is_set():
        time.sleep(rnd.uniform(0.001, 0.06))
        os.kill(os.getpid(), signal.SIGINT)


fs.cat_ranges(paths, starts, ends)  # warm
t = threading.Thread(target=kicker, daemon=True)
t.start()
completed = interrupted = 0
deadline = time.monotonic() + 4
while time.monotonic() < deadline:
    try:
        in_read[0] = True
        got = fs.cat_ranges(paths, starts, ends)
        in_read[0] = False
    except KeyboardInterrupt:
        in_read[0] = False
        interrupted += 1
        continue
    check(got)
    completed += 1
stop.set()
t.join()
check(fs.cat_ranges(paths, starts, ends))
print(f"completed={completed} interrupted={interrupted}", flush=True)
"""


def test_ctrl_c_during_batched_reads_never_corrupts(cluster: LocalCluster, dataset: Path) -> None:
    small, big = dataset / "page.bin", dataset / "many.bin"
    assert small.stat().st_size == PAGE
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, cluster.etcd_hosts, str(PAGE), str(small), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}: {proc.stderr[-3000:]}"
    counts = dict(kv.split("=") for kv in proc.stdout.split())
    # Both happened: interrupts mid-batch, and batches that completed between them.
    assert int(counts["interrupted"]) >= 20, proc.stdout
    assert int(counts["completed"]) >= 1, proc.stdout
