//! `Client.read_many` (`cat`, `cat_ranges`): many reads at once, each result
//! a `bytes` the read fills in place where it can.
//!
//! The reads run on the runtime's threads. A read whose length is known
//! (up front, or from its first answer's headers) asks this thread for its
//! result: a fresh `bytes` of that length, faulted in here and lent to the
//! read, which writes the body into it from the socket. Copying each body
//! from a buffer of the read's own into the result was a tenth of `cat`'s
//! CPU over many 100 KiB files, with both cores busy. A read not lent one
//! (short, chunked, a size not announced) fills its own buffer, copied here.
//! Either way this thread does its share while the reads go on.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::{mpsc, oneshot};

use super::alloc::{copied, uninit};
use super::blocking::run_blocking;
use super::errors::to_pyerr;
use crate::client::dest::{Lender, Lent};
use crate::client::slice::Body;
use crate::client::ClientCore;
use crate::error::{Error, Result};

/// Results from this size on are lent: below it, copying costs less than
/// asking this thread for the buffer.
const LEND_FROM: usize = 32 << 10;

/// What the reads tell this thread.
enum Msg {
    /// Read `i` asks for a result buffer of this many bytes.
    Lend(usize, usize, oneshot::Sender<Option<Lent>>),
    /// Read `i` is done.
    Done(usize, Result<Body>),
}

/// Lends read `i` its result buffer, made on the Python thread.
struct ToPython {
    i: usize,
    tx: mpsc::Sender<Msg>,
}

impl Lender for ToPython {
    fn lend(&self, len: usize) -> BoxFuture<'_, Option<Lent>> {
        Box::pin(async move {
            if len < LEND_FROM {
                return None;
            }
            let (reply, lent) = oneshot::channel();
            self.tx.send(Msg::Lend(self.i, len, reply)).await.ok()?;
            lent.await.ok().flatten()
        })
    }
}

/// Many reads at once: each `(path, start, end)` (plus the file size when
/// known) becomes `bytes` or the exception it raised.
pub fn read_many(
    py: Python<'_>,
    core: &Arc<ClientCore>,
    reqs: Vec<(String, i64, Option<i64>, Option<u64>)>,
) -> PyResult<Vec<Py<PyAny>>> {
    let n = reqs.len();
    let concurrency = core.config().io.concurrency.max(1);
    let (tx, mut rx) = mpsc::channel::<Msg>(2 * concurrency);
    let core2 = core.clone();
    let rt = crate::client::process::runtime::current().map_err(to_pyerr)?;
    // Results lent to reads, by index. Declared before the job so that it
    // is dropped after it: the job is stopped, and done writing into them,
    // before they are freed.
    let mut lent: Vec<Option<Py<PyBytes>>> = std::iter::repeat_with(|| None).take(n).collect();
    let _job = StopOnDrop(Some(rt.runtime().spawn(async move {
        let core = &core2;
        let mut done = futures::stream::iter(reqs.into_iter().enumerate())
            .map(|(i, (path, start, end, size))| {
                let lender = ToPython { i, tx: tx.clone() };
                async move {
                    let r = core
                        .read_slice_lent(&path, start, end, size, Some(&lender))
                        .await;
                    (i, r)
                }
            })
            .buffer_unordered(concurrency);
        while let Some((i, r)) = done.next().await {
            if tx.send(Msg::Done(i, r)).await.is_err() {
                return; // the call ended early (Ctrl-C)
            }
        }
    })));
    let mut out: Vec<Option<Py<PyAny>>> = std::iter::repeat_with(|| None).take(n).collect();
    let mut left = n;
    while left > 0 {
        // Waits (GIL released) for one message, then takes all that are ready.
        let batch = run_blocking(py, async {
            let first = rx.recv().await.ok_or_else(|| Error::Io {
                context: "read_many".into(),
                message: "the read task ended early".into(),
            })?;
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                batch.push(m);
            }
            Ok(batch)
        })?;
        for msg in batch {
            match msg {
                Msg::Lend(i, len, reply) => {
                    let (obj, buf) = uninit(py, len, true)?;
                    // SAFETY: `buf` is the `len`-byte buffer of the fresh
                    // `obj`, seen by no one else until the read is done: it
                    // is kept in `lent` (alive) and returned only after the
                    // read's `Done`, or freed after the job has stopped.
                    let loan = unsafe { Lent::new(buf, len) };
                    if reply.send(Some(loan)).is_ok() {
                        // Replaces a buffer the read gave up (it asks again
                        // only once done with the last).
                        lent[i] = Some(obj.unbind());
                    }
                }
                Msg::Done(i, r) => {
                    let mine = lent[i].take();
                    out[i] = Some(match r {
                        Ok(Body::Own(v)) => copied(py, &v)?.into_any().unbind(),
                        Ok(Body::Lent(got)) => result_of(py, mine, got)?,
                        Err(e) => to_pyerr(e).into_value(py).into_any(),
                    });
                    left -= 1;
                }
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

/// The result of a read that wrote `got` bytes into the buffer lent to it.
fn result_of(py: Python<'_>, lent: Option<Py<PyBytes>>, got: usize) -> PyResult<Py<PyAny>> {
    let Some(obj) = lent else {
        return Err(PyRuntimeError::new_err(
            "read_many: a read reported a lent buffer it was not given",
        ));
    };
    // Not `as_bytes`: past `got` the buffer may be unwritten.
    // SAFETY: `obj` is a live `bytes`; its buffer has its size in bytes.
    let (buf, len) = unsafe {
        let len = ffi::PyBytes_Size(obj.as_ptr());
        (ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>(), len)
    };
    let len = usize::try_from(len).unwrap_or(0);
    Ok(match got {
        g if g == len => obj.into_any(),
        // Short (end of file inside the range): only the bytes written.
        // SAFETY: the read wrote the first `g` (< len) bytes.
        g if g < len => copied(py, unsafe { std::slice::from_raw_parts(buf, g) })?
            .into_any()
            .unbind(),
        g => {
            return Err(PyRuntimeError::new_err(format!(
                "read_many: a read reported {g} bytes in a {len}-byte buffer"
            )))
        }
    })
}

/// Stops the read job when the call ends, early (Ctrl-C, an error here) or
/// not, and waits until it has: its reads may be writing into lent buffers.
struct StopOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(job) = self.0.take() {
            job.abort();
            // Cancelled at its next await (a read is never blocked inside a
            // poll); a panic in it is over too.
            let _ = futures::executor::block_on(job);
        }
    }
}
