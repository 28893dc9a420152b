#!/usr/bin/env bash
# Builds the distributable artifacts into dist/:
#   - an abi3 wheel (cp38-abi3, Python 3.8+) for manylinux2014 x86_64, linked by
#     zig against glibc 2.17 (`maturin build --zig --compatibility manylinux2014`);
#   - the same for aarch64 (cross-built by zig; the Rust target is added with
#     rustup when missing, and the arch skipped with a message if it cannot be);
#   - an sdist (`maturin sdist`).
# maturin and ziglang come from PyPI into a build venv of their own
# (target/build-venv, under the git-ignored target/), never the system Python.
# Then scripts/check-wheel-tags.sh runs `auditwheel show` on every wheel.
#
# Needs: cargo, protoc (etcd-client's build), uv or python3 -m venv.
# Env: WHEEL_ARCHES (default "x86_64 aarch64"), BUILD_VENV, PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

ARCHES=${WHEEL_ARCHES:-x86_64 aarch64}
BUILD_VENV=${BUILD_VENV:-$PWD/target/build-venv}
PYTHON=${PYTHON:-python3}

if [ ! -x "$BUILD_VENV/bin/python" ]; then
    log "creating the build venv $BUILD_VENV"
    if command -v uv >/dev/null; then
        uv venv -q --python "$(command -v "$PYTHON")" "$BUILD_VENV"
    else
        "$PYTHON" -m venv "$BUILD_VENV"
    fi
fi
log "installing maturin, ziglang and auditwheel into the build venv"
if command -v uv >/dev/null; then
    VIRTUAL_ENV="$BUILD_VENV" uv pip install -q "maturin>=1.9.4,<2" ziglang auditwheel
else
    "$BUILD_VENV/bin/python" -m pip install -q "maturin>=1.9.4,<2" ziglang auditwheel
fi
# maturin finds zig as `python3 -m ziglang` on PATH: the build venv's.
export PATH="$BUILD_VENV/bin:$PATH" VIRTUAL_ENV="$BUILD_VENV"
MATURIN=("$BUILD_VENV/bin/python" -m maturin)

mkdir -p dist
for arch in $ARCHES; do
    triple="$arch-unknown-linux-gnu"
    if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        log "adding the Rust target $triple"
        if ! rustup target add "$triple" >&2; then
            log "cannot add the Rust target $triple (rustup target add $triple); skipping $arch"
            continue
        fi
    fi
    log "building the $arch manylinux2014 wheel (maturin --zig)"
    "${MATURIN[@]}" build --release --zig --compatibility manylinux2014 \
        --target "$triple" --out dist
done

log "building the sdist"
"${MATURIN[@]}" sdist --out dist

log "checking the wheels' platform tags (auditwheel show)"
AUDITWHEEL="$BUILD_VENV/bin/auditwheel" bash scripts/check-wheel-tags.sh dist/*.whl
ls -l dist
