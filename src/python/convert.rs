//! Python ⇄ Rust conversions for the client: argument text, status dicts.

use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyMapping, PyString};

use crate::client::FileStatus;
use crate::WorkerInfo;

/// Text of a scalar argument: `str` as is, `int`/`float` via `str()`.
pub fn scalar(key: &str, v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(v) = v.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if v.is_instance_of::<PyBool>() {
        return Err(PyValueError::new_err(format!(
            "invalid {key}={v}: expected a number or a string"
        )));
    }
    if v.is_instance_of::<PyString>()
        || v.is_instance_of::<PyInt>()
        || v.is_instance_of::<PyFloat>()
    {
        return Ok(Some(v.str()?.to_string()));
    }
    Err(PyValueError::new_err(format!(
        "invalid {key}={}: expected a string or a number, got {}",
        v.repr()?,
        v.get_type().name()?
    )))
}

/// Alluxio properties as text pairs.
pub type Properties = Vec<(String, String)>;

/// A copy of the `options` mapping as a dict (kept for pickling), and its
/// items as text pairs (Alluxio properties are strings).
pub fn options<'py>(v: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyDict>, Properties)> {
    let mapping = v.cast::<PyMapping>().map_err(|_| {
        PyValueError::new_err(format!(
            "invalid options={}: expected a dict",
            v.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        ))
    })?;
    let d = PyDict::new(v.py());
    d.update(mapping)?;
    let mut out = Vec::with_capacity(d.len());
    for (k, val) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            PyValueError::new_err(format!("invalid options key {k}: expected a string"))
        })?;
        let text = if val.is_instance_of::<PyBool>() {
            if val.is_truthy()? { "true" } else { "false" }.to_owned()
        } else {
            val.str()?.to_string()
        };
        out.push((key, text));
    }
    Ok((d, out))
}

/// `{"host", "http_port", "identity"}`.
pub fn worker_dict<'py>(py: Python<'py>, w: &WorkerInfo) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("host", &w.address.host)?;
    d.set_item("http_port", w.address.http_server_port)?;
    d.set_item("identity", w.identity.hex())?;
    Ok(d)
}

/// A worker's file status with the alluxiofs 1.0.x key names (P1 ∪ P2).
/// Keys are interned: a listing builds thousands of these dicts.
pub fn status_dict<'py>(py: Python<'py>, s: &FileStatus) -> PyResult<Bound<'py, PyDict>> {
    build(&template(py, false)?, s, false)
}

/// Status dicts for a whole listing: each starts as a copy of one template
/// holding every key (one allocation, no table growth as keys are added:
/// growing the tables was a fifth of building a listing's dicts).
pub fn status_dicts<'py>(
    py: Python<'py>,
    all: &[FileStatus],
    fsspec: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let t = template(py, fsspec)?;
    let mut mtimes = Mtimes::new(py)?;
    all.iter()
        .map(|s| {
            let d = build(&t, s, fsspec)?;
            if fsspec {
                d.set_item(intern!(py, "mtime"), mtimes.get(s.mtime_ms)?)?;
            }
            Ok(d)
        })
        .collect()
}

/// `mtime` values: timezone-aware `datetime`s, as fsspec's `modified()`
/// returns. Entries listed in a row often share a time (files written by one
/// job): an entry equal to the one before shares its object.
struct Mtimes<'py> {
    fromtimestamp: Bound<'py, PyAny>,
    utc: Bound<'py, PyAny>,
    last: Option<(i64, Bound<'py, PyAny>)>,
}

impl<'py> Mtimes<'py> {
    fn new(py: Python<'py>) -> PyResult<Self> {
        // Looked up once per interpreter: `info` makes one of these per call.
        static FUNCS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
        let (f, utc) = FUNCS.get_or_try_init(py, || -> PyResult<_> {
            let dt = py.import("datetime")?;
            Ok((
                dt.getattr("datetime")?.getattr("fromtimestamp")?.unbind(),
                dt.getattr("timezone")?.getattr("utc")?.unbind(),
            ))
        })?;
        Ok(Self {
            fromtimestamp: f.bind(py).clone(),
            utc: utc.bind(py).clone(),
            last: None,
        })
    }

    fn get(&mut self, ms: i64) -> PyResult<Bound<'py, PyAny>> {
        if let Some((at, v)) = &self.last {
            if *at == ms {
                return Ok(v.clone());
            }
        }
        #[allow(clippy::cast_precision_loss)] // ms since 1970 fit f64 exactly
        let v = self.fromtimestamp.call1((ms as f64 / 1000.0, &self.utc))?;
        self.last = Some((ms, v.clone()));
        Ok(v)
    }
}

/// A dict with every key [`build`] sets, in its order, plus `mtime` for
/// fsspec dicts, all `None`; made once per interpreter
/// (never handed out: only copied).
fn template(py: Python<'_>, fsspec: bool) -> PyResult<Bound<'_, PyDict>> {
    static STATUS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    static FSSPEC: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    let cell = if fsspec { &FSSPEC } else { &STATUS };
    let t = cell.get_or_try_init(py, || new_template(py, fsspec).map(Bound::unbind))?;
    Ok(t.bind(py).clone())
}

fn new_template(py: Python<'_>, fsspec: bool) -> PyResult<Bound<'_, PyDict>> {
    let t = PyDict::new(py);
    let mut keys = vec![intern!(py, "ufs_path"), intern!(py, "name")];
    if fsspec {
        keys.push(intern!(py, "alluxio_name"));
    }
    keys.extend([
        intern!(py, "path"),
        intern!(py, "type"),
        intern!(py, "size"),
        intern!(py, "last_modification_time_ms"),
        intern!(py, "human_readable_file_size"),
        intern!(py, "in_alluxio_percentage"),
        intern!(py, "content_hash"),
        intern!(py, "owner"),
        intern!(py, "group"),
        intern!(py, "mode"),
        intern!(py, "creation_time_ms"),
        intern!(py, "last_access_time_ms"),
        intern!(py, "completed"),
        intern!(py, "persisted"),
    ]);
    if fsspec {
        keys.push(intern!(py, "mtime"));
    }
    for k in keys {
        t.set_item(k, py.None())?;
    }
    Ok(t)
}

fn build<'py>(
    template: &Bound<'py, PyDict>,
    s: &FileStatus,
    fsspec: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let py = template.py();
    let d = template.copy()?;
    d.set_item(intern!(py, "ufs_path"), &s.ufs_path)?;
    if fsspec {
        let name = s
            .ufs_path
            .split_once("://")
            .map_or(&*s.ufs_path, |(_, rest)| rest);
        let name = if name.len() > 1 {
            name.trim_end_matches('/')
        } else {
            name
        };
        d.set_item(intern!(py, "name"), name)?;
        d.set_item(intern!(py, "alluxio_name"), &s.name)?;
    } else {
        d.set_item(intern!(py, "name"), &s.name)?;
    }
    d.set_item(intern!(py, "path"), &s.path)?;
    // Few distinct values: shared objects instead of a new str per entry.
    let kind = match s.kind.as_str() {
        "file" => intern!(py, "file").clone(),
        "directory" => intern!(py, "directory").clone(),
        other => PyString::new(py, other),
    };
    d.set_item(intern!(py, "type"), kind)?;
    let size = if fsspec && s.is_dir() { 0 } else { s.length };
    d.set_item(intern!(py, "size"), size)?;
    // The three times are often equal: one int object for equal ones.
    let mtime = s.mtime_ms.into_pyobject(py)?;
    let same = |t: i64| -> PyResult<Bound<'py, PyInt>> {
        if t == s.mtime_ms {
            Ok(mtime.clone())
        } else {
            Ok(t.into_pyobject(py)?)
        }
    };
    d.set_item(intern!(py, "last_modification_time_ms"), &mtime)?;
    d.set_item(
        intern!(py, "human_readable_file_size"),
        text(py, &s.human_size),
    )?;
    d.set_item(
        intern!(py, "in_alluxio_percentage"),
        s.in_alluxio_percentage,
    )?;
    d.set_item(intern!(py, "content_hash"), text(py, &s.content_hash))?;
    d.set_item(intern!(py, "owner"), text(py, &s.owner))?;
    d.set_item(intern!(py, "group"), text(py, &s.group))?;
    // As the server sent it: an int (Java's FileInfo) or a string.
    let mode = intern!(py, "mode");
    match &s.mode {
        serde_json::Value::Number(n) => d.set_item(mode, n.as_i64())?,
        serde_json::Value::String(t) => d.set_item(mode, t)?,
        _ => d.set_item(mode, py.None())?,
    }
    d.set_item(intern!(py, "creation_time_ms"), same(s.creation_time_ms)?)?;
    d.set_item(
        intern!(py, "last_access_time_ms"),
        same(s.last_access_time_ms)?,
    )?;
    d.set_item(intern!(py, "completed"), s.completed)?;
    d.set_item(intern!(py, "persisted"), s.persisted)?;
    Ok(d)
}

/// `value` as a Python `str`; the empty one and `"0B"` (every empty file's
/// human-readable size) shared.
fn text<'py>(py: Python<'py>, value: &str) -> Bound<'py, PyString> {
    match value {
        "" => intern!(py, "").clone(),
        "0B" => intern!(py, "0B").clone(),
        _ => PyString::new(py, value),
    }
}

/// [`status_dict`] plus the fsspec keys, for filesystems whose names are the
/// URL without its `scheme://` (local paths, `bucket/key`): `name` (that),
/// `alluxio_name` (the worker's `name`), `size` (0 for a directory), `mtime`
/// (a UTC `datetime`).
pub fn fsspec_dict<'py>(py: Python<'py>, s: &FileStatus) -> PyResult<Bound<'py, PyDict>> {
    Ok(status_dicts(py, std::slice::from_ref(s), true)?.remove(0))
}
