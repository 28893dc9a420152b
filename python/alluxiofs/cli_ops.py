"""The client subcommands of ``alluxiofs``: ``ls``, ``stat``, ``cat``, ``get``,
``load``, ``workers`` and ``locate``.

Each one builds an :class:`~alluxiofs.AlluxioFileSystem` (or an
:class:`~alluxiofs.AlluxioClient`) from the shared cluster options and calls
the public API. Failures print exactly one line on stderr,
``alluxiofs <cmd>: error: <message>``, and exit 1 (``-v`` adds the
traceback); Ctrl-C exits 130 without a word.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import logging
import os
import re
import sys
import textwrap
import threading
import time
import traceback
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    NoReturn,
    Optional,
    Sequence,
    TextIO,
    Tuple,
)

from alluxiofs.progress import ProgressDisplay, parse_report, plain_line

#: The subcommands defined here.
COMMANDS: Tuple[str, ...] = ("ls", "stat", "cat", "get", "load", "workers", "locate")

ENV_ETCD_HOSTS = "ALLUXIOFS_ETCD_HOSTS"
ENV_WORKER_HOSTS = "ALLUXIOFS_WORKER_HOSTS"

_SCHEME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9+.-]*://")
#: Bytes asked for at once by ``cat`` and ``get`` (rounded to whole pages).
CHUNK = 8 * 1024 * 1024
#: Files ``get`` downloads at once.
GET_CONCURRENCY = 8

NO_CLUSTER = (
    "no cluster given: pass --etcd-hosts HOST[:PORT][,...] or --worker-hosts HOST:PORT[,...] "
    f"(or export {ENV_ETCD_HOSTS} / {ENV_WORKER_HOSTS})"
)

PATHS_HELP = """\
paths:
  A path is a full under-storage URL (s3://bucket/key, file:///data/f), or
  scheme-less (bucket/key) with --target-protocol. Without --target-protocol
  an absolute local path /data/f means file:///data/f. Trailing slashes are
  dropped (s3://bucket/dir/ is s3://bucket/dir): Alluxio hashes the path
  verbatim, so the same path always reaches the same worker.
"""

CLUSTER_HELP = f"""\
cluster:
  Give --etcd-hosts or --worker-hosts, or export {ENV_ETCD_HOSTS} or
  {ENV_WORKER_HOSTS} once (the options win over the environment). The page
  size must equal the workers' (--page-size 64KB or
  --option alluxio.worker.page.store.page.size=64KB).
"""


class CliError(Exception):
    """A failure reported as one line, without a traceback."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line,
    ``<prog>: error: <message>`` (exit 2), when built with ``one_line=True``;
    otherwise argparse's usual usage-and-error output."""

    def __init__(self, *args: Any, one_line: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.one_line = one_line

    def error(self, message: str) -> NoReturn:
        if not self.one_line:
            super().error(message)
        hint = f" (see {self.prog} --help)"
        self.exit(2, f"{self.prog}: error: {_one_line(message)}{hint}\n")


# ── options ──


def _option(text: str) -> Tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def _nonnegative(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{n} is negative")
    return n


def _positive_int(text: str) -> int:
    n = _nonnegative(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is not at least 1")
    return n


def _seconds(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return s


def add_cluster_args(p: argparse.ArgumentParser, paths: bool = True) -> None:
    """The cluster-selection options shared by the client subcommands."""
    g = p.add_argument_group("cluster selection")
    g.add_argument(
        "--etcd-hosts",
        metavar="HOSTS",
        help=f"etcd endpoints, comma separated host[:port] (default ${ENV_ETCD_HOSTS})",
    )
    g.add_argument(
        "--etcd-port", metavar="PORT", help="port for --etcd-hosts entries without one (2379)"
    )
    g.add_argument(
        "--worker-hosts",
        metavar="HOSTS",
        help=f"static worker list, comma separated host[:port], instead of etcd "
        f"(default ${ENV_WORKER_HOSTS})",
    )
    g.add_argument(
        "--worker-http-port",
        metavar="PORT",
        help="port for --worker-hosts entries without one (28080)",
    )
    g.add_argument(
        "--cluster-name", metavar="NAME", help="alluxio.cluster.name (DefaultAlluxioCluster)"
    )
    g.add_argument(
        "--page-size", metavar="SIZE", help="page size, e.g. 1MB (default); must equal the workers'"
    )
    g.add_argument(
        "--option",
        "-o",
        dest="options",
        metavar="KEY=VALUE",
        action="append",
        type=_option,
        default=[],
        help="an Alluxio property, e.g. alluxio.worker.page.store.page.size=64KB (repeatable)",
    )
    if paths:
        g.add_argument(
            "--target-protocol",
            metavar="PROTO",
            help="under-storage protocol (s3, file, ...) for scheme-less paths; "
            "also the fallback when Alluxio cannot serve",
        )
    p.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="more logging; a traceback on errors (-vv: debug)",
    )


def cluster_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments for AlluxioClient/AlluxioFileSystem from the options
    and the environment; a :class:`CliError` when no cluster is given."""
    etcd, workers = args.etcd_hosts, args.worker_hosts
    if etcd and workers:
        raise CliError("give --etcd-hosts or --worker-hosts, not both")
    if not etcd and not workers:
        etcd = os.environ.get(ENV_ETCD_HOSTS, "").strip() or None
        workers = os.environ.get(ENV_WORKER_HOSTS, "").strip() or None
        if etcd and workers:
            raise CliError(
                f"both {ENV_ETCD_HOSTS} and {ENV_WORKER_HOSTS} are set; unset one, "
                "or pass --etcd-hosts or --worker-hosts"
            )
    if not etcd and not workers:
        raise CliError(NO_CLUSTER)
    kwargs: Dict[str, Any] = {"etcd_hosts": etcd, "worker_hosts": workers}
    for name in ("etcd_port", "worker_http_port", "cluster_name", "page_size"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if args.options:
        kwargs["options"] = dict(args.options)
    return {k: v for k, v in kwargs.items() if v is not None}


def open_fs(args: argparse.Namespace) -> Any:
    """The AlluxioFileSystem the options describe."""
    from alluxiofs import AlluxioFileSystem

    return AlluxioFileSystem(
        target_protocol=getattr(args, "target_protocol", None),
        skip_instance_cache=True,
        **cluster_kwargs(args),
    )


def resolve(fs: Any, path: str) -> str:
    """The full under-storage URL for a command-line path (see ``paths``)."""
    path = path.strip()
    if not path:
        raise CliError("empty path")
    if path.startswith("alluxiofs://") or _SCHEME.match(path):
        url = str(fs.ufs_path(path))
    elif fs.target_protocol is None:
        if not path.startswith("/"):
            raise CliError(
                f"path {path!r} has no scheme: give a full URL (s3://bucket/key, "
                "file:///dir/f), an absolute local path, or --target-protocol"
            )
        url = "file://" + path
    else:
        url = str(fs.ufs_path(path))
    return _strip_slashes(url)


def _strip_slashes(url: str) -> str:
    m = _SCHEME.match(url)
    if m is None:
        return url.rstrip("/") or "/"
    rest = url[m.end() :]
    stripped = rest.rstrip("/")
    if not stripped and rest.startswith("/"):
        stripped = "/"
    return url[: m.end()] + stripped if stripped else url


def _basename(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


# ── output helpers ──


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _mtime(info: Mapping[str, Any]) -> Optional[datetime.datetime]:
    m = info.get("mtime")
    if isinstance(m, datetime.datetime):
        return m if m.tzinfo else m.replace(tzinfo=datetime.timezone.utc)
    if isinstance(m, (int, float)) and not isinstance(m, bool):
        return datetime.datetime.fromtimestamp(float(m), tz=datetime.timezone.utc)
    ms = info.get("last_modification_time_ms")
    if isinstance(ms, (int, float)) and not isinstance(ms, bool) and ms > 0:
        return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return None


def _iso(t: Optional[datetime.datetime]) -> str:
    if t is None:
        return "-"
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _entry_url(fs: Any, info: Mapping[str, Any]) -> str:
    """The URL of a listing entry (an Alluxio entry carries it; an entry
    from the under storage, after a fallback, has its own name)."""
    url = info.get("ufs_path")
    if isinstance(url, str) and url:
        return url
    return str(fs.ufs_path(str(info["name"])))


def _is_dir(info: Mapping[str, Any]) -> bool:
    return info.get("type") == "directory"


def _table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    out = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
    return out


# ── ls, stat ──


def cmd_ls(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    url = resolve(fs, args.path)
    entries = [(_entry_url(fs, e), e) for e in fs.ls(url, detail=True)]
    entries.sort(key=lambda t: t[0])
    if args.json:
        _out(json.dumps([_jsonable(e) for _, e in entries], indent=2))
    elif args.long:
        rows = [
            [
                str(e.get("type", "?")),
                str(e.get("size", 0) if not _is_dir(e) else 0),
                _iso(_mtime(e)),
                u + ("/" if _is_dir(e) else ""),
            ]
            for u, e in entries
        ]
        for line in _table(rows, right=(1,)):
            _out(line)
    else:
        for u, e in entries:
            _out(u + ("/" if _is_dir(e) else ""))
    return 0


def cmd_stat(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    info = dict(fs.info(resolve(fs, args.path)))
    if args.json:
        _out(json.dumps(_jsonable(info), indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, datetime.datetime):
            text = value.isoformat()
        elif isinstance(value, (dict, list)):
            text = json.dumps(_jsonable(value))
        else:
            text = "" if value is None else str(value)
        _out(f"{key}: {text}")
    return 0


# ── cat, get ──


def _chunk(fs: Any) -> int:
    page = int(fs.client.page_size)
    return max(page, CHUNK // page * page)


def _copy(
    fs: Any,
    url: str,
    size: int,
    start: int,
    end: int,
    write: Callable[[memoryview], Any],
    stop: Optional[threading.Event] = None,
) -> int:
    """Reads ``[start, end)`` of ``url`` chunk by chunk into ``write``."""
    if end <= start:
        return 0
    chunk = _chunk(fs)
    buf = bytearray(min(chunk, end - start))
    view = memoryview(buf)
    done = 0
    with fs.open(url, "rb", size=size) as f:
        f.seek(start)
        while start + done < end:
            if stop is not None and stop.is_set():
                raise CliError("interrupted")
            n = int(f.readinto(view[: min(len(buf), end - start - done)]))
            if n <= 0:
                raise CliError(f"{url}: ended at byte {start + done}, expected {end}")
            write(view[:n])
            done += n
    return done


def cmd_cat(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    url = resolve(fs, args.path)
    info = fs.info(url)
    if _is_dir(info):
        raise CliError(f"{url} is a directory")
    size = int(info["size"])
    start = args.offset if args.offset >= 0 else max(0, size + args.offset)
    start = min(start, size)
    end = size if args.length is None else min(size, start + args.length)
    out = sys.stdout.buffer
    _copy(fs, url, size, start, end, out.write)
    out.flush()
    return 0


def _download(fs: Any, url: str, size: int, target: str, stop: threading.Event) -> int:
    """``url`` into the file ``target``, through a temporary file beside it."""
    tmp = os.path.join(
        os.path.dirname(target) or ".", f".{os.path.basename(target)}.alluxiofs-part"
    )
    try:
        out = open(tmp, "wb")  # noqa: SIM115
    except OSError as e:
        raise CliError(f"cannot write {target}: {e.strerror or e}") from e
    try:
        with out:
            got = _copy(fs, url, size, 0, size, out.write, stop)
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
            e_url = _entry_url(fs, e)
            if _strip_slashes(e_url) == _strip_slashes(d_url):
                continue
            name = _basename(e_url)
            if name in ("", ".", "..") or "/" in name or os.sep in name:
                raise CliError(f"refusing to write the entry {e_url!r} of {d_url}")
            local = os.path.join(d_local, name)
            if _is_dir(e):
                stack.append((e_url, local))
            else:
                files.append((e_url, int(e.get("size") or 0), local))
    return dirs, files


def cmd_get(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    url = resolve(fs, args.remote)
    info = fs.info(url)
    local = args.local
    into = local.endswith(("/", os.sep)) or os.path.isdir(local)
    if not _is_dir(info):
        target = os.path.join(local, _basename(url)) if into else local
        stop = threading.Event()
        n = _download(fs, url, int(info["size"]), target, stop)
        _out(f"{url} -> {target}: 1 file, {n} bytes")
        return 0
    dest = os.path.join(local, _basename(url)) if os.path.exists(local) else local
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
    _out(f"{url} -> {dest}: {len(files)} files, {total} bytes")
    return 0


# ── load ──


def _no_job(url: str, resp: Mapping[str, Any]) -> CliError:
    msg = _one_line(str(resp.get("message") or "")) or "no report"
    return CliError(f"no load job for {url}: {msg}")


def cmd_load(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    client = fs.client
    url = resolve(fs, args.path)
    tty = sys.stdout.isatty()
    if args.stop:
        resp = client.stop_load(url)
        if resp.get("success"):
            _out(f"load of {url} stopped")
            return 0
        status = client.load_progress(url)
        report = parse_report(status)
        if not report.found:
            raise _no_job(url, status)
        _out(f"load of {url} is not running ({report.job_state}); nothing to stop")
        _out(plain_line(url, report))
        return 0
    if args.progress:
        status = client.load_progress(url)
        report = parse_report(status)
        if not report.found:
            raise _no_job(url, status)
        display = ProgressDisplay(url, sys.stdout, tty)
        display.update(report)
        display.close()
        return 0
    resp = client.submit_load(url)
    if not resp.get("success"):
        msg = _one_line(str(resp.get("message") or "")) or "the worker refused it"
        prefix = f"Failed to submit load job {url}: "
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
        raise CliError(f"load of {url} not submitted: {msg}")
    _out(_one_line(str(resp.get("message") or f"load of {url} submitted")))
    sys.stdout.flush()
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    display = ProgressDisplay(url, sys.stdout, tty)
    try:
        while True:
            status = client.load_progress(url)
            report = parse_report(status)
            if not report.found:  # e.g. the path's owner changed since the submit
                raise _no_job(url, status)
            display.update(report)
            if report.state == "SUCCEEDED":
                return 0
            if report.finished:
                display.close()
                raise CliError(f"load of {url} ended {report.job_state}")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                display.close()
                raise CliError(
                    f"load of {url} not finished after {args.timeout:g}s "
                    f"(still {report.state}; it keeps running: "
                    f"alluxiofs load --progress / --stop)"
                )
            wait = args.interval if deadline is None else min(args.interval, deadline - now)
            time.sleep(max(0.0, wait))
    finally:
        display.close()


# ── workers, locate ──


def cmd_workers(args: argparse.Namespace) -> int:
    from alluxiofs import AlluxioClient

    client = AlluxioClient(**cluster_kwargs(args))
    for _ in range(5):
        workers, shares = client.workers(), client.worker_shares()
        if len(workers) == len(shares):
            break
        time.sleep(0.1)  # membership changed between the two calls
    else:
        raise CliError("the worker list keeps changing; try again")
    pairs = sorted(
        zip(workers, shares), key=lambda t: (-t[1], str(t[0]["host"]), int(t[0]["http_port"]))
    )
    if args.json:
        rows = [dict(w, share_percent=round(s * 100, 4)) for w, s in pairs]
        _out(json.dumps(rows, indent=2))
        return 0
    table = [["HOST", "PORT", "IDENTITY", "SHARE"]] + [
        [str(w["host"]), str(w["http_port"]), str(w["identity"]), f"{s * 100:.2f}%"]
        for w, s in pairs
    ]
    for line in _table(table, right=(1, 3)):
        _out(line)
    total = sum(shares) * 100
    _out(f"{len(pairs)} worker{'s' if len(pairs) != 1 else ''}, {total:.2f}% of the hash space")
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    fs = open_fs(args)
    url = resolve(fs, args.path)
    owners = fs.client.locate(url, args.n)
    if args.json:
        _out(json.dumps({"path": url, "workers": owners}, indent=2))
        return 0
    table = [["#", "HOST", "PORT", "IDENTITY"]] + [
        [str(i), str(w["host"]), str(w["http_port"]), str(w["identity"])]
        for i, w in enumerate(owners, 1)
    ]
    for line in _table(table, right=(0, 2)):
        _out(line)
    return 0


# ── the parsers ──

_COMMON_EPILOG = "\n" + PATHS_HELP + "\n" + CLUSTER_HELP


def _add(
    sub: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help: str,
    description: str,
    examples: str,
    paths: bool = True,
) -> argparse.ArgumentParser:
    epilog = "examples:\n" + examples
    epilog += _COMMON_EPILOG if paths else "\n" + CLUSTER_HELP
    p: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, 78),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        one_line=True,
    )
    p.set_defaults(func=func, cli_parser=p)
    return p


def add_subcommands(sub: Any) -> None:
    """Adds the client subcommands to the ``alluxiofs`` subparsers ``sub``."""
    p = _add(
        sub,
        "ls",
        cmd_ls,
        "list a directory through Alluxio",
        "List a directory (or show one file) as the workers see it: one URL per "
        "line, directories ending in '/'. -l adds type, size in bytes and "
        "modification time (UTC).",
        "  alluxiofs ls s3://bucket/dataset/ --etcd-hosts etcd1:2379\n"
        "  alluxiofs ls -l /data/dataset          # = file:///data/dataset\n"
        "  alluxiofs ls --target-protocol s3 bucket/dataset --json\n",
    )
    p.add_argument("path", help="directory or file")
    p.add_argument("-l", "--long", action="store_true", help="type, size, mtime, name")
    p.add_argument("--json", action="store_true", help="the entries as a JSON array")
    add_cluster_args(p)

    p = _add(
        sub,
        "stat",
        cmd_stat,
        "show the status of a file or directory",
        "Show the status Alluxio reports for a path (type, size, mtime, "
        "share cached, ...), as 'key: value' lines or JSON.",
        "  alluxiofs stat s3://bucket/dataset/part-0.parquet\n"
        "  alluxiofs stat /data/dataset/part-0.parquet --json\n",
    )
    p.add_argument("path", help="file or directory")
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_cluster_args(p)

    p = _add(
        sub,
        "cat",
        cmd_cat,
        "write a file's bytes to stdout",
        "Write a file, or a byte range of it, to stdout (binary-safe), read "
        "through the worker that owns it.",
        "  alluxiofs cat s3://bucket/notes.txt\n"
        "  alluxiofs cat /data/big.bin --offset 1048576 --length 4096 | xxd | head\n"
        "  alluxiofs cat /data/big.bin --offset -1024 > tail.bin   # the last KiB\n",
    )
    p.add_argument("path", help="a file")
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        metavar="N",
        help="first byte (default 0; negative counts from the end)",
    )
    p.add_argument(
        "--length",
        type=_nonnegative,
        default=None,
        metavar="N",
        help="bytes to write (default: to the end of the file)",
    )
    add_cluster_args(p)

    p = _add(
        sub,
        "get",
        cmd_get,
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

    p = _add(
        sub,
        "load",
        cmd_load,
        "load a path into the cache (distributed load job) and wait",
        "Submit a distributed load job for PATH (a file or directory) and wait "
        "for it, showing its progress: on a terminal one bar redrawn in place "
        "(files processed/total, bytes loaded/total, throughput, state), "
        "otherwise a plain line whenever the numbers change (and every 10 s). "
        "The numbers are the worker's report. Exit 0 when the job SUCCEEDED, "
        "1 when it FAILED or was STOPPED, or --timeout passed (the job keeps "
        "running). Ctrl-C stops waiting, not the job (use --stop).",
        "  alluxiofs load s3://bucket/dataset --etcd-hosts etcd1\n"
        "  alluxiofs load /data/dataset --timeout 600\n"
        "  alluxiofs load s3://bucket/dataset --progress   # show once, do not wait\n"
        "  alluxiofs load s3://bucket/dataset --stop\n",
    )
    p.add_argument("path", help="file or directory to load")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--progress",
        action="store_true",
        help="show the current progress of the existing job once (exit 0 when there is one)",
    )
    mode.add_argument(
        "--stop",
        action="store_true",
        help="stop the running job (a finished job is reported, exit 0)",
    )
    p.add_argument(
        "--timeout", type=_seconds, default=None, metavar="S", help="give up waiting after S s"
    )
    p.add_argument(
        "--interval",
        type=_seconds,
        default=1.0,
        metavar="S",
        help="seconds between progress requests (default 1)",
    )
    add_cluster_args(p)

    p = _add(
        sub,
        "workers",
        cmd_workers,
        "list the workers on the hash ring and their shares",
        "List the workers of the cluster: host, port, identity and the share of "
        "the consistent-hash space each owns, largest first, then a total line.",
        "  alluxiofs workers --etcd-hosts etcd1:2379\n"
        "  ALLUXIOFS_WORKER_HOSTS=w1:28080,w2:28080 alluxiofs workers --json\n",
        paths=False,
    )
    p.add_argument("--json", action="store_true", help="a JSON array (share_percent per worker)")
    add_cluster_args(p, paths=False)

    p = _add(
        sub,
        "locate",
        cmd_locate,
        "show the workers that own a path",
        "Show the N workers owning PATH on the hash ring, in ring order: the "
        "first serves it, the next ones take over when it fails. Fewer are "
        "shown when the cluster has fewer workers.",
        "  alluxiofs locate s3://bucket/dataset/part-0.parquet -n 2\n"
        "  alluxiofs locate /data/dataset/part-0.parquet --json\n",
    )
    p.add_argument("path", help="a path (hashed as its full URL)")
    p.add_argument(
        "-n", type=_positive_int, default=1, metavar="N", help="how many workers (default 1)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object")
    add_cluster_args(p)


# ── running ──


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def error_message(e: BaseException) -> str:
    """The one-line text for an exception."""
    text = _one_line(str(e))
    if isinstance(e, (CliError, OSError, ValueError, TimeoutError)):
        return text or type(e).__name__
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Formatter(logging.Formatter):
    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        msg = _one_line(record.getMessage())
        if msg.startswith("alluxiofs: "):
            msg = msg[len("alluxiofs: ") :]
        return f"alluxiofs {self.command}: {record.levelname.lower()}: {msg}"


class _HeldWarnings(logging.Handler):
    """Keeps the warnings of a command until it ends: shown after a success,
    counted in the error line of a failure (which stays one line)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)

    def flush_to(self, stream: TextIO) -> None:
        for line in self.lines:
            stream.write(line + "\n")
        self.lines.clear()
        stream.flush()


def _setup_logging(command: str, verbose: int) -> Optional[_HeldWarnings]:
    """Logging for a command: with ``-v`` everything at once on stderr, else
    only warnings, held (see :class:`_HeldWarnings`)."""
    root = logging.getLogger()
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        held = None
    else:
        handler = held = _HeldWarnings()
        handler.setFormatter(_Formatter(command))
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    return held


def _quiet_stdout() -> None:
    """After a broken pipe: send the rest of stdout nowhere (no error at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run(args: argparse.Namespace, verbose: int = 0) -> int:
    """Runs a client subcommand; returns the exit code."""
    command = str(args.command)
    verbose += int(getattr(args, "sub_verbose", 0) or 0)
    held = _setup_logging(command, verbose)
    try:
        code = int(args.func(args))
        sys.stdout.flush()
        if held is not None:
            held.flush_to(sys.stderr)
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except Exception as e:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_stdout()
        except (OSError, ValueError):
            pass
        if verbose:
            traceback.print_exc(file=sys.stderr)
        message = error_message(e)
        if held is not None and held.lines:
            n = len(held.lines)
            message += f" ({n} warning{'s' if n > 1 else ''} before it; -v shows them)"
        print(f"alluxiofs {command}: error: {message}", file=sys.stderr)
        return 1
