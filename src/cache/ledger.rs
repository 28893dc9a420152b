//! A directory's shared counters: bytes in use (changed only under the
//! ledger lock), and lifetime hits and misses (added to by any process at
//! any time). A small file mapped shared, so every process sees the same
//! atomics; a count left wrong by a killed process is repaired by the next
//! recount (`store::Dir::evict`).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::mapped::Mapped;

/// Words mapped (one page).
const WORDS: usize = 512;
/// Index of each counter.
const USED: usize = 0;
const HITS: usize = 1;
const MISSES: usize = 2;

/// The mapped counters of one directory.
pub struct Ledger(Mapped);

impl Ledger {
    /// Maps the ledger file at `path`, creating it (zeroed) if needed.
    pub fn open(path: &Path) -> io::Result<Self> {
        Mapped::open(path, WORDS).map(Self)
    }

    fn at(&self, i: usize) -> &AtomicU64 {
        self.0.word(i)
    }

    /// Bytes in use (pages and reservations).
    pub fn used(&self) -> u64 {
        self.at(USED).load(Ordering::Acquire)
    }

    /// Sets the bytes in use (hold the ledger lock).
    pub fn set_used(&self, v: u64) {
        self.at(USED).store(v, Ordering::Release);
    }

    /// Counts a hit or a miss.
    pub fn count(&self, hit: bool) {
        self.at(if hit { HITS } else { MISSES })
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Lifetime `(hits, misses)` of every process.
    pub fn hits_misses(&self) -> (u64, u64) {
        (
            self.at(HITS).load(Ordering::Relaxed),
            self.at(MISSES).load(Ordering::Relaxed),
        )
    }

    /// Zeroes the hit and miss counts.
    pub fn reset_counts(&self) {
        self.at(HITS).store(0, Ordering::Relaxed);
        self.at(MISSES).store(0, Ordering::Relaxed);
    }
}
