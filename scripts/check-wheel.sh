#!/usr/bin/env bash
# Installs a built wheel the way a user would and runs a hello world from it.
#
# For each of Python 3.8 and 3.13 found on this machine (PYTHONS="3.8 3.13"
# by default; /usr/bin, pyenv's versions and PATH are searched; one missing is
# reported and skipped, none found is an error): a fresh venv in a temp dir,
# the wheel plus fsspec from PyPI installed with `uv pip install --no-build`
# (nothing may be compiled), then, with PATH set to the venv's bin only (no
# cargo, rustc, protoc or etcd) and the temp dir as working directory (so the
# checkout's sources cannot be imported):
#   - `alluxiofs --version`;
#   - `alluxiofs local-cluster --ufs DIR --workers 2` (static workers, no etcd)
#     started from the wheel, and `fsspec.filesystem("alluxiofs",
#     worker_hosts=..., target_protocol="file").cat_file(...)` compared with the
#     file it read;
#   - `alluxiofs local-cluster --start-etcd` failing with its one-line hint;
#   - `alluxiofs worker --config` rejecting an unknown key (TOML is read).
#
# Usage: scripts/check-wheel.sh dist/alluxiofs-*-manylinux*_x86_64.whl
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 WHEEL (one x86_64 wheel)" >&2; exit 2; }
WHEEL=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -f "$WHEEL" ] || { echo "no such wheel: $1" >&2; exit 2; }
UV=$(command -v uv) || { echo "uv not found" >&2; exit 2; }
# pyenv's shim needs pyenv on PATH: use the binary it points at.
if grep -q pyenv "$UV" 2>/dev/null; then UV=$(pyenv which uv 2>/dev/null || echo "$UV"); fi

log() { printf '==> %s\n' "$*" >&2; }

find_python() {  # find_python 3.8 -> path of a python3.8, or nothing
    local v=$1 c
    for c in "/usr/bin/python$v" "/usr/local/bin/python$v" /root/.pyenv/versions/"$v".*/bin/"python$v" \
             "$HOME"/.pyenv/versions/"$v".*/bin/"python$v"; do
        [ -x "$c" ] && { echo "$c"; return; }
    done
    c=$(command -v "python$v" 2>/dev/null) && "$c" -c '' 2>/dev/null && echo "$c"
    return 0
}

TMP=$(mktemp -d -t alluxiofs-check-wheel-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/hello.py" <<'PY'
"""Hello world from the installed wheel: local-cluster, then one read."""
import json, os, subprocess, sys, tempfile

import fsspec
import alluxiofs

assert "site-packages" in alluxiofs.__file__, alluxiofs.__file__
print("python", sys.version.split()[0], "alluxiofs", alluxiofs.__version__, "from", alluxiofs.__file__)
for tool in ("cargo", "rustc", "protoc", "etcd"):
    from shutil import which
    assert which(tool) is None, f"{tool} is on PATH: {which(tool)}"

data = tempfile.mkdtemp(prefix="hello-ufs-")
path = os.path.join(data, "hello.txt")
with open(path, "wb") as f:
    f.write(b"hello, alluxiofs\n" * 100000)  # 1.7 MB: two pages
exe = os.path.join(os.path.dirname(sys.executable), "alluxiofs")
cluster = subprocess.Popen([exe, "local-cluster", "--ufs", data, "--workers", "2"],
                           stdout=subprocess.PIPE, text=True)
try:
    line = cluster.stdout.readline()
    info = json.loads(line)
    print("local-cluster:", line.strip())
    assert info["etcd_hosts"] is None
    fs = fsspec.filesystem("alluxiofs", worker_hosts=info["worker_hosts"], target_protocol="file")
    got = fs.cat_file(path)
    with open(path, "rb") as f:
        want = f.read()
    assert got == want, (len(got), len(want))
    stats = fs.stats()
    # Served by the workers, not by the fallback to the under storage.
    assert stats["bytes_from_workers"] == len(got) and stats["bytes_from_ufs"] == 0, stats
    print(f"cat_file: {len(got)} bytes from the workers, identical to the file")
finally:
    cluster.terminate()
    cluster.wait(30)

r = subprocess.run([exe, "local-cluster", "--ufs", data, "--start-etcd"],
                   capture_output=True, text=True, timeout=60)
assert r.returncode != 0 and "apt install etcd-server" in r.stderr, r
assert len(r.stderr.strip().splitlines()) == 1, r.stderr
print("--start-etcd without etcd:", r.stderr.strip())

# worker --config reads TOML on this Python (tomllib, or tomli before 3.11).
conf = os.path.join(data, "worker.toml")
with open(conf, "w") as f:
    f.write('ufs = "/d"\ncache_sise = "1GB"\n')
r = subprocess.run([exe, "worker", "--config", conf], capture_output=True, text=True, timeout=60)
assert r.returncode == 2 and "unknown key 'cache_sise'" in r.stderr, r
print("worker --config with a bad key:", r.stderr.strip()[:80], "...")
PY

status=0
found=0
for v in ${PYTHONS:-3.8 3.13}; do
    py=$(find_python "$v")
    if [ -z "$py" ]; then
        log "Python $v: not found on this machine, skipped"
        continue
    fi
    found=$((found + 1))
    venv="$TMP/venv-$v"
    log "Python $v ($py): fresh venv, installing $(basename "$WHEEL") and fsspec"
    "$UV" venv -q --python "$py" "$venv"
    # PATH without cargo or protoc: a source build could not happen, and --no-build forbids it.
    env PATH="$venv/bin" VIRTUAL_ENV="$venv" "$UV" pip install -q --no-build "$WHEEL" fsspec
    log "Python $v: hello world with PATH=$venv/bin"
    if ! (cd "$TMP" && env -i HOME="$TMP" TMPDIR="$TMP" LANG=C.UTF-8 PATH="$venv/bin" \
            "$venv/bin/alluxiofs" --version && \
          cd "$TMP" && env -i HOME="$TMP" TMPDIR="$TMP" LANG=C.UTF-8 PATH="$venv/bin" \
            "$venv/bin/python" "$TMP/hello.py"); then
        log "Python $v: FAILED"
        status=1
    fi
done
[ "$found" -gt 0 ] || { log "none of ${PYTHONS:-3.8 3.13} found"; exit 1; }
[ "$status" = 0 ] && log "wheel check passed"
exit $status
