//! Where a step of a read runs, and the one place that blocks a thread on
//! it. A step that touches at most two pages runs on the calling thread
//! (the short-call runtime, when free: [`super::short_runtime`]); bigger
//! ones fan out over many connections and copy faster on the shared
//! runtime's threads; one that usually never waits (a local cache hit) runs
//! in place, and goes on on the calling thread if it does wait (a miss).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use super::runtime;
use super::short_runtime::{self, First};
use crate::error::Result;

/// How a step wants to be run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// It never waits (no request): poll it in place, no runtime needed.
    Inline,
    /// One or two requests: on the calling thread.
    Caller,
    /// Many requests: on the shared runtime.
    Shared,
}

impl Run {
    /// How to run a read of `len` bytes from `offset` with pages of
    /// `page_size` bytes: by the number of pages (requests) it touches.
    pub fn for_range(offset: u64, len: u64, page_size: u64) -> Self {
        let page = page_size.max(1);
        match len {
            0 => Run::Inline,
            _ if (offset + len - 1) / page - offset / page < 2 => Run::Caller,
            _ => Run::Shared,
        }
    }
}

/// Polls `fut` once, in place: its output if it was ready.
pub fn now<F: Future + Unpin>(fut: &mut F) -> Option<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match std::pin::Pin::new(fut).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// Polls `fut` once in place inside the shared runtime's context (so it
/// may start I/O or timers there): its output if it was ready.
pub fn now_in_runtime<F: Future + Unpin>(fut: &mut F) -> Result<Option<F::Output>> {
    let state = runtime::current()?;
    let _in = state.runtime().enter();
    Ok(now(fut))
}

/// Runs `fut` to completion as `run` says, blocking this thread (which must
/// not be inside a runtime). [`Run::Inline`] is polled in place first (on
/// the short-call runtime when free) and goes on where that poll started it
/// should it wait after all.
pub fn block_on<F: Future + Send>(run: Run, fut: F) -> Result<F::Output> {
    let mut fut = pin!(fut);
    if run == Run::Inline {
        match short_runtime::poll_once(&mut fut) {
            First::Ready(out) => return Ok(out),
            First::Started => return Ok(short_runtime::finish(fut)),
            First::Unavailable => {}
        }
        // In the shared runtime's context: a step that does wait after all
        // (a local cache miss) may have started I/O or a timer on it by the
        // time it says so, and then goes on there.
        return Ok(match now_in_runtime(&mut fut)? {
            Some(out) => out,
            None => runtime::current()?.runtime().block_on(fut),
        });
    }
    if run != Run::Shared {
        if let Ok(out) = short_runtime::block_on(fut.as_mut()) {
            return Ok(out);
        }
    }
    Ok(runtime::current()?.runtime().block_on(fut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_by_the_pages_a_range_touches() {
        assert_eq!(Run::for_range(0, 0, 4), Run::Inline);
        assert_eq!(Run::for_range(0, 1, 4), Run::Caller);
        assert_eq!(Run::for_range(0, 8, 4), Run::Caller);
        assert_eq!(Run::for_range(3, 2, 4), Run::Caller);
        assert_eq!(Run::for_range(3, 6, 4), Run::Shared);
        assert_eq!(Run::for_range(0, 9, 4), Run::Shared);
    }

    #[test]
    fn inline_steps_run_in_place_and_waiting_ones_on_a_runtime() {
        assert_eq!(block_on(Run::Inline, async { 7 }).unwrap(), 7);
        // Not ready at once: finished on a runtime instead.
        let mut polls = 0;
        let waits = std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(polls)
        });
        assert_eq!(block_on(Run::Inline, waits).unwrap(), 2);
        assert_eq!(block_on(Run::Shared, async { 9 }).unwrap(), 9);
    }
}
