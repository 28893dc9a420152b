"""Runs inside a venv holding alluxiofs 1.1.17 (PyPI): reads through our
cluster with that client and prints one JSON line of what it got (sha256 of
each read), for tests/s3api/test_alluxiofs_117.py to compare with the files.

argv[1]: JSON {"worker_hosts", "root", "files": [rel...], "ranges":
[[rel, start, end]...], "cache_dir" (null: local cache off)}.
"""

import hashlib
import json
import sys


def main() -> None:
    args = json.loads(sys.argv[1])
    from alluxiofs import AlluxioFileSystem

    port = args["worker_hosts"].split(":")[1]
    kwargs = {"worker_hosts": args["worker_hosts"], "worker_http_port": int(port)}
    if args["cache_dir"]:
        kwargs.update(mcap_enabled=True, local_cache_dir=args["cache_dir"], local_cache_size_gb=1)
    fs = AlluxioFileSystem(**kwargs)
    root = args["root"]
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    out = {"ls": {}, "info": {}, "whole": {}, "ranges": [], "open": []}
    for d in args["dirs"]:
        out["ls"][d] = sorted(e["name"] for e in fs.ls(f"{root}/{d}", detail=True))
    for rel in args["files"]:
        size = fs.info(f"{root}/{rel}")["size"]
        out["info"][rel] = size
        # With its local cache on, 1.1.17's cat_file needs an end (its own
        # block math raises ValueError without one).
        end = size if args["cache_dir"] else None
        out["whole"][rel] = sha(fs.cat_file(f"{root}/{rel}", start=0, end=end))
    for rel, start, end in args["ranges"]:
        out["ranges"].append(sha(fs.cat_file(f"{root}/{rel}", start=start, end=end)))
        with fs.open(f"{root}/{rel}", "rb") as f:
            f.seek(start)
            out["open"].append(sha(f.read(end - start)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
