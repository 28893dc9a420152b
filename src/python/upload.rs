//! `alluxiofs._core.Upload`: a file being written piece by piece
//! (`client::upload`), for `AlluxioWriteFile` and `put_file`. Dropping it
//! (garbage collection) before `finish` aborts it: nothing is written.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::aio::{self, Out};
use super::blocking::run_blocking;
use crate::client::Upload;
use crate::error::{Error, Result};

/// The upload, shared with the futures that use it; `None` once over.
type Slot = Arc<tokio::sync::Mutex<Option<Upload>>>;

/// A streamed write (see the module docs).
#[pyclass(name = "Upload", module = "alluxiofs._core", frozen)]
pub struct PyUpload {
    slot: Slot,
    path: String,
    /// The process that started it: its request lives on that process's
    /// runtime, which a forked child does not have.
    pid: u32,
}

impl PyUpload {
    /// Wraps a started upload of `path`.
    pub fn new(upload: Upload, path: String) -> Self {
        Self {
            slot: Arc::new(tokio::sync::Mutex::new(Some(upload))),
            path,
            pid: std::process::id(),
        }
    }

    fn slot(&self) -> PyResult<Slot> {
        if self.pid != std::process::id() {
            return Err(PyValueError::new_err(format!(
                "the upload of {} belongs to the process that started it (pid {})",
                self.path, self.pid
            )));
        }
        Ok(Arc::clone(&self.slot))
    }
}

impl Drop for PyUpload {
    fn drop(&mut self) {
        // Inherited across fork: its request and queue belong to a runtime
        // that does not exist here, so it is forgotten, never dropped.
        if self.pid != std::process::id() {
            std::mem::forget(Arc::clone(&self.slot));
        }
    }
}

/// A `bytes` object's contents, handed to the request without a copy:
/// `bytes` are immutable and the object is kept alive while they are used.
struct Held {
    _obj: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is into an immutable `bytes` object this value keeps
// alive; nothing writes through it. Dropping the `Py` without the GIL is
// deferred by PyO3.
unsafe impl Send for Held {}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see `Send`; `ptr`/`len` describe the object's buffer.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

fn held(data: &Bound<'_, PyBytes>) -> Bytes {
    let s = data.as_bytes();
    Bytes::from_owner(Held {
        ptr: s.as_ptr(),
        len: s.len(),
        _obj: data.clone().unbind(),
    })
}

fn over(path: &str) -> Error {
    Error::InvalidArgument(format!("the upload of {path} is over"))
}

async fn send(slot: Slot, path: String, data: Bytes) -> Result<()> {
    let mut guard = slot.lock().await;
    let up = guard.as_mut().ok_or_else(|| over(&path))?;
    let sent = up.send(data).await;
    if sent.is_err() {
        guard.take(); // abandoned: the worker keeps nothing
    }
    sent
}

async fn finish(slot: Slot, path: String) -> Result<()> {
    let up = slot.lock().await.take().ok_or_else(|| over(&path))?;
    up.finish().await
}

#[pymethods]
impl PyUpload {
    /// Sends the next piece (a `bytes`, not copied); waits while earlier pieces are still
    /// on their way. A failure ends the upload: nothing is written.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
        let (slot, data) = (self.slot()?, held(data));
        run_blocking(py, send(slot, self.path.clone(), data))
    }

    /// Ends the upload and waits for the worker: the file is then written whole.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        let slot = self.slot()?;
        run_blocking(py, finish(slot, self.path.clone()))
    }

    /// `write` as an awaitable.
    fn write_async<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'_, PyBytes>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (slot, data) = (self.slot()?, held(data));
        let path = self.path.clone();
        aio::awaitable(py, async move {
            send(slot, path, data).await.map(|()| Out::Unit)
        })
    }

    /// `finish` as an awaitable.
    fn finish_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let slot = self.slot()?;
        let path = self.path.clone();
        aio::awaitable(
            py,
            async move { finish(slot, path).await.map(|()| Out::Unit) },
        )
    }

    /// Abandons the upload: the worker discards what it got, an existing
    /// file keeps its content. Nothing happens if it is over already.
    fn abort(&self) {
        if self.pid != std::process::id() {
            return; // the parent's (see `Drop`)
        }
        // Not waiting for a lock a running `write` holds: that write sees
        // its own failure, or its upload is dropped with the slot.
        if let Ok(mut guard) = self.slot.try_lock() {
            guard.take();
        }
    }
}
