"""Configuration: the seed's arguments, defaults, and errors that name the bad value."""

from __future__ import annotations

import logging
import pickle
import warnings

import cloudpickle
import fsspec
import pytest

from alluxiofs import AlluxioFileSystem
from alluxiofs.client import AlluxioClient

SEED_OPTIONS = {
    "alluxio.worker.page.store.page.size": "20MB",
    "alluxio.user.worker.selection.policy.consistent.hash.virtual.node.count.per.worker": "5",
}


def test_seed_advanced_arguments_construct_without_network() -> None:
    # The seed's examples, verbatim: nothing is contacted at construction.
    client = AlluxioClient(etcd_hosts="host1,host2,host3", etcd_port=8888, options=SEED_OPTIONS)
    assert client.page_size == 20 * 1024 * 1024
    fs = fsspec.filesystem(
        "alluxiofs", etcd_hosts="localhost", target_protocol="file", options=SEED_OPTIONS
    )
    assert fs.client.page_size == 20 * 1024 * 1024
    assert fs.client.cluster_name == "DefaultAlluxioCluster"


def test_defaults() -> None:
    c = AlluxioClient(worker_hosts="w1")
    assert c.page_size == 1024 * 1024
    assert c._core.virtual_nodes == 5


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "one of etcd_hosts or worker_hosts"),
        ({"etcd_hosts": "a", "worker_hosts": "b"}, "not both"),
        ({"etcd_hosts": "a", "etcd_port": 0}, 'etcd_port="0"'),
        ({"etcd_hosts": "a", "etcd_port": "http"}, 'etcd_port="http"'),
        ({"etcd_hosts": "a:99999"}, 'etcd_hosts="a:99999"'),
        ({"etcd_hosts": "a,,b"}, 'etcd_hosts="a,,b"'),
        ({"worker_hosts": "w", "worker_http_port": -1}, 'worker_http_port="-1"'),
        (
            {"worker_hosts": "w", "options": {"alluxio.worker.page.store.page.size": "1XB"}},
            "alluxio.worker.page.store.page.size",
        ),
        (
            {
                "worker_hosts": "w",
                "options": {"alluxio.user.consistent.hash.virtual.node.count.per.worker": "many"},
            },
            '"many"',
        ),
        ({"worker_hosts": "w", "page_size": "0"}, "page_size"),
        ({"etcd_hosts": "a", "etcd_username": "root"}, "together"),
        ({"worker_hosts": "w", "options": ["not", "a", "dict"]}, "options="),
        ({"worker_hosts": "w", "etcd_port": True}, "etcd_port"),
    ],
)
def test_bad_values_raise_value_error(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError) as e:
        AlluxioClient(**kwargs)
    assert needle in str(e.value)


def test_unknown_alluxio_option_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    c = AlluxioClient(worker_hosts="w", options={"alluxio.not.a.real.key": "1"})
    assert c.page_size == 1024 * 1024
    assert any("alluxio.not.a.real.key" in r.getMessage() for r in caplog.records)


def test_unknown_keyword_is_a_type_error_for_the_client() -> None:
    with pytest.raises(TypeError, match="etcd_hostz"):
        AlluxioClient(etcd_hostz="a")  # type: ignore[call-arg]


def test_the_filesystem_warns_once_on_unknown_keywords_and_takes_fsspecs() -> None:
    # Clients (Hugging Face datasets, zarr) put keys of their own in
    # storage_options: one warning per name, then ignored.
    with pytest.warns(UserWarning, match="'bogus_key_1'"):
        fs = AlluxioFileSystem(worker_hosts="w", bogus_key_1=1, skip_instance_cache=True)
    assert fs.client.page_size == 1024 * 1024
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AlluxioFileSystem(worker_hosts="w", bogus_key_1=2, skip_instance_cache=True)
        # fsspec's generic keywords are no surprise; asynchronous=True
        # asks for the async API (tests/test_async.py).
        for a in (False, True):
            fs = AlluxioFileSystem(
                worker_hosts="w", asynchronous=a, loop=None, skip_instance_cache=True
            )
            assert fs.async_impl is a


def test_fallback_arguments_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        AlluxioFileSystem(worker_hosts="w", target_protocol="file", fs=fsspec.filesystem("memory"))
    fs = AlluxioFileSystem(worker_hosts="w", fs=fsspec.filesystem("memory"))
    assert fs.target_protocol == "memory"


def test_pickle_round_trips() -> None:
    c = AlluxioClient(worker_hosts="worker1,worker2", etcd_password=None, options=SEED_OPTIONS)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        c2 = loads(dumps(c))
        assert c2.page_size == c.page_size
        assert c2.locate("s3://b/k", 2) == c.locate("s3://b/k", 2)
        core2 = loads(dumps(c._core))
        assert core2.locate("s3://b/k") == c._core.locate("s3://b/k")
    fs = AlluxioFileSystem(worker_hosts="worker1,worker2", skip_instance_cache=True)
    fs2 = cloudpickle.loads(cloudpickle.dumps(fs))
    assert fs2.locate("s3://b/k") == fs.locate("s3://b/k")


def test_repr_hides_password() -> None:
    c = AlluxioClient(etcd_hosts="a", etcd_username="u", etcd_password="secret")
    assert "secret" not in repr(c) and "secret" not in repr(c._core)


def test_to_json_and_repr_never_show_a_secret() -> None:
    fs = AlluxioFileSystem(
        etcd_hosts="127.0.0.1:1",
        etcd_username="u",
        etcd_password="pw-etcd-123",
        target_protocol="memory",
        target_options={},
        skip_instance_cache=True,
    )
    s3 = AlluxioFileSystem(
        worker_hosts="w",
        target_protocol="s3",
        target_options={"key": "id", "secret": "pw-etcd-123"},
        skip_instance_cache=True,
    )
    for f in (fs, s3):
        for text in (f.to_json(), f.to_json(include_password=False), repr(f), str(f.to_dict())):
            assert "pw-etcd-123" not in text
    assert fs.to_dict()["etcd_password"] == "***"
    assert fs.to_dict()["etcd_username"] == "u"
    assert s3.to_dict()["target_options"] == {"key": "id", "secret": "***"}


def test_sign_is_the_under_storages() -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    class Signing(MemoryFileSystem):  # type: ignore[misc]
        def sign(self, path: str, expiration: int = 100, **kwargs: object) -> str:
            return f"signed:{path}:{expiration}"

    fs = AlluxioFileSystem(worker_hosts="w", fs=Signing(), skip_instance_cache=True)
    assert fs.sign("bucket/key", expiration=7) == "signed:memory://bucket/key:7"
    plain = AlluxioFileSystem(worker_hosts="w", fs=MemoryFileSystem(), skip_instance_cache=True)
    with pytest.raises(NotImplementedError):
        plain.sign("bucket/key")
    with pytest.raises(NotImplementedError, match="target_protocol"):
        AlluxioFileSystem(worker_hosts="w", skip_instance_cache=True).sign("s3://b/k")
