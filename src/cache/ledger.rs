//! A directory's shared counters: bytes in use (changed only under the
//! ledger lock), and lifetime hits and misses (added to by any process at
//! any time). A small file mapped shared, so every process sees the same
//! atomics; a count left wrong by a killed process is repaired by the next
//! recount (`store::Dir::evict`).

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes mapped (one page).
const LEN: usize = 4096;
/// Index of each counter.
const USED: usize = 0;
const HITS: usize = 1;
const MISSES: usize = 2;

/// The mapped counters of one directory.
pub struct Ledger {
    base: *mut AtomicU64,
}

// SAFETY: the mapping is shared memory accessed only through atomics.
unsafe impl Send for Ledger {}
// SAFETY: as above.
unsafe impl Sync for Ledger {}

impl Ledger {
    /// Maps the ledger file at `path`, creating it (zeroed) if needed.
    pub fn open(path: &Path) -> io::Result<Self> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if f.metadata()?.len() < LEN as u64 {
            // Growing only: two processes doing this at once agree.
            f.set_len(LEN as u64)?;
        }
        // SAFETY: a fresh shared mapping of a file at least `LEN` long; the
        // descriptor may be closed afterwards.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { base: p.cast() })
    }

    fn at(&self, i: usize) -> &AtomicU64 {
        // SAFETY: `i` < 3, well inside the mapping, which lives as long as `self`.
        unsafe { &*self.base.add(i) }
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

impl Drop for Ledger {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), LEN) };
    }
}
