//! Counters for `fs.stats()`: what the workers served and how hard it was.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide counters of one client configuration.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes returned by workers.
    pub bytes_from_workers: AtomicU64,
    /// Requests sent to workers.
    pub requests: AtomicU64,
    /// Requests retried on the same worker.
    pub retries: AtomicU64,
    /// Operations moved on to the next ring candidate.
    pub failovers: AtomicU64,
    /// Operations that failed after retries and failover.
    pub errors: AtomicU64,
    /// Pieces also asked of a second worker because the first was slow.
    pub hedges: AtomicU64,
    /// Hedges whose answer was used.
    pub hedge_wins: AtomicU64,
    /// Bytes served from the node's local cache.
    pub bytes_from_local_cache: AtomicU64,
    /// Pieces found in the local cache.
    pub local_cache_hits: AtomicU64,
    /// Pieces not found there (fetched by this process or another).
    pub local_cache_misses: AtomicU64,
    /// Bytes fetched into the local cache ahead of readers (`prefetch`).
    pub prefetch_bytes: AtomicU64,
    /// Microseconds spent storing pages into the local cache (reserving,
    /// creating, writing and renaming their files): what a cold read pays
    /// on top of fetching.
    pub local_cache_store_us: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot as `(name, value)` pairs.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("bytes_from_workers", g(&self.bytes_from_workers)),
            ("requests", g(&self.requests)),
            ("retries", g(&self.retries)),
            ("failovers", g(&self.failovers)),
            ("errors", g(&self.errors)),
            ("hedges", g(&self.hedges)),
            ("hedge_wins", g(&self.hedge_wins)),
            ("bytes_from_local_cache", g(&self.bytes_from_local_cache)),
            ("local_cache_hits", g(&self.local_cache_hits)),
            ("local_cache_misses", g(&self.local_cache_misses)),
            ("prefetch_bytes", g(&self.prefetch_bytes)),
            ("local_cache_store_us", g(&self.local_cache_store_us)),
        ]
    }
}
