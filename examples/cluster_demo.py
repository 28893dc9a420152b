"""Demo on the embedded default: ``local-cluster`` (etcd + three cache
workers, each its own process) over a sample dataset it creates, seen through
``fsspec.filesystem("alluxiofs", ...)``.

What it shows today: the workers register themselves in etcd, the client
discovers them through a watch, places every file on the worker the Java
servers would pick, and when a worker is killed only that worker's files move.
Reads through the filesystem arrive with the client issue (#4).

Run: ``bash scripts/demo.sh`` (or ``python examples/cluster_demo.py`` in the venv).
"""

from __future__ import annotations

import os
import signal
import tempfile
import time

import fsspec

from alluxiofs.local_cluster import LocalCluster


def make_dataset(root: str, files: int = 24) -> list:
    paths = []
    for i in range(files):
        part = os.path.join(root, f"part={i % 4}")
        os.makedirs(part, exist_ok=True)
        p = os.path.join(part, f"file-{i:03d}.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(64 * 1024 + i))
        paths.append(p)
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="alluxiofs-demo-") as root:
        paths = make_dataset(root)
        print(f"dataset: {len(paths)} files under {root}")
        with LocalCluster(root, workers=3, start_etcd=True, lease_ttl="3") as cluster:
            print(f"local-cluster: {cluster.info()}")
            fs = fsspec.filesystem(
                "alluxiofs", etcd_hosts=cluster.etcd_hosts, target_protocol="file"
            )
            workers = fs.client.workers()
            shares = fs.client.worker_shares()
            print("\nworkers (registered by themselves in etcd):")
            for w, s in zip(workers, shares):
                print(f"  {w['host']}:{w['http_port']}  {w['identity']}  {s:6.1%} of the ring")

            before = {p: fs.locate(p)[0]["http_port"] for p in paths}
            print("\nplacement (first 6 files):")
            for p in paths[:6]:
                print(f"  {fs.ufs_path(p)} -> worker :{before[p]}")

            victim = cluster.procs[0]
            port = cluster.ports[0]
            start = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)
            while port in [w["http_port"] for w in fs.client.workers()]:
                time.sleep(0.02)
            took = time.monotonic() - start
            after = {p: fs.locate(p)[0]["http_port"] for p in paths}
            moved = sorted(p for p in paths if before[p] != after[p])
            owned = sorted(p for p in paths if before[p] == port)
            print(
                f"\nkill -9 worker :{port}; its 3 s lease expired and the ring dropped it "
                f"after {took:.1f} s"
            )
            print(f"files moved: {len(moved)} (the dead worker owned {len(owned)})")
            assert moved == owned, "only the dead worker's files may move"
            type(fs).clear_instance_cache()
            del fs


if __name__ == "__main__":
    main()
