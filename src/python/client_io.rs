//! The data-path methods of `Client`, kept apart from construction: reads
//! into Python-owned memory and writes (batched reads: `read_many`). The
//! core plans each read and says how each step runs (`client::seam`); this
//! supplies the buffers.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::alloc::filled;
use super::blocking::{run_as, run_blocking};
use crate::client::dest::as_uninit;
use crate::client::ClientCore;

/// Bytes `[start, end)` (Python slice rules) as one `bytes`, filled in
/// place; `size` is the file size if known.
pub fn read<'py>(
    py: Python<'py>,
    core: &Arc<ClientCore>,
    path: &str,
    start: i64,
    end: Option<i64>,
    size: Option<u64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut r = core.slice_read(path, start, end, size);
    let len = run_as(py, r.sizing(), r.len())?;
    filled(py, len, !core.has_local_cache(), |buf, pre| {
        run_as(py, r.filling(), pre.during(r.fill(buf)))
    })
}

/// Reads from `offset` into `len` writable bytes at `address` (a buffer the
/// caller keeps exported, e.g. a ctypes array over a `bytearray`); returns the
/// count (short only at end of file). The limited C API of Python < 3.11 has no
/// buffer protocol, hence the address.
pub fn readinto_address(
    py: Python<'_>,
    core: &Arc<ClientCore>,
    path: &str,
    offset: u64,
    address: usize,
    len: usize,
    size: Option<u64>,
) -> PyResult<usize> {
    if address == 0 && len > 0 {
        return Err(PyValueError::new_err("readinto: null buffer address"));
    }
    let too_far = || PyValueError::new_err("readinto: offset out of range");
    let start = i64::try_from(offset).map_err(|_| too_far())?;
    let end = start.checked_add_unsigned(len as u64).ok_or_else(too_far)?;
    let mut r = core.slice_read(path, start, Some(end), size);
    let want = run_as(py, r.sizing(), r.len())?;
    #[allow(clippy::cast_possible_truncation)] // at most `len`
    let want = want as usize;
    if want == 0 {
        return Ok(0);
    }
    // SAFETY: the caller passes the address and length of a writable buffer
    // it keeps alive and exported (so not resized) for the whole call;
    // `want <= len`.
    let slice = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, want) };
    run_as(py, r.filling(), r.fill(as_uninit(slice)))
}

/// Writes a whole file.
pub fn write(py: Python<'_>, core: &Arc<ClientCore>, path: &str, data: &[u8]) -> PyResult<()> {
    let data = Bytes::copy_from_slice(data);
    run_blocking(py, core.write(path, data))
}
