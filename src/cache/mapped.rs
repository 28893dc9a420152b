//! A small file mapped shared into every process that opens it, seen as
//! 64-bit atomics: how the cache's processes share counters and tables
//! without a daemon (`ledger`, `versions`).

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::AtomicU64;

/// A shared mapping of a file's first `words` 64-bit words.
pub struct Mapped {
    base: *mut AtomicU64,
    words: usize,
}

// SAFETY: the mapping is shared memory accessed only through atomics.
unsafe impl Send for Mapped {}
// SAFETY: as above.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Maps the file at `path`, creating it (zeroed, sparse) or growing it
    /// to `words` words if needed.
    pub fn open(path: &Path, words: usize) -> io::Result<Self> {
        let len = words * 8;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if f.metadata()?.len() < len as u64 {
            // Growing only: two processes doing this at once agree.
            f.set_len(len as u64)?;
        }
        // SAFETY: a fresh shared mapping of a file at least `len` long; the
        // descriptor may be closed afterwards.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            base: p.cast(),
            words,
        })
    }

    /// Word `i` (panics past the end).
    pub fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.words, "word {i} of a {}-word mapping", self.words);
        // SAFETY: in bounds (above); the mapping lives as long as `self`.
        unsafe { &*self.base.add(i) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.words * 8) };
    }
}
