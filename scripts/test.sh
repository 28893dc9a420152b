#!/usr/bin/env bash
# Sets everything up, then runs every check and test: Rust format, lints and
# tests (including a real etcd), Python lints, type stubs and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
step "cargo fmt --check";          cargo fmt --check
step "cargo clippy";               cargo clippy -q --all-targets -- -D warnings
step "cargo clippy (python)";      cargo clippy -q --all-targets --features python -- -D warnings
# The R5 fuzz targets (tests/fuzz) run once, in their own step, with their figures shown.
step "cargo test";                 cargo test -q -- --skip r5_fuzz_
step "R5 fuzz";                    cargo test -q --test fuzz -- --nocapture
step "ruff";                       ruff check python tests examples && ruff format --check python tests examples
step "mypy";                       mypy python
step "stubtest";                   python -m mypy.stubtest alluxiofs._core
step "pytest";                     pytest -q "$@"
# The benchmark suite, small: proves it runs (numbers: python benches/run.py).
bench_out=$(mktemp -d)
step "bench --quick";              python benches/run.py --quick --json "$bench_out/bench.json" --png "$bench_out/bench.png"
rm -rf "$bench_out"
# The portable wheel, built and installed like a user would (scripts/build-wheels.sh,
# scripts/check-wheel.sh): the manylinux2014 x86_64 and aarch64 wheels and the
# sdist, auditwheel's verdict, then fresh Python 3.8/3.13 venvs with no Rust or
# protoc on PATH run local-cluster and a read from the x86_64 wheel. About 10
# minutes on 2 cores (two more, zig-linked builds of every dependency);
# ALLUXIOFS_CI_WHEELS=0 skips it.
if [ "${ALLUXIOFS_CI_WHEELS:-1}" = 1 ]; then
    step "build wheels";           bash scripts/build-wheels.sh
    step "check wheel";            bash scripts/check-wheel.sh dist/alluxiofs-*-manylinux*_x86_64.whl
fi
