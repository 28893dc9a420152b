"""The worker's settings are declared once (src/worker/settings.rs): the
README's table, the stubs and both commands' options follow the declaration,
and ``run_worker`` checks its mapping against it."""

from __future__ import annotations

import argparse
import ast
import json
import re
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import pytest

from alluxiofs import _core
from alluxiofs.cli import build_parser
from alluxiofs.local_cluster import LocalCluster

REPO = Path(__file__).resolve().parents[1]
SETTINGS: List[Dict[str, Any]] = _core.worker_settings()


def subparser(name: str) -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser: argparse.ArgumentParser = action.choices[name]
            return parser
    raise AssertionError("no subcommands")


def options(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings}


def test_declaration_is_complete() -> None:
    names = [s["name"] for s in SETTINGS]
    assert len(names) == len(set(names))
    assert {"ufs", "cache_dir", "port", "page_size", "oss_strict", "node_response"} <= set(names)
    for s in SETTINGS:
        assert s["flag"] == "--" + s["name"].replace("_", "-")
        assert s["kind"] in ("text", "flag", "choice"), s
        assert (s["choices"] is not None) == (s["kind"] == "choice"), s
        assert s["help"] and not s["help"].endswith("."), s
    assert [s["name"] for s in SETTINGS if s["required"]] == ["ufs", "cache_dir"]


def readme_table() -> List[List[str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("<!-- worker-settings -->")
    end = text.index("<!-- /worker-settings -->", start)
    rows = [line for line in text[start:end].splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in row.strip("|").split(" | ")] for row in rows]
    assert cells[0] == ["option", "default", "meaning", "local-cluster"], cells[0]
    return cells[2:]


def test_readme_table_matches_the_declaration() -> None:
    want = []
    for s in SETTINGS:
        value = "" if s["kind"] == "flag" else " " + s["name"].upper()
        default = "required" if s["required"] else s["default"] or ""
        if s["choices"]:
            default = f"`{default}`"
        want.append(
            [
                f"`{s['flag']}{value}`",
                default,
                s["help"],
                "yes" if s["local_cluster"] else "",
            ]
        )
    assert readme_table() == want


def stub_fields() -> Dict[str, str]:
    tree = ast.parse((REPO / "python/alluxiofs/_core.pyi").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    fields: Dict[str, str] = {}
    for name in ("_WorkerRequired", "_WorkerSettings"):
        for node in classes[name].body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                fields[node.target.id] = ast.unparse(node.annotation)
    return fields


def test_stubs_match_the_declaration() -> None:
    want = {}
    for s in SETTINGS:
        if s["required"]:
            want[s["name"]] = "str"
        elif s["kind"] == "flag":
            want[s["name"]] = "Optional[bool]"
        elif s["kind"] == "choice":
            words = ", ".join(repr(c) for c in s["choices"])
            want[s["name"]] = f"Optional[Literal[{words}]]"
        else:
            want[s["name"]] = "_Text"
    assert stub_fields() == want
    tree = ast.parse((REPO / "python/alluxiofs/_core.pyi").read_text())
    required = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_WorkerRequired"
    )
    assert [
        n.target.id
        for n in required.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ] == [s["name"] for s in SETTINGS if s["required"]]


def test_worker_options_are_the_declaration() -> None:
    opts = options(subparser("worker"))
    # --config: a TOML file of these settings (tests/test_worker_config.py).
    assert set(opts) == {"-h", "--help", "--config"} | {s["flag"] for s in SETTINGS}
    for s in SETTINGS:
        action = opts[s["flag"]]
        assert action.dest == s["name"] and action.required == s["required"]
        assert action.help and action.help.startswith(s["help"])
        if s["default"] is not None:
            assert action.help.endswith(f"(default {s['default']})")
        assert action.choices == s["choices"]
        assert (action.nargs == 0) == (s["kind"] == "flag")


def test_local_cluster_offers_the_shared_settings() -> None:
    opts = options(subparser("local-cluster"))
    own = {"-h", "--help", "--workers", "--ufs", "--start-etcd", "--etcd-hosts", "--cache-dir"}
    assert set(opts) == own | {s["flag"] for s in SETTINGS if s["local_cluster"]}
    assert opts["--lease-ttl"].default == "10"  # a killed worker leaves the ring soon
    assert opts["--lease-ttl"].help and opts["--lease-ttl"].help.endswith("(default 10)")


def test_local_cluster_passes_settings_to_its_workers(tmp_path: Path) -> None:
    c = LocalCluster(
        str(tmp_path),
        workers=1,
        cache_dir=str(tmp_path / "c"),
        page_size="64KB",
        oss_strict=True,
        s3={"region": "eu-west-1", "endpoint": None},
        settings={"readahead_pages": "4", "node_response": "object", "virtual_nodes": None},
    )
    cmd = c.worker_command(0)
    pairs = {a: b for a, b in zip(cmd, cmd[1:]) if a.startswith("--")}
    assert pairs["--readahead-pages"] == "4" and pairs["--node-response"] == "object"
    assert pairs["--page-size"] == "64KB" and pairs["--lease-ttl"] == "10"
    assert pairs["--s3-region"] == "eu-west-1"
    assert "--oss-strict" in cmd
    assert "--virtual-nodes" not in cmd and "--s3-endpoint" not in cmd
    with pytest.raises(ValueError, match="'cache_sise'"):
        LocalCluster(str(tmp_path), cache_dir=str(tmp_path), settings={"cache_sise": "1GB"})
    with pytest.raises(ValueError, match="'port'"):
        LocalCluster(str(tmp_path), cache_dir=str(tmp_path), settings={"port": "1"})


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"ufs": "/d", "cache_dir": "/c", "cache_sise": "1GB"},
            'unknown worker setting "cache_sise"',
        ),
        ({"ufs": "/d", "cache_dir": "/c", "port": "x"}, 'invalid port="x"'),
        ({"ufs": "/d", "cache_dir": "/c", "port": True}, "invalid port=True"),
        ({"ufs": "/d", "cache_dir": "/c", "oss_strict": "yes"}, "invalid oss_strict='yes'"),
        ({"ufs": "/d", "cache_dir": "/c", "node_response": "list"}, "invalid node_response"),
        ({"ufs": "/d", "cache_dir": "/c", "lease_ttl": 0}, 'invalid lease_ttl="0"'),
        ({"cache_dir": "/c"}, "ufs is required"),
        ({"ufs": "/d", "cache_dir": "/c", 3: "x"}, "invalid worker setting name 3"),
    ],
)
def test_run_worker_rejects_bad_settings(settings: Dict[Any, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _core.run_worker(settings)  # type: ignore[arg-type]


def test_local_cluster_workers_get_the_settings(tmp_path: Path) -> None:
    """A setting only the declaration offers to local-cluster (no parameter of
    its own) reaches a real worker: ``/v1/node`` answers in the object shape."""
    with LocalCluster(
        str(tmp_path),
        workers=1,
        cache_dir=str(tmp_path / "c"),
        settings={"node_response": "object"},
    ) as c:
        url = f"http://127.0.0.1:{c.ports[0]}/v1/node?path=file:///x"
        with urllib.request.urlopen(url, timeout=10) as r:
            answer = json.loads(r.read())
    assert isinstance(answer, dict) and answer["Host"] == "127.0.0.1", answer
