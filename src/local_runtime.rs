//! A current-thread runtime per calling thread, for short calls (one small
//! request such as `info`): the request is written, awaited and read on the
//! caller's own thread. On the shared runtime the same call hands the request
//! to a runtime thread and the answer back, two thread wake-ups that cost more
//! than the request itself on a busy machine (a cached `info` took 2-3x as
//! long that way).
//!
//! A connection made on such a runtime is driven only while its thread waits
//! in [`block_on`], so such connections must never reach the shared pool:
//! [`crate::client::http::Http`] keeps a client per thread for them (see
//! [`client`]). Rebuilt after `fork` (the parent's is forgotten, never
//! dropped, as its sockets and epoll instance are shared with the parent).
//! At most [`MAX_LOCAL`] live at once; threads beyond that use the shared
//! runtime.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// Most threads with a runtime of their own at once, process-wide.
pub const MAX_LOCAL: usize = 32;

/// Runtimes alive now (reset in a forked child, whose other threads are gone).
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Local {
    pid: u32,
    rt: Rc<tokio::runtime::Runtime>,
    /// HTTP clients whose pools belong to this thread, by client id.
    clients: HashMap<u64, reqwest::Client>,
}

impl Drop for Local {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    /// Set while this thread runs a future in [`block_on`].
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// This thread's runtime, made on first use; `None` when [`MAX_LOCAL`]
/// threads have one already or it cannot be built.
fn runtime() -> Option<Rc<tokio::runtime::Runtime>> {
    let pid = std::process::id();
    LOCAL
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(old) = slot.take_if(|l| l.pid != pid) {
                // Made before a fork: shares descriptors with the parent.
                std::mem::forget(old);
            }
            if let Some(l) = slot.as_ref() {
                return Some(l.rt.clone());
            }
            if LIVE.fetch_add(1, Ordering::Relaxed) >= MAX_LOCAL {
                LIVE.fetch_sub(1, Ordering::Relaxed);
                return None;
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => Rc::new(rt),
                Err(e) => {
                    LIVE.fetch_sub(1, Ordering::Relaxed);
                    log::debug!("alluxiofs: no thread-local runtime ({e}); using the shared one");
                    return None;
                }
            };
            *slot = Some(Local {
                pid,
                rt: rt.clone(),
                clients: HashMap::new(),
            });
            Some(rt)
        })
        .ok()
        .flatten()
}

/// Runs `fut` to completion on this thread's runtime; gives `fut` back when
/// there is none (see [`runtime`]) or this thread is inside a runtime already.
pub fn block_on<F: Future>(fut: F) -> std::result::Result<F::Output, F> {
    if ACTIVE.get() || tokio::runtime::Handle::try_current().is_ok() {
        return Err(fut);
    }
    let Some(rt) = runtime() else {
        return Err(fut);
    };
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ACTIVE.set(false);
        }
    }
    ACTIVE.set(true);
    let _reset = Reset;
    Ok(rt.block_on(fut))
}

/// Whether the caller runs inside [`block_on`] on this thread.
pub fn active() -> bool {
    ACTIVE.try_with(Cell::get).unwrap_or(false)
}

/// This thread's client for the HTTP client `id`, built by `build` on first
/// use. Only meaningful while [`active`].
pub fn client(id: u64, build: impl FnOnce() -> Result<reqwest::Client>) -> Result<reqwest::Client> {
    LOCAL
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            let local = slot
                .as_mut()
                .ok_or_else(|| Error::InvalidConfig("no thread-local runtime".into()))?;
            if let Some(c) = local.clients.get(&id) {
                return Ok(c.clone());
            }
            let c = build()?;
            local.clients.insert(id, c.clone());
            Ok(c)
        })
        .map_err(|_| Error::InvalidConfig("thread is exiting".into()))?
}

/// Called in a forked child: only the forking thread survives, and its
/// runtime is forgotten on its next use.
pub fn after_fork_in_child() {
    LIVE.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_the_calling_thread_and_refuses_nesting() {
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
    fn clients_are_per_thread_and_per_id() {
        let build = || Ok(reqwest::Client::new());
        let ids = block_on(async {
            client(1, build).unwrap();
            client(1, || panic!("built twice")).unwrap();
            client(2, build).unwrap();
            LOCAL.with(|l| l.borrow().as_ref().map(|l| l.clients.len()))
        });
        assert_eq!(ids.ok(), Some(Some(2)));
    }

    #[test]
    fn at_most_max_local_threads_get_one() {
        // Other tests may hold some; fill up to the cap from fresh threads.
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(MAX_LOCAL + 9));
        let handles: Vec<_> = (0..MAX_LOCAL + 8)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let got = block_on(async {}).is_ok();
                    b.wait(); // hold the runtime until all have tried
                    got
                })
            })
            .collect();
        barrier.wait();
        let got = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|g| *g)
            .count();
        assert!((1..=MAX_LOCAL).contains(&got), "{got}");
        // Exited threads gave theirs back.
        let again = std::thread::spawn(|| block_on(async {}).is_ok());
        assert!(again.join().unwrap());
    }
}
