//! `Client.read_many` (`cat`, `cat_ranges`): many reads at once, each result
//! a `bytes` the read fills in place where it can. The core runs the reads
//! and asks for result buffers (`client::batch`); this thread makes them
//! (fresh `bytes`, faulted in here) and turns results into objects.

use std::sync::Arc;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::alloc::{copied, uninit};
use super::blocking::run_as;
use super::errors::to_pyerr;
use crate::client::batch::{Batch, Event, Request};
use crate::client::dest::Lent;
use crate::client::slice::Body;
use crate::client::ClientCore;

/// Many reads at once: each `(path, start, end)` (plus the file size when
/// known) becomes `bytes` or the exception it raised.
pub fn read_many(
    py: Python<'_>,
    core: &Arc<ClientCore>,
    reqs: Vec<Request>,
) -> PyResult<Vec<Py<PyAny>>> {
    let n = reqs.len();
    // Results lent to reads, by index. Declared before the batch so that it
    // is dropped after it: the reads are stopped, and done writing into
    // them, before they are freed.
    let mut lent: Vec<Option<Py<PyBytes>>> = std::iter::repeat_with(|| None).take(n).collect();
    let mut batch = core.read_batch(reqs).map_err(to_pyerr)?;
    let mut out: Vec<Option<Py<PyAny>>> = std::iter::repeat_with(|| None).take(n).collect();
    let mut left = n;
    while left > 0 {
        // Waits (GIL released) for one event, then takes all that are ready.
        for event in run_as(py, Batch::RUN, batch.next())? {
            match event {
                Event::Lend { index, len, reply } => {
                    let (obj, buf) = uninit(py, len, true)?;
                    // SAFETY: `buf` is the `len`-byte buffer of the fresh
                    // `obj`, seen by no one else until the read is done: it
                    // is kept in `lent` (alive) and returned only after the
                    // read's `Done`, or freed after the batch has stopped.
                    if reply.lend(unsafe { Lent::new(buf, len) }) {
                        lent[index] = Some(obj.unbind());
                    }
                }
                Event::Done { index, result } => {
                    let mine = lent[index].take();
                    out[index] = Some(match result {
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
