//! The only place that blocks on the runtime: releases the GIL, polls for
//! Ctrl-C, and maps errors once.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_pyerr;
use crate::error::Result;
use crate::runtime;

/// How often a blocked call wakes up to let Python handle signals.
const SIGNAL_POLL: Duration = Duration::from_millis(200);

enum Outcome<T> {
    Done(Result<T>),
    Interrupted(PyErr),
}

/// Runs `fut` to completion on the process runtime with the GIL released.
/// A pending signal (Ctrl-C) aborts the wait with the handler's exception.
pub fn run_blocking<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    let state = runtime::current().map_err(to_pyerr)?;
    let outcome = py.detach(|| {
        state.runtime().block_on(async {
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    r = &mut fut => return Outcome::Done(r),
                    () = tokio::time::sleep(SIGNAL_POLL) => {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            return Outcome::Interrupted(e);
                        }
                    }
                }
            }
        })
    });
    match outcome {
        Outcome::Done(r) => r.map_err(to_pyerr),
        Outcome::Interrupted(e) => Err(e),
    }
}

/// Runs a long-lived service (the worker) on the process runtime with the GIL
/// released. The service handles SIGINT/SIGTERM itself (graceful shutdown),
/// so signals are not polled here.
pub fn run_service<F>(py: Python<'_>, fut: F) -> PyResult<()>
where
    F: Future<Output = Result<()>> + Send,
{
    let state = runtime::current().map_err(to_pyerr)?;
    py.detach(|| state.runtime().block_on(fut))
        .map_err(to_pyerr)
}
