"""S3 clients nobody here wrote read our cluster through the worker's S3
API, over a local and an S3 (moto) under storage, byte for byte: boto3,
s3fs, PyArrow's ``S3FileSystem`` (a partitioned Parquet dataset) and obstore
(Rust ``object_store``). Plus: a page cached through the S3 API is a hit for
the REST API, errors are S3's, and writes land in the under storage."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Dict, List

import fsspec
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from tests.s3api.conftest import BUCKET, Setup, boto


def test_boto3_reads_lists_and_writes(setup: Setup) -> None:
    s3 = boto(setup.endpoint)
    assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=BUCKET)
    for rel, data in setup.files.items():
        assert s3.get_object(Bucket=BUCKET, Key=rel)["Body"].read() == data, rel
        assert s3.head_object(Bucket=BUCKET, Key=rel)["ContentLength"] == len(data)
    big = setup.files["dir/big.bin"]
    for rng, want in [
        ("bytes=0-0", big[:1]),
        ("bytes=65530-65545", big[65530:65546]),  # across a page boundary
        ("bytes=100-", big[100:]),
        ("bytes=-7", big[-7:]),
        ("bytes=327000-999999", big[327000:]),  # past the end: clipped
    ]:
        r = s3.get_object(Bucket=BUCKET, Key="dir/big.bin", Range=rng)
        assert r["Body"].read() == want, rng
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert r["ContentRange"].endswith(f"/{len(big)}")
    # Paging through a listing with continuation tokens.
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, PaginationConfig={"PageSize": 3}
    )
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == sorted(setup.files, key=lambda k: k.encode())
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["dir/big.bin", "dir/empty.bin", "dir/small.txt"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"]
    v1 = s3.list_objects(Bucket=BUCKET, Prefix="many/", MaxKeys=4)
    assert len(v1["Contents"]) == 4 and v1["IsTruncated"]
    for call, code in [
        (lambda: s3.get_object(Bucket=BUCKET, Key="nope"), "NoSuchKey"),
        (lambda: s3.get_object(Bucket="nobucket", Key="x"), "NoSuchKey"),
        (lambda: s3.list_objects_v2(Bucket="nobucket"), "NoSuchBucket"),
        (
            lambda: s3.get_object(Bucket=BUCKET, Key="dir/big.bin", Range="bytes=999999-"),
            "InvalidRange",
        ),
        (lambda: s3.get_bucket_acl(Bucket=BUCKET), "NotImplemented"),
        (lambda: s3.create_multipart_upload(Bucket=BUCKET, Key="m"), "NotImplemented"),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == code
    s3.put_object(Bucket=BUCKET, Key="written/p.bin", Body=b"put" * 1000)
    assert s3.get_object(Bucket=BUCKET, Key="written/p.bin")["Body"].read() == b"put" * 1000
    s3.delete_object(Bucket=BUCKET, Key="written/p.bin")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="written/p.bin")


def test_s3fs(setup: Setup) -> None:
    fs = fsspec.filesystem(
        "s3", endpoint_url=setup.endpoint, key="x", secret="y", skip_instance_cache=True
    )
    assert sorted(fs.find(BUCKET)) == sorted(f"{BUCKET}/{k}" for k in setup.files)
    assert fs.ls(f"{BUCKET}/dir", detail=False) == [
        f"{BUCKET}/dir/big.bin",
        f"{BUCKET}/dir/empty.bin",
        f"{BUCKET}/dir/small.txt",
        f"{BUCKET}/dir/sub",
    ]
    assert fs.isdir(f"{BUCKET}/dir/sub") and fs.isfile(f"{BUCKET}/dir/big.bin")
    big = setup.files["dir/big.bin"]
    assert fs.cat_file(f"{BUCKET}/dir/big.bin") == big
    assert fs.cat_file(f"{BUCKET}/dir/big.bin", start=-4) == big[-4:]
    with fs.open(f"{BUCKET}/dir/big.bin", block_size=1000) as f:
        f.seek(70000)
        assert f.read(9000) == big[70000:79000]
    assert fs.cat_file(f"{BUCKET}/name with space+plus.txt") == b"odd name\n"


def test_pyarrow_s3filesystem_reads_a_partitioned_dataset(setup: Setup) -> None:
    host = setup.endpoint[len("http://") :]
    s3 = pafs.S3FileSystem(
        endpoint_override=host, scheme="http", access_key="x", secret_key="y", region="us-east-1"
    )
    ds = pads.dataset(f"{BUCKET}/tables/hive", filesystem=s3, partitioning="hive")
    got = ds.to_table().sort_by("x")
    want = pa_concat(setup)
    assert (
        got.column("x").to_pylist() == want["x"] and got.column("year").to_pylist() == want["year"]
    )
    table = pq.read_table(f"{BUCKET}/tables/hive/year=2024/part-0.parquet", filesystem=s3)
    assert table.num_rows == 30
    with s3.open_input_file(f"{BUCKET}/dir/big.bin") as f:
        assert f.read() == setup.files["dir/big.bin"]
    infos = s3.get_file_info(pafs.FileSelector(f"{BUCKET}/dir", recursive=True))
    assert {i.path for i in infos if i.type == pafs.FileType.File} == {
        f"{BUCKET}/dir/{k}" for k in ("big.bin", "small.txt", "empty.bin", "sub/deep.bin")
    }


def pa_concat(setup: Setup) -> Dict[str, List[int]]:
    import io

    rows = []
    for year in (2023, 2024):
        t = pq.read_table(io.BytesIO(setup.files[f"tables/hive/year={year}/part-0.parquet"]))
        rows += [(x, year) for x in t.column("x").to_pylist()]
    rows.sort()
    return {"x": [r[0] for r in rows], "year": [r[1] for r in rows]}


def test_obstore(setup: Setup) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        BUCKET,
        endpoint=setup.endpoint,
        access_key_id="x",
        secret_access_key="y",
        region="us-east-1",
        client_options={"allow_http": True},
    )
    listed = sorted(o["path"] for o in obstore.list(store).collect())
    assert listed == sorted(setup.files)
    big = setup.files["dir/big.bin"]
    assert bytes(obstore.get(store, "dir/big.bin").bytes()) == big
    assert (
        bytes(obstore.get_range(store, "dir/big.bin", start=70000, end=200000)) == big[70000:200000]
    )
    ranges = obstore.get_ranges(store, "dir/big.bin", starts=[0, 100000], ends=[10, 100010])
    assert [bytes(r) for r in ranges] == [big[:10], big[100000:100010]]


def test_pages_cached_by_either_api_serve_the_other(setup: Setup) -> None:
    """A file read through the S3 API is cached on the worker asked; the
    REST API of that worker reports it cached and serves it."""
    rel = "dir/sub/deep.bin"
    url = f"{setup.ufs_root}/{BUCKET}/{rel}"
    s3_host = setup.endpoint[len("http://") :]
    i = setup.cluster.s3_hosts.split(",").index(s3_host)
    rest = f"http://127.0.0.1:{setup.cluster.ports[i]}"

    def cached() -> int:
        with urllib.request.urlopen(f"{rest}/v1/info?path={urllib.parse.quote(url)}") as r:
            pct: int = json.loads(r.read())[0]["mInAlluxioPercentage"]
            return pct

    boto(setup.endpoint).get_object(Bucket=BUCKET, Key=rel)["Body"].read()
    assert cached() == 100
