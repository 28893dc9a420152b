"""Runs inside the alluxiofs 1.1.17 venv (benches/scen_peers.py): times
reads of our cluster with that client and prints one JSON line
``{"cat": [seconds...], "read_table": [seconds...]}`` or ``{"error": ...}``.

argv[1]: JSON {"worker_hosts", "big", "table", "runs", "chunk"}. 1.1.17
refuses S3 answers over 20 MiB (curl's MAXFILESIZE), so a whole file is
read as ``open().read(chunk)`` until the end (its reads ask for 5 MiB
blocks), not ``cat_file``."""

import json
import sys
import time


def main() -> None:
    a = json.loads(sys.argv[1])
    try:
        from alluxiofs import AlluxioFileSystem

        port = int(a["worker_hosts"].split(":")[1])
        fs = AlluxioFileSystem(worker_hosts=a["worker_hosts"], worker_http_port=port)
    except Exception as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"[:300]}))
        return

    def cat() -> None:
        with fs.open(a["big"], "rb") as f:
            while f.read(a["chunk"]):
                pass

    def read_table() -> None:
        import pyarrow.parquet as pq

        with fs.open(a["table"], "rb") as f:
            pq.read_table(f)

    out = {}
    for name, fn in (("cat", cat), ("read_table", read_table)):
        try:
            fn()  # warm-up: fills the worker's cache
            secs = []
            for _ in range(a["runs"]):
                t = time.perf_counter()
                fn()
                secs.append(time.perf_counter() - t)
            out[name] = secs
        except Exception as e:
            out[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
