//! The client core: membership, the ring, one HTTP pool and one concurrency
//! limit per configuration per process, and the operations of docs/protocol.md §6
//! with retries and failover along ring candidates.

pub mod batch;
pub mod dest;
pub mod fetch;
mod hedge;
pub mod http;
pub mod local_tier;
mod meta;
mod ops;
pub mod pages;
pub mod process;
mod raw_get;
pub mod read;
pub mod retry;
pub mod seam;
pub mod slice;
pub mod stats;
pub mod tier;
pub mod upload;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Semaphore;

use crate::client::process::runtime::MembershipSlot;
use crate::config::ClientConfig;
use crate::error::{Error, Result, TransportKind};
use crate::membership::Membership;
use crate::protocol::worker_info::WorkerInfo;

pub use meta::FileStatus;
#[doc(hidden)]
pub use meta::{parse_list, parse_list_batches};
pub use ops::LoadResponse;
pub use upload::Upload;

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
    /// Workers that failed to answer lately: tried last.
    suspects: retry::Suspects,
    /// Piece latencies and the budget for hedged reads.
    hedger: hedge::Hedger,
    /// Counters for `stats()`.
    pub stats: stats::Stats,
    /// The node-shared local page cache, if configured.
    local_cache: Option<crate::cache::LocalCache>,
}

impl ClientCore {
    /// Builds the core on `membership` (already started for `config`).
    pub fn new(config: ClientConfig, membership: Arc<MembershipSlot>) -> Result<Self> {
        Ok(Self {
            http: http::Http::new(&config.io)?,
            limit: Arc::new(Semaphore::new(config.io.concurrency)),
            range_support: Mutex::new(HashMap::new()),
            suspects: retry::Suspects::default(),
            hedger: hedge::Hedger::default(),
            stats: stats::Stats::default(),
            local_cache: local_tier::open(&config)?,
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

    /// Runs `op` against the ring candidates of `key` as [`retry::Plan`]
    /// says: retryable failures again on one worker with backoff, then on
    /// the next, all within the deadline. `idempotent = false` retries only
    /// failures that cannot have reached the worker.
    async fn with_failover<T, F, Fut>(&self, key: &str, idempotent: bool, mut op: F) -> Result<T>
    where
        F: FnMut(WorkerInfo) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let config = retry::RetryConfig::from_io(&self.config.io);
        let start = Instant::now();
        let candidates = self.suspects.order(self.candidates(key).await?, start);
        let mut rng = retry::SplitMix::seeded();
        let mut plan = retry::Plan::new(config, idempotent, candidates, &mut rng);
        while let Some(attempt) = plan.next(start.elapsed()) {
            let worker = attempt.worker;
            if attempt.failover {
                stats::Stats::add(&self.stats.failovers, 1);
                log::info!(
                    "alluxiofs: {key}: moving on to worker {}",
                    worker.http_authority()
                );
            }
            if attempt.retry > 0 {
                tokio::time::sleep(attempt.wait).await;
                stats::Stats::add(&self.stats.retries, 1);
            }
            let out = {
                let _permit = self.limit.acquire().await.expect("semaphore never closed");
                stats::Stats::add(&self.stats.requests, 1);
                // No attempt outlives the operation's deadline.
                let left = config.deadline.saturating_sub(start.elapsed());
                tokio::time::timeout(left, op(worker.clone())).await
            };
            let e = match out {
                Ok(Ok(v)) => {
                    self.suspects.clear(&worker);
                    return Ok(v);
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    stats::Stats::add(&self.stats.errors, 1);
                    let before = plan.last().map(|e| format!("; before that: {e}"));
                    return Err(Error::transport(
                        worker.http_authority(),
                        TransportKind::Deadline,
                        format!(
                            "{key}: {:?} across retries and failover{}",
                            config.deadline,
                            before.unwrap_or_default()
                        ),
                    ));
                }
            };
            if e.transport_kind().is_some_and(TransportKind::unresponsive) {
                self.suspects.mark(&worker, Instant::now());
            }
            let n = attempt.retry + 1;
            match plan.failed(e) {
                retry::Verdict::Again => log::debug!(
                    "alluxiofs: {key}: attempt {n} on {} failed: {}",
                    worker.http_authority(),
                    plan.last().map(ToString::to_string).unwrap_or_default()
                ),
                retry::Verdict::Fail(e) => {
                    self.count_failure(&e);
                    return Err(e);
                }
            }
        }
        stats::Stats::add(&self.stats.errors, 1);
        Err(plan.last_error().unwrap_or_else(|| Error::NoWorkers {
            source_desc: self.membership.description().to_owned(),
        }))
    }

    /// Counts a final error in `stats`, unless it is an answer (not found,
    /// exists, bad argument, ...) rather than a failure.
    fn count_failure(&self, e: &Error) {
        if !matches!(
            e,
            Error::NotFound(_)
                | Error::AlreadyExists(_)
                | Error::InvalidArgument(_)
                | Error::IsADirectory(_)
                | Error::NotEmpty(_)
        ) {
            stats::Stats::add(&self.stats.errors, 1);
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
