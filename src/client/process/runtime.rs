//! Process-wide state: one tokio runtime and the shared memberships, built
//! lazily and rebuilt after `fork` (a forked child has none of the parent's
//! threads, so reusing them would hang).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

use crate::client::process::stale;
use crate::client::ClientCore;
use crate::config::{ClientConfig, MembershipConfig};
use crate::error::{Error, Result};
use crate::membership::Membership;

/// What makes two configurations share one membership (and one etcd watch).
#[derive(Clone, PartialEq, Eq, Hash)]
struct MembershipKey {
    membership: MembershipConfig,
    cluster_name: String,
    virtual_nodes: u32,
}

/// Everything that belongs to this process and must not cross a `fork`.
pub struct ProcessState {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    memberships: Mutex<HashMap<MembershipKey, Weak<MembershipSlot>>>,
    clients: Mutex<HashMap<ClientConfig, Weak<ClientCore>>>,
}

/// Keeps a membership alive while some client holds it.
pub struct MembershipSlot(Membership);

impl std::ops::Deref for MembershipSlot {
    type Target = Membership;
    fn deref(&self) -> &Membership {
        &self.0
    }
}

/// The current process's state. Loads are lock-free: a `RwLock` here was
/// read-held by some reader thread whenever the process forked in the middle
/// of a call, and the child then waited forever to replace the parent's
/// state (a hang seen once in ~30 forks while another thread read).
static STATE: ArcSwapOption<ProcessState> = ArcSwapOption::const_empty();

/// Serialises building the state; a [`stale::Slot`], so a lock a parent
/// thread held at `fork` is released in the child.
static BUILD: stale::Slot<u32, Arc<ProcessState>> = stale::Slot::new();

/// Worker threads of the runtime: the CPUs this process may use, 2 to 8.
/// Computed once and inherited by forked children: finding out reads the
/// cgroup files, 60 % of building a child's runtime.
fn runtime_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)))
}

impl ProcessState {
    fn build() -> Result<Self> {
        let threads = runtime_threads();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("alluxiofs-rt")
            .enable_all()
            .build()
            .map_err(|e| Error::InvalidConfig(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Self {
            pid: std::process::id(),
            runtime,
            memberships: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// The process's tokio runtime.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// The membership for `config`, shared by every client with the same
    /// membership settings in this process (fsspec makes one filesystem per
    /// thread; they must not each open an etcd watch).
    pub fn membership(&self, config: &ClientConfig) -> Arc<MembershipSlot> {
        let key = MembershipKey {
            membership: config.membership.clone(),
            cluster_name: config.cluster_name.clone(),
            virtual_nodes: config.virtual_nodes,
        };
        let mut map = self.memberships.lock();
        if let Some(m) = map.get(&key).and_then(Weak::upgrade) {
            return m;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let m = Arc::new(MembershipSlot(Membership::start(
            config,
            self.runtime.handle(),
        )));
        map.insert(key, Arc::downgrade(&m));
        m
    }
}

impl ProcessState {
    /// The client core for `config`, shared by every client with the same
    /// configuration in this process (one pool, one concurrency limit).
    pub fn client(&self, config: &ClientConfig) -> Result<Arc<ClientCore>> {
        let mut map = self.clients.lock();
        if let Some(c) = map.get(config).and_then(Weak::upgrade) {
            return Ok(c);
        }
        map.retain(|_, w| w.strong_count() > 0);
        // Entering the runtime: the HTTP client's pool needs a reactor.
        let _guard = self.runtime.enter();
        let core = Arc::new(ClientCore::new(config.clone(), self.membership(config))?);
        map.insert(config.clone(), Arc::downgrade(&core));
        Ok(core)
    }
}

/// The state of the current process, built on first use and rebuilt if the
/// process has forked since.
pub fn current() -> Result<Arc<ProcessState>> {
    let pid = std::process::id();
    if let Some(s) = STATE.load().as_ref().filter(|s| s.pid == pid) {
        return Ok(Arc::clone(s));
    }
    stale::register_fork_hook();
    stale::get_or_rebuild(&BUILD, pid, || {
        if let Some(s) = STATE.load_full().filter(|s| s.pid == pid) {
            return Ok(s);
        }
        let fresh = Arc::new(ProcessState::build()?);
        // The parent's runtime threads do not exist here: dropping its state
        // would try to join them. Leak it instead.
        if let Some(old) = STATE.swap(Some(Arc::clone(&fresh))) {
            std::mem::forget(old);
        }
        Ok(fresh)
    })
}

/// The state of the current process if it has been built (never builds it).
pub fn existing() -> Option<Arc<ProcessState>> {
    let pid = std::process::id();
    STATE.load_full().filter(|s| s.pid == pid)
}

/// Called in a forked child (Python's `os.register_at_fork`): marks the fork
/// for the process-wide slots. The parent's state is left where it is:
/// [`current`] sees its pid is not ours and replaces it, leaking it.
pub fn after_fork_in_child() {
    stale::forked_once();
}

/// How long each of [`on_every_worker`]'s tasks waits for the others.
const RENDEZVOUS: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `f` once on each worker thread of `rt` (for per-thread state such as
/// an allocator's heap) and returns when all have run. One task per worker,
/// each blocking its worker until all have started (at most a second), so no
/// worker runs two. Call it from outside the runtime.
pub fn on_every_worker(rt: &tokio::runtime::Runtime, f: impl Fn() + Send + Sync + 'static) {
    use parking_lot::Condvar;
    let n = rt.metrics().num_workers();
    let f = Arc::new(f);
    let started = Arc::new((Mutex::new(0usize), Condvar::new()));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (started, f) = (Arc::clone(&started), Arc::clone(&f));
            rt.spawn(async move {
                let (count, cond) = &*started;
                let deadline = std::time::Instant::now() + RENDEZVOUS;
                let mut k = count.lock();
                *k += 1;
                cond.notify_all();
                // Blocks this worker on purpose: meanwhile the other tasks
                // must land on the other workers.
                while *k < n && !cond.wait_until(&mut k, deadline).timed_out() {}
                drop(k);
                f();
            })
        })
        .collect();
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_every_worker_runs_once_per_worker_thread() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        on_every_worker(&rt, move || s.lock().push(std::thread::current().id()));
        let mut ids = seen.lock().clone();
        assert_eq!(ids.len(), 4);
        ids.sort_by_key(|id| format!("{id:?}"));
        ids.dedup();
        assert_eq!(ids.len(), 4, "a worker ran twice");
    }
}
