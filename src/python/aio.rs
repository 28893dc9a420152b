//! Awaitables over the core's futures (`Client.*_async`), through
//! `pyo3-async-runtimes`' generic runtime support: each call spawns its
//! future on this process's runtime (the one the sync API blocks on, rebuilt
//! after `fork`) and resolves an asyncio future on the caller's loop. No
//! fsspec I/O thread and no Python thread sits in between.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use pyo3_async_runtimes::generic::{self, ContextExt, Runtime};
use pyo3_async_runtimes::TaskLocals;

use super::convert::{fsspec_dict, status_dict, status_dicts};
use super::errors::to_pyerr;
use super::exit;
use crate::client::process::runtime;
use crate::client::FileStatus;
use crate::error::Result;

/// The process runtime, as `pyo3-async-runtimes` sees it.
pub struct CoreRt;

/// A task that could not be spawned (the runtime is gone: the interpreter
/// is exiting) or the runtime's own join error.
pub struct JoinFailed(Option<tokio::task::JoinError>);

impl generic::JoinError for JoinFailed {
    fn is_panic(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(tokio::task::JoinError::is_panic)
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.0 {
            Some(e) => e.into_panic(),
            None => Box::new("the alluxiofs runtime is gone"),
        }
    }
}

/// A spawned task; one that could not be spawned (see [`JoinFailed`]); or
/// a job handed to the delivery thread (nobody waits for those).
pub enum Handle {
    /// A task on the process runtime.
    Task(tokio::task::JoinHandle<()>),
    /// Not spawned.
    Failed,
    /// Queued on the delivery thread.
    Queued,
}

impl Future for Handle {
    type Output = std::result::Result<(), JoinFailed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            Handle::Task(h) => Pin::new(h).poll(cx).map_err(|e| JoinFailed(Some(e))),
            Handle::Failed => Poll::Ready(Err(JoinFailed(None))),
            Handle::Queued => Poll::Ready(Ok(())),
        }
    }
}

fn on_runtime(f: impl FnOnce(&tokio::runtime::Runtime) -> tokio::task::JoinHandle<()>) -> Handle {
    match runtime::current() {
        Ok(state) => Handle::Task(f(state.runtime())),
        Err(e) => {
            log::error!("alluxiofs: cannot run an async call: {e}");
            Handle::Failed
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The delivery thread of this process (a forked child starts its own).
static DELIVERY: parking_lot::Mutex<Option<(u32, std::sync::mpsc::Sender<Job>)>> =
    parking_lot::Mutex::new(None);

/// Runs `job` (resolving an asyncio future: it takes the GIL) on the
/// delivery thread, which takes the GIL once for every job that is waiting.
/// `pyo3-async-runtimes` would run each on a blocking-pool thread of its
/// own: 10,000 reads finishing together became hundreds of threads taking
/// turns at the GIL (A1: 3,610 reads/s, against 5,306 for the sync batch).
fn deliver(job: Job) {
    let pid = std::process::id();
    let mut slot = DELIVERY.lock();
    let job = match slot.as_ref().filter(|(p, _)| *p == pid) {
        Some((_, tx)) => match tx.send(job) {
            Ok(()) => return,
            Err(std::sync::mpsc::SendError(job)) => job,
        },
        None => job,
    };
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let started = std::thread::Builder::new()
        .name("alluxiofs-aio".into())
        .spawn(move || deliver_all(&rx));
    match started {
        Ok(_) => {
            let _ = tx.send(job);
            *slot = Some((pid, tx));
        }
        Err(e) => log::error!("alluxiofs: cannot start the async delivery thread: {e}"),
    }
}

fn deliver_all(rx: &std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        if exit::settled_elsewhere() {
            continue; // the interpreter is gone: no future to resolve
        }
        Python::attach(|_py| {
            first();
            // Jobs queued meanwhile run under the same hold of the GIL.
            while let Ok(job) = rx.try_recv() {
                job();
            }
        });
    }
}

impl Runtime for CoreRt {
    type JoinError = JoinFailed;
    type JoinHandle = Handle;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        on_runtime(|rt| rt.spawn(fut))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        deliver(Box::new(f));
        Handle::Queued
    }
}

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl ContextExt for CoreRt {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// What an async call gives back, turned into Python objects (or its error
/// into the exception) on the thread that resolves the asyncio future.
pub enum Out {
    /// `None`.
    Unit,
    /// `bytes`.
    Bytes(Vec<u8>),
    /// One status dict (`true`: with fsspec's keys).
    Status(Box<FileStatus>, bool),
    /// A listing's status dicts (`true`: with fsspec's keys).
    Statuses(Vec<FileStatus>, bool),
}

/// An outcome carried to the Python side unconverted: errors become
/// exceptions only there (some need the GIL to be built).
pub struct Deferred(Result<Out>);

impl<'py> IntoPyObject<'py> for Deferred {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.0.map_err(to_pyerr)? {
            Out::Unit => py.None().into_bound(py),
            Out::Bytes(v) => PyBytes::new(py, &v).into_any(),
            Out::Status(s, true) => fsspec_dict(py, &s)?.into_any(),
            Out::Status(s, false) => status_dict(py, &s)?.into_any(),
            Out::Statuses(all, fsspec) => {
                PyList::new(py, status_dicts(py, &all, fsspec)?)?.into_any()
            }
        })
    }
}

/// An awaitable for `fut`, run on the process runtime. Must be called with
/// an asyncio loop running in this thread (from a coroutine).
pub fn awaitable<'py, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<Out>> + Send + 'static,
{
    // Fails here, as an exception, rather than in a task that cannot start.
    runtime::current().map_err(to_pyerr)?;
    generic::future_into_py::<CoreRt, _, _>(py, async move { Ok(Deferred(fut.await)) })
}
