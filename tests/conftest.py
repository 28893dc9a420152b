"""Shared fixtures: a real etcd started by the tests themselves."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from typing import Iterator

import pytest

from alluxiofs.etcd_process import EtcdProcess, worker_registration

ASSETS = os.path.join(os.path.dirname(__file__), "assets")


def asset(name: str) -> object:
    with open(os.path.join(ASSETS, name)) as f:
        return json.load(f)


def worker_value(identifier: str, host: str, http_port: int) -> str:
    """The §1.2 value a Java worker registers (built without the Rust code)."""
    return worker_registration(uuid.UUID(hex=identifier), host, http_port)[1]


def worker_key(identifier: str) -> str:
    return worker_registration(uuid.UUID(hex=identifier), "", 0)[0]


@pytest.fixture()
def etcd() -> Iterator[EtcdProcess]:
    if shutil.which("etcd") is None:
        if os.environ.get("CI"):
            pytest.fail("etcd is not installed (apt-get install etcd-server etcd-client)")
        pytest.skip("etcd is not installed (apt-get install etcd-server etcd-client)")
    server = EtcdProcess()
    try:
        yield server
    finally:
        server.close()
