//! The `alluxiofs._core` extension module. Only this directory uses PyO3.

mod aio;
mod alloc;
mod blocking;
mod cache;
mod client;
mod client_io;
mod config;
mod convert;
mod errors;
mod exit;
mod listing;
mod prefault;
mod read_many;
mod trim;
mod upload;
mod worker;

use pyo3::prelude::*;

/// The extension's own allocations (request buffers, response pieces) come
/// from mimalloc, as in pydantic-core: glibc's malloc took a third of the
/// runtime threads' time when reading many small files, much of it waiting
/// on arena locks because buffers are freed on the Python thread. Python's
/// objects are still allocated by Python.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Marks a fork in the child (registered with `os.register_at_fork` by the
/// Python package; a no-op where the `pthread_atfork` hook is installed).
#[pyfunction]
fn _after_fork() {
    crate::client::process::runtime::after_fork_in_child();
}

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Route Rust `log` records to Python's `logging` (logger names follow the
    // Rust module path, e.g. `_core.membership.etcd`). A second import in the
    // same process keeps the first logger.
    let _ = pyo3_log::try_init();
    crate::client::process::stale::register_fork_hook();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<upload::PyUpload>()?;
    let args: Vec<&str> = crate::config::KEYS.iter().map(|k| k.name).collect();
    m.add("CLIENT_ARGS", args)?;
    m.add_function(wrap_pyfunction!(config::client_options, m)?)?;
    m.add_function(wrap_pyfunction!(config::_check_client_kwargs, m)?)?;
    m.add_function(wrap_pyfunction!(config::parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(trim::_trim, m)?)?;
    m.add_function(wrap_pyfunction!(cache::local_cache_namespaces, m)?)?;
    m.add_function(wrap_pyfunction!(worker::run_worker, m)?)?;
    m.add_function(wrap_pyfunction!(worker::worker_settings, m)?)?;
    errors::register(m)?;
    exit::register(m)?;
    Ok(())
}
