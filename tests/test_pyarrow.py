"""PyArrow over alluxiofs against ``local-cluster``: ``pyarrow.dataset``,
``pyarrow.parquet.read_table`` and ``PyFileSystem(FSSpecHandler(fs))``, each
compared with reading the same files from local disk.

The data (a single Parquet file and a hive-partitioned directory) is written
here into a temp dir, and a cluster of its own (private etcd, three workers,
64 KiB pages so that the files span many pages) serves it; the filesystem's
under storage is the local disk (``target_protocol="file"``), so local paths
are the scheme-less paths the filesystem resolves.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import FileSelector, FileType, FSSpecHandler, LocalFileSystem, PyFileSystem

from alluxiofs import AlluxioFileSystem
from alluxiofs.local_cluster import LocalCluster
from tests.conftest import PAGE

ROWS = 20_000


def _table(rows: int, seed: int) -> pa.Table:
    rnd = random.Random(seed)
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "x": pa.array([rnd.random() for _ in range(rows)], pa.float64()),
            "s": pa.array([f"v{rnd.randrange(7)}" for _ in range(rows)], pa.string()),
            "blob": pa.array([rnd.randbytes(rnd.randrange(0, 40)) for _ in range(rows)]),
            "year": pa.array([2020 + i % 3 for i in range(rows)], pa.int32()),
            "kind": pa.array(["ab"[i % 2] for i in range(rows)], pa.string()),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``single.parquet`` (several row groups, many pages) and
    ``hive/year=Y/kind=K/part-0.parquet``."""
    root = tmp_path_factory.mktemp("pyarrow-ufs")
    pq.write_table(_table(ROWS, 1), root / "single.parquet", row_group_size=6_000)
    pq.write_to_dataset(
        _table(ROWS // 2, 2),
        str(root / "hive"),
        partition_cols=["year", "kind"],
        basename_template="part-{i}.parquet",
    )
    assert (root / "single.parquet").stat().st_size > 4 * PAGE
    return root


@pytest.fixture(scope="module")
def fs(data: Path) -> Iterator[AlluxioFileSystem]:
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    with LocalCluster(str(data), workers=3, start_etcd=True, page_size=str(PAGE)) as cluster:
        afs = AlluxioFileSystem(
            etcd_hosts=cluster.etcd_hosts,
            target_protocol="file",
            options={"alluxio.worker.page.store.page.size": str(PAGE)},
            skip_instance_cache=True,
        )
        yield afs
        # Everything above was served by the workers, nothing by the local disk.
        stats = afs.stats()
        assert stats["fallbacks"] == 0, stats
        assert stats["bytes_from_ufs"] == 0, stats


def _served_by_workers(fs: AlluxioFileSystem) -> None:
    stats = fs.stats()
    assert stats["fallbacks"] == 0, stats
    assert stats["bytes_from_workers"] > 0, stats


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([("id", "ascending")])


# ── pyarrow.dataset ──


def test_dataset_single_file(fs: AlluxioFileSystem, data: Path) -> None:
    path = str(data / "single.parquet")
    got = ds.dataset(path, filesystem=fs)
    want = ds.dataset(path)

    assert got.files == want.files == [path]
    assert got.count_rows() == want.count_rows() == ROWS
    assert got.schema == want.schema
    rows = [0, 1, 5_999, 6_000, 12_345, ROWS - 1]
    assert got.take(rows).equals(want.take(rows))
    assert got.to_table().equals(want.to_table())

    expr = (ds.field("x") > 0.25) & (ds.field("s") == "v3")
    assert got.count_rows(filter=expr) == want.count_rows(filter=expr) > 0
    assert got.to_table(filter=expr, columns=["id", "blob"]).equals(
        want.to_table(filter=expr, columns=["id", "blob"])
    )
    # Row groups skipped by their statistics: only the last one has id >= 18000.
    late = ds.field("id") >= 18_000
    assert got.to_table(filter=late).equals(want.to_table(filter=late))
    _served_by_workers(fs)


def test_dataset_hive_partitioned(fs: AlluxioFileSystem, data: Path) -> None:
    path = str(data / "hive")
    got = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    want = ds.dataset(path, format="parquet", partitioning="hive")

    assert sorted(got.files) == sorted(want.files)
    assert len(got.files) == 6
    assert got.schema == want.schema
    assert {"year", "kind"} <= set(got.schema.names)
    assert got.count_rows() == want.count_rows() == ROWS // 2
    assert _sorted(got.to_table()).equals(_sorted(want.to_table()))

    # A filter on partition keys prunes files; one on data columns is pushed down.
    by_partition = (ds.field("year") == 2021) & (ds.field("kind") == "b")
    by_data = ds.field("x") < 0.1
    for expr in (by_partition, by_data, by_partition & by_data):
        assert got.count_rows(filter=expr) == want.count_rows(filter=expr) > 0
        assert _sorted(got.to_table(filter=expr)).equals(_sorted(want.to_table(filter=expr)))
    assert [f.path for f in got.get_fragments(filter=by_partition)] == [
        f.path for f in want.get_fragments(filter=by_partition)
    ]

    # take() indexes the dataset in file order, which is the same on both sides.
    assert got.files == want.files
    rows = [0, 1, 100, ROWS // 2 - 1]
    assert got.take(rows).equals(want.take(rows))
    _served_by_workers(fs)


# ── pyarrow.parquet ──


def test_read_table(fs: AlluxioFileSystem, data: Path) -> None:
    single = str(data / "single.parquet")
    assert pq.read_table(single, filesystem=fs).equals(pq.read_table(single))
    assert pq.read_table(single, filesystem=fs, columns=["s", "id"]).equals(
        pq.read_table(single, columns=["s", "id"])
    )
    hive = str(data / "hive")
    got = pq.read_table(hive, filesystem=fs, filters=[("year", "=", 2022), ("x", ">", 0.5)])
    want = pq.read_table(hive, filters=[("year", "=", 2022), ("x", ">", 0.5)])
    assert got.num_rows > 0
    assert _sorted(got).equals(_sorted(want))
    assert _sorted(pq.read_table(hive, filesystem=fs)).equals(_sorted(pq.read_table(hive)))

    meta = pq.ParquetFile(single, filesystem=fs).metadata
    assert meta.to_dict() == pq.ParquetFile(single).metadata.to_dict()
    assert meta.num_row_groups == 4
    _served_by_workers(fs)


# ── PyFileSystem(FSSpecHandler(fs)) ──


def _read_ops(f: Any, size: int) -> List[Any]:
    """The same calls on an Arrow input file; returns what each gave."""
    out: List[Any] = [f.size(), f.tell(), f.read(10)]
    out.append(f.seek(PAGE - 7))
    out += [f.tell(), f.read(100), f.tell()]  # across a page boundary
    # (PyArrow's PythonFile implements read_at as seek + read, so the position
    # after it is not compared: it differs from a native file on any fsspec fs.)
    out.append(f.read_at(2 * PAGE + 5, 50))
    out.append(f.read_at(PAGE // 2, 3 * PAGE))
    out.append(f.read_at(size - 10, 100))  # short at the end
    out.append(f.read_at(size, 10))  # at the end: empty
    f.seek(-16, 2)
    out += [f.tell(), f.read()]
    f.seek(0)
    out.append(f.read())
    out.append(f.read())  # at the end: empty
    return out


def test_pyfilesystem_open_input_file(fs: AlluxioFileSystem, data: Path) -> None:
    path = str(data / "single.parquet")
    size = (data / "single.parquet").stat().st_size
    py_fs = PyFileSystem(FSSpecHandler(fs))
    with py_fs.open_input_file(path) as f:
        got = _read_ops(f, size)
    with LocalFileSystem().open_input_file(path) as f:
        want = _read_ops(f, size)
    assert got == want
    assert got[-2] == (data / "single.parquet").read_bytes()

    with py_fs.open_input_stream(path) as s:
        assert s.read() == (data / "single.parquet").read_bytes()
    with pytest.raises(FileNotFoundError):
        py_fs.open_input_file(str(data / "missing.parquet"))
    _served_by_workers(fs)


def _info(i: Any) -> Tuple[str, FileType, Any]:
    return (i.path, i.type, i.size if i.type == FileType.File else None)


def test_pyfilesystem_get_file_info(fs: AlluxioFileSystem, data: Path) -> None:
    py_fs = PyFileSystem(FSSpecHandler(fs))
    local = LocalFileSystem()
    paths = [
        str(data / "single.parquet"),
        str(data / "hive"),
        str(data / "hive" / "year=2020" / "kind=a" / "part-0.parquet"),
        str(data / "nothing-here"),
    ]
    got = py_fs.get_file_info(paths)
    want = local.get_file_info(paths)
    assert [_info(i) for i in got] == [_info(i) for i in want]
    assert [i.type for i in got] == [
        FileType.File,
        FileType.Directory,
        FileType.File,
        FileType.NotFound,
    ]
    # Modification times agree to the millisecond Alluxio keeps.
    for g, w in zip(got[:1] + got[2:3], want[:1] + want[2:3]):
        assert abs((g.mtime - w.mtime).total_seconds()) < 0.002, (g, w)

    one = py_fs.get_file_info(str(data / "single.parquet"))
    size = (data / "single.parquet").stat().st_size
    assert _info(one) == (str(data / "single.parquet"), FileType.File, size)


def test_pyfilesystem_get_file_info_selector(fs: AlluxioFileSystem, data: Path) -> None:
    py_fs = PyFileSystem(FSSpecHandler(fs))
    local = LocalFileSystem()

    def listing(filesystem: Any, **kwargs: Any) -> Dict[str, Tuple[str, FileType, Any]]:
        infos = filesystem.get_file_info(FileSelector(str(data / "hive"), **kwargs))
        return {i.path: _info(i) for i in infos}

    got = listing(py_fs, recursive=True)
    want = listing(local, recursive=True)
    assert got == want
    assert len(got) == 3 + 6 + 6  # year dirs, kind dirs, files
    assert sum(1 for _, t, _ in got.values() if t == FileType.File) == 6

    assert listing(py_fs, recursive=False) == listing(local, recursive=False)
    missing = FileSelector(str(data / "nothing-here"), allow_not_found=True)
    assert py_fs.get_file_info(missing) == []
    with pytest.raises(FileNotFoundError):
        py_fs.get_file_info(FileSelector(str(data / "nothing-here")))
