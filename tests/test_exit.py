"""Interpreter exit with calls on other threads (``src/python/exit.rs``).

PyArrow scans read ahead on C++ threads; a script that returns while one is
still reading through us had that thread take the GIL after finalization
began, and Python's ``pthread_exit`` then aborted the process after its work
was done (the seed's ``dataset.take([0])`` example: 4 aborts in 120 runs
before, 0 in 120 after). The extension's ``atexit`` hook therefore lets other
threads settle before finalization: a call in flight is waited for (at most
2 s) and a new call from another thread is refused with ``RuntimeError``.

Here a daemon thread's read hangs in a proxy when the script returns, and is
let go 0.7 s later. An ``atexit`` handler registered before alluxiofs was
imported runs after its hook: it sees the read finished, and a new call from
another thread refused.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE
from tests.fault_proxy import FaultProxy

SCRIPT = r"""
import atexit, sys, threading, time

done = []


def after_alluxiofs_hook():
    # Registered first, so it runs after the hook alluxiofs registers.
    print("read finished before teardown:", done, flush=True)
    refused = []

    def call():
        try:
            fs.info(sys.argv[2])
            refused.append("no")
        except BaseException as e:
            refused.append(type(e).__name__)

    t = threading.Thread(target=call)
    t.start()
    t.join(10)
    print("new call from another thread:", refused, flush=True)


atexit.register(after_alluxiofs_hook)

from alluxiofs import AlluxioFileSystem

fs = AlluxioFileSystem(
    worker_hosts=sys.argv[1],
    target_protocol="file",
    options={"alluxio.worker.page.store.page.size": sys.argv[3]},
    skip_instance_cache=True,
)
threading.Thread(target=lambda: done.append(len(fs.cat_file(sys.argv[2]))), daemon=True).start()
time.sleep(0.5)
print("exiting", flush=True)
"""


def test_exit_waits_for_calls_in_flight_and_refuses_new_ones(
    cluster: LocalCluster, dataset: Path
) -> None:
    path = dataset / "page.bin"
    with FaultProxy(cluster.ports[0]) as proxy:
        proxy.set_mode("hang")
        proc = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, proxy.authority, str(path), str(PAGE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "exiting"
            assert proxy.faults >= 1, "the read never reached the proxy"
            time.sleep(0.7)  # the script is in its exit now
            proxy.set_mode("ok")  # the hanging read is let go and retried
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, f"exit code {proc.returncode}: {err[-2000:]}"
    assert f"read finished before teardown: [{path.stat().st_size}]" in out, out + err
    assert "new call from another thread: ['RuntimeError']" in out, out + err
