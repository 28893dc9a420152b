//! A value that belongs to one process or runtime generation, rebuilt when
//! the key changes. The stale value is forgotten, never dropped: it holds
//! sockets, tasks or an epoll instance of a runtime that no longer exists
//! here (after `fork`), and dropping them would touch the parent's.
//!
//! The slot's lock survives `fork` too: a thread of the parent that held it
//! at that moment (every call looks its value up) does not exist in the
//! child, which would wait for it forever. So each slot remembers the fork
//! generation it was last used in ([`forked`] bumps it in the child), and
//! its first use in a new one releases a lock left held by the parent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

use parking_lot::{Mutex, MutexGuard};

/// This process's fork generation: bumped in a child right after `fork`.
static FORKS: AtomicU64 = AtomicU64::new(1);
/// Marks a slot's generation while one thread checks its lock for it.
const RESETTING: u64 = 1 << 63;

/// Whether [`register_fork_hook`] has installed the `pthread_atfork` hook.
static HOOKED: AtomicBool = AtomicBool::new(false);

/// Called in a forked child (before any other thread exists there).
pub fn forked() {
    FORKS.fetch_add(1, Ordering::AcqRel);
}

/// Called by a second at-fork mechanism (Python's `os.register_at_fork`):
/// bumps the generation unless the `pthread_atfork` hook already has.
pub fn forked_once() {
    if !HOOKED.load(Ordering::Acquire) {
        forked();
        crate::cache::lock::close_inherited();
    }
}

extern "C" fn forked_hook() {
    // Async-signal-safe: atomics and `close`.
    forked();
    crate::cache::lock::close_inherited();
}

/// Installs (once per process) a `pthread_atfork` child hook that calls
/// [`forked`], so every `fork` is seen even with no Python around.
pub fn register_fork_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only does an atomic add.
        if unsafe { libc::pthread_atfork(None, None, Some(forked_hook)) } == 0 {
            HOOKED.store(true, Ordering::Release);
        }
    });
}

/// A lazily built value and the key it was built for.
pub struct Slot<K, V> {
    generation: AtomicU64,
    value: Mutex<Option<(K, V)>>,
}

impl<K, V> Default for Slot<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Slot<K, V> {
    /// An empty slot (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            value: Mutex::new(None),
        }
    }
}

impl<K, V> Slot<K, V> {
    /// The slot's lock in fork generation `now`.
    fn lock_in(&self, now: u64) -> MutexGuard<'_, Option<(K, V)>> {
        loop {
            let seen = self.generation.load(Ordering::Acquire);
            if seen == now {
                return self.value.lock();
            }
            // An older generation, or one whose check a fork interrupted:
            // this thread checks the lock for `now`, the others wait.
            if seen != now | RESETTING
                && self
                    .generation
                    .compare_exchange(seen, now | RESETTING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                // No thread of this process locks it before the generation is
                // `now`: a holder is a thread of the parent.
                let orphaned = self.value.is_locked();
                self.generation.store(now, Ordering::Release);
                if orphaned {
                    // SAFETY: the thread that locked it does not exist here;
                    // this one takes its place (parking_lot's guard markers
                    // carry no state).
                    return unsafe { self.value.make_guard_unchecked(Default::default()) };
                }
                return self.value.lock();
            }
            std::thread::yield_now();
        }
    }
}

/// The value in `slot` for `key`, or a new one from `build` (stored) when
/// the slot is empty or holds another key's.
pub fn get_or_rebuild<K: PartialEq, V: Clone, E>(
    slot: &Slot<K, V>,
    key: K,
    build: impl FnOnce() -> Result<V, E>,
) -> Result<V, E> {
    get_or_rebuild_in(slot, FORKS.load(Ordering::Acquire), key, build)
}

/// [`get_or_rebuild`] in fork generation `now`.
fn get_or_rebuild_in<K: PartialEq, V: Clone, E>(
    slot: &Slot<K, V>,
    now: u64,
    key: K,
    build: impl FnOnce() -> Result<V, E>,
) -> Result<V, E> {
    let mut slot = slot.lock_in(now);
    if let Some((k, v)) = slot.as_ref() {
        if *k == key {
            return Ok(v.clone());
        }
    }
    if let Some(stale) = slot.take() {
        std::mem::forget(stale);
    }
    let v = build()?;
    *slot = Some((key, v.clone()));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_for_the_same_key_and_rebuilds_for_another() {
        let slot = Slot::default();
        let a: Result<u32, ()> = get_or_rebuild(&slot, 1, || Ok(10));
        let b: Result<u32, ()> = get_or_rebuild(&slot, 1, || panic!("rebuilt"));
        let c: Result<u32, ()> = get_or_rebuild(&slot, 2, || Ok(20));
        assert_eq!((a, b, c), (Ok(10), Ok(10), Ok(20)));
        assert_eq!(get_or_rebuild(&slot, 3, || Err("no")), Err("no"));
        assert!(
            slot.lock_in(1).is_none(),
            "a failed build leaves nothing stale"
        );
    }

    #[test]
    fn a_lock_left_held_before_a_fork_is_released_in_the_child() {
        // Generations passed in: the process's own is not bumped under
        // other tests' feet.
        let slot: Slot<u32, u32> = Slot::default();
        assert_eq!(get_or_rebuild_in(&slot, 1, 1, || Ok::<_, ()>(10)), Ok(10));
        // A thread of the parent holds the lock when the process forks.
        std::mem::forget(slot.lock_in(1));
        assert_eq!(get_or_rebuild_in(&slot, 2, 2, || Ok::<_, ()>(20)), Ok(20));
        assert_eq!(get_or_rebuild_in(&slot, 2, 2, || Err(())), Ok(20));
        // A fork in the middle of another thread's check of the lock.
        slot.generation.store(2 | RESETTING, Ordering::Release);
        assert_eq!(get_or_rebuild_in(&slot, 3, 2, || Err(())), Ok(20));
    }
}
