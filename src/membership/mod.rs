//! Worker membership: who is in the cluster, published as an immutable
//! [`Ring`] that is swapped atomically, so a lookup never waits for an update.

mod etcd;
mod static_hosts;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::config::{ClientConfig, EtcdConfig, MembershipConfig};
use crate::error::{Error, Result};
use crate::protocol::ring::Ring;

pub use static_hosts::static_workers;

/// How long a caller waits for the first etcd listing before giving up.
const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

/// Progress of the membership source, as callers need it.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// A listing has succeeded at least once; the ring is meaningful.
    pub synced: bool,
    /// The latest failure, cleared by the next success.
    pub error: Option<Error>,
    /// Bumped on every ring publication (lets tests wait for changes).
    pub generation: u64,
}

/// Where the ring lives: written by one source task, read by everyone.
pub(crate) struct Publisher {
    ring: Arc<ArcSwap<Ring>>,
    status: watch::Sender<Status>,
    virtual_nodes: u32,
}

impl Publisher {
    /// Installs a new ring built from `workers` (if it differs) and marks the source synced.
    pub(crate) fn publish(&self, workers: Vec<crate::WorkerInfo>) {
        let old = self.ring.load();
        if old.workers() != workers.as_slice() || !self.status.borrow().synced {
            let ring = Ring::new(workers, self.virtual_nodes);
            log_changes(&old, &ring);
            self.ring.store(Arc::new(ring));
        }
        self.status.send_modify(|s| {
            s.synced = true;
            s.error = None;
            s.generation += 1;
        });
    }

    /// Records a failure; the last ring keeps serving.
    pub(crate) fn fail(&self, e: Error) {
        self.status.send_modify(|s| s.error = Some(e));
    }

    /// Number of workers in the current ring.
    pub(crate) fn current_len(&self) -> usize {
        self.ring.load().workers().len()
    }
}

fn log_changes(old: &Ring, new: &Ring) {
    for w in new.workers() {
        if !old.workers().iter().any(|o| o.identity == w.identity) {
            log::info!(
                "alluxiofs: worker {} joined at {}",
                w.identity,
                w.http_authority()
            );
        }
    }
    for w in old.workers() {
        if !new.workers().iter().any(|n| n.identity == w.identity) {
            log::info!(
                "alluxiofs: worker {} left ({})",
                w.identity,
                w.http_authority()
            );
        }
    }
}

/// A live view of cluster membership. Cheap to clone; the source task stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    ring: Arc<ArcSwap<Ring>>,
    status: watch::Receiver<Status>,
    description: String,
    /// The etcd watch, started by the first look at the ring: a forked
    /// loader that only reads the node's local cache never connects (2 ms
    /// of its first read, and CPU every loader on the node shares).
    source: Mutex<Source>,
    started: AtomicBool,
}

/// The etcd watch: not yet started, or its task.
enum Source {
    Pending(Box<(EtcdConfig, String, Publisher, tokio::runtime::Handle)>),
    Running(tokio::task::AbortHandle),
    None,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Source::Running(t) = &*self.source.lock() {
            t.abort();
        }
    }
}

impl Membership {
    /// Membership for `config`. Static lists are ready at once and touch no
    /// network; etcd's watch task is spawned on `rt` by the first look at
    /// the ring or status.
    pub fn start(config: &ClientConfig, rt: &tokio::runtime::Handle) -> Self {
        let ring = Arc::new(ArcSwap::from_pointee(Ring::new(
            Vec::new(),
            config.virtual_nodes,
        )));
        let (tx, rx) = watch::channel(Status::default());
        let publisher = Publisher {
            ring: ring.clone(),
            status: tx,
            virtual_nodes: config.virtual_nodes,
        };
        let (description, source) = match &config.membership {
            MembershipConfig::Static(hosts) => {
                publisher.publish(static_workers(hosts));
                (
                    format!(
                        "worker_hosts {}",
                        hosts
                            .iter()
                            .map(|h| h.authority())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    Source::None,
                )
            }
            MembershipConfig::Etcd(e) => {
                let desc = format!(
                    "etcd {} (cluster {})",
                    e.endpoints_text(),
                    config.cluster_name
                );
                let pending = (
                    e.clone(),
                    config.cluster_name.clone(),
                    publisher,
                    rt.clone(),
                );
                (desc, Source::Pending(Box::new(pending)))
            }
        };
        let started = !matches!(source, Source::Pending(_));
        Self {
            inner: Arc::new(Inner {
                ring,
                status: rx,
                description,
                source: Mutex::new(source),
                started: AtomicBool::new(started),
            }),
        }
    }

    /// Starts the etcd watch if nothing has looked at the ring yet.
    fn watch(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let mut source = self.inner.source.lock();
        if let Source::Pending(p) = std::mem::replace(&mut *source, Source::None) {
            let (cfg, cluster, publisher, rt) = *p;
            *source = Source::Running(rt.spawn(etcd::run(cfg, cluster, publisher)).abort_handle());
        }
        self.inner.started.store(true, Ordering::Release);
    }

    /// The current ring, without waiting (empty before the first listing).
    pub fn current_ring(&self) -> Arc<Ring> {
        self.watch();
        self.inner.ring.load_full()
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.watch();
        self.inner.status.borrow().clone()
    }

    /// Where membership comes from, for messages.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// Waits until the status satisfies `pred` (or `timeout` passes).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl FnMut(&Status) -> bool,
    ) -> Result<Status> {
        self.watch();
        let mut rx = self.inner.status.clone();
        let waited = tokio::time::timeout(timeout, async {
            rx.wait_for(pred).await.map(|s| s.clone())
        })
        .await;
        match waited {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(_)) => Err(Error::Timeout {
                what: format!("membership from {} (source stopped)", self.description()),
                after: timeout,
            }),
            Err(_) => Err(Error::Timeout {
                what: format!("membership from {}", self.description()),
                after: timeout,
            }),
        }
    }

    /// The ring once membership is known. Waits for the first etcd listing
    /// (bounded); fails if it failed, or if no worker is registered.
    pub async fn ring(&self) -> Result<Arc<Ring>> {
        let status = self.status();
        let status = if status.synced {
            status
        } else {
            self.wait_for(FIRST_SYNC_TIMEOUT, |s| s.synced || s.error.is_some())
                .await?
        };
        if !status.synced {
            return Err(status.error.unwrap_or_else(|| Error::NoWorkers {
                source_desc: self.description().to_owned(),
            }));
        }
        let ring = self.current_ring();
        if ring.is_empty() {
            return Err(Error::NoWorkers {
                source_desc: self.description().to_owned(),
            });
        }
        Ok(ring)
    }
}
