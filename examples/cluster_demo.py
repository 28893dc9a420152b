"""Demo on the embedded default: a private etcd, a local sample dataset, and
alluxiofs placing every file on the worker the Java servers would pick.

What it shows today: live discovery through etcd (a watch, not polling), the
consistent-hash placement of each file, and that when a worker leaves only
its own files move. The cache worker that serves the bytes comes with the
worker issue; until then the three workers are registered in etcd exactly as a
Java worker registers itself (PROTOCOL.md §1.2), so no bytes are read here.

Run: ``bash scripts/demo.sh`` (or ``python examples/cluster_demo.py`` in the venv).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid

import fsspec

from alluxiofs.etcd_process import EtcdProcess, worker_registration


def register(etcd: EtcdProcess, ident: uuid.UUID, port: int) -> str:
    """Registers a worker the way the Java worker does; returns its key."""
    key, value = worker_registration(ident, "127.0.0.1", port)
    etcd.put(key, value)
    return key


def make_dataset(root: str, files: int = 24) -> list:
    paths = []
    for i in range(files):
        part = os.path.join(root, f"part={i % 4}")
        os.makedirs(part, exist_ok=True)
        p = os.path.join(part, f"file-{i:03d}.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(4096 + i))
        paths.append(p)
    return paths


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="alluxiofs-demo-") as root, EtcdProcess() as etcd:
        paths = make_dataset(root)
        ids = [uuid.uuid4() for _ in range(3)]
        keys = {i.hex: register(etcd, i, 28080 + n) for n, i in enumerate(ids)}
        print(f"etcd on {etcd.endpoint}; dataset of {len(paths)} files under {root}")

        fs = fsspec.filesystem("alluxiofs", etcd_hosts=etcd.endpoint, target_protocol="file")
        workers = fs.client.workers()
        shares = fs.client.worker_shares()
        print("\nworkers (from etcd):")
        for w, s in zip(workers, shares):
            print(f"  {w['host']}:{w['http_port']}  {w['identity']}  {s:6.1%} of the ring")

        before = {p: fs.locate(p)[0]["http_port"] for p in paths}
        print("\nplacement (first 6 files):")
        for p in paths[:6]:
            print(f"  {fs.ufs_path(p)} -> worker :{before[p]}")

        leaving = workers[0]
        start = time.monotonic()
        etcd.ctl("del", keys[leaving["identity"]])
        while len(fs.client.workers()) != 2:
            time.sleep(0.005)
        took = time.monotonic() - start
        after = {p: fs.locate(p)[0]["http_port"] for p in paths}
        moved = [p for p in paths if before[p] != after[p]]
        owned = [p for p in paths if before[p] == leaving["http_port"]]
        print(
            f"\nworker :{leaving['http_port']} left; the ring dropped it "
            f"{took * 1000:.0f} ms after the delete command started"
        )
        print(f"files moved: {len(moved)} (the leaving worker owned {len(owned)})")
        assert sorted(moved) == sorted(owned), "only the leaving worker's files may move"
        # Drop the filesystem so its etcd watch stops before etcd does.
        type(fs).clear_instance_cache()
        del fs


if __name__ == "__main__":
    main()
