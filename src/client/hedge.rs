//! Hedged reads: a piece that has not answered after its worker's usual
//! time is also asked of the next ring candidate; the first complete,
//! length-checked answer wins and the other request is dropped.
//!
//! - The threshold is 1.5 times the recent p95 of the worker's piece latency
//!   ([`WINDOW`] successful pieces), never below [`FLOOR`]: a worker that is
//!   merely slow sets its own higher threshold, and scheduler noise on a
//!   busy machine (a few ms) does not trigger hedges. Not the p95 itself: it
//!   sends 5 % of healthy pieces to a hedge, the whole budget, and the
//!   budget is then spent before a real stall comes (the benchmark showed
//!   it: 167 hedges, 92 of them lost to a primary that was merely slowish).
//! - A token bucket caps hedges at [`BUDGET`] of the pieces asked for
//!   (plus a small burst), so a slow cluster is never asked for much more.
//! - Only pieces read into a plain slice are hedged ([`Dest::Slice`]): the
//!   hedge reads into a scratch buffer of its own and is copied in only
//!   after the primary request has been dropped, so the two never write
//!   one destination at once. Reads of unknown size ([`Dest::Vec`], which
//!   announce sizes and may lend buffers as they go) are not hedged.
//!
//! [`Dest::Slice`]: super::dest::Dest::Slice
//! [`Dest::Vec`]: super::dest::Dest::Vec

use std::collections::{HashMap, VecDeque};
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::dest::Dest;
use super::pages::Piece;
use super::read::Short;
use super::stats::Stats;
use super::ClientCore;
use crate::error::Result;
use crate::protocol::worker_info::WorkerInfo;

/// Successful pieces per worker the threshold is computed from.
pub const WINDOW: usize = 128;
/// The lowest threshold. A healthy local piece answers in about a
/// millisecond, but on a loaded machine (the benchmark host has two cores
/// for client, workers and proxies) scheduling alone delays some by 5–10 ms;
/// 20 ms keeps hedges for real stalls while cutting a 200 ms stall by 10x.
pub const FLOOR: Duration = Duration::from_millis(20);
/// The threshold until a worker has [`MIN_SAMPLES`] latencies.
pub const UNKNOWN: Duration = Duration::from_millis(100);
/// Latencies needed before their p95 is trusted.
pub const MIN_SAMPLES: usize = 20;
/// Hedges allowed per piece asked for.
pub const BUDGET: f64 = 0.05;
/// Most hedges the bucket holds (a short burst of stalls is covered).
pub const BURST: f64 = 5.0;

/// Recent latencies of one worker and their p95, recomputed now and then.
#[derive(Debug, Default)]
struct Window {
    micros: VecDeque<u32>,
    since: usize,
    p95: Option<Duration>,
}

impl Window {
    fn record(&mut self, d: Duration) {
        if self.micros.len() == WINDOW {
            self.micros.pop_front();
        }
        self.micros
            .push_back(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.since += 1;
        // Sorting 128 numbers per piece would cost more than the lookup.
        if self.p95.is_none() || self.since >= 16 {
            self.since = 0;
            self.p95 = p95(&self.micros);
        }
    }
}

/// The 95th percentile of `micros` (`None` below [`MIN_SAMPLES`]).
fn p95(micros: &VecDeque<u32>) -> Option<Duration> {
    if micros.len() < MIN_SAMPLES {
        return None;
    }
    let mut v: Vec<u32> = micros.iter().copied().collect();
    let i = (v.len() * 95).div_ceil(100) - 1;
    let (_, x, _) = v.select_nth_unstable(i);
    Some(Duration::from_micros(u64::from(*x)))
}

/// Per-worker latency and the hedge budget of one client core.
#[derive(Debug)]
pub struct Hedger {
    windows: Mutex<HashMap<String, Window>>,
    /// Hedges that may be sent now.
    tokens: Mutex<f64>,
}

impl Default for Hedger {
    fn default() -> Self {
        Self {
            windows: Mutex::default(),
            tokens: Mutex::new(1.0),
        }
    }
}

impl Hedger {
    /// Records how long a successful piece took on `worker`.
    pub fn record(&self, worker: &str, d: Duration) {
        let mut map = self.windows.lock();
        match map.get_mut(worker) {
            Some(w) => w.record(d),
            None => map.entry(worker.to_owned()).or_default().record(d),
        }
    }

    /// How long a piece on `worker` may take before it is hedged.
    pub fn threshold(&self, worker: &str) -> Duration {
        let p95 = self.windows.lock().get(worker).and_then(|w| w.p95);
        p95.map_or(UNKNOWN, |d| (d * 3 / 2).max(FLOOR))
    }

    /// A piece was asked for: the budget grows by [`BUDGET`].
    pub fn credit(&self) {
        let mut t = self.tokens.lock();
        *t = (*t + BUDGET).min(BURST);
    }

    /// Takes one hedge from the budget, if there is one.
    pub fn take(&self) -> bool {
        let mut t = self.tokens.lock();
        if *t >= 1.0 {
            *t -= 1.0;
            true
        } else {
            false
        }
    }
}

impl ClientCore {
    /// [`ClientCore::fetch_piece`] for a slice, hedged (see the module).
    pub(super) async fn fetch_hedged(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        slice: &mut [MaybeUninit<u8>],
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        let hedger = &self.hedger;
        hedger.credit();
        let ring = self
            .suspects
            .order(self.candidates(path).await?, Instant::now());
        let (Some(first), Some(second)) = (ring.first(), ring.get(1)) else {
            return self
                .fetch_plain(path, id, p, Dest::Slice(slice), short)
                .await;
        };
        let wait = hedger.threshold(&first.http_authority());
        let mut primary = Box::pin(self.fetch_plain(path, id, p, Dest::Slice(&mut *slice), short));
        tokio::select! {
            biased;
            r = &mut primary => return r,
            () = tokio::time::sleep(wait) => {}
        }
        if !hedger.take() {
            return primary.await;
        }
        Stats::add(&self.stats.hedges, 1);
        log::debug!(
            "alluxiofs: {path}: page {} not answered by {} after {wait:?}; asking {} too",
            p.index,
            first.http_authority(),
            second.http_authority()
        );
        #[allow(clippy::cast_possible_truncation)]
        let mut scratch = vec![MaybeUninit::<u8>::uninit(); p.len as usize];
        let mut hedge = Box::pin(self.hedge_attempt(second, path, id, p, &mut scratch, short));
        let won = tokio::select! {
            r = &mut primary => match r {
                Ok(v) => return Ok(v),
                // The primary gave up: the hedge may still bring the piece.
                Err(e) => match (&mut hedge).await {
                    Ok(v) => v,
                    Err(_) => return Err(e),
                },
            },
            h = &mut hedge => match h {
                Ok(v) => v,
                Err(_) => return primary.await,
            },
        };
        // Dropping the primary cancels its request and ends its use of
        // `slice`; only then is the hedge's answer copied in.
        drop(primary);
        drop(hedge);
        slice[..won.0].copy_from_slice(&scratch[..won.0]);
        Stats::add(&self.stats.hedge_wins, 1);
        Ok(won)
    }

    /// One attempt at a piece on `worker` into `scratch`, length-checked,
    /// within the concurrency limit (no retries: the primary has those).
    async fn hedge_attempt(
        &self,
        worker: &WorkerInfo,
        path: &str,
        id: &str,
        p: Piece,
        scratch: &mut [MaybeUninit<u8>],
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        let _permit = self.limit.acquire().await.expect("semaphore never closed");
        Stats::add(&self.stats.requests, 1);
        let start = Instant::now();
        let mut dest = Dest::Slice(scratch);
        let got = self.get_piece(worker, path, id, &p, &mut dest).await;
        let checked = self.check_piece(path, worker, p, short, got).await;
        if checked.is_ok() {
            self.hedger
                .record(&worker.http_authority(), start.elapsed());
        }
        checked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_threshold_is_one_and_a_half_times_the_recent_p95_with_a_floor() {
        let h = Hedger::default();
        assert_eq!(h.threshold("w"), UNKNOWN);
        // 100 pieces: 1..=100 ms. p95 = 95 ms.
        for i in 1..=100 {
            h.record("w", ms(i));
        }
        assert_eq!(h.threshold("w"), ms(95) * 3 / 2);
        // A fast worker is held at the floor.
        for _ in 0..WINDOW {
            h.record("fast", Duration::from_micros(800));
        }
        assert_eq!(h.threshold("fast"), FLOOR);
        // Only the recent window counts: the slow past is forgotten.
        for _ in 0..WINDOW {
            h.record("w", ms(30));
        }
        assert_eq!(h.threshold("w"), ms(45));
    }

    #[test]
    fn one_percent_of_stalls_leave_the_p95_alone() {
        let h = Hedger::default();
        for i in 0..WINDOW {
            h.record("w", if i % 100 == 7 { ms(200) } else { ms(2) });
        }
        assert_eq!(h.threshold("w"), FLOOR);
    }

    #[test]
    fn the_budget_allows_five_hedges_per_hundred_pieces() {
        let h = Hedger::default();
        let mut hedges = 0;
        for _ in 0..10_000 {
            h.credit();
            // Every piece wants a hedge.
            if h.take() {
                hedges += 1;
            }
        }
        // 5 % of the pieces, plus the one the bucket starts with.
        assert!((500..=501).contains(&hedges), "{hedges}");
        // Unused budget accumulates only up to the burst.
        for _ in 0..10_000 {
            h.credit();
        }
        let burst = std::iter::from_fn(|| h.take().then_some(())).count();
        assert_eq!(burst, BURST as usize);
    }
}
