"""One version everywhere, and what ``local-cluster`` says without etcd.

Cargo.toml's ``version`` is the source: maturin gives it to the package
(pyproject.toml's ``dynamic = ["version"]``), the extension to
``alluxiofs.__version__``, and the CLI prints it (``alluxiofs --version``)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import alluxiofs

REPO = Path(__file__).resolve().parents[1]


def cargo_version() -> str:
    text = (REPO / "Cargo.toml").read_text()
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    m = re.search(r'^version\s*=\s*"([^"]+)"', package, re.M)
    assert m, "no version in Cargo.toml's [package]"
    return m.group(1)


def test_one_version_everywhere() -> None:
    version = cargo_version()
    assert alluxiofs.__version__ == version
    assert importlib.metadata.version("alluxiofs") == version
    r = subprocess.run(
        [sys.executable, "-m", "alluxiofs", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout == f"alluxiofs {version}\n", r
    assert 'dynamic = ["version"]' in (REPO / "pyproject.toml").read_text()
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{version}]" in changelog


def test_start_etcd_without_etcd_says_how_to_get_it(tmp_path: Path) -> None:
    """With no ``etcd`` on PATH, ``local-cluster --start-etcd`` fails at once
    with one line naming the package and the static-workers alternative."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = dict(os.environ, PATH=str(empty))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "alluxiofs",
            "local-cluster",
            "--ufs",
            str(tmp_path),
            "--start-etcd",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("alluxiofs local-cluster: error: --start-etcd needs an etcd binary")
    assert "apt install etcd-server" in lines[0]
    assert "leave out --start-etcd" in lines[0]
    assert r.stdout == ""
