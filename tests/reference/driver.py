#!/usr/bin/env python3
"""Interop driver: exercise our worker cluster with the PyPI reference client.

Run with the reference venv's interpreter (see setup_reference_venv.sh):

    REFVENV/bin/python tests/reference/driver.py ARGS_JSON_FILE

ARGS_JSON_FILE (required keys)::

    {"etcd_host": "127.0.0.1", "etcd_port": 2379,
     "dir": "file:///abs/ufs/dir",
     "files": {"file:///abs/ufs/dir/a.bin": "<sha256 hex>", ...},
     "ranges": [["file:///abs/ufs/dir/a.bin", offset, length], ...],
     "page_size": "1MB",
     "load_path": "file:///abs/ufs/dir/sub"}

Optional keys (defaults in DEFAULTS below): cluster_name, timeout_s (whole run),
http_timeout_s, etcd_timeout_s, load_timeout_s, load_poll_s, reference_load,
reference_load_timeout_s, expect_stop_success, etcd_refresh_workers_interval,
check_listing_against_disk.

Output: exactly ONE JSON line on stdout
    {"ok": bool, "checks": N, "failures": [...], "details": {...}}
Exit status 0 only if every check passed (1 = a check failed, 2 = bad
arguments / reference client not importable). Everything else (reference-client
logs, warnings) goes to stderr.

What is NOT the reference client's own behaviour (all client-side only, nothing
changes on the wire):
* `requests` calls get a default (connect, read) timeout, and `etcd3.client`
  gets a default gRPC timeout: the reference client sets none and would hang
  forever on a silent peer.
* A watchdog ends the run (ok=false) after `timeout_s`.
* The driver reads the local UFS files (file:// URLs) itself, but only to
  compute the expected bytes / listing; the reference filesystem is built
  without target_protocol/fs, so it has no under-filesystem to fall back to and
  every error from the workers propagates (alluxiofs/core.py:322-323).
"""

import os

# etcd3's generated protobuf modules need the pure-Python protobuf runtime when
# a protobuf newer than 3.20 is installed; with the pinned 3.20.3 (a pure-Python
# wheel) this changes nothing. Must be set before etcd3 is imported.
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

import contextlib
import hashlib
import json
import logging
import sys
import threading
import time
import traceback

DEFAULTS = {
    "cluster_name": "DefaultAlluxioCluster",
    "timeout_s": 300.0,  # watchdog for the whole run
    "http_timeout_s": 30.0,  # per HTTP request (connect and read)
    "etcd_timeout_s": 10.0,  # per etcd gRPC call
    "load_timeout_s": 60.0,  # submit -> SUCCEEDED
    "load_poll_s": 0.5,  # our poll interval (reference load() uses 10 s)
    # After our own submit/poll: also run the reference AlluxioClient.load()
    # (re-submits the same path; returns at once if the first progress answer
    # is SUCCEEDED, otherwise sleeps 10 s between polls).
    "reference_load": True,
    "reference_load_timeout_s": 30,
    # stop_load on a finished job: None = any bool is fine; True/False = must match.
    "expect_stop_success": None,
    # Reference default is 120 s (a daemon thread re-reads etcd that often).
    "etcd_refresh_workers_interval": 120,
    # For file:// dirs, compare the listing with os.scandir of the local dir.
    "check_listing_against_disk": True,
}

REAL_STDOUT = sys.stdout
sys.stdout = sys.stderr  # keep stdout for the single JSON result line

RESULT = {"ok": False, "checks": 0, "failures": [], "details": {}}
_STATE = {"step": "start", "emitted": False, "consecutive_timeouts": 0}
# After this many consecutive checks that failed with a timeout, give up
# (a silent worker would otherwise cost http_timeout_s per remaining call).
MAX_CONSECUTIVE_TIMEOUTS = 3
_LOCK = threading.RLock()


# --------------------------------------------------------------------------
# result bookkeeping
# --------------------------------------------------------------------------


def _jsonable(v, depth=0):
    if depth > 10:
        return repr(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (bytes, bytearray)):
        return _bytes_summary(bytes(v))
    if isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x, depth + 1) for x in v]
    if hasattr(v, "value") and hasattr(v, "name"):  # Enum
        return f"{type(v).__name__}.{v.name}"
    return repr(v)


def _bytes_summary(b, ref=None):
    out = {
        "len": len(b),
        "sha256": hashlib.sha256(b).hexdigest(),
        "head_hex": b[:16].hex(),
    }
    if ref is not None:
        n = min(len(b), len(ref))
        diff = next((i for i in range(n) if b[i] != ref[i]), None)
        if diff is None and len(b) != len(ref):
            diff = n
        out["first_diff_at"] = diff
        if diff is not None and diff < len(b):
            out["hex_at_diff"] = b[diff : diff + 16].hex()
    return out


def exc_chain(e):
    """repr of an exception and its causes/contexts, plus where it was raised.

    The reference client often re-raises inside `except` blocks that reference
    an unbound `response` (UnboundLocalError), so the useful error (e.g. a
    requests.ConnectionError) is usually in __context__.
    """
    chain = []
    seen = set()
    cur = e
    while cur is not None and id(cur) not in seen and len(chain) < 6:
        seen.add(id(cur))
        entry = {"repr": repr(cur)[:2000]}
        tb = traceback.extract_tb(cur.__traceback__) if cur.__traceback__ else []
        if tb:
            fr = tb[-1]
            entry["at"] = f"{_short(fr.filename)}:{fr.lineno} in {fr.name}"
        chain.append(entry)
        cur = cur.__cause__ or cur.__context__
    return chain


def _short(path):
    for marker in ("site-packages/", "tests/reference/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _is_timeout(e):
    cur, seen = e, set()
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        name = type(cur).__name__
        if "Timeout" in name or "DeadlineExceeded" in name or "timed out" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def check(call, cond, expected=None, got=None, **extra):
    with _LOCK:
        RESULT["checks"] += 1
        _STATE["consecutive_timeouts"] = 0
        if not cond:
            f = {"call": call, "expected": _jsonable(expected), "got": _jsonable(got)}
            f.update({k: _jsonable(v) for k, v in extra.items()})
            RESULT["failures"].append(f)
    return cond


def fail_exc(call, e, expected=None, **extra):
    with _LOCK:
        RESULT["checks"] += 1
        f = {
            "call": call,
            "expected": _jsonable(expected),
            "got": "exception",
            "exception": repr(e)[:2000],
            "exception_chain": exc_chain(e),
        }
        f.update({k: _jsonable(v) for k, v in extra.items()})
        RESULT["failures"].append(f)
        if _is_timeout(e):
            _STATE["consecutive_timeouts"] += 1
            if _STATE["consecutive_timeouts"] >= MAX_CONSECUTIVE_TIMEOUTS:
                RESULT["failures"].append(
                    {
                        "call": f"abort (step: {_STATE['step']})",
                        "expected": "workers answer within http_timeout_s",
                        "got": f"{MAX_CONSECUTIVE_TIMEOUTS} consecutive timeouts; rest skipped",
                    }
                )
                emit(1)
        else:
            _STATE["consecutive_timeouts"] = 0


def emit(exit_code=None):
    with _LOCK:
        if _STATE["emitted"]:
            return
        _STATE["emitted"] = True
        RESULT["ok"] = bool(
            RESULT["checks"] > 0 and not RESULT["failures"] and _STATE["step"] == "done"
        )
        try:
            RESULT["details"] = _jsonable(RESULT["details"])
            line = json.dumps(RESULT, sort_keys=False, default=repr)
        except Exception as e:  # pragma: no cover - defensive
            line = json.dumps(
                {
                    "ok": False,
                    "checks": RESULT["checks"],
                    "failures": [{"call": "emit", "exception": repr(e)}],
                    "details": {},
                }
            )
        REAL_STDOUT.write(line + "\n")
        REAL_STDOUT.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        code = exit_code if exit_code is not None else (0 if RESULT["ok"] else 1)
        # os._exit: the reference ConsistentHashProvider.__del__ joins its etcd
        # refresh thread, which may be inside time.sleep(interval) (120 s by
        # default) -> a normal interpreter exit can hang for minutes.
        os._exit(code)


def start_watchdog(seconds):
    def run():
        time.sleep(seconds)
        with _LOCK:
            RESULT["failures"].append(
                {
                    "call": f"watchdog (step: {_STATE['step']})",
                    "expected": f"whole run finishes within timeout_s={seconds}",
                    "got": "timeout",
                    "stacks": _thread_stacks(),
                }
            )
            emit(1)

    t = threading.Thread(target=run, name="driver-watchdog", daemon=True)
    t.start()


def _thread_stacks():
    out = {}
    for tid, frame in sys._current_frames().items():
        if tid == threading.get_ident():
            continue
        st = traceback.extract_stack(frame)[-4:]
        out[str(tid)] = [f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in st]
    return out


def step(name):
    with _LOCK:
        _STATE["step"] = name
    print(f"[driver] step: {name}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# timeouts for the reference client (client-side only)
# --------------------------------------------------------------------------


def install_timeouts(http_timeout, etcd_timeout):
    import etcd3
    import requests

    orig_request = requests.sessions.Session.request

    def request_with_timeout(self, method, url, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (min(http_timeout, 10.0), http_timeout)
        return orig_request(self, method, url, **kwargs)

    # requests.get/post (module level) also go through Session.request.
    requests.sessions.Session.request = request_with_timeout

    orig_client = etcd3.client

    def client_with_timeout(*args, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = etcd_timeout
        return orig_client(*args, **kwargs)

    # worker_ring.py calls `etcd3.client(...)` through the module attribute.
    etcd3.client = client_with_timeout


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def local_path(url):
    """file:///abs/p -> /abs/p, literally: Alluxio UFS paths are raw strings
    (no percent-decoding; the file id is sha256 of the raw URL)."""
    if not url.startswith("file://"):
        return None
    return url[len("file://") :]


_LOCAL_CACHE = {}


def local_bytes(url):
    if url not in _LOCAL_CACHE:
        p = local_path(url)
        if p is None:
            raise ValueError(f"cannot compute expected bytes for non-file URL {url}")
        with open(p, "rb") as f:
            _LOCAL_CACHE[url] = f.read()
    return _LOCAL_CACHE[url]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def join_url(d, name):
    return d.rstrip("/") + "/" + name


def load_args(path):
    with open(path) as f:
        a = json.load(f)
    missing = [
        k
        for k in ("etcd_host", "etcd_port", "dir", "files", "ranges", "page_size", "load_path")
        if k not in a
    ]
    if missing:
        raise ValueError(f"args file {path} lacks keys {missing}")
    if not isinstance(a["files"], dict) or not a["files"]:
        raise ValueError("'files' must be a non-empty object {url: sha256}")
    for r in a["ranges"]:
        if not (
            isinstance(r, list) and len(r) == 3 and isinstance(r[1], int) and isinstance(r[2], int)
        ):
            raise ValueError(f"bad range {r!r}: want [url, offset, length]")
    out = dict(DEFAULTS)
    out.update(a)
    out["etcd_port"] = int(out["etcd_port"])
    return out


# --------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------


def client_kwargs(a, logger):
    return dict(
        etcd_hosts=a["etcd_host"],
        etcd_port=a["etcd_port"],
        page_size=a["page_size"],
        cluster_name=a["cluster_name"],
        etcd_refresh_workers_interval=int(a["etcd_refresh_workers_interval"]),
        logger=logger,
    )


def diagnose_etcd(a):
    """The reference ring swallows each etcd host's error (worker_ring.py:333)
    and only says 'Failed to achieve worker info list'. Re-run one fetch with
    the reference EtcdClient to surface the real cause (connection refused,
    no key under the prefix, unparsable value, ...)."""
    try:
        from alluxiofs.client.config import AlluxioClientConfig
        from alluxiofs.client.worker_ring import EtcdClient

        cfg = AlluxioClientConfig(
            etcd_hosts=a["etcd_host"], etcd_port=a["etcd_port"], cluster_name=a["cluster_name"]
        )
        ents = EtcdClient(cfg, a["etcd_host"], a["etcd_port"]).get_worker_entities()
        return {"etcd_fetch": "ok on retry", "workers": len(ents)}
    except Exception as e:
        return {"etcd_fetch_error": exc_chain(e)}


def describe_ring(client):
    hp = client.hash_provider
    workers = []
    for ident, addr in sorted(hp._worker_info_map.items(), key=lambda kv: kv[0].identifier):
        workers.append(
            {
                "identity": {"version": ident.version, "identifier": ident.identifier.hex()},
                "host": addr.host,
                "http_server_port": addr.http_server_port,
            }
        )
    return workers


def owner_of(client, url):
    try:
        w = client.hash_provider.get_multiple_workers(url, 1)
        return f"{w[0].host}:{w[0].http_server_port}" if w else None
    except Exception as e:
        return repr(e)


def run_fs_checks(a, fs):
    d = a["dir"]
    files = a["files"]
    details = RESULT["details"]

    # ---- expected listing (from the local UFS dir, if file://) ----
    expected_children = None
    if a["check_listing_against_disk"] and local_path(d) is not None:
        expected_children = {}
        with os.scandir(local_path(d)) as it:
            for ent in it:
                expected_children[ent.name] = (
                    "directory" if ent.is_dir() else "file",
                    ent.stat().st_size if ent.is_file() else None,
                )
    details["expected_listing"] = expected_children

    # ---- ls(detail=True) ----
    step("ls detail=True")
    call = f"fs.ls({d!r}, detail=True)"
    listing = None
    try:
        listing = fs.ls(d, detail=True)
        ok = check(
            call + " returns list of dict",
            isinstance(listing, list) and all(isinstance(x, dict) for x in listing),
            "list[dict]",
            listing,
        )
        if ok:
            details["ls_detail"] = listing
            by_name = {x.get("name"): x for x in listing}
            check(
                call + " names unique",
                len(by_name) == len(listing),
                "unique mName values",
                [x.get("name") for x in listing],
            )
            if expected_children is not None:
                check(
                    call + " child names",
                    set(by_name) == set(expected_children),
                    sorted(expected_children),
                    sorted(by_name),
                )
                for name, (typ, size) in sorted(expected_children.items()):
                    ent = by_name.get(name)
                    if ent is None:
                        continue
                    check(
                        f"{call}[{name!r}]['type']",
                        ent.get("type") == typ,
                        typ,
                        ent.get("type"),
                        entry=ent,
                    )
                    check(
                        f"{call}[{name!r}]['ufs_path']",
                        ent.get("ufs_path") == join_url(d, name),
                        join_url(d, name),
                        ent.get("ufs_path"),
                        entry=ent,
                    )
                    if typ == "file":
                        check(
                            f"{call}[{name!r}]['size']",
                            ent.get("size") == size,
                            size,
                            ent.get("size"),
                            entry=ent,
                        )
                    p = ent.get("path")
                    check(
                        f"{call}[{name!r}]['path'] (mPath)",
                        isinstance(p, str)
                        and p.startswith("/")
                        and p.rstrip("/").endswith("/" + name),
                        f"str starting with '/' and ending with '/{name}'",
                        p,
                        entry=ent,
                    )
            # every file from args that lives directly in dir must be listed
            for url in files:
                if url.rsplit("/", 1)[0].rstrip("/") == d.rstrip("/"):
                    name = url.rsplit("/", 1)[1]
                    check(f"{call} lists {name!r}", name in by_name, name, sorted(by_name))
    except Exception as e:
        fail_exc(call, e, "listing of " + d)

    # ---- ls(detail=False) ----
    step("ls detail=False")
    call = f"fs.ls({d!r}, detail=False)"
    try:
        names = fs.ls(d, detail=False)
        details["ls_names"] = names
        ok = check(
            call + " returns list of str",
            isinstance(names, list) and all(isinstance(x, str) for x in names),
            "list[str]",
            names,
        )
        if ok and isinstance(listing, list):
            want = sorted(x.get("path") for x in listing if isinstance(x, dict))
            check(
                call + " == [e['path'] for e in ls(detail=True)] (mPath values)",
                sorted(names) == want,
                want,
                sorted(names),
            )
    except Exception as e:
        fail_exc(call, e, "list of mPath strings")

    # ---- isdir(dir) ----
    step("isdir dir")
    call = f"fs.isdir({d!r})"
    try:
        r = fs.isdir(d)
        check(call, r is True, True, r)
    except Exception as e:
        fail_exc(call, e, True)

    # ---- per-file: info, isdir, cat_file, open().read() ----
    details["routing"] = {}
    for url, want_sha in files.items():
        details["routing"][url] = owner_of(fs.alluxio, url)
        try:
            data = local_bytes(url)
            check(
                f"local file {url} matches args sha256 (fixture sanity)",
                sha(data) == want_sha,
                want_sha,
                sha(data),
            )
        except Exception as e:
            data = None
            fail_exc(f"read local {url} (expected bytes)", e)
        size = len(data) if data is not None else None

        step(f"info {url}")
        call = f"fs.info({url!r})"
        try:
            info = fs.info(url)
            check(
                call + "['type']", info.get("type") == "file", "file", info.get("type"), info=info
            )
            if size is not None:
                check(
                    call + "['size']", info.get("size") == size, size, info.get("size"), info=info
                )
            check(
                call + "['ufs_path']",
                info.get("ufs_path") == url,
                url,
                info.get("ufs_path"),
                info=info,
            )
            check(
                call + "['name']",
                info.get("name") == url.rsplit("/", 1)[1],
                url.rsplit("/", 1)[1],
                info.get("name"),
                info=info,
            )
        except Exception as e:
            fail_exc(call, e, {"type": "file", "size": size})

        step(f"isdir {url}")
        call = f"fs.isdir({url!r})"
        try:
            r = fs.isdir(url)
            check(call, r is False, False, r)
        except Exception as e:
            fail_exc(call, e, False)

        step(f"cat_file {url}")
        call = f"fs.cat_file({url!r})"
        try:
            got = fs.cat_file(url)
            check(
                call + " sha256",
                isinstance(got, bytes) and sha(got) == want_sha,
                {"len": size, "sha256": want_sha},
                _bytes_summary(got, data) if isinstance(got, (bytes, bytearray)) else got,
            )
        except Exception as e:
            fail_exc(call, e, {"len": size, "sha256": want_sha})

        step(f"open+read {url}")
        call = f"fs.open({url!r}, 'rb').read()"
        try:
            with fs.open(url, "rb") as f:
                got = f.read()
            check(
                call + " sha256",
                isinstance(got, bytes) and sha(got) == want_sha,
                {"len": size, "sha256": want_sha},
                _bytes_summary(got, data) if isinstance(got, (bytes, bytearray)) else got,
            )
        except Exception as e:
            fail_exc(call, e, {"len": size, "sha256": want_sha})

    # ---- ranges ----
    skipped = []
    for url, off, length in a["ranges"]:
        try:
            data = local_bytes(url)
        except Exception as e:
            fail_exc(f"read local {url} (expected bytes for range)", e)
            continue
        want = data[off : off + length] if off >= 0 and length >= 0 else None

        step(f"cat_file range {url} {off}+{length}")
        call = f"fs.cat_file({url!r}, start={off}, end={off + length})"
        try:
            got = fs.cat_file(url, start=off, end=off + length)
            check(
                call,
                isinstance(got, bytes) and got == want,
                _bytes_summary(want) if want is not None else None,
                _bytes_summary(got, want) if isinstance(got, (bytes, bytearray)) else got,
            )
        except Exception as e:
            fail_exc(call, e, _bytes_summary(want) if want is not None else None)

        step(f"seek+read {url} {off}+{length}")
        call = f"f = fs.open({url!r}, 'rb'); f.seek({off}); f.read({length})"
        if length == len(data) and off != 0:
            # alluxiofs/core.py:605: read(n) with n == file size always returns
            # the whole file from offset 0 (ignores f.loc) -> reference bug.
            skipped.append(
                {"call": call, "reason": "reference bug core.py:605 (length == size, offset != 0)"}
            )
            continue
        try:
            with fs.open(url, "rb") as f:
                f.seek(off)
                got = f.read(length)
            check(
                call,
                isinstance(got, bytes) and got == want,
                _bytes_summary(want) if want is not None else None,
                _bytes_summary(got, want) if isinstance(got, (bytes, bytearray)) else got,
            )
        except Exception as e:
            fail_exc(call, e, _bytes_summary(want) if want is not None else None)
    details["skipped"] = skipped


def run_load_checks(a, client):
    from alluxiofs.client.core import LoadState

    p = a["load_path"]
    details = RESULT["details"]
    ld = details["load"] = {"path": p, "owner": owner_of(client, p)}

    step(f"submit_load {p}")
    call = f"AlluxioClient.submit_load({p!r})"
    try:
        r = client.submit_load(p)
        ld["submit_result"] = r
        if not check(call, r is True, True, r):
            return
    except Exception as e:
        fail_exc(call, e, True)
        return

    step(f"load_progress {p}")
    call = f"AlluxioClient.load_progress({p!r}) until SUCCEEDED"
    t0 = time.monotonic()
    deadline = t0 + float(a["load_timeout_s"])
    polls = 0
    last = None
    state = None
    try:
        while True:
            polls += 1
            r = client.load_progress(p)
            # 1.0.17 returns the tuple (LoadState, response_json) although its
            # docstring promises a LoadState (client/core.py:496 -> 1665).
            if isinstance(r, tuple) and len(r) == 2:
                state, last = r
            else:
                state, last = r, None
            if state == LoadState.SUCCEEDED:
                break
            if state in (LoadState.FAILED, LoadState.STOPPED):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(float(a["load_poll_s"]))
        ld.update(
            {
                "polls": polls,
                "elapsed_s": round(time.monotonic() - t0, 3),
                "final_state": state,
                "last_progress": last,
            }
        )
        check(
            call,
            state == LoadState.SUCCEEDED,
            "LoadState.SUCCEEDED",
            state,
            polls=polls,
            last_progress=last,
            load_timeout_s=a["load_timeout_s"],
        )
        if isinstance(last, dict):
            check(
                call + " response has 'jobState' string",
                isinstance(last.get("jobState"), str),
                "str",
                last.get("jobState"),
                last_progress=last,
            )
    except Exception as e:
        fail_exc(call, e, "LoadState.SUCCEEDED", polls=polls)
        return

    if a["reference_load"]:
        step(f"load (reference blocking) {p}")
        t = int(a["reference_load_timeout_s"])
        call = f"AlluxioClient.load({p!r}, timeout={t})"
        t0 = time.monotonic()
        try:
            r = client.load(p, timeout=t)
            ld["reference_load"] = {"result": r, "elapsed_s": round(time.monotonic() - t0, 3)}
            check(call, r is True, True, r)
        except Exception as e:
            fail_exc(call, e, True)

    step(f"stop_load {p}")
    call = f"AlluxioClient.stop_load({p!r}) on a finished job"
    try:
        r = client.stop_load(p)
        ld["stop_result"] = r
        exp = a["expect_stop_success"]
        if exp is None:
            check(call, isinstance(r, bool), "a bool (True or False)", r)
        else:
            check(call, r is exp, exp, r)
    except Exception as e:
        fail_exc(call, e, "a bool")


def main():
    if len(sys.argv) != 2:
        RESULT["failures"].append(
            {"call": "driver.py argv", "expected": "driver.py ARGS_JSON_FILE", "got": sys.argv[1:]}
        )
        emit(2)
    try:
        a = load_args(sys.argv[1])
    except Exception as e:
        fail_exc(f"load args {sys.argv[1]!r}", e)
        emit(2)
    RESULT["details"]["args"] = {k: a[k] for k in a if k != "files"}
    start_watchdog(float(a["timeout_s"]))

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # Passing our own logger also stops AlluxioFileSystem from creating
    # ./logs/user.log in the current directory (setup_logger, core.py:151-152).
    logger = logging.getLogger("reference-alluxiofs")

    step("import reference client")
    try:
        import importlib.metadata as md

        import alluxiofs
        from alluxiofs import AlluxioClient, AlluxioFileSystem

        RESULT["details"]["versions"] = {
            "alluxiofs": md.version("alluxiofs"),
            "fsspec": md.version("fsspec"),
            "requests": md.version("requests"),
            "etcd3": md.version("etcd3"),
            "protobuf": md.version("protobuf"),
            "python": sys.version.split()[0],
            "alluxiofs_file": alluxiofs.__file__,
        }
        install_timeouts(float(a["http_timeout_s"]), float(a["etcd_timeout_s"]))
    except Exception as e:
        fail_exc("import alluxiofs (reference venv?)", e)
        emit(2)

    step("construct AlluxioFileSystem")
    call = (
        f"AlluxioFileSystem(etcd_hosts={a['etcd_host']!r}, etcd_port={a['etcd_port']}, "
        f"page_size={a['page_size']!r}, cluster_name={a['cluster_name']!r})"
    )
    try:
        # No target_protocol / fs: the reference fs then has no UFS to fall back
        # to, so errors propagate (core.py:322-323) and nothing bypasses the workers.
        fs = AlluxioFileSystem(skip_instance_cache=True, **client_kwargs(a, logger))
        assert fs.fs is None and fs.target_protocol is None, "fs unexpectedly has a UFS"
        check(call, True)
        RESULT["details"]["workers"] = describe_ring(fs.alluxio)
    except Exception as e:
        fail_exc(
            call,
            e,
            "workers discovered via etcd "
            f"{a['etcd_host']}:{a['etcd_port']} prefix /ServiceDiscovery/{a['cluster_name']}/",
            diagnosis=diagnose_etcd(a),
        )
        emit(1)

    run_fs_checks(a, fs)

    step("construct AlluxioClient")
    call = f"AlluxioClient(etcd_hosts={a['etcd_host']!r}, etcd_port={a['etcd_port']})"
    try:
        client = AlluxioClient(**client_kwargs(a, logger))
        check(call, True)
    except Exception as e:
        fail_exc(call, e, "client constructed")
        client = None
    if client is not None:
        run_load_checks(a, client)

    step("done")
    emit()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except BaseException as e:  # never die without the JSON line
        fail_exc(f"driver crashed in step {_STATE['step']!r}", e)
        emit(1)
