#!/usr/bin/env bash
# Create (idempotently) a virtualenv at DIR holding the reference client
# alluxiofs==1.0.17 (last etcd-era release on PyPI), for the interop driver
# tests/reference/driver.py.
#
#   usage: tests/reference/setup_reference_venv.sh DIR
#
# Exit 0: DIR/bin/python imports alluxiofs 1.0.17 + etcd3 (prints one "ok" line).
# Exit 1: one line on stderr, "setup_reference_venv: <reason>".
#
# Environment overrides (all optional):
#   REF_PYTHON        interpreter to build the venv from (default: pyenv 3.11.7,
#                     else python3.11, else python3)
#   REF_FSSPEC_SPEC   fsspec requirement (default fsspec==2025.9.0, the release
#                     current when alluxiofs 1.0.17 came out; the file-object read
#                     path in WIRE.md was checked against it)
#
# Notes
# * `uv python install` cannot download here, so the venv is built from a local
#   interpreter.
# * alluxiofs 1.0.17 pins protobuf>=3.20,<3.21; uv resolves protobuf 3.20.3, a
#   pure-Python (py3-none-any) wheel, which imports fine on 3.11 together with
#   etcd3 0.12.0. With a newer protobuf, etcd3's generated *_pb2 modules only
#   import under PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python; the import check
#   below therefore retries with that variable, and driver.py sets it too.
set -u -o pipefail

ALLUXIOFS_SPEC="alluxiofs==1.0.17"
PROTOBUF_SPEC="protobuf>=3.20,<3.21"
FSSPEC_SPEC="${REF_FSSPEC_SPEC:-fsspec==2025.9.0}"
STAMP_CONTENT="${ALLUXIOFS_SPEC} ${PROTOBUF_SPEC} ${FSSPEC_SPEC} v1"

die() { echo "setup_reference_venv: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DIR"
DIR="$1"
case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac

command -v uv >/dev/null 2>&1 || die "uv is not on PATH (pip install uv)"

pick_python() {
    if [ -n "${REF_PYTHON:-}" ]; then echo "$REF_PYTHON"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        local p
        p="$(pyenv prefix 3.11.7 2>/dev/null)/bin/python3"
        if [ -x "$p" ]; then echo "$p"; return; fi
    fi
    if command -v python3.11 >/dev/null 2>&1; then command -v python3.11; return; fi
    command -v python3 || true
}

CHECK_PY='
import sys
import importlib.metadata as md
v = md.version("alluxiofs")
assert v == "1.0.17", "alluxiofs version is %s, want 1.0.17" % v
import etcd3, requests, mmh3, fsspec  # noqa: F401
from alluxiofs import AlluxioFileSystem, AlluxioClient  # noqa: F401
print("alluxiofs %s, fsspec %s, protobuf %s, etcd3 %s, python %s" % (
    v, fsspec.__version__, md.version("protobuf"), md.version("etcd3"),
    sys.version.split()[0]))
'

# check_import: on success sets IMPORT_LINE (version summary) and NEED_PB_ENV=1
# if the import only works with the pure-Python protobuf implementation; on
# failure sets LAST_IMPORT_ERROR. (Called directly, not in $(...), so the
# globals survive.)
NEED_PB_ENV=0
IMPORT_LINE=""
LAST_IMPORT_ERROR=""
check_import() {
    local py="$DIR/bin/python" out
    if [ ! -x "$py" ]; then LAST_IMPORT_ERROR="$py missing"; return 1; fi
    if out="$(cd / && timeout 120 "$py" -c "$CHECK_PY" 2>&1)"; then
        IMPORT_LINE="$out"; NEED_PB_ENV=0; return 0
    fi
    if out="$(cd / && PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python \
              timeout 120 "$py" -c "$CHECK_PY" 2>&1)"; then
        IMPORT_LINE="$out"; NEED_PB_ENV=1; return 0
    fi
    LAST_IMPORT_ERROR="$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1)"
    return 1
}

STAMP="$DIR/.alluxiofs-reference-stamp"

# Fast path: already set up with the same specs.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$STAMP_CONTENT" ]; then
    if check_import; then
        echo "ok (cached): $DIR: $IMPORT_LINE"
        exit 0
    fi
fi

PY="$(pick_python)"
[ -n "$PY" ] && [ -x "$PY" ] || die "no usable Python interpreter found (set REF_PYTHON)"

LOG="$(mktemp -t refvenv.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

if [ ! -x "$DIR/bin/python" ]; then
    if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] && [ ! -f "$DIR/pyvenv.cfg" ]; then
        die "$DIR exists, is not empty and is not a virtualenv; refusing to touch it"
    fi
    if ! uv venv --python "$PY" "$DIR" >"$LOG" 2>&1; then
        die "uv venv failed with $PY: $(grep -v '^\s*$' "$LOG" | tail -n 1)"
    fi
fi

if ! timeout 900 uv pip install --python "$DIR/bin/python" \
        "$ALLUXIOFS_SPEC" "$PROTOBUF_SPEC" "$FSSPEC_SPEC" >"$LOG" 2>&1; then
    die "uv pip install $ALLUXIOFS_SPEC failed: $(grep -v '^\s*$' "$LOG" | tail -n 1)"
fi

if ! check_import; then
    die "installed, but 'import alluxiofs' fails in $DIR: ${LAST_IMPORT_ERROR:-unknown error}"
fi
if [ "$NEED_PB_ENV" = 1 ]; then
    IMPORT_LINE="$IMPORT_LINE (needs PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python)"
fi
printf '%s\n' "$STAMP_CONTENT" >"$STAMP"
echo "ok: $DIR: $IMPORT_LINE"
