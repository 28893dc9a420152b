//! `_core.local_cache_namespaces(dir, clear)`: what `alluxiofs cache` shows.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Every cache namespace under `dir` as a dict (`name`, `about`, `pages`,
/// `bytes`, `writing`, `writing_bytes`, `hits`, `misses`); with `clear`,
/// each is emptied and the counts are what was removed.
#[pyfunction]
#[pyo3(signature = (dir, clear = false))]
pub fn local_cache_namespaces<'py>(
    py: Python<'py>,
    dir: std::path::PathBuf,
    clear: bool,
) -> PyResult<Bound<'py, PyList>> {
    let found = py
        .detach(|| crate::cache::admin::namespaces(&dir, clear))
        .map_err(|e| PyOSError::new_err(format!("local cache {}: {e}", dir.display())))?;
    let out = PyList::empty(py);
    for n in found {
        let d = PyDict::new(py);
        d.set_item("name", n.name)?;
        d.set_item("about", n.about)?;
        d.set_item("pages", n.usage.pages)?;
        d.set_item("bytes", n.usage.bytes)?;
        d.set_item("writing", n.usage.writing)?;
        d.set_item("writing_bytes", n.usage.writing_bytes)?;
        d.set_item("hits", n.hits)?;
        d.set_item("misses", n.misses)?;
        out.append(d)?;
    }
    Ok(out)
}
