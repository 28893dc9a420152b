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
mod tests {
    use super::*;
    use crate::protocol::identity::WorkerIdentity;
    use crate::protocol::worker_info::WorkerNetAddress;

    /// Always the same number.
    struct Fixed(f64);

    impl Random for Fixed {
        fn unit(&mut self) -> f64 {
            self.0
        }
    }

    fn w(port: u16) -> WorkerInfo {
        WorkerInfo {
            identity: WorkerIdentity::from_hostname(&format!("h:{port}")),
            address: WorkerNetAddress::with_http("h", port),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn config(retries: u32, deadline: Duration) -> RetryConfig {
        RetryConfig {
            retries,
            deadline,
            backoff: BackoffConfig::default(),
        }
    }

    fn refused() -> Error {
        Error::transport("h:1", TransportKind::Refused, "refused")
    }

    fn reset() -> Error {
        Error::transport("h:1", TransportKind::ClosedMidAnswer, "reset")
    }

    #[test]
    fn full_jitter_scales_exponential_ceilings_up_to_the_cap() {
        let mut b = Backoff::new(BackoffConfig::default());
        let waits: Vec<_> = (0..6).map(|_| b.next(&mut Fixed(0.5))).collect();
        assert_eq!(waits, [ms(50), ms(100), ms(200), ms(400), ms(500), ms(500)]);
        let mut b = Backoff::new(BackoffConfig::default());
        assert_eq!(b.next(&mut Fixed(0.0)), Duration::ZERO);
        assert_eq!(b.next(&mut Fixed(0.999)), ms(200).mul_f64(0.999));
    }

    #[test]
    fn the_random_source_is_uniform_enough_and_in_range() {
        let mut r = SplitMix(42);
        let xs: Vec<f64> = (0..10_000).map(|_| r.unit()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn each_worker_gets_its_retries_then_the_next_one_without_a_wait() {
        let mut rng = Fixed(0.5);
        let mut plan = Plan::new(config(3, ms(10_000)), true, vec![w(1), w(2)], &mut rng);
        let mut seen = Vec::new();
        while let Some(a) = plan.next(Duration::ZERO) {
            seen.push((
                a.worker.address.http_server_port,
                a.wait,
                a.failover,
                a.retry,
            ));
            assert!(matches!(plan.failed(reset()), Verdict::Again));
        }
        assert_eq!(
            seen,
            [
                (1, ms(0), false, 0),
                (1, ms(50), false, 1),
                (1, ms(100), false, 2),
                // The backoff starts over on the next worker.
                (2, ms(0), true, 0),
                (2, ms(50), false, 1),
                (2, ms(100), false, 2),
            ]
        );
        assert!(plan.last_error().is_some());
    }

    #[test]
    fn no_wait_begins_that_would_end_past_the_deadline() {
        let mut rng = Fixed(0.5);
        let mut plan = Plan::new(config(5, ms(1_000)), true, vec![w(1), w(2)], &mut rng);
        assert_eq!(plan.next(ms(0)).unwrap().wait, ms(0));
        // 960 ms in: a 50 ms wait would end past 1 s, so on to worker 2 at once.
        let a = plan.next(ms(960)).unwrap();
        assert_eq!((a.worker, a.wait, a.failover), (w(2), ms(0), true));
        // Past the deadline nothing more starts.
        assert_eq!(plan.next(ms(1_001)), None);
    }

    #[test]
    fn the_first_attempt_always_starts_even_at_the_deadline() {
        let mut rng = Fixed(0.5);
        let mut plan = Plan::new(config(2, ms(0)), true, vec![w(1)], &mut rng);
        assert!(plan.next(ms(5)).is_some());
        assert!(plan.next(ms(5)).is_none());
    }

    #[test]
    fn non_idempotent_requests_are_resent_only_if_never_sent() {
        let mut rng = Fixed(0.5);
        let mut plan = Plan::new(config(3, ms(10_000)), false, vec![w(1)], &mut rng);
        assert!(matches!(plan.failed(refused()), Verdict::Again));
        let timeout = Error::transport("h:1", TransportKind::ConnectTimeout, "slow");
        assert!(matches!(plan.failed(timeout), Verdict::Again));
        assert!(matches!(plan.failed(reset()), Verdict::Fail(_)));
        let status = Error::transport("h:1", TransportKind::Status(503), "busy");
        assert!(matches!(plan.failed(status), Verdict::Fail(_)));
    }

    #[test]
    fn answers_are_final_and_server_faults_retried() {
        let mut rng = Fixed(0.5);
        let mut plan = Plan::new(config(3, ms(10_000)), true, vec![w(1)], &mut rng);
        assert!(matches!(
            plan.failed(Error::NotFound("x".into())),
            Verdict::Fail(Error::NotFound(_))
        ));
        for kind in [
            TransportKind::Status(500),
            TransportKind::Status(429),
            TransportKind::ShortBody,
            TransportKind::LongBody,
            TransportKind::AnswerTimeout,
            TransportKind::ClosedBeforeAnswer,
        ] {
            let e = Error::transport("h:1", kind, "");
            assert!(matches!(plan.failed(e), Verdict::Again), "{kind:?}");
        }
        for kind in [TransportKind::Status(418), TransportKind::Deadline] {
            let e = Error::transport("h:1", kind, "");
            assert!(matches!(plan.failed(e), Verdict::Fail(_)), "{kind:?}");
        }
    }

    #[test]
    fn suspects_go_to_the_back_in_ring_order_for_a_while() {
        let s = Suspects::default();
        let t0 = Instant::now();
        let ring = vec![w(1), w(2), w(3), w(4)];
        assert_eq!(s.order(ring.clone(), t0), ring);
        s.mark(&w(1), t0);
        s.mark(&w(3), t0);
        assert_eq!(s.order(ring.clone(), t0), [w(2), w(4), w(1), w(3)]);
        // An answer clears one; time clears the other.
        s.clear(&w(3));
        assert_eq!(s.order(ring.clone(), t0), [w(2), w(3), w(4), w(1)]);
        let later = t0 + SUSPECT_FOR;
        assert_eq!(s.order(ring.clone(), later), ring);
        assert!(!s.is_suspect(&w(1), t0), "forgotten once expired");
    }
}
