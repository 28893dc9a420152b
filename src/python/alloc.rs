//! Result buffers: `bytes` objects filled in place. Big ones are advised
//! onto transparent huge pages first: faulting in a fresh buffer 4 KiB at a
//! time costs more than copying the data into it (a 1 GiB read took a third
//! of its time in page faults), and with `madvise` the kernel maps 2 MiB at a
//! time (this machine's THP mode is `madvise`, the common default).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{ffi, Bound};

/// Buffers from this size on are advised onto huge pages.
const HUGE_FROM: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// A new `bytes` of `len` bytes filled by `fill` (the only copy: pieces land
/// in it as they arrive).
pub fn filled<'py>(
    py: Python<'py>,
    len: u64,
    fill: impl FnOnce(&mut [u8]) -> PyResult<()>,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = usize::try_from(len).map_err(|_| PyValueError::new_err("range too large"))?;
    if len < HUGE_FROM {
        return PyBytes::new_with(py, len, fill);
    }
    let size =
        ffi::Py_ssize_t::try_from(len).map_err(|_| PyValueError::new_err("range too large"))?;
    // SAFETY: as `PyBytes::new_with`: a fresh bytes object we own, its buffer
    // `len` bytes long; it is zeroed before a slice over it is made, and no
    // one else sees the object until `fill` has run.
    unsafe {
        let ptr = ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let obj = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let buf: *mut u8 = ffi::PyBytes_AsString(ptr).cast();
        advise_huge(buf, len);
        std::ptr::write_bytes(buf, 0, len);
        fill(std::slice::from_raw_parts_mut(buf, len))?;
        Ok(obj)
    }
}

/// Asks for huge pages on the 2 MiB-aligned interior of `[buf, buf + len)`.
/// Advice only: failure (no THP, another OS) changes nothing but speed.
fn advise_huge(buf: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = (buf as usize).next_multiple_of(HUGE_PAGE);
        let end = (buf as usize + len) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside a live allocation we own; the
            // advice does not change its contents or mapping.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (buf, len, HUGE_PAGE);
}
