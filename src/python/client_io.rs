//! The data-path methods of `Client`, kept apart from construction: reads
//! into Python-owned memory and writes (batched reads: `read_many`).

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::alloc::{copied, filled};
use super::blocking::{run_blocking, run_blocking_small};
use crate::client::dest::write_prefix;
use crate::client::pages::resolve;
use crate::client::slice::{after_first, FirstPiece, SlicePlan};
use crate::client::ClientCore;
use crate::error::Result;

/// A read of `len` bytes from `offset`: on this thread when it touches at
/// most two pages (two requests); bigger reads fan out over many connections
/// and copy faster on the runtime's threads.
fn run_sized<T, F>(py: Python<'_>, core: &ClientCore, offset: u64, len: u64, fut: F) -> PyResult<T>
where
    F: std::future::Future<Output = Result<T>> + Send,
    T: Send,
{
    let page = core.config().page_size.max(1);
    let pages = if len == 0 {
        0
    } else {
        (offset + len - 1) / page - offset / page + 1
    };
    if pages <= 2 {
        run_blocking_small(py, fut)
    } else {
        run_blocking(py, fut)
    }
}

/// Size of `path`: given, or asked from its worker.
pub fn size_of(
    py: Python<'_>,
    core: &Arc<ClientCore>,
    path: &str,
    size: Option<u64>,
) -> PyResult<u64> {
    match size {
        Some(s) => Ok(s),
        None => run_blocking_small(py, core.file_size(path)),
    }
}

/// Bytes `[start, end)` (Python slice rules) as one `bytes`, filled in place.
/// The size is asked for only when it is needed: negative bounds, a pages-only
/// owner, or a read to the end of a file longer than its first piece.
pub fn read<'py>(
    py: Python<'py>,
    core: &Arc<ClientCore>,
    path: &str,
    start: i64,
    end: Option<i64>,
    size: Option<u64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let exact = |s: u64, e: u64| {
        filled(py, e - s, |buf, pre| {
            let read = pre.during(core.read_into_uninit(path, s, buf));
            run_sized(py, core, s, e - s, read)?;
            Ok(buf.len())
        })
    };
    match core.slice_plan(path, start, end, size) {
        SlicePlan::Exact(s, e) => exact(s, e),
        SlicePlan::SizeFirst => {
            let (s, e) = resolve(start, end, size_of(py, core, path, None)?);
            exact(s, e)
        }
        // The file may end inside the range: a short answer there is EOF.
        SlicePlan::Upto(s, e) => filled(py, e - s, |buf, pre| {
            let read = pre.during(core.read_upto(path, s, buf));
            Ok(run_sized(py, core, s, e - s, read)?.0)
        }),
        SlicePlan::FirstPiece(s, e) => {
            // One request for a small file; the rest is read in place.
            let (first, size) = match run_blocking_small(py, core.first_piece_or_size(path, s, e))?
            {
                FirstPiece::Piece(first, size) => (first, size),
                // Held up by a load: the whole range at once, as the size is known.
                FirstPiece::Whole(stop) => return exact(s, stop),
            };
            let (at, stop) = after_first(s, e, first.len(), size);
            if stop <= s + at as u64 {
                return copied(py, &first[..at]);
            }
            filled(py, stop - s, |buf, pre| {
                write_prefix(buf, &first[..at]);
                let rest = s + at as u64;
                let read = pre.during(core.read_into_uninit(path, rest, &mut buf[at..]));
                run_sized(py, core, rest, stop - rest, read)?;
                Ok(buf.len())
            })
        }
    }
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
    let size = size_of(py, core, path, size)?;
    let want = (len as u64).min(size.saturating_sub(offset));
    #[allow(clippy::cast_possible_truncation)]
    let want = want as usize;
    if want == 0 {
        return Ok(0);
    }
    // SAFETY: the caller passes the address and length of a writable buffer
    // it keeps alive and exported (so not resized) for the whole call.
    let slice = unsafe { std::slice::from_raw_parts_mut(address as *mut u8, want) };
    run_sized(
        py,
        core,
        offset,
        want as u64,
        core.read_into(path, offset, slice),
    )?;
    Ok(want)
}

/// Writes a whole file.
pub fn write(py: Python<'_>, core: &Arc<ClientCore>, path: &str, data: &[u8]) -> PyResult<()> {
    let data = Bytes::copy_from_slice(data);
    run_blocking(py, core.write(path, data))
}
