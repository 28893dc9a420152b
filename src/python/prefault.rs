//! Faulting a big result buffer in while its read is in flight.
//!
//! Fresh memory is slow to fault in on some machines (a VM whose host backs
//! guest memory lazily: 64 MiB took 100-170 ms here the first time). Done
//! before the read, as small buffers are (see `alloc`), that time comes on
//! top of the read: a cold 64 MiB `cat_file` waited that long between its
//! first piece and sending the rest. So a big buffer is faulted in by a
//! helper thread, back to front, while the pieces are fetched; a piece that
//! arrives first faults its pages in itself. Populating never changes bytes
//! already written (a present page is skipped), so the two may overlap.

use std::future::Future;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::alloc;

/// Bytes populated per call, so that a finished read stops the helper soon.
const CHUNK: usize = 2 << 20;

/// A buffer region to fault in during a read; empty for none.
#[derive(Debug, Clone)]
pub struct Prefault(Range<usize>);

impl Prefault {
    /// Nothing to fault in (a small buffer, populated up front).
    pub fn none() -> Self {
        Self(0..0)
    }

    /// The page-aligned addresses `range` of a live buffer.
    pub fn of(range: Range<usize>) -> Self {
        Self(range)
    }

    /// Runs `fut` while a helper thread faults the region in. The helper is
    /// stopped and joined (at most one chunk later) when `fut` ends or is
    /// dropped, so it never touches the buffer after the read is over.
    pub async fn during<F: Future>(self, fut: F) -> F::Output {
        let _helper = self.spawn();
        fut.await
    }

    fn spawn(self) -> Option<Helper> {
        if !cfg!(target_os = "linux") || self.0.is_empty() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let Range { start, end } = self.0;
        let thread = std::thread::Builder::new()
            .name("alluxiofs-prefault".into())
            .spawn(move || populate(start, end, &flag))
            // No thread: the read's own writes fault the pages in.
            .ok()?;
        Some(Helper {
            stop,
            thread: Some(thread),
        })
    }
}

/// Stops and joins the helper thread when dropped.
struct Helper {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Populates `[start, end)` chunk by chunk, last chunk first, until done or
/// told to stop. Backwards, because the read fills the buffer roughly from
/// the front: the two fault different pages until they meet, instead of
/// contending for the same ones (front-first was 10 % slower than
/// populating up front for a warm 1 GiB `cat_file`; backwards 2 % faster).
fn populate(start: usize, end: usize, stop: &AtomicBool) {
    let mut at = end;
    while at > start && !stop.load(Ordering::Relaxed) {
        let n = CHUNK.min(at - start);
        at -= n;
        // The range lies inside the live buffer of a read in flight, which
        // outlives this thread (the `Helper` joins it before the read
        // returns); populating never changes bytes already written.
        alloc::populate(at as *mut u8, n);
    }
}
