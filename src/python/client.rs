//! `alluxiofs._core.Client`: configuration plus the shared membership/ring.

use std::sync::Arc;

use parking_lot::Mutex;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};

use super::blocking::run_blocking;
use super::errors::to_pyerr;
use crate::config::{ClientConfig, ConfigInput};
use crate::runtime::{self, MembershipSlot};
use crate::WorkerInfo;

/// The native client. Picklable: it is rebuilt from its arguments.
#[pyclass(name = "Client", module = "alluxiofs._core", frozen)]
pub struct PyClient {
    config: ClientConfig,
    /// The constructor's keyword arguments, for pickling and `repr`.
    kwargs: Py<PyDict>,
    /// Membership of the process that resolved it (rebuilt after fork).
    membership: Mutex<Option<(u32, Arc<MembershipSlot>)>>,
}

/// Text of a scalar argument: `str` as is, `int`/`float` via `str()`.
fn scalar(key: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if v.is_instance_of::<PyBool>() {
        return Err(PyValueError::new_err(format!(
            "invalid {key}={v}: expected a number or a string"
        )));
    }
    if v.is_instance_of::<PyString>()
        || v.is_instance_of::<PyInt>()
        || v.is_instance_of::<PyFloat>()
    {
        return Ok(Some(v.str()?.to_string()));
    }
    Err(PyValueError::new_err(format!(
        "invalid {key}={}: expected a string or a number, got {}",
        v.repr()?,
        v.get_type().name()?
    )))
}

fn options(v: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let d = v.cast::<PyDict>().map_err(|_| {
        PyValueError::new_err(format!(
            "invalid options={}: expected a dict",
            v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    })?;
    let mut out = Vec::with_capacity(d.len());
    for (k, val) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            PyValueError::new_err(format!("invalid options key {}: expected a string", k))
        })?;
        // Alluxio properties are strings; accept ints/bools as their text.
        let text = if val.is_instance_of::<PyBool>() {
            if val.is_truthy()? {
                "true".to_owned()
            } else {
                "false".to_owned()
            }
        } else {
            val.str()?.to_string()
        };
        out.push((key, text));
    }
    Ok(out)
}

fn worker_dict<'py>(py: Python<'py>, w: &WorkerInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("host", &w.address.host)?;
    d.set_item("http_port", w.address.http_server_port)?;
    d.set_item("identity", w.identity.hex())?;
    Ok(d)
}

impl PyClient {
    fn membership(&self) -> PyResult<Arc<MembershipSlot>> {
        let pid = std::process::id();
        let mut slot = self.membership.lock();
        if let Some((p, m)) = slot.as_ref() {
            if *p == pid {
                return Ok(m.clone());
            }
        }
        if let Some(stale) = slot.take() {
            // Inherited from the parent across fork: its task lives in a
            // runtime that does not exist here, so never drop (abort) it.
            std::mem::forget(stale);
        }
        let m = runtime::current()
            .map_err(to_pyerr)?
            .membership(&self.config);
        *slot = Some((pid, m.clone()));
        Ok(m)
    }
}

#[pymethods]
impl PyClient {
    /// Validates the configuration; starts nothing (membership starts on first use).
    #[new]
    #[pyo3(signature = (
        *,
        etcd_hosts=None,
        etcd_port=None,
        worker_hosts=None,
        worker_http_port=None,
        options=None,
        page_size=None,
        hash_node_per_worker=None,
        cluster_name=None,
        etcd_username=None,
        etcd_password=None,
        etcd_refresh_workers_interval=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        etcd_hosts: Option<&Bound<'_, PyAny>>,
        etcd_port: Option<&Bound<'_, PyAny>>,
        worker_hosts: Option<&Bound<'_, PyAny>>,
        worker_http_port: Option<&Bound<'_, PyAny>>,
        options: Option<&Bound<'_, PyAny>>,
        page_size: Option<&Bound<'_, PyAny>>,
        hash_node_per_worker: Option<&Bound<'_, PyAny>>,
        cluster_name: Option<&Bound<'_, PyAny>>,
        etcd_username: Option<&Bound<'_, PyAny>>,
        etcd_password: Option<&Bound<'_, PyAny>>,
        etcd_refresh_workers_interval: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let kwargs = PyDict::new(py);
        let named = [
            ("etcd_hosts", etcd_hosts),
            ("etcd_port", etcd_port),
            ("worker_hosts", worker_hosts),
            ("worker_http_port", worker_http_port),
            ("options", options),
            ("page_size", page_size),
            ("hash_node_per_worker", hash_node_per_worker),
            ("cluster_name", cluster_name),
            ("etcd_username", etcd_username),
            ("etcd_password", etcd_password),
            (
                "etcd_refresh_workers_interval",
                etcd_refresh_workers_interval,
            ),
        ];
        for (k, v) in named {
            if let Some(v) = v.filter(|v| !v.is_none()) {
                kwargs.set_item(k, v)?;
            }
        }
        let input = ConfigInput {
            etcd_hosts: scalar("etcd_hosts", etcd_hosts)?,
            etcd_port: scalar("etcd_port", etcd_port)?,
            worker_hosts: scalar("worker_hosts", worker_hosts)?,
            worker_http_port: scalar("worker_http_port", worker_http_port)?,
            options: self::options(options)?,
            page_size: scalar("page_size", page_size)?,
            hash_node_per_worker: scalar("hash_node_per_worker", hash_node_per_worker)?,
            cluster_name: scalar("cluster_name", cluster_name)?,
            etcd_username: scalar("etcd_username", etcd_username)?,
            etcd_password: scalar("etcd_password", etcd_password)?,
            etcd_refresh_workers_interval: scalar(
                "etcd_refresh_workers_interval",
                etcd_refresh_workers_interval,
            )?,
        };
        let config = ClientConfig::from_input(&input).map_err(to_pyerr)?;
        Ok(Self {
            config,
            kwargs: kwargs.unbind(),
            membership: Mutex::new(None),
        })
    }

    /// Page size in bytes.
    #[getter]
    fn page_size(&self) -> u64 {
        self.config.page_size
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
        let m = self.membership()?;
        let ring = run_blocking(py, async move { m.ring().await })?;
        ring.workers().iter().map(|w| worker_dict(py, w)).collect()
    }

    /// Fraction of the hash space each current worker owns, in `workers()` order.
    fn shares(&self, py: Python<'_>) -> PyResult<Vec<f64>> {
        let m = self.membership()?;
        let ring = run_blocking(py, async move { m.ring().await })?;
        Ok(ring.shares())
    }

    /// The `n` workers owning `key` (a full UFS path, used verbatim), in ring order.
    #[pyo3(signature = (key, n=1))]
    fn locate<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        n: usize,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        if n == 0 {
            return Err(PyValueError::new_err("invalid n=0: must be at least 1"));
        }
        let m = self.membership()?;
        let ring = run_blocking(py, async move { m.ring().await })?;
        ring.get_multiple(key, n)
            .into_iter()
            .map(|w| worker_dict(py, w))
            .collect()
    }

    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> ((), Bound<'py, PyDict>) {
        ((), self.kwargs.bind(py).copy().expect("dict copy"))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let kw = self.kwargs.bind(py);
        let mut parts = Vec::new();
        for (k, v) in kw.iter() {
            let key: String = k.extract()?;
            let shown = if key.contains("password") {
                "'***'".to_owned()
            } else {
                v.repr()?.to_string()
            };
            parts.push(format!("{key}={shown}"));
        }
        Ok(format!("Client({})", parts.join(", ")))
    }
}
