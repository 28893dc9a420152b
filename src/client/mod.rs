//! The client core: membership, the ring, one HTTP pool and one concurrency
//! limit per configuration per process, and the operations of docs/protocol.md §6
//! with retries and failover along ring candidates.

pub mod batch;
pub mod dest;
pub mod fetch;
pub mod http;
mod meta;
mod ops;
pub mod pages;
pub mod process;
mod raw_get;
pub mod read;
pub mod seam;
pub mod slice;
pub mod stats;
pub mod tier;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::client::process::runtime::MembershipSlot;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::membership::Membership;
use crate::protocol::worker_info::WorkerInfo;

pub use meta::FileStatus;
#[doc(hidden)]
pub use meta::{parse_list, parse_list_batches};
pub use ops::LoadResponse;

/// How long a worker that failed to answer goes to the back of the line.
const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// What a worker is known to support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeSupport {
    Yes,
    No,
    /// This many `/v1/range` probes ended in a dropped connection while the
    /// page endpoint worked (one could be a passing fault).
    Unsure(u8),
}

/// Shared by every client with the same configuration in this process.
pub struct ClientCore {
    config: ClientConfig,
    membership: Arc<MembershipSlot>,
    http: http::Http,
    limit: Arc<Semaphore>,
    range_support: Mutex<HashMap<String, RangeSupport>>,
    /// Workers that failed to answer, and when (see `is_suspect`).
    suspects: Mutex<HashMap<String, Instant>>,
    /// Counters for `stats()`.
    pub stats: stats::Stats,
}

impl ClientCore {
    /// Builds the core on `membership` (already started for `config`).
    pub fn new(config: ClientConfig, membership: Arc<MembershipSlot>) -> Result<Self> {
        Ok(Self {
            http: http::Http::new(&config.io)?,
            limit: Arc::new(Semaphore::new(config.io.concurrency)),
            range_support: Mutex::new(HashMap::new()),
            suspects: Mutex::new(HashMap::new()),
            stats: stats::Stats::default(),
            config,
            membership,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The membership view.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Ring candidates for `key`, owner first.
    async fn candidates(&self, key: &str) -> Result<Vec<WorkerInfo>> {
        let ring = self.membership.ring().await?;
        Ok(ring
            .get_multiple(key, self.config.io.failover_workers)
            .into_iter()
            .cloned()
            .collect())
    }

    /// Runs `op` against the ring candidates of `key`: retries retryable
    /// failures on one worker with backoff, then moves on to the next, all
    /// within the deadline. `idempotent = false` retries only failures that
    /// happened before the request could reach the worker.
    async fn with_failover<T, F, Fut>(&self, key: &str, idempotent: bool, mut op: F) -> Result<T>
    where
        F: FnMut(WorkerInfo) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let io = &self.config.io;
        let start = Instant::now();
        let mut last = None;
        let mut candidates = self.candidates(key).await?;
        // Workers that just failed to answer go last (stable: ring order otherwise).
        candidates.sort_by_key(|w| self.is_suspect(w));
        for (n, worker) in candidates.into_iter().enumerate() {
            if n > 0 {
                stats::Stats::add(&self.stats.failovers, 1);
                log::info!(
                    "alluxiofs: {key}: moving on to worker {}",
                    worker.http_authority()
                );
            }
            let mut backoff = Duration::from_millis(50);
            for attempt in 0..io.retries {
                if attempt > 0 {
                    if start.elapsed() + backoff > io.deadline {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    stats::Stats::add(&self.stats.retries, 1);
                }
                let out = {
                    let _permit = self.limit.acquire().await.expect("semaphore never closed");
                    stats::Stats::add(&self.stats.requests, 1);
                    // No attempt outlives the operation's deadline.
                    let left = io.deadline.saturating_sub(start.elapsed());
                    match tokio::time::timeout(left, op(worker.clone())).await {
                        Ok(out) => out,
                        Err(_) => {
                            stats::Stats::add(&self.stats.errors, 1);
                            let before = last
                                .as_ref()
                                .map(|e| format!("; before that: {e}"))
                                .unwrap_or_default();
                            return Err(Error::Timeout {
                                what: format!(
                                    "worker {} for {key} (the operation's deadline, across \
                                     retries and failover{before})",
                                    worker.http_authority()
                                ),
                                after: io.deadline,
                            });
                        }
                    }
                };
                match out {
                    Ok(v) => {
                        self.clear_suspect(&worker);
                        return Ok(v);
                    }
                    Err(e) if e.is_retryable() && (idempotent || never_sent(&e)) => {
                        if matches!(e, Error::Transport { .. } | Error::Timeout { .. }) {
                            self.mark_suspect(&worker);
                        }
                        log::debug!(
                            "alluxiofs: {key}: attempt {} on {} failed: {e}",
                            attempt + 1,
                            worker.http_authority()
                        );
                        last = Some(e);
                    }
                    Err(e) => {
                        // Not found / exists / bad argument are answers, not failures.
                        if !matches!(
                            e,
                            Error::NotFound(_)
                                | Error::AlreadyExists(_)
                                | Error::InvalidArgument(_)
                                | Error::IsADirectory(_)
                        ) {
                            stats::Stats::add(&self.stats.errors, 1);
                        }
                        return Err(e);
                    }
                }
            }
            if start.elapsed() > io.deadline {
                break;
            }
        }
        stats::Stats::add(&self.stats.errors, 1);
        Err(last.unwrap_or_else(|| Error::NoWorkers {
            source_desc: self.membership.description().to_owned(),
        }))
    }

    /// Whether `worker` failed to answer (refused, reset, timed out) within
    /// the last [`SUSPECT_FOR`]: operations try the other candidates first
    /// instead of paying the retries on it again, read after read.
    fn is_suspect(&self, worker: &WorkerInfo) -> bool {
        let mut map = self.suspects.lock();
        if map.is_empty() {
            return false;
        }
        match map.get(&worker.http_authority()) {
            Some(at) if at.elapsed() < SUSPECT_FOR => true,
            Some(_) => {
                map.remove(&worker.http_authority());
                false
            }
            None => false,
        }
    }

    fn mark_suspect(&self, worker: &WorkerInfo) {
        self.suspects
            .lock()
            .insert(worker.http_authority(), Instant::now());
    }

    fn clear_suspect(&self, worker: &WorkerInfo) {
        let mut map = self.suspects.lock();
        if !map.is_empty() {
            map.remove(&worker.http_authority());
        }
    }

    fn range_support(&self, worker: &WorkerInfo) -> Option<RangeSupport> {
        self.range_support
            .lock()
            .get(&worker.http_authority())
            .copied()
    }

    fn set_range_support(&self, worker: &WorkerInfo, s: RangeSupport) {
        self.range_support.lock().insert(worker.http_authority(), s);
    }

    /// Records a range probe that failed while pages worked; returns true if
    /// this settles it (the worker is now known to have no `/v1/range`).
    fn range_probe_failed(&self, worker: &WorkerInfo, definite: bool) -> bool {
        let mut map = self.range_support.lock();
        let entry = map
            .entry(worker.http_authority())
            .or_insert(RangeSupport::Unsure(0));
        let next = match *entry {
            RangeSupport::Unsure(n) if !definite && n < 1 => RangeSupport::Unsure(n + 1),
            RangeSupport::Yes => RangeSupport::Yes,
            _ => RangeSupport::No,
        };
        let settled = next == RangeSupport::No && *entry != RangeSupport::No;
        *entry = next;
        settled
    }
}

/// Whether the request cannot have reached the worker (safe to resend a
/// non-idempotent request).
fn never_sent(e: &Error) -> bool {
    matches!(e, Error::Transport { message, .. } if message.contains("Connection refused") || message.contains("error trying to connect"))
}
