"""A/B of the read path's fast paths on one local cluster, interleaved.

    .venv/bin/python benches/ab_fastpaths.py [--rounds N] [--big-mib M]

Each variant turns one fast path off through its environment switch
(``ALLUXIOFS_RAW_GET=0``, ``ALLUXIOFS_SHORT_RUNTIME=0``, ``ALLUXIOFS_LEND=0``,
``ALLUXIOFS_PREFAULT=0``); the switches are read once per process, so each
measurement is a child process, and the variants take turns round after
round on the same cluster and data. The table gives, per scenario, each
variant's median time over the base's (all on): above 1, turning the fast
path off made it slower, so the fast path pays. The machine is noisy: only
these ratios mean anything, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

VARIANTS = {
    "base": {},
    "raw_get=0": {"ALLUXIOFS_RAW_GET": "0"},
    "short_runtime=0": {"ALLUXIOFS_SHORT_RUNTIME": "0"},
    "lend=0": {"ALLUXIOFS_LEND": "0"},
    "prefault=0": {"ALLUXIOFS_PREFAULT": "0"},
}

CHILD = r"""
import json, random, sys, time
import fsspec
hosts, root, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
fs = fsspec.filesystem("alluxiofs", etcd_hosts=hosts, target_protocol="file",
                       concurrency=64, skip_instance_cache=True)
big = f"{root}/big.bin"
small = [f"{root}/small/{i:04d}.bin" for i in range(200)]
size = fs.info(big)["size"]
rnd = random.Random(7)
def t(f):
    s = time.perf_counter(); f(); return time.perf_counter() - s
def read8m():
    with fs.open(big, "rb", block_size=8 << 20) as f:
        while f.read(8 << 20):
            pass
def rand4k():
    for _ in range(200):
        o = rnd.randrange(0, size - 4096)
        fs.cat_file(big, o, o + 4096)
def rand1m():
    for _ in range(20):
        o = rnd.randrange(0, size - (1 << 20))
        fs.cat_file(big, o, o + (1 << 20))
def info():
    for _ in range(200):
        fs.info(big)
ops = {"S1.cat": lambda: fs.cat_file(big), "S1.read8m": read8m,
       "S2.4k x200": rand4k, "S2.1m x20": rand1m, "S3.cat 200x100k": lambda: fs.cat(small),
       "S6.info x200": info}
only = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] else list(ops)
ops = {k: v for k, v in ops.items() if k.split(" ")[0] in only}
for op in ops.values():
    op()  # warm: connections, caches
out = {name: min(t(op) for _ in range(reps)) for name, op in ops.items()}
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--big-mib", type=int, default=128)
    ap.add_argument("--only", default="", help="scenarios, e.g. S2.4k,S3.cat")
    args = ap.parse_args()
    from alluxiofs.local_cluster import LocalCluster

    root = tempfile.mkdtemp(prefix="ab-fastpaths-")
    rng = random.Random(1)
    with open(f"{root}/big.bin", "wb") as f:
        f.write(rng.randbytes(args.big_mib << 20))
    os.mkdir(f"{root}/small")
    for i in range(200):
        with open(f"{root}/small/{i:04d}.bin", "wb") as f:
            f.write(rng.randbytes(100 << 10))
    cluster = LocalCluster(f"file://{root}", workers=3, start_etcd=True, cache_size="2GB")
    cluster.start()
    try:
        hosts = cluster.etcd_hosts
        assert hosts
        times: dict = {v: {} for v in VARIANTS}
        for rnd in range(args.rounds):
            order = list(VARIANTS)
            random.Random(rnd).shuffle(order)
            for v in order:
                env = {**os.environ, **VARIANTS[v]}
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, hosts, root, str(args.reps), args.only],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                for k, secs in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    times[v].setdefault(k, []).append(secs)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        base = times["base"]
        names = list(base)
        print(f"{'scenario':18}" + "".join(f"{v:>17}" for v in VARIANTS))
        for k in names:
            b = statistics.median(base[k])
            cells = [f"{b * 1e3:14.1f} ms"] + [
                f"{statistics.median(times[v][k]) / b:16.2f}x" for v in list(VARIANTS)[1:]
            ]
            print(f"{k:18}" + "".join(f"{c:>17}" for c in cells))
        # Ratios round by round (each round's variant over the same round's base).
        print("\nper-round ratios (variant / base of the same round), median [min-max]:")
        for v in list(VARIANTS)[1:]:
            for k in names:
                r = [x / y for x, y in zip(times[v][k], base[k])]
                print(f"  {v:16} {k:18} {statistics.median(r):.2f} [{min(r):.2f}-{max(r):.2f}]")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
