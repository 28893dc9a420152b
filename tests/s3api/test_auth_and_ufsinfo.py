"""Signatures: ignored by default (Alluxio's SIMPLE mode; alluxiofs 1.1
sends none), verified (SigV4) with ``s3_credentials``. ``GET /v1/ufsInfo``:
the mount table the alluxiofs 1.1.18 client reads, credentials only when
the operator asks for them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import fsspec
import pytest
from botocore.exceptions import ClientError

from alluxiofs.local_cluster import LocalCluster
from tests.s3api.conftest import BUCKET, Setup, boto, worker_s3


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("s3auth")
    (root / BUCKET).mkdir()
    (root / BUCKET / "f.txt").write_bytes(b"signed only\n")
    with LocalCluster(str(root), workers=1, settings={"s3_credentials": "AKID:s3cr3t"}) as c:
        yield c


def get(url: str) -> tuple:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_unsigned_requests_are_served_by_default(local_setup: Setup) -> None:
    status, body = get(f"{local_setup.endpoint}/{BUCKET}/dir/small.txt")
    assert (status, body) == (200, b"hello s3\n")
    # Any credentials: the signature is not checked.
    s3 = boto(local_setup.endpoint, key="anyone", secret="anything")
    assert s3.get_object(Bucket=BUCKET, Key="dir/small.txt")["Body"].read() == b"hello s3\n"


def test_sigv4_is_verified_when_credentials_are_configured(signed: LocalCluster) -> None:
    ep = "http://" + signed.s3_hosts
    assert boto(ep, "AKID", "s3cr3t").get_object(Bucket=BUCKET, Key="f.txt")["Body"].read() == (
        b"signed only\n"
    )
    fs = fsspec.filesystem(
        "s3", endpoint_url=ep, key="AKID", secret="s3cr3t", skip_instance_cache=True
    )
    assert fs.cat_file(f"{BUCKET}/f.txt") == b"signed only\n"
    for key, secret, code in [
        ("AKID", "wrong", "SignatureDoesNotMatch"),
        ("OTHER", "s3cr3t", "InvalidAccessKeyId"),
    ]:
        with pytest.raises(ClientError) as e:
            boto(ep, key, secret).get_object(Bucket=BUCKET, Key="f.txt")
        assert e.value.response["Error"]["Code"] == code
    status, body = get(f"{ep}/{BUCKET}/f.txt")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body and b"signed only" not in body


def test_ufs_info_is_the_mount_table(local_setup: Setup, s3_setup: Setup) -> None:
    rest = f"http://127.0.0.1:{local_setup.cluster.ports[0]}"
    status, body = get(f"{rest}/v1/ufsInfo")
    root = local_setup.ufs_root
    assert status == 200 and json.loads(body) == {root + "/": {"alluxio_path": "/"}}
    rest = f"http://127.0.0.1:{s3_setup.cluster.ports[0]}"
    table = json.loads(get(f"{rest}/v1/ufsInfo")[1])
    entry = table[s3_setup.ufs_root + "/"]
    assert entry["alluxio_path"] == "/" and entry["endpoint"].startswith("http://")
    assert "access_key" not in entry and "secret_key" not in entry


def test_ufs_info_hands_out_credentials_only_when_asked(s3_moto: str, tmp_path: Path) -> None:
    s3 = fsspec.filesystem("s3", endpoint_url=s3_moto, key="testing", secret="testing")
    if not s3.exists("ufsinfo"):
        s3.mkdir("ufsinfo")
    with LocalCluster(
        "s3://ufsinfo", workers=1, s3=worker_s3(s3_moto), settings={"ufs_info_credentials": True}
    ) as c:
        table = json.loads(get(f"http://127.0.0.1:{c.ports[0]}/v1/ufsInfo")[1])
    assert table["s3://ufsinfo/"] == {
        "alluxio_path": "/",
        "endpoint": s3_moto,
        "region": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
    }
