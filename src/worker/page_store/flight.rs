//! Single-flight for page loads: concurrent misses on one page share one
//! load, and one load may cover a whole span of consecutive pages.
//!
//! A flight covers a span `first..first + count` of one file's pages and is
//! registered in the map under every page of the span, so a miss on any of
//! them joins it instead of loading on its own. Its `OnceCell` holds the
//! load's *result* (the bytes of the whole span), so an error reaches every
//! waiter, not just the one that ran it. `OnceCell::get_or_init` hands the
//! load to another waiter if the running one is dropped; every waiter can
//! run it, since the span is the flight's, not the waiter's. A flight leaves
//! the map (all its pages at once) as soon as it has a result (the next
//! miss loads afresh: errors are not cached) or when its last waiter gives up.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::error::Result;

type Key = (String, u64);

/// Shortest run of cached or loading pages taken for a sequential scan.
pub(super) const MIN_SCAN_RUN: u64 = 4;

/// One load in flight: its span and its result once known.
struct Span {
    first: u64,
    count: u64,
    cell: OnceCell<Result<Bytes>>,
}

/// What a flight started for a missed page may cover (see [`Flights::join`]).
#[derive(Debug)]
pub(super) struct Reach {
    /// Pages the flight may cover in any case.
    pub window: Range<u64>,
    /// Most pages of a flight grown by a sequential scan.
    pub max: u64,
    /// Pages of the file.
    pub file_pages: u64,
    /// Page `cached_from + k` is cached iff `cached[k]`; unknown pages are
    /// neither loaded nor taken as cached.
    pub cached_from: u64,
    pub cached: Vec<bool>,
}

impl Reach {
    fn cached(&self, page: u64) -> Option<bool> {
        let k = usize::try_from(page.checked_sub(self.cached_from)?).ok()?;
        self.cached.get(k).copied()
    }
}

/// The loads in flight, by page.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<Key, Arc<Span>>>,
}

impl Flights {
    /// Joins the flight loading page `index`, or starts one. A new flight
    /// spans the longest run of consecutive pages around `index` inside
    /// `reach.window` that no other flight covers and that are not cached;
    /// `index` itself is always part of it. If that run reaches the end of
    /// the window and a run of cached or loading pages, at least as long as
    /// the window and [`MIN_SCAN_RUN`], ends right before it, or at most one
    /// window before it with only missing pages in between (a sequential
    /// scan, whose requests may arrive out of order), the flight starts right
    /// after that run and goes on past the window for up to four times its
    /// length: `reach.max` pages in all at most, never past the file.
    pub(super) fn join(&self, id: &str, index: u64, reach: &Reach) -> Flight<'_> {
        let (window, max) = (&reach.window, reach.max);
        let key = (id.to_owned(), index);
        let mut map = self.map.lock();
        if let Some(span) = map.get(&key) {
            let span = span.clone();
            drop(map);
            return Flight {
                flights: self,
                key,
                span: Some(span),
            };
        }
        let loading = |j: u64| map.contains_key(&(id.to_owned(), j));
        let free = |j: u64| reach.cached(j) == Some(false) && !loading(j);
        let present = |j: u64| reach.cached(j) == Some(true) || loading(j);
        let mut first = index;
        while first > window.start && free(first - 1) {
            first -= 1;
        }
        let mut end = index + 1;
        while end < window.end && free(end) {
            end += 1;
        }
        if end == window.end {
            // Requests of a scan arrive out of order: a run of cached or
            // loading pages up to one window before the span counts too,
            // and the span then starts right after it.
            let mut gap = 0;
            if first == window.start {
                while gap < window.end - window.start && gap < first && free(first - 1 - gap) {
                    gap += 1;
                }
            }
            let start = first - gap;
            let mut run = 0;
            while run < max && run < start && present(start - 1 - run) {
                run += 1;
            }
            // A scan, not random reads that happen to land after cached pages.
            let scan = (window.end - window.start).max(MIN_SCAN_RUN).max(gap);
            if run >= scan && end - start <= max {
                first = start;
                let limit = first
                    .saturating_add(max.min(run.saturating_mul(4)))
                    .min(reach.file_pages);
                while end < limit && free(end) {
                    end += 1;
                }
            }
        }
        let span = Arc::new(Span {
            first,
            count: end - first,
            cell: OnceCell::new(),
        });
        for j in first..end {
            map.insert((id.to_owned(), j), span.clone());
        }
        drop(map);
        Flight {
            flights: self,
            key,
            span: Some(span),
        }
    }

    /// Detaches a removed file's flights: callers arriving from now on load
    /// the new contents instead of joining a load of the old ones.
    pub(super) fn forget_file(&self, id: &str) {
        self.map.lock().retain(|(file, _), _| file != id);
    }

    /// Number of pages covered by flights in the map.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// One waiter's membership in a flight.
pub(super) struct Flight<'a> {
    flights: &'a Flights,
    /// The page this waiter wants.
    key: Key,
    /// Always `Some` until dropped; taken in `drop` so the reference is
    /// released under the map lock, keeping strong counts exact there.
    span: Option<Arc<Span>>,
}

impl Flight<'_> {
    fn span(&self) -> &Span {
        self.span
            .as_ref()
            .expect("a flight's span lives until drop")
    }

    /// The pages this flight loads.
    pub(super) fn pages(&self) -> Range<u64> {
        let s = self.span();
        s.first..s.first + s.count
    }

    /// The flight's result, the bytes of every page of [`Flight::pages`],
    /// running `init(first, count)` if no one else is (or if whoever was
    /// running it got dropped).
    pub(super) async fn run<F, Fut>(&self, init: F) -> Result<Bytes>
    where
        F: FnOnce(u64, u64) -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        let s = self.span();
        s.cell.get_or_init(|| init(s.first, s.count)).await.clone()
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let Some(span) = self.span.take() else {
            return;
        };
        let mut map = self.flights.map.lock();
        let ours = map.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &span));
        // Clones are made only under this lock, and a span is in the map
        // under all of its pages or none, so this means "the map and us".
        let alone = usize::try_from(span.count).is_ok_and(|n| Arc::strong_count(&span) == n + 1);
        if ours && (span.cell.initialized() || alone) {
            for j in span.first..span.first + span.count {
                map.remove(&(self.key.0.clone(), j));
            }
        }
        drop(span);
        drop(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok(s: &'static str) -> Result<Bytes> {
        Ok(Bytes::from(s))
    }

    /// A window over a file of `pages` pages, `cached` listing cached pages.
    fn reach(window: Range<u64>, max: u64, pages: u64, cached: &[u64]) -> Reach {
        Reach {
            window,
            max,
            file_pages: pages,
            cached_from: 0,
            cached: (0..pages).map(|j| cached.contains(&j)).collect(),
        }
    }

    #[tokio::test]
    async fn flights_leave_the_map() {
        let flights = Flights::default();
        let one = reach(0..1, 1, 1, &[]);
        let a = flights.join("f", 0, &one);
        let b = flights.join("f", 0, &one);
        assert_eq!(flights.len(), 1);
        drop(a);
        assert_eq!(flights.len(), 1, "b still waits");
        drop(b);
        assert_eq!(flights.len(), 0, "abandoned flight is gone");

        let a = flights.join("f", 0, &one);
        let b = flights.join("f", 0, &one);
        assert_eq!(a.run(|_, _| ok("x")).await.unwrap(), "x");
        let b_result = b.run(|_, _| async { unreachable!("shared") }).await;
        assert_eq!(b_result.unwrap(), "x");
        drop(a);
        assert_eq!(flights.len(), 0, "finished flight is gone");
        drop(b);

        let _c = flights.join("f", 1, &reach(1..2, 1, 2, &[]));
        flights.forget_file("f");
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn spans_cover_missing_pages_and_are_joined() {
        let flights = Flights::default();
        let a = flights.join("f", 4, &reach(0..8, 8, 8, &[1, 6]));
        assert_eq!(a.pages(), 2..6);
        assert_eq!(flights.len(), 4);
        let b = flights.join("f", 5, &reach(0..8, 8, 8, &[1, 6]));
        assert_eq!(b.pages(), 2..6, "joins the span");
        // Page 7 starts its own span; it cannot reach into a running one.
        let c = flights.join("f", 7, &reach(4..8, 8, 8, &[]));
        assert_eq!(c.pages(), 6..8);
        let d = flights.join("g", 5, &reach(0..8, 8, 8, &[]));
        assert_eq!(d.pages(), 0..8, "another file");
        let got = b.run(|first, count| {
            assert_eq!((first, count), (2, 4));
            ok("2345")
        });
        assert_eq!(got.await.unwrap(), "2345");
        assert_eq!(a.run(|_, _| ok("never")).await.unwrap(), "2345");
        drop(b);
        assert_eq!(flights.len(), 2 + 8, "the finished span left at once");
        drop(a);
        drop(c);
        assert_eq!(flights.len(), 8);
        drop(d);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_span_stays_while_any_page_waits() {
        let flights = Flights::default();
        let r = reach(0..4, 4, 4, &[]);
        let a = flights.join("f", 0, &r);
        let b = flights.join("f", 3, &r);
        drop(a);
        assert_eq!(flights.len(), 4, "b still waits for page 3");
        let c = flights.join("f", 1, &r);
        assert_eq!(c.pages(), 0..4);
        drop(b);
        drop(c);
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn sequential_scans_grow_the_span() {
        let flights = Flights::default();
        let up_to = |n: u64| (0..n).collect::<Vec<_>>();
        // Nothing before the window: just the window.
        let a = flights.join("f", 0, &reach(0..4, 16, 100, &[]));
        assert_eq!(a.pages(), 0..4);
        // Pages 0..4 loading right before: four times that past the window.
        let b = flights.join("f", 4, &reach(4..8, 16, 100, &[]));
        assert_eq!(b.pages(), 4..20);
        // 0..20 before: 16 at most.
        let c = flights.join("f", 20, &reach(20..24, 16, 100, &[]));
        assert_eq!(c.pages(), 20..36);
        // Out of order: 0..8 cached, 8..12 not asked for yet; a miss on 13
        // starts right after the cached run.
        let d = flights.join("g", 13, &reach(12..16, 16, 100, &up_to(8)));
        assert_eq!(d.pages(), 8..24);
        // Random reads: nothing, or too little, within a window before.
        let e = flights.join("h", 9, &reach(8..12, 16, 100, &[2]));
        assert_eq!(e.pages(), 8..12);
        let f = flights.join("i", 9, &reach(8..12, 16, 100, &[3]));
        assert_eq!(f.pages(), 8..12);
        // A window cut short by a cached page does not grow.
        let g = flights.join("j", 5, &reach(4..8, 16, 100, &[0, 1, 2, 3, 7]));
        assert_eq!(g.pages(), 4..7);
        // Never past the file, nor over a cached page.
        let h = flights.join("k", 90, &reach(88..92, 64, 100, &up_to(88)));
        assert_eq!(h.pages(), 88..100);
        let cached: Vec<u64> = (30..40).chain([47]).collect();
        let i = flights.join("l", 40, &reach(40..44, 16, 100, &cached));
        assert_eq!(i.pages(), 40..47);
        // One-page windows: a scan needs MIN_SCAN_RUN pages before it.
        let j = flights.join("m", 4, &reach(4..5, 16, 100, &[2, 3]));
        assert_eq!(j.pages(), 4..5);
        let k = flights.join("n", 4, &reach(4..5, 16, 100, &up_to(4)));
        assert_eq!(k.pages(), 4..20);
    }
}
