//! `alluxiofs._core.run_worker`: runs the cache worker in this process until
//! SIGINT/SIGTERM (the `alluxiofs worker` command), and
//! `alluxiofs._core.worker_settings`: the declaration of its settings.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use super::blocking::run_service;
use super::convert::scalar;
use super::errors::to_pyerr;
use crate::worker::config::{WorkerConfig, WorkerInput};
use crate::worker::server::{run_until, termination_signal};
use crate::worker::settings::{self, Kind, Value, SETTINGS};

/// The worker's settings, in the order of `alluxiofs worker --help`: one
/// dict per setting with `name`, `flag`, `kind` (`text`, `flag` or
/// `choice`), `choices`, `required`, `default` (as shown), `help` and
/// `local_cluster` (whether `local-cluster` passes it to its workers).
#[pyfunction]
pub fn worker_settings(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    SETTINGS
        .iter()
        .map(|s| {
            let d = PyDict::new(py);
            d.set_item("name", s.name)?;
            d.set_item("flag", s.flag())?;
            d.set_item("kind", s.kind.name())?;
            let choices = match s.kind {
                Kind::Choice(words) => Some(words.to_vec()),
                _ => None,
            };
            d.set_item("choices", choices)?;
            d.set_item("required", s.required)?;
            d.set_item("default", s.default)?;
            d.set_item("help", s.help)?;
            d.set_item("local_cluster", s.local_cluster)?;
            Ok(d)
        })
        .collect()
}

/// Runs a worker until the process gets SIGINT or SIGTERM. `settings` maps
/// setting names (see `worker_settings()`) to values: text (a number is
/// taken as its text) or, for a flag, a bool; `None` keeps the default.
#[pyfunction]
pub fn run_worker(py: Python<'_>, settings: &Bound<'_, PyDict>) -> PyResult<()> {
    let mut values = Vec::with_capacity(settings.len());
    for (k, v) in settings.iter() {
        let name: String = k.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "invalid worker setting name {k}: expected a string"
            ))
        })?;
        if v.is_none() {
            continue;
        }
        let value = match settings::find(&name).map_err(to_pyerr)?.kind {
            Kind::Flag if v.is_instance_of::<PyBool>() => Value::Flag(v.is_truthy()?),
            Kind::Flag => {
                return Err(PyValueError::new_err(format!(
                    "invalid {name}={}: expected True or False",
                    v.repr()?
                )))
            }
            Kind::Text | Kind::Choice(_) => {
                Value::Text(scalar(&name, Some(&v))?.unwrap_or_default())
            }
        };
        values.push((name, value));
    }
    let input = WorkerInput::from_settings(values).map_err(to_pyerr)?;
    let config = WorkerConfig::from_input(&input).map_err(to_pyerr)?;
    run_service(py, run_until(config, termination_signal()))
}
