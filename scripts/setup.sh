#!/usr/bin/env bash
# Sets up everything alluxiofs needs on a fresh Debian machine and builds it
# into ./.venv: system packages (protoc for etcd-client, etcd for the tests and
# the demo), Python tools, and the extension module (release build).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; return 1; fi
}

missing=()
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v etcd >/dev/null || missing+=(etcd-server)
command -v etcdctl >/dev/null || missing+=(etcd-client)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { log "cargo not found: install a Rust toolchain (rustup)"; exit 1; }

PYTHON=${PYTHON:-python3}
if ! command -v uv >/dev/null; then
    log "installing uv (pip)"
    "$PYTHON" -m pip install -q uv
fi
if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    uv venv -q --python "$(command -v "$PYTHON")" .venv
fi
export VIRTUAL_ENV="$PWD/.venv"
log "installing Python tools"
uv pip install -q -r requirements-dev.txt
log "building alluxiofs (maturin develop --release)"
.venv/bin/maturin develop --release -q 2>&1 | grep -v -e '^📦' -e '^✏️' -e '^🛠' || true
.venv/bin/python -c "import alluxiofs; print('alluxiofs', alluxiofs.__version__, 'ready in .venv')"
