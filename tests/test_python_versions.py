"""The abi3 wheel on every Python the machine has, oldest supported first.

A session fixture builds the wheel once (``maturin build --release`` into the
repository's ``target/``, so the compiled dependencies of ``maturin develop``
are reused); then, per interpreter, ``uv`` makes a fresh venv, installs the
wheel (fsspec comes as its dependency, resolved for that Python) and runs the
seed's hello world in that interpreter against the session ``cluster``.
An interpreter the machine lacks is skipped, saying how to get it.

These tests build a wheel, so they are marked ``slow``; they run by default,
``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE

REPO = Path(__file__).resolve().parents[1]

#: Minor versions to try: 3.8 is the oldest ``requires-python`` admits.
VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]

# Registered in pyproject.toml ([tool.pytest.ini_options] markers).
slow = pytest.mark.slow

#: The seed's hello world, run by the interpreter under test. It starts
#: nothing: it connects to the cluster whose etcd is in argv.
HELLO = r"""
import argparse, hashlib, importlib, json, os, pkgutil, sys

args = json.loads(sys.argv[1])
import fsspec
import alluxiofs

# Every module of the package must import on this Python, and every
# command's help must build (argparse features differ between versions).
modules = sorted(m.name for m in pkgutil.iter_modules(alluxiofs.__path__))
for name in modules:
    if name != "__main__":
        importlib.import_module("alluxiofs." + name)
build_parser = getattr(sys.modules["alluxiofs.cli"], "build_parser", None)
commands = []
if build_parser is not None:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                sub.format_help()
                commands.append(command)

assert "%d.%d" % sys.version_info[:2] == args["python"], sys.version
assert alluxiofs.__file__.startswith(sys.prefix), alluxiofs.__file__

# No register_implementation: the wheel's fsspec.specs entry point must do it.
fs = fsspec.filesystem(
    "alluxiofs",
    etcd_hosts=args["etcd_hosts"],
    target_protocol="file",
    options={"alluxio.worker.page.store.page.size": args["page_size"]},
)
names = fs.ls(args["dir"])
detail = fs.ls(args["dir"], detail=True)
with fs.open(args["file"], "rb") as f:
    data = f.read()

# fsspec's ls() lists details by default.
assert [d["name"] for d in names] == [d["name"] for d in detail], names
assert sorted(os.path.basename(d["name"]) for d in detail) == args["names"], names
sizes = {os.path.basename(d["name"]): (d["type"], d["size"]) for d in detail}
assert sizes == {k: tuple(v) for k, v in args["sizes"].items()}, sizes
assert len(data) == args["size"], len(data)
assert hashlib.sha256(data).hexdigest() == args["sha256"], "bytes differ"
stats = fs.stats()
# Served by the workers, not by the local-disk fallback.
assert stats["bytes_from_workers"] >= len(data) and stats["fallbacks"] == 0, stats
print(json.dumps({
    "python": sys.version.split()[0],
    "alluxiofs": alluxiofs.__version__,
    "fsspec": fsspec.__version__,
    "workers": len(fs.client.workers()),
    "modules": modules,
    "commands": commands,
}))
print("OK")
"""


def _clean_env(**extra: str) -> Dict[str, str]:
    """The environment without anything that points at the repository's venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "UV_PYTHON")
    }
    env.update(extra)
    return env


def _run(cmd: List[str], what: str, timeout: float, **kw: Any) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        pytest.fail(f"{what}: no answer within {timeout}s\n$ {' '.join(cmd)}\n{err or ''}")
    if r.returncode != 0:
        pytest.fail(
            f"{what} failed ({r.returncode})\n$ {' '.join(cmd)}\n"
            f"--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"
        )
    return str(r.stdout)


def find_interpreter(version: str) -> Optional[Tuple[str, str]]:
    """``(path, full version)`` of a CPython ``version`` (``"3.8"``): the newest
    pyenv one, else ``pythonX.Y`` on PATH; None if there is none."""
    candidates: List[str] = []
    pyenv = shutil.which("pyenv")
    if pyenv is not None:
        try:
            bare = subprocess.run(
                [pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=30
            ).stdout.split()
        except (OSError, subprocess.SubprocessError):
            bare = []
        pattern = re.compile(re.escape(version) + r"\.(\d+)")
        ours = [(int(m.group(1)), v) for v in bare if (m := pattern.fullmatch(v))]
        for _, v in sorted(ours, reverse=True):
            prefix = subprocess.run(
                [pyenv, "prefix", v], capture_output=True, text=True, timeout=30
            ).stdout.strip()
            if prefix:
                candidates.append(os.path.join(prefix, "bin", f"python{version}"))
    on_path = shutil.which(f"python{version}")
    if on_path is not None:
        candidates.append(on_path)
    probe = "import sys, platform; print(platform.python_implementation(), sys.version.split()[0])"
    for exe in candidates:
        try:
            r = subprocess.run([exe, "-c", probe], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        parts = r.stdout.split()
        ok = r.returncode == 0 and len(parts) == 2 and parts[0] == "CPython"
        if ok and parts[1].startswith(version + "."):
            return exe, parts[1]
    return None


def _tool(name: str) -> str:
    exe = shutil.which(name, path=os.path.dirname(sys.executable)) or shutil.which(name)
    if exe is None:
        msg = f"{name} is not installed (scripts/setup.sh installs it)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release abi3 wheel of the work tree, built once per session."""
    maturin = _tool("maturin")
    out = tmp_path_factory.mktemp("wheel")
    env = _clean_env()
    if not os.environ.get("CI"):
        # Be gentle with a shared development machine.
        env.setdefault("CARGO_BUILD_JOBS", "1")
    _run(
        [
            maturin,
            "build",
            "--release",
            "--out",
            str(out),
            "-q",
            # The interpreter `maturin develop` used: same PyO3 configuration,
            # so cargo reuses what it compiled instead of building it again.
            "--interpreter",
            sys.executable,
            "--target-dir",
            str(REPO / "target"),
        ],
        "maturin build",
        timeout=1500,
        cwd=str(REPO),
        env=env,
    )
    wheels = sorted(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@slow
@pytest.mark.timeout(1800)  # a cold build compiles every dependency
def test_wheel_is_abi3_and_complete(wheel: Path) -> None:
    # name-version-cp38-abi3-platform.whl: one wheel for every CPython >= 3.8.
    assert re.fullmatch(r"alluxiofs-[^-]+-cp38-abi3-[^-]+\.whl", wheel.name), wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(meta).decode()
        entry_points = z.read(meta.replace("METADATA", "entry_points.txt")).decode()
    for f in ("__init__.py", "filesystem.py", "_core.abi3.so", "_core.pyi", "py.typed"):
        assert f"alluxiofs/{f}" in names, f
    assert "Requires-Python: >=3.8" in metadata
    assert re.search(r"^Requires-Dist: fsspec", metadata, re.M), metadata
    specs = entry_points.split("[fsspec.specs]", 1)[-1].replace(" ", "")
    assert "alluxiofs=alluxiofs.filesystem:AlluxioFileSystem" in specs, entry_points


@slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("version", VERSIONS)
def test_wheel_hello_world(
    wheel: Path,
    cluster: LocalCluster,
    dataset: Path,
    tmp_path: Path,
    version: str,
) -> None:
    found = find_interpreter(version)
    if found is None:
        pytest.skip(
            f"no CPython {version} on this machine (looked in `pyenv versions` and for "
            f"python{version} on PATH); `pyenv install {version}` to test the wheel on it"
        )
    exe, full = found
    uv = _tool("uv")
    venv = tmp_path / "venv"
    env = _clean_env(UV_PYTHON_DOWNLOADS="never", PYTHONNOUSERSITE="1")
    _run([uv, "venv", "-q", "--python", exe, str(venv)], f"uv venv (Python {full})", 300, env=env)
    python = str(venv / "bin" / "python")
    _run(
        [uv, "pip", "install", "-q", "--python", python, str(wheel)],
        f"installing {wheel.name} on Python {full}",
        300,
        env=env,
    )

    directory = dataset / "sub"
    file = dataset / "many.bin"
    data = file.read_bytes()
    args = {
        "python": version,
        "etcd_hosts": cluster.etcd_hosts,
        "page_size": str(PAGE),
        "dir": str(directory),
        "names": sorted(os.listdir(directory)),
        "sizes": {
            p.name: ["file", p.stat().st_size] if p.is_file() else ["directory", 0]
            for p in directory.iterdir()
        },
        "file": str(file),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    script = tmp_path / "hello.py"
    script.write_text(HELLO)
    out = _run(
        [python, str(script), json.dumps(args)],
        f"hello world on Python {full}",
        120,
        cwd=str(tmp_path),  # nothing of the repository on sys.path
        env=env,
    )
    usage = _run(
        [str(venv / "bin" / "alluxiofs"), "--help"], f"alluxiofs --help on {full}", 60, env=env
    )
    assert "local-cluster" in usage, usage
    lines = out.strip().splitlines()
    assert lines[-1] == "OK", out
    report = json.loads(lines[-2])
    assert report["python"] == full
    assert report["workers"] == 3
    assert {"cli", "filesystem", "_core"} <= set(report["modules"]), report
    assert "local-cluster" in report["commands"], report
    print(f"Python {full}: alluxiofs {report['alluxiofs']}, fsspec {report['fsspec']}: OK")
