//! Result buffers: `bytes` objects filled in place. Every byte a read
//! returns lands in fresh Python memory, and faulting that memory in 4 KiB
//! at a time cost more than the copy into it (a 1 GiB read spent a third of
//! its time in page faults; `cat` of many 100 KiB files, half of its Python
//! thread). So buffers are faulted in with one `madvise(MADV_POPULATE_WRITE)`
//! each, and big ones are first advised onto transparent huge pages (this
//! machine's THP mode is `madvise`, the common default), 2 MiB per fault.
//! Big ones are populated while their read is in flight (see `prefault`).
//! Buffers are not zeroed first: only bytes a read wrote are ever seen.

use std::mem::MaybeUninit;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::{ffi, Bound};

use super::prefault::Prefault;

/// Buffers from this size on are advised onto huge pages.
const HUGE_FROM: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;
/// Buffers from this size on are populated with one call: below it, the few
/// faults cost less than the system call.
const POPULATE_FROM: usize = 32 << 10;
/// Buffers from this size on are populated during the read, by a helper
/// thread: big enough that starting a thread (tens of µs) is noise.
const OVERLAP_FROM: usize = 32 << 20;
const PAGE: usize = 4 << 10;

/// Whether result buffers are faulted in ahead of the read's writes
/// (`ALLUXIOFS_PREFAULT=0` turns it off, for A/B measurements; read once).
fn prefaulting() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ALLUXIOFS_PREFAULT").map_or(true, |v| v.trim() != "0"))
}

/// A new `bytes` of up to `len` bytes filled in place by `fill` (the only
/// copy: pieces land in it as they arrive). `fill` gets the uninitialised
/// buffer (zeroing it first cost a fifth of a big read) and what is left to
/// fault in of it, to run its read under [`Prefault::during`]; it writes
/// the first `n` bytes and returns `n`; only those are ever seen: if
/// `n < len` the result is a copy of them. `fault_ahead` false: no faulting
/// in ahead (a read served by one `pread` from the local cache, which faults
/// recycled memory in as cheaply as a local file read does: populating a
/// recycled 512 KiB buffer first took a read from 42 to 62 µs).
pub fn filled<'py>(
    py: Python<'py>,
    len: u64,
    fault_ahead: bool,
    fill: impl FnOnce(&mut [MaybeUninit<u8>], Prefault) -> PyResult<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    let len = usize::try_from(len).map_err(|_| PyValueError::new_err("range too large"))?;
    let overlap = fault_ahead && len >= OVERLAP_FROM && prefaulting();
    let (obj, buf) = uninit(py, len, fault_ahead && !overlap)?;
    let prefault = if overlap {
        Prefault::of(interior(buf, len, PAGE))
    } else {
        Prefault::none()
    };
    // SAFETY: `buf` is the `len`-byte buffer of the fresh object `obj`, which
    // no one else sees: it is returned only once all of it is written.
    let written = fill(
        unsafe { std::slice::from_raw_parts_mut(buf.cast(), len) },
        prefault,
    )?;
    if written >= len {
        return Ok(obj);
    }
    // SAFETY: `fill` wrote the first `written` bytes.
    copied(py, unsafe { std::slice::from_raw_parts(buf, written) })
}

/// A new `bytes` holding a copy of `data`.
pub fn copied<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let (obj, buf) = uninit(py, data.len(), true)?;
    // SAFETY: `buf` is the fresh `data.len()`-byte buffer of `obj`; the two
    // cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len()) };
    Ok(obj)
}

/// A fresh `bytes` of `len` uninitialised bytes and its buffer, faulted in
/// now if `populate`.
pub(super) fn uninit(
    py: Python<'_>,
    len: usize,
    populate: bool,
) -> PyResult<(Bound<'_, PyBytes>, *mut u8)> {
    let size =
        ffi::Py_ssize_t::try_from(len).map_err(|_| PyValueError::new_err("range too large"))?;
    // SAFETY: a null source asks CPython for an uninitialised buffer of
    // `size` bytes; the object is owned here and its type is `bytes`.
    unsafe {
        let ptr = ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let obj = Bound::from_owned_ptr_or_err(py, ptr)?.cast_into_unchecked::<PyBytes>();
        let buf: *mut u8 = ffi::PyBytes_AsString(ptr).cast();
        if len >= HUGE_FROM {
            advise(buf, len, HUGE_PAGE, Advice::Huge);
        }
        if populate && len >= POPULATE_FROM && prefaulting() {
            self::populate(buf, len);
        }
        Ok((obj, buf))
    }
}

#[derive(Clone, Copy)]
enum Advice {
    Huge,
    Populate,
}

/// The `align`-aligned interior of `[buf, buf + len)`, as addresses (empty
/// if there is none).
pub(super) fn interior(buf: *mut u8, len: usize, align: usize) -> std::ops::Range<usize> {
    let start = (buf as usize).next_multiple_of(align);
    let end = (buf as usize + len) / align * align;
    start..end.max(start)
}

/// Faults in the pages of `[buf, buf + len)` as writes would (whole pages
/// inside it only).
pub(super) fn populate(buf: *mut u8, len: usize) {
    advise(buf, len, PAGE, Advice::Populate);
}

/// Gives `advice` for the `align`-aligned interior of `[buf, buf + len)`.
/// Advice only: failure (no THP, an older kernel, another OS) changes
/// nothing but speed.
fn advise(buf: *mut u8, len: usize, align: usize, advice: Advice) {
    #[cfg(target_os = "linux")]
    {
        let r = interior(buf, len, align);
        let advice = match advice {
            Advice::Huge => libc::MADV_HUGEPAGE,
            Advice::Populate => libc::MADV_POPULATE_WRITE,
        };
        if !r.is_empty() {
            // SAFETY: the range lies inside a live allocation we own; the
            // advice does not change its contents (populating only maps
            // pages, as a write fault would, and skips pages already
            // present) or its mapping.
            unsafe {
                libc::madvise(r.start as *mut libc::c_void, r.len(), advice);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (buf, len, align, advice);
}
