"""The client subcommands of ``alluxiofs`` (ls, stat, cat, get, load, workers,
locate), run as a user runs them: ``python -m alluxiofs ...`` in a subprocess,
against the session ``cluster`` (3 workers + etcd over ``dataset``)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest

from alluxiofs.client import AlluxioClient
from alluxiofs.local_cluster import LocalCluster
from alluxiofs.progress import parse_report
from tests.conftest import PAGE, SIZES

COMMANDS = ["ls", "stat", "cat", "get", "load", "workers", "locate"]


def clean_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLUXIOFS_")}
    env.pop("COLUMNS", None)
    env.update(extra)
    return env


def run(
    *args: str,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[str] = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "alluxiofs", *args],
        capture_output=True,
        env=clean_env() if env is None else env,
        cwd=cwd,
        timeout=timeout,
    )


def on(cluster: LocalCluster, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    """``alluxiofs ARGS`` against the session cluster."""
    assert cluster.etcd_hosts
    return run(*args, "--etcd-hosts", cluster.etcd_hosts, "--page-size", str(PAGE), **kw)


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.returncode, r.stderr.decode(errors="replace"))
    return r.stdout.decode(errors="replace")


def one_error_line(r: subprocess.CompletedProcess[bytes], cmd: str) -> str:
    """The single stderr line of a failed run."""
    err = r.stderr.decode()
    assert r.returncode != 0, r
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"alluxiofs {cmd}: error: "), err
    assert "Traceback" not in err
    return err


def url(dataset: Path, name: str = "") -> str:
    return f"file://{dataset}" + (f"/{name}" if name else "")


# ── help ──


def test_help_for_every_subcommand() -> None:
    top = ok(run("--help"))
    for cmd in [*COMMANDS, "worker", "local-cluster"]:
        assert cmd in top
    for cmd in COMMANDS:
        out = ok(run(cmd, "--help"))
        assert out.startswith(f"usage: alluxiofs {cmd}"), out
        assert "examples:" in out and f"alluxiofs {cmd} " in out.split("examples:")[1]
        assert "--etcd-hosts" in out and "ALLUXIOFS_ETCD_HOSTS" in out
    assert "--target-protocol" in ok(run("ls", "--help"))
    assert "--timeout" in ok(run("load", "--help"))


# ── ls, stat ──


def test_ls_short(cluster: LocalCluster, dataset: Path) -> None:
    out = ok(on(cluster, "ls", str(dataset)))
    top = sorted({n.split("/")[0] for n in SIZES})
    want = [url(dataset, n) + ("/" if (dataset / n).is_dir() else "") for n in top]
    assert out.splitlines() == want
    # A full URL and a trailing slash list the same; a file lists itself.
    assert ok(on(cluster, "ls", url(dataset) + "/")) == out
    assert ok(on(cluster, "ls", url(dataset, "one.bin"))).splitlines() == [url(dataset, "one.bin")]


def test_ls_long(cluster: LocalCluster, dataset: Path) -> None:
    lines = ok(on(cluster, "ls", "-l", str(dataset / "sub"))).splitlines()
    rows = [line.split() for line in lines]
    assert [r[3] for r in rows] == [url(dataset, "sub/a.txt"), url(dataset, "sub/deeper") + "/"]
    assert [r[0] for r in rows] == ["file", "directory"]
    assert rows[0][1] == str(SIZES["sub/a.txt"]) and rows[1][1] == "0"
    for r, name in zip(rows, ["sub/a.txt", "sub/deeper"]):
        shown = datetime.strptime(r[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert abs(shown.timestamp() - (dataset / name).stat().st_mtime) < 1.5, (r, name)


def test_ls_scheme_less_with_target_protocol_and_json(cluster: LocalCluster, dataset: Path) -> None:
    # "sub" relative to the working directory, resolved by the file protocol.
    out = ok(on(cluster, "ls", "sub", "--target-protocol", "file", "--json", cwd=str(dataset)))
    entries = json.loads(out)
    assert sorted(e["ufs_path"] for e in entries) == [
        url(dataset, "sub/a.txt"),
        url(dataset, "sub/deeper"),
    ]
    assert {e["ufs_path"]: e["size"] for e in entries}[url(dataset, "sub/a.txt")] == 6


def test_stat_lines_and_json(cluster: LocalCluster, dataset: Path) -> None:
    out = ok(on(cluster, "stat", str(dataset / "many.bin")))
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert fields["type"] == "file"
    assert fields["size"] == str(SIZES["many.bin"])
    assert fields["ufs_path"] == url(dataset, "many.bin")
    info = json.loads(ok(on(cluster, "stat", url(dataset, "sub"), "--json")))
    assert info["type"] == "directory" and info["ufs_path"] == url(dataset, "sub")
    assert datetime.fromisoformat(info["mtime"]).tzinfo is not None


# ── cat ──


def test_cat_whole_files(cluster: LocalCluster, dataset: Path) -> None:
    for name in ["empty.bin", "one.bin", "page.bin", "page_plus.bin", "many.bin"]:
        r = on(cluster, "cat", str(dataset / name))
        ok(r)
        assert r.stdout == (dataset / name).read_bytes(), name


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (PAGE - 1, 2),  # across a page boundary
        (PAGE, PAGE),  # exactly one page
        (3 * PAGE + 7, 2 * PAGE + 100),  # several pages, unaligned
        (7 * PAGE, None),  # to the end
        (-12345, None),  # the last bytes
        (-3, 2),
        (7 * PAGE + 12000, 1000),  # runs past the end: what there is
        (8 * PAGE, 10),  # starts past the end: nothing
        (5, 0),
    ],
)
def test_cat_ranges(
    cluster: LocalCluster, dataset: Path, offset: int, length: Optional[int]
) -> None:
    data = (dataset / "many.bin").read_bytes()
    args = ["cat", url(dataset, "many.bin"), "--offset", str(offset)]
    if length is not None:
        args += ["--length", str(length)]
    r = on(cluster, *args)
    ok(r)
    start = offset if offset >= 0 else len(data) + offset
    want = data[start:] if length is None else data[start : start + length]
    assert r.stdout == want


# ── get ──


def tree(root: Path) -> Dict[str, Optional[bytes]]:
    """Relative path → bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def test_get_file(cluster: LocalCluster, dataset: Path, tmp_path: Path) -> None:
    ok(on(cluster, "get", str(dataset / "many.bin"), str(tmp_path / "copy.bin")))
    assert (tmp_path / "copy.bin").read_bytes() == (dataset / "many.bin").read_bytes()
    # Into an existing directory; an empty file.
    ok(on(cluster, "get", url(dataset, "empty.bin"), str(tmp_path)))
    assert (tmp_path / "empty.bin").read_bytes() == b""
    assert sorted(os.listdir(tmp_path)) == ["copy.bin", "empty.bin"]  # no temporary left


def test_get_directory(cluster: LocalCluster, dataset: Path, tmp_path: Path) -> None:
    out = ok(on(cluster, "get", url(dataset), str(tmp_path / "copy")))
    assert tree(tmp_path / "copy") == tree(dataset)
    assert f"{len(SIZES)} files, {sum(SIZES.values())} bytes" in out
    # An existing destination receives the directory under its own name.
    ok(on(cluster, "get", str(dataset / "sub"), str(tmp_path / "copy")))
    assert tree(tmp_path / "copy" / "sub") == tree(dataset / "sub")


# ── load ──


def test_load_to_completion_then_progress_and_stop(cluster: LocalCluster, dataset: Path) -> None:
    target = str(dataset / "sub")
    out = ok(on(cluster, "load", target, "--interval", "0.2", "--timeout", "60"))
    assert "\r" not in out and "\x1b" not in out  # piped: plain lines
    lines = out.splitlines()
    assert "submitted" in lines[0] or "already running" in lines[0], lines
    n = sum(1 for name in SIZES if name.startswith("sub/"))
    assert lines[-1].startswith(f"load {url(dataset, 'sub')}: SUCCEEDED 100%"), lines
    assert f"{n}/{n} files" in lines[-1]
    client = AlluxioClient(etcd_hosts=cluster.etcd_hosts, page_size=PAGE)
    report = parse_report(client.load_progress(url(dataset, "sub")))
    assert f"{report.bytes_done}/{report.bytes_total}" in lines[-1]
    assert report.bytes_done == report.bytes_total

    # A finished job's report no longer changes: --progress shows the same line.
    assert ok(on(cluster, "load", target, "--progress")).splitlines() == [lines[-1]]

    stop = ok(on(cluster, "load", target, "--stop"))
    assert "not running (SUCCEEDED)" in stop and "nothing to stop" in stop
    # The job cached the files: their owners report them fully in Alluxio.
    info = json.loads(ok(on(cluster, "stat", str(dataset / "sub/deeper/b.bin"), "--json")))
    assert info["in_alluxio_percentage"] == 100


def run_in_pty(
    args: Sequence[str], env: Dict[str, str], columns: int = 150, timeout: float = 60
) -> Tuple[int, bytes, bytes]:
    """Runs ``alluxiofs ARGS`` with stdout on a pseudo-terminal; returns the
    exit code, what the terminal received and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    p = subprocess.Popen(
        [sys.executable, "-m", "alluxiofs", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks: List[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            p.kill()
            raise AssertionError(f"{args} did not finish within {timeout}s")
        assert p.stderr is not None
        err = p.stderr.read()
        code = p.wait(timeout=timeout)
    finally:
        os.close(master)
        if p.poll() is None:
            p.kill()
            p.wait()
        if p.stderr is not None:
            p.stderr.close()
    return code, b"".join(chunks), err


def test_load_on_a_terminal_draws_one_bar_in_place(cluster: LocalCluster, dataset: Path) -> None:
    assert cluster.etcd_hosts
    code, screen, err = run_in_pty(
        ["load", str(dataset / "sub" / "deeper"), "--interval", "0.2"],
        clean_env(ALLUXIOFS_ETCD_HOSTS=cluster.etcd_hosts),
    )
    text = screen.decode()
    assert code == 0 and err == b"", (code, err, text)
    # The terminal turns "\n" into "\r\n"; a lone "\r" is a redraw.
    redraws = re.findall(r"\r(?!\n)([^\r\n]*)", text)
    assert redraws, text
    final = redraws[-1]
    assert re.match(r"SUCCEEDED \[#+\] +100%  1/1 files  ", final), final
    assert "load file://" not in text  # no plain lines on a terminal
    assert text.endswith("\r\n")


def test_load_of_a_missing_path_fails(cluster: LocalCluster, dataset: Path) -> None:
    err = one_error_line(on(cluster, "load", str(dataset / "missing-dir")), "load")
    assert "missing-dir" in err and "not found" in err


def test_load_progress_and_stop_without_a_job(cluster: LocalCluster, dataset: Path) -> None:
    for flag in ("--progress", "--stop"):
        err = one_error_line(on(cluster, "load", str(dataset / "never-loaded"), flag), "load")
        assert "no load job" in err and "never-loaded" in err


class FakeLoadWorker:
    """A worker answering only ``/v1/load``, from a script of progress reports
    per path (the last one repeats), in the wire format of the real worker."""

    def __init__(self, scripts: Dict[str, List[Tuple[str, int, int, str, str]]]) -> None:
        self.scripts = scripts
        self.calls: List[Tuple[str, str]] = []
        self.step: Dict[str, int] = {}
        self.stopped: Set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                u = urllib.parse.urlparse(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                body = json.dumps(fake.answer(u.path, q.get("path", ""), q.get("opType", "")))
                data = body.encode()
                self.send_response(200 if u.path == "/v1/load" else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def report(self, path: str) -> Dict[str, Any]:
        script = self.scripts[path]
        i = min(self.step.get(path, 0), len(script) - 1)
        self.step[path] = i + 1
        state, done, total, loaded, size = script[i]
        if path in self.stopped:
            state = "STOPPED"
        msg = (
            f"Progress for loading path '{path}':\n"
            "\tSettings:\tbandwidth: unlimited\tverify: false\tmetadata-only: false\n"
            f"\tTime Elapsed: 00:00:0{min(i, 9)}\n\tJob State: {state}\n"
            f"\tInodes Scanned: {total}\n\tInodes Processed: {done}\n"
            f"\tFiles Processed: {done}\n\tBytes Loaded: {loaded} out of {size}\n"
            f"\tThroughput: {loaded}/s\n\tFile Failure rate: 0.00%\n"
            "\tSubtask Failure rate: 0.00%\n\tFiles Failed: 0\n"
        )
        return {"jobState": state, "path": path, "message": msg, "respProperties": {}}

    def answer(self, route: str, path: str, op: str) -> Dict[str, Any]:
        self.calls.append((path, op))
        if route != "/v1/load":
            return {"message": "not here"}
        if op == "submit":
            return {"success": True, "jobId": "job-1", "path": path, "message": "submitted"}
        if op == "stop":
            running = path in self.scripts and path not in self.stopped
            self.stopped.add(path)
            return {"success": running, "path": path, "message": "stopped"}
        return self.report(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake() -> Iterator[FakeLoadWorker]:
    running = ("RUNNING", 0, 0, "0B", "0B")
    w = FakeLoadWorker(
        {
            "s3://b/ok": [
                running,
                ("RUNNING", 1, 4, "1.00MB", "4.00MB"),
                ("RUNNING", 3, 4, "3.00MB", "4.00MB"),
                ("SUCCEEDED", 4, 4, "4.00MB", "4.00MB"),
            ],
            "s3://b/slow": [running, ("RUNNING", 1, 4, "1.00MB", "4.00MB")],
            "s3://b/bad": [
                ("RUNNING", 1, 2, "10B", "20B"),
                ("FAILED (LoadFailureException: 1 of 2 files failed)", 1, 2, "10B", "20B"),
            ],
        }
    )
    try:
        yield w
    finally:
        w.close()


def test_load_progress_lines_follow_the_reports(fake: FakeLoadWorker) -> None:
    hosts = f"127.0.0.1:{fake.port}"
    out = ok(run("load", "s3://b/ok", "--worker-hosts", hosts, "--interval", "0.05"))
    lines = out.splitlines()[1:]
    assert lines == [
        "load s3://b/ok: RUNNING ?%  0/0 files  0B/0B  0B/s  00:00:00",
        "load s3://b/ok: RUNNING 25%  1/4 files  1.00MB/4.00MB  1.00MB/s  00:00:01",
        "load s3://b/ok: RUNNING 75%  3/4 files  3.00MB/4.00MB  3.00MB/s  00:00:02",
        "load s3://b/ok: SUCCEEDED 100%  4/4 files  4.00MB/4.00MB  4.00MB/s  00:00:03",
    ]
    assert fake.calls[0] == ("s3://b/ok", "submit")


def test_load_failed_job_exits_non_zero(fake: FakeLoadWorker) -> None:
    r = run("load", "s3://b/bad", "--worker-hosts", f"127.0.0.1:{fake.port}", "--interval", "0.05")
    err = one_error_line(r, "load")
    assert "FAILED (LoadFailureException: 1 of 2 files failed)" in err
    assert "load s3://b/bad: FAILED (LoadFailureException" in r.stdout.decode()


def test_load_timeout_then_stop_a_running_job(fake: FakeLoadWorker) -> None:
    hosts = f"127.0.0.1:{fake.port}"
    start = time.monotonic()
    r = run("load", "s3://b/slow", "--worker-hosts", hosts, "--interval", "0.1", "--timeout", "1")
    took = time.monotonic() - start
    err = one_error_line(r, "load")
    assert "not finished after 1s" in err and "RUNNING" in err
    assert took < 10
    # Plain lines only when something changes (not one per poll).
    assert len(r.stdout.decode().splitlines()) == 3
    assert "load s3://b/slow: RUNNING 25%" in ok(
        run("load", "s3://b/slow", "--progress", "--worker-hosts", hosts)
    )
    assert "stopped" in ok(run("load", "s3://b/slow", "--stop", "--worker-hosts", hosts))
    r = run("load", "s3://b/slow", "--worker-hosts", hosts, "--interval", "0.05")
    assert "ended STOPPED" in one_error_line(r, "load")


def test_load_bar_redraws_one_line_on_a_terminal(fake: FakeLoadWorker) -> None:
    code, screen, err = run_in_pty(
        ["load", "s3://b/ok", "--interval", "0.05"],
        clean_env(ALLUXIOFS_WORKER_HOSTS=f"127.0.0.1:{fake.port}"),
        columns=100,
    )
    text = screen.decode()
    assert code == 0 and err == b"", (code, err, text)
    first, rest = text.split("\r\n", 1)
    assert first == "submitted"
    assert rest.count("\r\n") == 1 and rest.endswith("\r\n")  # one line, ended once
    redraws = [d for d in re.findall(r"\r(?!\n)([^\r\n]*)", rest)]
    assert len(redraws) == 4
    assert all(len(d) < 100 for d in redraws)
    assert re.match(r"RUNNING \[#+\.+\]  25%  1/4 files  1\.00MB/4\.00MB  ", redraws[1])
    assert re.match(r"SUCCEEDED \[#{10,}\] 100%  ", redraws[-1]), redraws[-1]
    assert "4/4 files  4.00MB/4.00MB  4.00MB/s  00:00:03" in redraws[-1]


# ── workers, locate ──


def test_workers(cluster: LocalCluster) -> None:
    lines = ok(on(cluster, "workers")).splitlines()
    assert lines[0].split() == ["HOST", "PORT", "IDENTITY", "SHARE"]
    rows = [line.split() for line in lines[1:-1]]
    assert sorted(int(r[1]) for r in rows) == sorted(cluster.ports)
    shares = [float(r[3].rstrip("%")) for r in rows]
    assert shares == sorted(shares, reverse=True)
    assert abs(sum(shares) - 100) < 0.05
    assert lines[-1] == "3 workers, 100.00% of the hash space"
    client = AlluxioClient(etcd_hosts=cluster.etcd_hosts)
    assert {r[2] for r in rows} == {w["identity"] for w in client.workers()}
    by_id = {w["identity"]: s for w, s in zip(client.workers(), client.worker_shares())}
    for r in rows:
        assert float(r[3].rstrip("%")) == pytest.approx(by_id[r[2]] * 100, abs=0.006)
    as_json = json.loads(ok(on(cluster, "workers", "--json")))
    assert [w["identity"] for w in as_json] == [r[2] for r in rows]


def test_locate_matches_the_client(cluster: LocalCluster, dataset: Path) -> None:
    client = AlluxioClient(etcd_hosts=cluster.etcd_hosts)
    for name, n in [("many.bin", 1), ("sub/a.txt", 2), ("page.bin", 3)]:
        got = json.loads(ok(on(cluster, "locate", str(dataset / name), "-n", str(n), "--json")))
        assert got["path"] == url(dataset, name)
        assert got["workers"] == client.locate(url(dataset, name), n)
    lines = ok(on(cluster, "locate", url(dataset, "one.bin"), "-n", "2")).splitlines()
    want = client.locate(url(dataset, "one.bin"), 2)
    assert [line.split() for line in lines[1:]] == [
        [str(i), w["host"], str(w["http_port"]), w["identity"]] for i, w in enumerate(want, 1)
    ]
    # Scheme-less with a target protocol hashes the same full URL.
    got = json.loads(
        ok(
            on(
                cluster,
                "locate",
                "one.bin",
                "--target-protocol",
                "file",
                "--json",
                cwd=str(dataset),
            )
        )
    )
    assert got["workers"] == client.locate(url(dataset, "one.bin"), 1)


# ── cluster selection and errors ──


def test_environment_selects_the_cluster(cluster: LocalCluster, dataset: Path) -> None:
    assert cluster.etcd_hosts
    page = f"alluxio.worker.page.store.page.size={PAGE}"
    env = clean_env(ALLUXIOFS_ETCD_HOSTS=cluster.etcd_hosts)
    r = run("cat", str(dataset / "page_plus.bin"), "--option", page, env=env)
    ok(r)
    assert r.stdout == (dataset / "page_plus.bin").read_bytes()
    env = clean_env(ALLUXIOFS_WORKER_HOSTS=cluster.worker_hosts)
    assert len(ok(run("workers", env=env)).splitlines()) == 5
    # An option on the command line wins over the environment.
    env = clean_env(ALLUXIOFS_ETCD_HOSTS="127.0.0.1:1")
    assert ok(run("workers", "--worker-hosts", cluster.worker_hosts, env=env))


@pytest.mark.parametrize("cmd", ["ls", "stat", "cat", "get", "locate"])
def test_no_cluster_is_one_line(cmd: str, tmp_path: Path) -> None:
    args = [cmd, "/data/x"] + ([str(tmp_path / "x")] if cmd == "get" else [])
    err = one_error_line(run(*args), cmd)
    assert "--etcd-hosts" in err and "ALLUXIOFS_ETCD_HOSTS" in err


@pytest.mark.parametrize("cmd", ["ls", "stat", "cat", "get"])
def test_missing_path_is_one_line(
    cmd: str, cluster: LocalCluster, dataset: Path, tmp_path: Path
) -> None:
    args = [cmd, str(dataset / "no-such-file.bin")] + (
        [str(tmp_path / "x")] if cmd == "get" else []
    )
    err = one_error_line(on(cluster, *args), cmd)
    assert "no-such-file.bin" in err
    assert not (tmp_path / "x").exists()


def test_bad_options_are_one_line(cluster: LocalCluster, dataset: Path) -> None:
    r = on(cluster, "ls", str(dataset), "--bogus")
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in one_error_line(r, "ls")
    assert "KEY=VALUE" in one_error_line(on(cluster, "ls", str(dataset), "--option", "x"), "ls")
    assert "negative" in one_error_line(on(cluster, "cat", str(dataset), "--length", "-1"), "cat")
    err = one_error_line(
        run("ls", str(dataset), "--worker-hosts", "h:1", "--page-size", "abc"), "ls"
    )
    assert "abc" in err
    err = one_error_line(on(cluster, "ls", "relative/path"), "ls")
    assert "relative/path" in err and "--target-protocol" in err
    err = one_error_line(on(cluster, "cat", str(dataset / "sub")), "cat")
    assert "directory" in err
    err = one_error_line(on(cluster, "load", str(dataset), "--progress", "--stop"), "load")
    assert "not allowed with" in err
    # -v adds the traceback before the line.
    r = on(cluster, "stat", str(dataset / "nope.bin"), "-v")
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" in err
    assert err.splitlines()[-1].startswith("alluxiofs stat: error: ") and "nope.bin" in err


def test_unreachable_etcd_is_one_line(dataset: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    err = one_error_line(run("ls", str(dataset), "--etcd-hosts", f"127.0.0.1:{port}"), "ls")
    assert f"127.0.0.1:{port}" in err


def _has_thread(pid: int, name: str) -> bool:
    """Whether process ``pid`` has a thread called ``name``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/comm") as f:
                if f.read().strip() == name:
                    return True
        except OSError:
            continue
    return False


def _signal_state(pid: int) -> str:
    """The signal masks of process ``pid`` (for a failure message)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return " ".join(x.strip() for x in f if x.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError as e:
        return str(e)


def test_ctrl_c_exits_130_quietly(dataset: Path) -> None:
    # An "etcd" that accepts connections and never answers: the command waits.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        etcd = f"127.0.0.1:{s.getsockname()[1]}"
        p = subprocess.Popen(
            [sys.executable, "-m", "alluxiofs", "ls", str(dataset), "--etcd-hosts", etcd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=clean_env(),
            # As from a terminal: a test run started in the background by a
            # shell has SIGINT ignored, and a child would inherit that.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        ready, _, _ = select.select([s], [], [], 20)  # it is waiting on us
        assert ready
        # ...or a stale client from an earlier test reached this reused port:
        # wait for the command's own runtime threads (it is past its imports,
        # inside the call) before interrupting it.
        deadline = time.monotonic() + 20
        while not _has_thread(p.pid, "alluxiofs-rt") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        sig = _signal_state(p.pid)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    state = (p.returncode, out, err, sig, _signal_state(os.getpid()))
    assert p.returncode == 130 and out == b"" and err == b"", state


def test_fallback_warnings_are_held(dataset: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    # No worker answers: --target-protocol serves from the under storage, and
    # the warning about it comes after the output.
    r = run("cat", str(dataset / "sub/a.txt"), "--worker-hosts", dead, "--target-protocol", "file")
    assert ok(r) == "hello\n"
    warnings = r.stderr.decode().splitlines()
    assert warnings and all(w.startswith("alluxiofs cat: warning: ") for w in warnings)
    assert "using the under storage" in warnings[0]
    # A failure stays one line, counting the warnings it hides.
    r = run("ls", str(dataset / "gone"), "--worker-hosts", dead, "--target-protocol", "file")
    err = one_error_line(r, "ls")
    assert "gone" in err and "1 warning before it; -v shows them" in err
