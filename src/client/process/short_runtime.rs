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

/// Runs `fut` to completion on the short-call runtime on this thread; gives
/// `fut` back when another thread is using it, this thread is inside a
/// runtime already, it is turned off, or it cannot be built.
pub fn block_on<F: Future>(fut: F) -> std::result::Result<F::Output, F> {
    if !enabled() || active() || tokio::runtime::Handle::try_current().is_ok() {
        return Err(fut);
    }
    let Some(mut slot) = SHORT.try_lock() else {
        return Err(fut);
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
                return Err(fut);
            }
        }
    }
    let Some(short) = slot.as_ref() else {
        return Err(fut);
    };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.set(0);
        }
    }
    ACTIVE.set(short.generation);
    let _reset = Reset;
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
