//! Interpreter exit seen from threads that are not the one exiting.
//!
//! PyArrow scans read ahead on their own (C++) threads; a script that returns
//! while such a read is still inside Python or inside us gets that thread
//! taking the GIL after finalization began, which Python answers with
//! `pthread_exit`: unwinding a C++ thread that way aborts the whole process
//! ("terminate called without an active exception"), after the script's work
//! is done (apache/arrow#39162 shows the same with s3fs; the seed's
//! `dataset.take([0])` example hit it ~1 run in 30).
//!
//! So our `atexit` hook, which runs before finalization, lets the other
//! threads settle: from then on a new call from another thread fails at once
//! (a read-ahead then stops), and the hook waits, GIL released, until no call
//! has been in flight for [`QUIET`] (at most [`MAX_WAIT`]). A call still
//! finishing after that parks its thread instead of returning to Python: the
//! process is about to end and takes the thread with it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The thread that ran our `atexit` hook (the one finalizing).
static FINALIZER: OnceLock<ThreadId> = OnceLock::new();
/// Set when the exit hook stopped waiting: other threads may no longer take
/// the GIL.
static SETTLED: AtomicBool = AtomicBool::new(false);
/// Blocking calls running now, on any thread.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// When a blocking call last started or ended (ns since [`epoch`]).
static LAST_CHANGE_NS: AtomicU64 = AtomicU64::new(0);

/// How long no call must have run for the other threads to count as settled.
const QUIET: Duration = Duration::from_millis(30);
/// The longest the exit waits for that.
const MAX_WAIT: Duration = Duration::from_secs(2);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Marks the start of interpreter exit and lets other threads' calls settle
/// (see the module docs). Registered with `atexit`.
#[pyfunction]
fn _at_exit(py: Python<'_>) {
    let _ = FINALIZER.set(std::thread::current().id());
    py.detach(|| {
        let deadline = Instant::now() + MAX_WAIT;
        while Instant::now() < deadline {
            let idle = Duration::from_nanos(now_ns() - LAST_CHANGE_NS.load(Ordering::Acquire));
            if IN_FLIGHT.load(Ordering::Acquire) == 0 && idle >= QUIET {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if IN_FLIGHT.load(Ordering::Acquire) != 0 {
            log::debug!("alluxiofs: calls still in flight at exit");
        }
        SETTLED.store(true, Ordering::Release);
    });
}

/// Registers [`_at_exit`] with Python's `atexit`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    epoch();
    let hook = wrap_pyfunction!(_at_exit, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// Whether the interpreter is exiting and this is not the thread doing it: a
/// new call here is refused (see the module docs).
pub fn exiting_elsewhere() -> bool {
    FINALIZER
        .get()
        .is_some_and(|t| *t != std::thread::current().id())
}

/// Whether the exit hook is done and this is not the exiting thread: taking
/// the GIL here could end the thread.
pub fn settled_elsewhere() -> bool {
    SETTLED.load(Ordering::Acquire) && exiting_elsewhere()
}

/// Counts one blocking call in flight while alive.
pub struct InFlight(());

impl InFlight {
    /// Starts counting a call.
    fn start() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        LAST_CHANGE_NS.store(now_ns(), Ordering::Release);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        LAST_CHANGE_NS.store(now_ns(), Ordering::Release);
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Parks this thread for good if [`settled_elsewhere`]; returns otherwise.
pub fn park_if_exiting() {
    if settled_elsewhere() {
        log::debug!("alluxiofs: a call finished after interpreter exit began; parking its thread");
        loop {
            std::thread::park();
        }
    }
}

/// Admits a blocking call: counted while the guard lives; refused with
/// `RuntimeError` on another thread once the interpreter is exiting (as
/// `concurrent.futures` refuses new work then).
pub fn enter() -> PyResult<InFlight> {
    if exiting_elsewhere() {
        return Err(PyRuntimeError::new_err(
            "alluxiofs: the interpreter is exiting; no new calls from other threads",
        ));
    }
    Ok(InFlight::start())
}
