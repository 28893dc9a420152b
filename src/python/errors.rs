//! The one place Rust errors become Python exceptions: builtins first
//! (`ValueError`, `ConnectionError`, `PermissionError`, `TimeoutError`),
//! Alluxio-specific failures under `AlluxioError(OSError)`.
//!
//! Classes that are both Alluxio errors and builtin ones (e.g.
//! `EtcdConnectionError(EtcdError, ConnectionError)`) are built with
//! `type(...)` because `create_exception!` takes a single base.

use pyo3::exceptions::{
    PyConnectionError, PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyOSError,
    PyPermissionError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::error::{Error, TransportKind};

pyo3::create_exception!(
    alluxiofs._core,
    AlluxioError,
    PyOSError,
    "Base class of Alluxio-specific failures (an OSError)."
);
pyo3::create_exception!(
    alluxiofs._core,
    NoWorkersError,
    AlluxioError,
    "Membership is known but no Alluxio worker is registered."
);
pyo3::create_exception!(
    alluxiofs._core,
    EtcdError,
    AlluxioError,
    "Worker discovery through etcd failed."
);

pyo3::create_exception!(
    alluxiofs._core,
    WorkerError,
    AlluxioError,
    "A worker answered with an error status or a malformed response (after retries)."
);

/// Multi-base classes, built once per interpreter.
struct Derived {
    worker_connection: Py<PyType>,
    etcd_connection: Py<PyType>,
    etcd_auth: Py<PyType>,
    timeout: Py<PyType>,
}

static DERIVED: PyOnceLock<Derived> = PyOnceLock::new();

fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[Bound<'py, PyType>],
    doc: &str,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "alluxiofs._core")?;
    ns.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let cls = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(cls.cast_into::<PyType>()?.unbind())
}

fn derived(py: Python<'_>) -> PyResult<&Derived> {
    DERIVED.get_or_try_init(py, || {
        Ok(Derived {
            worker_connection: make_class(
                py,
                "WorkerConnectionError",
                &[
                    py.get_type::<AlluxioError>(),
                    py.get_type::<PyConnectionError>(),
                ],
                "A worker could not be reached (also a ConnectionError).",
            )?,
            etcd_connection: make_class(
                py,
                "EtcdConnectionError",
                &[
                    py.get_type::<EtcdError>(),
                    py.get_type::<PyConnectionError>(),
                ],
                "etcd could not be reached (also a ConnectionError).",
            )?,
            etcd_auth: make_class(
                py,
                "EtcdAuthError",
                &[
                    py.get_type::<EtcdError>(),
                    py.get_type::<PyPermissionError>(),
                ],
                "etcd rejected the credentials (also a PermissionError).",
            )?,
            timeout: make_class(
                py,
                "AlluxioTimeoutError",
                &[
                    py.get_type::<AlluxioError>(),
                    py.get_type::<PyTimeoutError>(),
                ],
                "An Alluxio operation timed out (also a TimeoutError).",
            )?,
        })
    })
}

/// Adds every exception class to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("AlluxioError", py.get_type::<AlluxioError>())?;
    m.add("NoWorkersError", py.get_type::<NoWorkersError>())?;
    m.add("EtcdError", py.get_type::<EtcdError>())?;
    m.add("WorkerError", py.get_type::<WorkerError>())?;
    let d = derived(py)?;
    m.add("WorkerConnectionError", d.worker_connection.bind(py))?;
    m.add("EtcdConnectionError", d.etcd_connection.bind(py))?;
    m.add("EtcdAuthError", d.etcd_auth.bind(py))?;
    m.add("AlluxioTimeoutError", d.timeout.bind(py))?;
    Ok(())
}

fn instantiate(py: Python<'_>, cls: &Py<PyType>, msg: String) -> PyErr {
    match cls.bind(py).call1((msg,)) {
        Ok(obj) => PyErr::from_value(obj),
        Err(e) => e,
    }
}

/// The Python class of a failed worker request, by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransportClass {
    /// `WorkerConnectionError` (also a `ConnectionError`).
    Connection,
    /// `AlluxioTimeoutError` (also a `TimeoutError`).
    Timeout,
    /// `WorkerError`, with `.status` for an HTTP status.
    Answer,
}

fn transport_class(kind: TransportKind) -> TransportClass {
    if kind.is_timeout() {
        TransportClass::Timeout
    } else if kind.is_connection() {
        TransportClass::Connection
    } else {
        TransportClass::Answer
    }
}

/// Sets `.kind` (and `.status` for a status) on a raised worker error.
fn with_kind(py: Python<'_>, err: PyErr, kind: TransportKind) -> PyErr {
    let value = err.value(py);
    let _ = value.setattr("kind", kind.name());
    let status = match kind {
        TransportKind::Status(s) => Some(s),
        _ => None,
    };
    let _ = value.setattr("status", status);
    err
}

/// Maps a core error to the Python exception users expect.
pub fn to_pyerr(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::InvalidConfig(_) | Error::InvalidArgument(_) | Error::TooLarge(_) => {
            PyValueError::new_err(msg)
        }
        Error::NotFound(_) => PyFileNotFoundError::new_err(msg),
        Error::IsADirectory(_) => PyIsADirectoryError::new_err(msg),
        Error::PermissionDenied(_) => PyPermissionError::new_err(msg),
        Error::AlreadyExists(_) => PyFileExistsError::new_err(msg),
        Error::NotEmpty(_) => PyOSError::new_err((libc::ENOTEMPTY, msg)),
        Error::Ufs { .. } | Error::Io { .. } => AlluxioError::new_err(msg),
        Error::NoWorkers { .. } => NoWorkersError::new_err(msg),
        Error::Transport { kind, .. } => Python::attach(|py| {
            let err = match (transport_class(kind), derived(py)) {
                (TransportClass::Answer, _) => WorkerError::new_err(msg),
                (TransportClass::Connection, Ok(d)) => instantiate(py, &d.worker_connection, msg),
                (TransportClass::Timeout, Ok(d)) => instantiate(py, &d.timeout, msg),
                (_, Err(err)) => return err,
            };
            with_kind(py, err, kind)
        }),
        Error::EtcdUnavailable { .. } | Error::EtcdAuth { .. } | Error::Timeout { .. } => {
            Python::attach(|py| match derived(py) {
                Ok(d) => {
                    let cls = match e {
                        Error::EtcdUnavailable { .. } => &d.etcd_connection,
                        Error::EtcdAuth { .. } => &d.etcd_auth,
                        _ => &d.timeout,
                    };
                    let err = instantiate(py, cls, msg);
                    if matches!(e, Error::Timeout { .. }) {
                        // Not a worker request: no transport kind.
                        let _ = err.value(py).setattr("kind", py.None());
                    }
                    err
                }
                Err(err) => err,
            })
        }
    }
}
