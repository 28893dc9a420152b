"""The client's configuration keys are declared once (``src/config/keys.rs``,
``_core.client_options()``): the README's table, the stubs and the Python
classes are checked against that declaration here, so they cannot drift."""

from __future__ import annotations

import ast
import inspect
import pickle
from pathlib import Path
from typing import Any, Dict, List

import pytest

from alluxiofs import _core
from alluxiofs.client import CLIENT_ARGS, AlluxioClient

ROOT = Path(__file__).resolve().parent.parent
OPTIONS: List[Dict[str, Any]] = list(_core.client_options())
HEADER = "| argument | Alluxio properties (in `options`) | default | meaning |"


def _code(text: str) -> str:
    return f"`{text}`"


def readme_table() -> str:
    """The README's configuration table as the declaration renders it."""
    none = "\u2013"  # the README's en dash for "none"
    rows = [HEADER, "|---|---|---|---|"]
    for o in OPTIONS:
        props = ", ".join(_code(p) for p in o["properties"]) or none
        default = none if o["default"] is None else _code(o["default"])
        rows.append(f"| {_code(o['name'])} | {props} | {default} | {o['doc']} |")
    return "\n".join(rows)


def test_readme_table_is_the_declaration() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADER in text, "README lost its configuration table"
    start = text.index(HEADER)
    end = text.find("\n\n", start)
    found = text[start:end]
    want = readme_table()
    assert found == want, f"README's configuration table differs; it should read:\n\n{want}\n"


def _stub_client_new() -> ast.FunctionDef:
    tree = ast.parse((ROOT / "python/alluxiofs/_core.pyi").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client")
    return next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__new__")


def test_stub_constructor_is_the_declaration() -> None:
    new = _stub_client_new()
    assert [a.arg for a in new.args.args] == ["cls"]
    names = [a.arg for a in new.args.kwonlyargs]
    assert names == [o["name"] for o in OPTIONS]
    for arg, opt in zip(new.args.kwonlyargs, OPTIONS):
        want = {
            "dict": "Optional[Mapping[str, Any]]",
            "bool": "Union[bool, _Scalar, None]",
        }.get(opt["type"], "Optional[_Scalar]")
        assert arg.annotation is not None and ast.unparse(arg.annotation) == want, arg.arg
    assert all(isinstance(d, ast.Constant) and d.value is None for d in new.args.kw_defaults)


def test_python_classes_take_the_declared_keys() -> None:
    assert list(CLIENT_ARGS) == list(_core.CLIENT_ARGS) == [o["name"] for o in OPTIONS]
    explicit = [p for p in inspect.signature(AlluxioClient).parameters if p != "kwargs"]
    assert set(explicit) <= set(CLIENT_ARGS)
    doc = AlluxioClient.__doc__ or ""
    for o in OPTIONS:
        assert f"    {o['name']} : {o['type']}" in doc, o["name"]


def test_declaration_shape() -> None:
    names = [o["name"] for o in OPTIONS]
    assert len(set(names)) == len(names)
    assert [o["name"] for o in OPTIONS if o["secret"]] == ["etcd_password"]
    # The CLI's cluster flags today (cli_ops.add_cluster_args), plus -o for options,
    # and the local cache's (a CLI read can use the node's cache too).
    assert {o["cli"]: o["metavar"] for o in OPTIONS if o["cli"]} == {
        "--etcd-hosts": "HOSTS",
        "--etcd-port": "PORT",
        "--worker-hosts": "HOSTS",
        "--worker-http-port": "PORT",
        "--cluster-name": "NAME",
        "--page-size": "SIZE",
        "--local-cache-dir": "TEXT",
        "--local-cache-size": "TEXT",
        "--local-cache-metadata-ttl": "SECONDS",
    }


@pytest.mark.parametrize(
    ("make", "owner"),
    [
        (lambda **kw: AlluxioClient(worker_hosts="w", **kw), "AlluxioClient"),
        (lambda **kw: _core.Client(worker_hosts="w", **kw), "Client"),
    ],
)
def test_one_unknown_keyword_check(make: Any, owner: str) -> None:
    with pytest.raises(TypeError) as e:
        make(zeta=1, alpha=None)
    assert str(e.value) == (
        f"{owner} got unexpected argument(s) alpha, zeta; valid: {', '.join(CLIENT_ARGS)}"
    )


def test_secrets_masked_and_pickled_once() -> None:
    c = AlluxioClient(
        etcd_hosts="a", etcd_username="u", etcd_password="s3cr3t", options={"k": "v"}, timeout=5
    )
    assert repr(c) == (
        "AlluxioClient(etcd_username='u', etcd_password='***', timeout=5, "
        "etcd_hosts='a', options={'k': 'v'})"
    )
    assert repr(c._core) == repr(c).replace("AlluxioClient(", "Client(", 1)
    # The wrapper pickles as its native client, which keeps the arguments.
    c2 = pickle.loads(pickle.dumps(c))
    assert type(c2) is AlluxioClient and repr(c2) == repr(c)
    assert pickle.loads(pickle.dumps(c._core)).cluster_name == c.cluster_name


def test_options_may_be_any_mapping_and_are_copied() -> None:
    from types import MappingProxyType

    props = {"alluxio.worker.page.store.page.size": "64KB"}
    c = AlluxioClient(worker_hosts="w", options=MappingProxyType(props))
    props["alluxio.worker.page.store.page.size"] = "2MB"
    assert pickle.loads(pickle.dumps(c)).page_size == 64 * 1024
