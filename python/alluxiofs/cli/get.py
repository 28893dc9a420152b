"""``alluxiofs get``: download a file, or a directory tree, like ``cp -r``."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import threading
from typing import Any, List, Tuple

from alluxiofs.cli.errors import CliError
from alluxiofs.cli.options import add_cluster_args, open_fs
from alluxiofs.cli.output import out
from alluxiofs.cli.parser import add_command
from alluxiofs.cli.paths import basename, entry_url, is_dir, resolve, strip_slashes
from alluxiofs.cli.transfer import copy_range

#: Files ``get`` downloads at once.
GET_CONCURRENCY = 8


def _download(fs: Any, url: str, size: int, target: str, stop: threading.Event) -> int:
    """``url`` into the file ``target``, through a temporary file beside it."""
    tmp = os.path.join(
        os.path.dirname(target) or ".", f".{os.path.basename(target)}.alluxiofs-part"
    )
    try:
        f = open(tmp, "wb")  # noqa: SIM115
    except OSError as e:
        raise CliError(f"cannot write {target}: {e.strerror or e}") from e
    try:
        with f:
            got = copy_range(fs, url, size, 0, size, f.write, stop)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return got


def _plan(fs: Any, url: str, dest: str) -> Tuple[List[str], List[Tuple[str, int, str]]]:
    """Directories to create and ``(url, size, local path)`` files for a tree."""
    dirs: List[str] = []
    files: List[Tuple[str, int, str]] = []
    stack = [(url, dest)]
    while stack:
        d_url, d_local = stack.pop()
        dirs.append(d_local)
        for e in fs.ls(d_url, detail=True):
            e_url = entry_url(fs, e)
            if strip_slashes(e_url) == strip_slashes(d_url):
                continue
            name = basename(e_url)
            if name in ("", ".", "..") or "/" in name or os.sep in name:
                raise CliError(f"refusing to write the entry {e_url!r} of {d_url}")
            local = os.path.join(d_local, name)
            if is_dir(e):
                stack.append((e_url, local))
            else:
                files.append((e_url, int(e.get("size") or 0), local))
    return dirs, files


def run(args: argparse.Namespace) -> int:
    """The ``get`` command."""
    fs = open_fs(args)
    url = resolve(fs, args.remote)
    info = fs.info(url)
    local = args.local
    into = local.endswith(("/", os.sep)) or os.path.isdir(local)
    if not is_dir(info):
        target = os.path.join(local, basename(url)) if into else local
        stop = threading.Event()
        n = _download(fs, url, int(info["size"]), target, stop)
        out(f"{url} -> {target}: 1 file, {n} bytes")
        return 0
    dest = os.path.join(local, basename(url)) if os.path.exists(local) else local
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise CliError(f"{dest} exists and is not a directory")
    dirs, files = _plan(fs, url, dest)
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    stop = threading.Event()
    total = 0
    pool = concurrent.futures.ThreadPoolExecutor(max(1, min(GET_CONCURRENCY, len(files))))
    futures: List[concurrent.futures.Future[int]] = []
    try:
        for u, s, p in files:
            futures.append(pool.submit(_download, fs, u, s, p, stop))
        for fut in concurrent.futures.as_completed(futures):
            total += fut.result()
    except BaseException:
        # Stop the others: queued downloads are cancelled, running ones stop
        # at their next chunk and remove their temporary files.
        stop.set()
        for fut in futures:
            fut.cancel()
        pool.shutdown(wait=False)
        raise
    pool.shutdown()
    out(f"{url} -> {dest}: {len(files)} files, {total} bytes")
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``get`` to the subparsers ``sub``."""
    p = add_command(
        sub,
        "get",
        run,
        "download a file, or a directory recursively",
        "Download REMOTE through Alluxio to LOCAL, like 'cp -r': a file goes to "
        "LOCAL (or into it when LOCAL is a directory); a directory becomes LOCAL "
        "when LOCAL does not exist, else LOCAL/<name>. Every file is written to "
        "a temporary name beside it and renamed when complete.",
        "  alluxiofs get s3://bucket/dataset/part-0.parquet ./part-0.parquet\n"
        "  alluxiofs get s3://bucket/dataset ./dataset   # the whole tree\n"
        "  alluxiofs get /data/dataset/sub /tmp/         # -> /tmp/sub\n",
    )
    p.add_argument("remote", help="file or directory to download")
    p.add_argument("local", help="local destination")
    add_cluster_args(p)
