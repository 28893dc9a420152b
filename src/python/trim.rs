//! `_core._trim()`: gives the extension allocator's free memory back to the
//! OS, as glibc's `malloc_trim` does for Python's. mimalloc keeps freed
//! memory in per-thread heaps and returns it only when the owning thread
//! allocates or collects again; a thread gone idle (a runtime worker with no
//! I/O, a Python thread that ran short calls) keeps what it held. The soak
//! test (R8) calls this before each RSS sample, so the sample shows what the
//! process holds, not what the allocator happens to cache at that moment.

use pyo3::prelude::*;

use crate::client::process::runtime;

/// Collects the calling thread's allocator heap and, with `runtime_threads`,
/// every I/O runtime worker's (if the runtime exists: this never starts it).
/// Best effort: memory held by live objects stays.
#[pyfunction]
#[pyo3(signature = (runtime_threads = true))]
pub fn _trim(py: Python<'_>, runtime_threads: bool) {
    py.detach(|| {
        collect();
        if runtime_threads {
            if let Some(state) = runtime::existing() {
                runtime::on_every_worker(state.runtime(), collect);
            }
        }
    });
}

fn collect() {
    // SAFETY: `mi_collect` only touches the calling thread's heap and the
    // shared arenas, under mimalloc's own synchronisation.
    unsafe { libmimalloc_sys::mi_collect(true) };
}
