//! The only place that blocks on the runtime: releases the GIL, polls for
//! Ctrl-C, and maps errors once.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use pyo3::prelude::*;

use super::errors::to_pyerr;
use super::exit;
use crate::client::process::exec::{self, Run};
use crate::client::process::runtime;
use crate::client::process::short_runtime::{self, First};
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
    run_as(py, Run::Shared, fut)
}

/// As [`run_blocking`], for a short call (one or two requests): runs on the
/// calling thread when the short-call runtime is free (see
/// [`crate::client::process::short_runtime`]), saving two thread hand-offs per request.
pub fn run_blocking_small<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    run_as(py, Run::Caller, fut)
}

/// Runs `fut` as the core says it wants to be run: in place with the GIL
/// held if it never waits ([`Run::Inline`]), else with the GIL released on
/// the runtime `run` names (see [`exec::block_on`]).
pub fn run_as<T, F>(py: Python<'_>, run: Run, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    let mut fut = pin!(fut);
    let mut run = run;
    // Whether the first poll started requests on the short-call runtime,
    // which then is the only one that can finish them.
    let mut on_short = false;
    if run == Run::Inline {
        match short_runtime::poll_once(&mut fut) {
            First::Ready(out) => return out.map_err(to_pyerr),
            First::Started => on_short = true,
            First::Unavailable => {
                if let Some(out) = exec::now_in_runtime(&mut fut).map_err(to_pyerr)? {
                    return out.map_err(to_pyerr);
                }
                // Polled in the shared runtime's context: finished there.
                run = Run::Shared;
            }
        }
    }
    let _counted = exit::enter()?;
    finish(py.detach(|| {
        let outcome = if on_short {
            Ok(short_runtime::finish(until_signal(fut)))
        } else {
            exec::block_on(run, until_signal(fut))
        };
        // Interpreter exit may have begun meanwhile (see `exit`).
        exit::park_if_exiting();
        outcome.unwrap_or_else(|e| Outcome::Done(Err(e)))
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
