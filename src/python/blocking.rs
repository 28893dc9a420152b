//! The only place that blocks on the runtime: releases the GIL, polls for
//! Ctrl-C, and maps errors once.

use std::future::Future;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_pyerr;
use super::exit;
use crate::client::process::{runtime, short_runtime};
use crate::error::Result;

/// How often a blocked call wakes up to let Python handle signals.
const SIGNAL_POLL: Duration = Duration::from_millis(200);

enum Outcome<T> {
    Done(Result<T>),
    Interrupted(PyErr),
}

/// `fut`, or the pending signal's (Ctrl-C) exception, polled every
/// [`SIGNAL_POLL`].
async fn until_signal<T, F>(fut: F) -> Outcome<T>
where
    F: Future<Output = Result<T>>,
{
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = &mut fut => return Outcome::Done(r),
            () = tokio::time::sleep(SIGNAL_POLL) => {
                if exit::settled_elsewhere() {
                    continue; // no GIL for this thread any more
                }
                if let Err(e) = Python::attach(|py| py.check_signals()) {
                    return Outcome::Interrupted(e);
                }
            }
        }
    }
}

fn finish<T>(outcome: Outcome<T>) -> PyResult<T> {
    match outcome {
        Outcome::Done(r) => r.map_err(to_pyerr),
        Outcome::Interrupted(e) => Err(e),
    }
}

/// Runs `fut` to completion on the process runtime with the GIL released.
/// A pending signal (Ctrl-C) aborts the wait with the handler's exception.
pub fn run_blocking<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    run(py, fut, false)
}

/// As [`run_blocking`], for a short call (one or two requests): runs on the
/// calling thread when the short-call runtime is free (see
/// [`crate::client::process::short_runtime`]), saving two thread hand-offs per request.
pub fn run_blocking_small<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    run(py, fut, true)
}

fn run<T, F>(py: Python<'_>, fut: F, short: bool) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    let _counted = exit::enter()?;
    let state = runtime::current().map_err(to_pyerr)?;
    finish(py.detach(|| {
        let waiting = until_signal(fut);
        let outcome = if short {
            short_runtime::block_on(waiting)
                .unwrap_or_else(|waiting| state.runtime().block_on(waiting))
        } else {
            state.runtime().block_on(waiting)
        };
        // Interpreter exit may have begun meanwhile (see `exit`).
        exit::park_if_exiting();
        outcome
    }))
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
