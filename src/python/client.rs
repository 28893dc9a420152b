//! `alluxiofs._core.Client`: configuration plus the process-wide client core
//! (membership, ring, HTTP pool, concurrency limit) for that configuration.

use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::aio::{self, Out};
use super::blocking::{run_as, run_blocking, run_blocking_small};
use super::client_io;
use super::config;
use super::convert::{fsspec_dict, status_dict, worker_dict};
use super::errors::to_pyerr;
use super::read_many;
use super::upload::PyUpload;
use crate::client::process::exec::Run;
use crate::client::process::{runtime, stale};
use crate::client::ClientCore;
use crate::config::ClientConfig;

/// The native client. Picklable: it is rebuilt from its arguments.
#[pyclass(name = "Client", module = "alluxiofs._core", frozen)]
pub struct PyClient {
    config: ClientConfig,
    /// The constructor's keyword arguments, for pickling and `repr`.
    kwargs: Py<PyDict>,
    /// The core of the process that resolved it (rebuilt after fork).
    core: stale::Slot<u32, Arc<ClientCore>>,
}

impl PyClient {
    /// The core of this process. Resolved with the GIL released: building it
    /// may log through Python, and a thread holding the GIL while it waits
    /// for one of our locks would otherwise deadlock with it.
    fn core(&self, py: Python<'_>) -> PyResult<Arc<ClientCore>> {
        py.detach(|| self.core_detached()).map_err(to_pyerr)
    }

    fn core_detached(&self) -> crate::error::Result<Arc<ClientCore>> {
        // Inherited across fork: its tasks and sockets belong to a runtime
        // that does not exist here, so it is forgotten, never dropped.
        stale::get_or_rebuild(&self.core, std::process::id(), || {
            runtime::current().and_then(|s| s.client(&self.config))
        })
    }

    fn ring(&self, py: Python<'_>) -> PyResult<Arc<crate::Ring>> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.membership().ring().await })
    }
}

#[pymethods]
impl PyClient {
    /// Validates the configuration; starts nothing (membership starts on first use).
    #[new]
    #[pyo3(signature = (**kwargs))]
    fn new(py: Python<'_>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let (input, kept) = config::input_from_kwargs(py, "Client", kwargs)?;
        let config = ClientConfig::from_input(&input).map_err(to_pyerr)?;
        Ok(Self {
            config,
            kwargs: kept.unbind(),
            core: stale::Slot::default(),
        })
    }

    /// Page size in bytes.
    #[getter]
    fn page_size(&self) -> u64 {
        self.config.page_size
    }

    /// Whether the node-shared local cache is configured.
    #[getter]
    fn local_cache(&self) -> bool {
        self.config.local_cache.is_some()
    }

    /// Virtual nodes per worker on the ring.
    #[getter]
    fn virtual_nodes(&self) -> u32 {
        self.config.virtual_nodes
    }

    /// The Alluxio cluster name (etcd prefix).
    #[getter]
    fn cluster_name(&self) -> &str {
        &self.config.cluster_name
    }

    /// Current workers: `[{"host", "http_port", "identity"}]`.
    fn workers<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.ring(py)?
            .workers()
            .iter()
            .map(|w| worker_dict(py, w))
            .collect()
    }

    /// Fraction of the hash space each current worker owns, in `workers()` order.
    fn shares(&self, py: Python<'_>) -> PyResult<Vec<f64>> {
        Ok(self.ring(py)?.shares())
    }

    /// The `n` workers owning `key` (a full UFS path, used verbatim), in ring order.
    #[pyo3(signature = (key, n=1))]
    fn locate<'py>(&self, py: Python<'py>, key: &str, n: i64) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n >= 1)
            .ok_or_else(|| PyValueError::new_err(format!("invalid n={n}: must be at least 1")))?;
        let ring = self.ring(py)?;
        ring.get_multiple(key, n)
            .into_iter()
            .map(|w| worker_dict(py, w))
            .collect()
    }

    /// Status of `path` from its worker (`fsspec=True`: with the fsspec
    /// `name`/`size` keys, see `fsspec_dict`).
    #[pyo3(signature = (path, fsspec=false))]
    fn info<'py>(
        &self,
        py: Python<'py>,
        path: String,
        fsspec: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let core = self.core(py)?;
        let st = run_blocking_small(py, async move { core.info(&path).await })?;
        if fsspec {
            fsspec_dict(py, &st)
        } else {
            status_dict(py, &st)
        }
    }

    /// Entries of the directory `path` (or the file itself); `fsspec` as for `info`.
    #[pyo3(signature = (path, fsspec=false))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        path: String,
        fsspec: bool,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        super::listing::list(py, &self.core(py)?, path, fsspec)
    }

    /// Bytes `[start, end)` of `path` (negative values count from the end,
    /// `end=None` reads to EOF). `size` skips asking for the file size.
    #[pyo3(signature = (path, start=0, end=None, size=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        client_io::read(py, &self.core(py)?, path, start, end, size)
    }

    /// Reads from `offset` into `length` bytes at `address` (see
    /// `AlluxioFile.readinto`); returns the count.
    #[pyo3(signature = (path, offset, address, length, size=None))]
    fn readinto_address(
        &self,
        py: Python<'_>,
        path: &str,
        offset: u64,
        address: usize,
        length: usize,
        size: Option<u64>,
    ) -> PyResult<usize> {
        client_io::readinto_address(py, &self.core(py)?, path, offset, address, length, size)
    }

    /// Many reads concurrently: `[(path, start, end, size_or_None)]` →
    /// `bytes` or the exception each raised.
    fn read_many(
        &self,
        py: Python<'_>,
        requests: Vec<(String, i64, Option<i64>, Option<u64>)>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        read_many::read_many(py, &self.core(py)?, requests)
    }

    /// Creates or replaces the file `path` with `data`.
    fn write(&self, py: Python<'_>, path: &str, data: &[u8]) -> PyResult<()> {
        client_io::write(py, &self.core(py)?, path, data)
    }

    /// Creates a directory with its parents.
    fn mkdir(&self, py: Python<'_>, path: String) -> PyResult<()> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.mkdir(&path).await })
    }

    /// Creates an empty file if none exists.
    fn touch(&self, py: Python<'_>, path: String) -> PyResult<()> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.touch(&path).await })
    }

    /// Removes a file, or a directory tree with `recursive`.
    #[pyo3(signature = (path, recursive=false))]
    fn remove(&self, py: Python<'_>, path: String, recursive: bool) -> PyResult<()> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.remove(&path, recursive).await })
    }

    /// Renames `src` to `dst`.
    fn rename(&self, py: Python<'_>, src: String, dst: String) -> PyResult<()> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.rename(&src, &dst).await })
    }

    /// Copies `src` to `dst`.
    #[pyo3(signature = (src, dst, recursive=false))]
    fn copy(&self, py: Python<'_>, src: String, dst: String, recursive: bool) -> PyResult<()> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.copy(&src, &dst, recursive).await })
    }

    /// `read` as an awaitable: resolves to `bytes`.
    #[pyo3(signature = (path, start=0, end=None, size=None))]
    fn read_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(py, async move {
            let data = core.reader().read_slice(&path, start, end, size).await?;
            Ok(Out::Bytes(data))
        })
    }

    /// `info` as an awaitable.
    #[pyo3(signature = (path, fsspec=false))]
    fn info_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        fsspec: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(py, async move {
            Ok(Out::Status(Box::new(core.info(&path).await?), fsspec))
        })
    }

    /// `list` as an awaitable.
    #[pyo3(signature = (path, fsspec=false))]
    fn list_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        fsspec: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(py, async move {
            Ok(Out::Statuses(core.list(&path).await?, fsspec))
        })
    }

    /// `write` as an awaitable (the bytes are copied first).
    fn write_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        data: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        let data = bytes::Bytes::copy_from_slice(data);
        aio::awaitable(py, async move {
            core.write(&path, data).await.map(|()| Out::Unit)
        })
    }

    /// `mkdir` as an awaitable.
    fn mkdir_async<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(
            py,
            async move { core.mkdir(&path).await.map(|()| Out::Unit) },
        )
    }

    /// `remove` as an awaitable.
    #[pyo3(signature = (path, recursive=false))]
    fn remove_async<'py>(
        &self,
        py: Python<'py>,
        path: String,
        recursive: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(py, async move {
            core.remove(&path, recursive).await.map(|()| Out::Unit)
        })
    }

    /// `copy` as an awaitable.
    #[pyo3(signature = (src, dst, recursive=false))]
    fn copy_async<'py>(
        &self,
        py: Python<'py>,
        src: String,
        dst: String,
        recursive: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.core(py)?;
        aio::awaitable(py, async move {
            core.copy(&src, &dst, recursive).await.map(|()| Out::Unit)
        })
    }

    /// Starts a streamed write of `path` (created or replaced when the
    /// upload finishes): pieces go to the owning worker as they are written.
    fn start_upload(&self, py: Python<'_>, path: String) -> PyResult<PyUpload> {
        let core = self.core(py)?;
        let p = path.clone();
        let up = run_blocking(py, async move { core.start_upload(&p).await })?;
        Ok(PyUpload::new(up, path))
    }

    /// Drops the cached pages of the file or tree `path` from every worker
    /// (the under storage is untouched); returns how many workers were asked.
    fn free(&self, py: Python<'_>, path: String) -> PyResult<usize> {
        let core = self.core(py)?;
        run_blocking(py, async move { core.free(&path).await })
    }

    /// A load-job call (`op` = submit, progress or stop) on the owner of `path`;
    /// returns the worker's JSON answer as a dict.
    fn load(&self, py: Python<'_>, path: String, op: String) -> PyResult<Py<PyAny>> {
        if !matches!(op.as_str(), "submit" | "progress" | "stop") {
            return Err(PyValueError::new_err(format!(
                "invalid op={op:?}: expected submit, progress or stop"
            )));
        }
        let core = self.core(py)?;
        let v = run_blocking(py, async move { core.load_op(&path, &op).await })?;
        let json = py.import("json")?;
        Ok(json.call_method1("loads", (v.to_string(),))?.unbind())
    }

    /// Counters of this configuration in this process.
    /// The size of `path` as the local cache knows it (see
    /// `ClientCore::local_size`).
    fn local_size(&self, py: Python<'_>, path: String) -> PyResult<u64> {
        let core = self.core(py)?;
        run_as(py, Run::Inline, async move { core.local_size(&path).await })
    }

    /// Fetches the pages of `path` (those holding `[start, end)`, all by
    /// default) missing from the local cache into it, unless the file is
    /// bigger than `allowance` bytes; returns `(size, bytes fetched, done)`.
    #[pyo3(signature = (path, allowance, start = 0, end = None))]
    fn warm_local(
        &self,
        py: Python<'_>,
        path: String,
        allowance: u64,
        start: u64,
        end: Option<u64>,
    ) -> PyResult<(u64, u64, bool)> {
        let core = self.core(py)?;
        let end = end.unwrap_or(u64::MAX);
        let w = run_blocking(py, async move {
            core.warm_local_range(&path, allowance, start, end).await
        })?;
        Ok((w.size, w.fetched, w.done))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.core(py)?.stats.snapshot() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<((), Bound<'py, PyDict>)> {
        Ok(((), self.kwargs.bind(py).copy()?))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self._repr_as(py, "Client")
    }

    /// `name(key=value, ...)`: the `repr` of a wrapper (`AlluxioClient`),
    /// secrets masked.
    fn _repr_as(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        config::repr_kwargs(name, self.kwargs.bind(py))
    }
}
