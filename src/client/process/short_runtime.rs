//! One current-thread runtime for short calls (one or two small requests such
//! as `info`), run by whichever calling thread finds it free: the request is
//! written, awaited and read on the caller's own thread. On the shared
//! multi-thread runtime the same call hands the request to a runtime thread
//! and the answer back, two thread wake-ups that cost more than the request
//! itself on a busy machine (a cached `info` took 2-3x as long that way).
//!
//! A caller that finds it busy (another thread is in a short call) gives the
//! future back and uses the shared runtime: nobody waits for it.
//!
//! A connection made on this runtime is driven only while some thread is in
//! [`block_on`], so it must never reach the shared pool:
//! [`crate::client::http::Http`] keeps a second client for it, built per
//! [`generation`]. The runtime lives in a static and is never dropped (no
//! runtime teardown at process exit or in a thread-local destructor, where the
//! interpreter may already be gone); after `fork` the parent's is forgotten
//! and a new one built.
//!
//! `ALLUXIOFS_SHORT_RUNTIME=0` in the environment turns it off (every call on
//! the shared runtime): for A/B measurements, and a way out should it ever
//! misbehave somewhere.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

struct Short {
    pid: u32,
    generation: u64,
    rt: tokio::runtime::Runtime,
}

static SHORT: Mutex<Option<Short>> = Mutex::new(None);

/// Bumped for every runtime built (so after a `fork`).
static GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The generation of the runtime this thread runs a future on in
    /// [`block_on`], 0 outside.
    static ACTIVE: Cell<u64> = const { Cell::new(0) };
}

/// Whether short calls may use this runtime (`ALLUXIOFS_SHORT_RUNTIME`,
/// read once).
fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var("ALLUXIOFS_SHORT_RUNTIME").map_or(true, |v| v.trim() != "0"))
}

/// What [`poll_once`] did with a future.
pub enum First<T> {
    /// It finished.
    Ready(T),
    /// It waits, maybe on I/O it started on this runtime: finish it with
    /// [`finish`], never on another runtime (nothing else drives this one).
    Started,
    /// The runtime was not free (or is off): the future was not polled.
    Unavailable,
}

/// Polls `fut` once on this thread inside the short-call runtime, as
/// [`block_on`] would first poll it: a step that usually needs no I/O (a
/// local cache hit) finishes here, and one that does (a miss) has started
/// its requests on this runtime's connections instead of the shared
/// runtime's, whose answers each cost two thread wake-ups.
pub fn poll_once<F: Future + Unpin>(fut: &mut F) -> First<F::Output> {
    let Some(slot) = acquire(false) else {
        return First::Unavailable;
    };
    let Some(short) = slot.as_ref() else {
        return First::Unavailable;
    };
    let _active = Active::set(short.generation);
    let _in = short.rt.enter();
    match super::exec::now(fut) {
        Some(out) => First::Ready(out),
        None => First::Started,
    }
}

/// Runs to completion a future [`poll_once`] left [`First::Started`],
/// waiting for the runtime if another thread is in a short call (one or two
/// requests). The caller must not hold the GIL.
pub fn finish<F: Future>(fut: F) -> F::Output {
    let slot = acquire(true).expect("the short-call runtime that started the future");
    let short = slot.as_ref().expect("built by poll_once");
    let _active = Active::set(short.generation);
    short.rt.block_on(fut)
}

/// Marks this thread as running a future on the runtime of `generation`
/// until dropped.
struct Active;

impl Active {
    fn set(generation: u64) -> Self {
        ACTIVE.set(generation);
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.set(0);
    }
}

/// The runtime's slot, built for this process, if it may be used here:
/// `wait` for a busy one, else `None` when another thread has it.
fn acquire(wait: bool) -> Option<parking_lot::MutexGuard<'static, Option<Short>>> {
    if !enabled() || active() || tokio::runtime::Handle::try_current().is_ok() {
        return None;
    }
    let mut slot = if wait {
        SHORT.lock()
    } else {
        SHORT.try_lock()?
    };
    let pid = std::process::id();
    if let Some(old) = slot.take_if(|s| s.pid != pid) {
        // Made before a fork: its epoll instance and sockets are shared with
        // the parent, and deregistering them here would break the parent's.
        std::mem::forget(old);
    }
    if slot.is_none() {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                *slot = Some(Short {
                    pid,
                    generation: GENERATION.fetch_add(1, Ordering::Relaxed) + 1,
                    rt,
                })
            }
            Err(e) => {
                log::debug!("alluxiofs: no short-call runtime ({e}); using the shared one");
                return None;
            }
        }
    }
    Some(slot)
}

/// Runs `fut` to completion on the short-call runtime on this thread; gives
/// `fut` back when another thread is using it, this thread is inside a
/// runtime already, it is turned off, or it cannot be built.
pub fn block_on<F: Future>(fut: F) -> std::result::Result<F::Output, F> {
    let Some(slot) = acquire(false) else {
        return Err(fut);
    };
    let Some(short) = slot.as_ref() else {
        return Err(fut);
    };
    let _active = Active::set(short.generation);
    Ok(short.rt.block_on(fut))
}

/// Whether the caller runs inside [`block_on`] on this thread.
pub fn active() -> bool {
    generation() != 0
}

/// The generation of the runtime the caller runs on inside [`block_on`]
/// (0 outside): a client whose connections were made on another generation
/// must not be used.
pub fn generation() -> u64 {
    ACTIVE.try_with(Cell::get).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests share the one runtime: one at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn runs_on_the_calling_thread_and_refuses_nesting() {
        let _serial = SERIAL.lock();
        let me = std::thread::current().id();
        let out = block_on(async {
            assert!(active());
            // Nested: the future comes back instead of a second runtime.
            assert!(block_on(async { 1 }).is_err());
            std::thread::current().id()
        });
        assert_eq!(out.ok(), Some(me));
        assert!(!active());
    }

    #[test]
    fn a_step_that_waits_after_its_first_poll_is_finished_on_the_same_runtime() {
        let _serial = SERIAL.lock();
        let mut ready = std::pin::pin!(async { 3 });
        assert!(matches!(poll_once(&mut ready), First::Ready(3)));
        // A timer made in the first poll belongs to this runtime's driver,
        // which only `finish` runs.
        let me = std::thread::current().id();
        let mut waits = std::pin::pin!(async {
            assert!(active(), "polled inside the short-call runtime");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            std::thread::current().id()
        });
        assert!(matches!(poll_once(&mut waits), First::Started));
        assert!(!active());
        assert_eq!(finish(waits), me);
    }

    #[test]
    fn a_busy_runtime_hands_the_future_back() {
        let _serial = SERIAL.lock();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            block_on(async move {
                held_tx.send(()).unwrap();
                // Blocks this runtime's only thread on purpose, until told.
                go_rx.recv().unwrap();
            })
            .is_ok()
        });
        held_rx.recv().unwrap();
        assert!(block_on(async {}).is_err(), "a second thread got in");
        go_tx.send(()).unwrap();
        assert!(holder.join().unwrap());
        assert!(block_on(async {}).is_ok());
    }
}
