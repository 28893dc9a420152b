"""``alluxiofs worker --config FILE`` (a TOML file of worker settings) and the
deployment files under ``deploy/``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from alluxiofs import _core
from alluxiofs.cli import build_parser, main
from alluxiofs.cli.worker_config import ConfigError, expand_config, load_config
from alluxiofs.cli.worker_options import setting_values

REPO = Path(__file__).resolve().parents[1]
SETTINGS: List[Dict[str, Any]] = _core.worker_settings()


def sample(s: Dict[str, Any]) -> Any:
    """A value for setting ``s`` that differs from its default."""
    if s["kind"] == "flag":
        return True
    if s["kind"] == "choice":
        return s["choices"][-1]
    return f"value-of-{s['name']}"


def toml_line(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{name} = {'true' if value else 'false'}"
    return f"{name} = {json.dumps(value)}"  # a JSON string is a TOML basic string


def settings_of(argv: List[str]) -> Dict[str, Any]:
    """The settings ``alluxiofs worker`` would run with for ``argv``."""
    args = build_parser().parse_args(expand_config(argv))
    return setting_values(args, SETTINGS)


def write(path: Path, lines: List[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_file_round_trips_every_setting(tmp_path: Path) -> None:
    values = {s["name"]: sample(s) for s in SETTINGS}
    conf = write(tmp_path / "w.toml", [toml_line(k, v) for k, v in values.items()])
    flags: List[str] = []
    for s in SETTINGS:
        flags += [s["flag"]] if s["kind"] == "flag" else [s["flag"], values[s["name"]]]
    from_file = settings_of(["worker", "--config", conf])
    assert from_file == settings_of(["worker", *flags])
    assert from_file == values  # every setting came from the file


def test_numbers_and_overrides(tmp_path: Path) -> None:
    conf = write(
        tmp_path / "w.toml",
        ['ufs = "/data"', 'cache_dir = "/c"', "port = 28081", 'cache_size = "1GB"',
         "metadata_sync_interval = -1", "oss_strict = false"],
    )  # fmt: skip
    got = settings_of(["-v", "worker", "--cache-size", "2GB", f"--config={conf}"])
    assert got["port"] == "28081" and got["metadata_sync_interval"] == "-1"
    assert got["cache_size"] == "2GB"  # the command line wins
    assert got["oss_strict"] is False and got["ufs"] == "/data"
    assert settings_of(["worker", "--config", conf, "--port", "1"])["port"] == "1"


@pytest.mark.parametrize(
    "lines, message",
    [
        (['ufs = "/d"', 'cache_sise = "1GB"'], "unknown key 'cache_sise' in "),
        (["oss_strict = 1"], "oss_strict in "),
        (["port = true"], "port in "),
        (['node_response = "list"'], "'list' is not one of array, object"),
        (["[worker]", 'ufs = "/d"'], "unknown key 'worker'"),
        (["ufs = "], "is not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, lines: List[str], message: str) -> None:
    conf = write(tmp_path / "w.toml", lines)
    with pytest.raises(ConfigError, match=re.escape(message)):
        expand_config(["worker", "--config", conf])


def test_command_reports_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = write(tmp_path / "w.toml", ['cache_sise = "1GB"'])
    assert main(["worker", "--config", conf]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alluxiofs worker: error: unknown key 'cache_sise'"), err
    assert len(err.splitlines()) == 1
    assert main(["worker", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read --config" in capsys.readouterr().err


def test_required_settings_may_come_from_the_file(tmp_path: Path) -> None:
    conf = write(tmp_path / "w.toml", ['ufs = "/d"', 'cache_dir = "/c"'])
    got = settings_of(["worker", "--config", conf])
    assert (got["ufs"], got["cache_dir"]) == ("/d", "/c")
    r = subprocess.run(
        [sys.executable, "-m", "alluxiofs", "worker", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot read --config" in r.stderr


def test_example_config_has_every_setting_and_parses() -> None:
    text = (REPO / "deploy" / "worker.toml").read_text()
    keys = set(re.findall(r"^#? ?([a-z0-9_]+) = ", text, re.M))
    assert keys == {s["name"] for s in SETTINGS}
    got = settings_of(["worker", "--config", str(REPO / "deploy" / "worker.toml")])
    assert got["ufs"] and got["cache_dir"] and got["etcd_hosts"]
    # Every commented-out line is valid too.
    uncommented = re.sub(r"^# ([a-z0-9_]+ = )", r"\1", text, flags=re.M)
    assert set(load_config_text(uncommented)) == {s["name"] for s in SETTINGS}


def load_config_text(text: str) -> Dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    data: Dict[str, Any] = tomllib.loads(text)
    return data


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt install systemd)")
    unit = (REPO / "deploy" / "alluxiofs-worker.service").read_text()
    exe = "/opt/alluxiofs/bin/alluxiofs"
    assert f"ExecStart={exe} worker --config /etc/alluxiofs/worker.toml" in unit
    # verify checks that ExecStart's program exists: point it at a stand-in.
    stand_in = tmp_path / "alluxiofs"
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    path = tmp_path / "alluxiofs-worker.service"
    path.write_text(unit.replace(exe, str(stand_in)))
    r = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "alluxiofs-worker.service" not in r.stderr, r.stderr


def test_load_config_reads_the_example() -> None:
    assert load_config(str(REPO / "deploy" / "worker.toml"))["cache_size"] == "100GB"
