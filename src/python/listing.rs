//! `Client.list`: a listing's JSON is parsed on a helper thread while this
//! thread turns the entries parsed so far into dicts. Parsing a 10,000-entry
//! answer (3.8 MB) and building its dicts took ~5-6 ms each, one after the
//! other, on top of the worker's ~30 ms; on two cores they can overlap.

use std::sync::mpsc;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::blocking::run_blocking_small;
use super::convert::status_dicts;
use crate::client::{parse_list_batches, ClientCore};

/// Answers smaller than this are parsed on this thread: a helper thread
/// costs more than it saves.
const HELPER_FROM: usize = 256 << 10;
/// Entries per batch handed from the parser to this thread.
const BATCH: usize = 512;

/// Entries of the directory `path` (or the file itself) as status dicts.
/// A malformed answer is asked for again through [`ClientCore::list`],
/// which retries and fails over as every call does.
pub fn list<'py>(
    py: Python<'py>,
    core: &Arc<ClientCore>,
    path: String,
    fsspec: bool,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let c = core.clone();
    let p = path.clone();
    let (worker, body) = run_blocking_small(py, async move { c.list_body(&p).await })?;
    let parsed = if body.len() < HELPER_FROM {
        crate::client::parse_list(&worker, &body).map(|all| status_dicts(py, &all, fsspec))
    } else {
        overlapped(py, &worker, &body, fsspec)
    };
    match parsed {
        Ok(dicts) => dicts,
        Err(e) => {
            log::debug!("alluxiofs: {e}; listing {path} again");
            let c = core.clone();
            let all = run_blocking_small(py, async move { c.list(&path).await })?;
            status_dicts(py, &all, fsspec)
        }
    }
}

/// Parses `body` on a helper thread, building dicts here batch by batch.
/// The outer error is the parser's (a malformed answer); the inner one,
/// building the dicts.
fn overlapped<'py>(
    py: Python<'py>,
    worker: &str,
    body: &[u8],
    fsspec: bool,
) -> crate::error::Result<PyResult<Vec<Bound<'py, PyDict>>>> {
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        // `detach` needs a `Sync` closure; only this thread ever locks it.
        let rx = parking_lot::Mutex::new(rx);
        let parser = s
            .spawn(move || parse_list_batches(worker, body, BATCH, |batch| tx.send(batch).is_ok()));
        let mut out = Vec::new();
        let mut built = Ok(());
        // Ends when the parser is done (its sender dropped).
        while let Ok(batch) = py.detach(|| rx.lock().recv()) {
            match status_dicts(py, &batch, fsspec) {
                Ok(dicts) => out.extend(dicts),
                Err(e) => {
                    // Dropping the receiver stops the parser at its next batch.
                    built = Err(e);
                    break;
                }
            }
        }
        drop(rx);
        let parsed = parser.join().unwrap_or_else(|_| {
            Err(crate::error::Error::Io {
                context: "list".into(),
                message: "the listing parser panicked".into(),
            })
        });
        match (built, parsed) {
            (Err(e), _) => Ok(Err(e)),
            (Ok(()), Ok(())) => Ok(Ok(out)),
            (Ok(()), Err(e)) => Err(e),
        }
    })
}
