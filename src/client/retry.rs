//! The retry policy of one operation: which worker to ask next, how long to
//! wait first, and when to give up.
//!
//! - Candidates are the ring's, owner first; workers that recently failed to
//!   answer ([`Suspects`]) go to the back for [`SUSPECT_FOR`], so reads do
//!   not pay the retries on a dead worker again and again.
//! - Each worker gets `retries` attempts; between two attempts on one worker
//!   the wait is exponential backoff with full jitter ([`Backoff`], after
//!   object_store's `BackoffConfig`): uniform in `[0, min(max, init·baseⁿ)]`,
//!   so clients that failed together do not retry together. Moving on to the
//!   next worker does not wait.
//! - Nothing is tried, and no wait begins, that would end past the deadline.
//! - A non-idempotent request is sent again only after a failure that cannot
//!   have reached the worker ([`TransportKind::never_sent`]).
//!
//! [`Plan`] is the pure state machine (tested below with a fixed random
//! source); `ClientCore::with_failover` drives it with the real clock, the
//! concurrency limit and the counters.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::IoConfig;
use crate::error::{Error, TransportKind};
use crate::protocol::worker_info::WorkerInfo;

/// How long a worker that failed to answer goes to the back of the line.
pub const SUSPECT_FOR: Duration = Duration::from_secs(10);

/// Exponential backoff bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// The ceiling of the first wait.
    pub init: Duration,
    /// The largest ceiling.
    pub max: Duration,
    /// The factor from one ceiling to the next.
    pub base: f64,
}

impl Default for BackoffConfig {
    /// Ceilings 100 ms, 200 ms, 400 ms, ... 1 s: with full jitter the mean
    /// waits (50, 100, 200 ms, ...) are the fixed waits used before jitter.
    fn default() -> Self {
        Self {
            init: Duration::from_millis(100),
            max: Duration::from_secs(1),
            base: 2.0,
        }
    }
}

/// A source of uniform numbers in `[0, 1)` (injectable for tests).
pub trait Random: Send {
    /// The next number, uniform in `[0, 1)`.
    fn unit(&mut self) -> f64;
}

/// SplitMix64: small, fast, good enough for jitter; seeded per operation.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator with its own seed (from the OS, or the clock).
    pub fn seeded() -> Self {
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            b = (t.as_nanos() as u64).to_le_bytes();
        }
        Self(u64::from_le_bytes(b))
    }
}

impl Random for SplitMix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top 53 bits, as a fraction.
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Successive waits: the n-th is uniform in `[0, min(max, init·baseⁿ)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    ceiling: Duration,
}

impl Backoff {
    /// A backoff at its first wait.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            ceiling: config.init.min(config.max),
            config,
        }
    }

    /// The next wait.
    pub fn next(&mut self, rng: &mut dyn Random) -> Duration {
        let wait = self.ceiling.mul_f64(rng.unit().clamp(0.0, 1.0));
        self.ceiling = self.ceiling.mul_f64(self.config.base).min(self.config.max);
        wait
    }
}

/// Workers that failed to answer (refused, reset, timed out), and when.
#[derive(Debug, Default)]
pub struct Suspects {
    at: Mutex<HashMap<String, Instant>>,
}

impl Suspects {
    /// Whether `worker` failed to answer within [`SUSPECT_FOR`] before `now`
    /// (a longer-ago failure is forgotten).
    pub fn is_suspect(&self, worker: &WorkerInfo, now: Instant) -> bool {
        let mut map = self.at.lock();
        if map.is_empty() {
            return false;
        }
        let key = worker.http_authority();
        match map.get(&key) {
            Some(at) if now.saturating_duration_since(*at) < SUSPECT_FOR => true,
            Some(_) => {
                map.remove(&key);
                false
            }
            None => false,
        }
    }

    /// `candidates` with the suspects moved to the back, each group in its
    /// ring order.
    pub fn order(&self, mut candidates: Vec<WorkerInfo>, now: Instant) -> Vec<WorkerInfo> {
        candidates.sort_by_key(|w| self.is_suspect(w, now));
        candidates
    }

    /// Records that `worker` failed to answer at `now`.
    pub fn mark(&self, worker: &WorkerInfo, now: Instant) {
        self.at.lock().insert(worker.http_authority(), now);
    }

    /// `worker` answered: it is no longer suspect.
    pub fn clear(&self, worker: &WorkerInfo) {
        let mut map = self.at.lock();
        if !map.is_empty() {
            map.remove(&worker.http_authority());
        }
    }
}

/// The limits of one operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    /// Attempts per worker.
    pub retries: u32,
    /// The whole operation, across retries and failover.
    pub deadline: Duration,
    /// Waits between attempts on one worker.
    pub backoff: BackoffConfig,
}

impl RetryConfig {
    /// The policy of a client configuration.
    pub fn from_io(io: &IoConfig) -> Self {
        Self {
            retries: io.retries.max(1),
            deadline: io.deadline,
            backoff: BackoffConfig::default(),
        }
    }
}

/// The next attempt of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The worker to ask.
    pub worker: WorkerInfo,
    /// How long to wait first (zero for a first attempt on a worker).
    pub wait: Duration,
    /// Whether this moves on to a worker after the first.
    pub failover: bool,
    /// 0 for the first attempt on this worker.
    pub retry: u32,
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub enum Verdict {
    /// Worth another attempt (the plan says where and when).
    Again,
    /// Final: the caller gets this error.
    Fail(Error),
}

/// The attempts of one operation over its candidates.
pub struct Plan<'r> {
    config: RetryConfig,
    idempotent: bool,
    candidates: Vec<WorkerInfo>,
    /// Index of the current candidate, and attempts made on it.
    at: usize,
    tries: u32,
    backoff: Backoff,
    rng: &'r mut dyn Random,
    last: Option<Error>,
}

impl<'r> Plan<'r> {
    /// A plan over `candidates` (in the order to try them).
    pub fn new(
        config: RetryConfig,
        idempotent: bool,
        candidates: Vec<WorkerInfo>,
        rng: &'r mut dyn Random,
    ) -> Self {
        Self {
            config,
            idempotent,
            candidates,
            at: 0,
            tries: 0,
            backoff: Backoff::new(config.backoff),
            rng,
            last: None,
        }
    }

    /// The next attempt, `elapsed` into the operation; `None` when there is
    /// none left that could finish within the deadline.
    pub fn next(&mut self, elapsed: Duration) -> Option<Attempt> {
        loop {
            let worker = self.candidates.get(self.at)?;
            if self.tries == 0 {
                if self.at > 0 && elapsed > self.config.deadline {
                    return None;
                }
                self.tries = 1;
                return Some(Attempt {
                    worker: worker.clone(),
                    wait: Duration::ZERO,
                    failover: self.at > 0,
                    retry: 0,
                });
            }
            if self.tries < self.config.retries {
                let wait = self.backoff.next(self.rng);
                // A wait that would end past the deadline is not begun.
                if elapsed + wait <= self.config.deadline {
                    self.tries += 1;
                    return Some(Attempt {
                        worker: worker.clone(),
                        wait,
                        failover: false,
                        retry: self.tries - 1,
                    });
                }
            }
            self.at += 1;
            self.tries = 0;
            self.backoff = Backoff::new(self.config.backoff);
        }
    }

    /// Judges a failed attempt: a retryable failure (of a non-idempotent
    /// request: only one that never reached the worker) is worth another.
    pub fn failed(&mut self, e: Error) -> Verdict {
        let resend = self.idempotent || e.transport_kind().is_some_and(TransportKind::never_sent);
        if e.is_retryable() && resend {
            self.last = Some(e);
            Verdict::Again
        } else {
            Verdict::Fail(e)
        }
    }

    /// The last retryable failure, if any (what the caller gets when the
    /// attempts run out).
    pub fn last_error(&mut self) -> Option<Error> {
        self.last.take()
    }

    /// The last retryable failure, without taking it.
    pub fn last(&self) -> Option<&Error> {
        self.last.as_ref()
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
