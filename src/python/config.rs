//! The client's configuration keys (`crate::config::keys`) for Python: the
//! declaration itself (`client_options()`), the one check of keyword names,
//! keyword arguments → `ConfigInput`, and `repr` with secrets masked.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList};

use super::convert::{options, scalar};
use crate::config::{keys, ConfigInput, KEYS};

/// The client's configuration keys, in the constructor's order: dicts with
/// `name`, `properties` (Alluxio property names; the later wins), `type`,
/// `default` (text as documented, or `None`), `doc` (one Markdown line),
/// `secret`, `cli` (the CLI flag, or `None`) and `metavar`.
#[pyfunction]
pub fn client_options(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for k in KEYS {
        let d = PyDict::new(py);
        d.set_item("name", k.name)?;
        d.set_item("properties", k.properties.to_vec())?;
        d.set_item("type", k.kind.type_name())?;
        d.set_item("default", k.default)?;
        d.set_item("doc", k.doc)?;
        d.set_item("secret", k.secret)?;
        d.set_item("cli", k.cli_flag())?;
        d.set_item("metavar", k.kind.metavar())?;
        out.append(d)?;
    }
    Ok(out)
}

/// An Alluxio size (`512MB`, `1GB`, `1048576`) in bytes; `ValueError`
/// naming `label` if it is not one.
#[pyfunction]
pub fn parse_size(label: &str, text: &str) -> PyResult<u64> {
    crate::protocol::size::parse_size(text).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!("invalid {label} {text:?}: {e}"))
    })
}

/// Raises `TypeError("<owner> got unexpected argument(s) ...; valid: ...")`
/// if a name in `names` is not a client key.
#[pyfunction]
pub fn _check_client_kwargs(owner: &str, names: &Bound<'_, PyAny>) -> PyResult<()> {
    let names: Vec<String> = names
        .try_iter()?
        .map(|n| n.and_then(|n| n.extract::<String>()))
        .collect::<PyResult<_>>()?;
    match keys::unexpected(owner, names.iter().map(String::as_str)) {
        Some(msg) => Err(PyTypeError::new_err(msg)),
        None => Ok(()),
    }
}

/// Checks keyword arguments given to `owner` and reads them into a
/// [`ConfigInput`]; also returns the arguments that were not `None` (with
/// `options` copied into a dict), from which the client is pickled.
pub fn input_from_kwargs<'py>(
    py: Python<'py>,
    owner: &str,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<(ConfigInput, Bound<'py, PyDict>)> {
    let kept = PyDict::new(py);
    let mut input = ConfigInput::default();
    let Some(kwargs) = kwargs else {
        return Ok((input, kept));
    };
    _check_client_kwargs(owner, &kwargs.keys())?;
    for (k, v) in kwargs.iter() {
        if v.is_none() {
            continue;
        }
        let name: String = k.extract()?;
        if name == keys::OPTIONS.name {
            let (copy, pairs) = options(&v)?;
            input.options = pairs;
            kept.set_item(k, copy)?;
        } else {
            let bool_key = keys::key(&name).is_some_and(|k| k.kind == keys::Kind::Bool);
            let text = if bool_key && v.is_instance_of::<PyBool>() {
                Some(v.is_truthy()?.to_string())
            } else {
                scalar(&name, Some(&v))?
            };
            input.set(&name, text);
            kept.set_item(k, v)?;
        }
    }
    Ok((input, kept))
}

/// `owner(key=value, ...)` with secret values shown as `'***'`.
pub fn repr_kwargs(owner: &str, kwargs: &Bound<'_, PyDict>) -> PyResult<String> {
    let mut parts = Vec::new();
    for (k, v) in kwargs.iter() {
        let key: String = k.extract()?;
        let shown = if keys::is_secret(&key) {
            "'***'".to_owned()
        } else {
            v.repr()?.to_string()
        };
        parts.push(format!("{key}={shown}"));
    }
    Ok(format!("{owner}({})", parts.join(", ")))
}
