//! Single-flight for page loads: concurrent misses on one page share one load.
//!
//! Each page being loaded has a `OnceCell` holding the load's *result*, so an
//! error reaches every waiter of that flight, not just the one that ran it.
//! `OnceCell::get_or_init` hands the load to another waiter if the running
//! one is dropped. A flight leaves the map as soon as it has a result (the
//! next miss loads afresh: errors are not cached) or when its last waiter
//! gives up.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::error::Result;

type Cell = Arc<OnceCell<Result<Bytes>>>;
type Key = (String, u64);

/// The loads in flight, by page.
#[derive(Default)]
pub(super) struct Flights {
    map: Mutex<HashMap<Key, Cell>>,
}

impl Flights {
    /// Joins the flight for a page, starting one if there is none.
    pub(super) fn join(&self, id: &str, index: u64) -> Flight<'_> {
        let key = (id.to_owned(), index);
        let cell = self.map.lock().entry(key.clone()).or_default().clone();
        Flight {
            flights: self,
            key,
            cell: Some(cell),
        }
    }

    /// Detaches a removed file's flights: callers arriving from now on load
    /// the new contents instead of joining a load of the old ones.
    pub(super) fn forget_file(&self, id: &str) {
        self.map.lock().retain(|(file, _), _| file != id);
    }

    /// Number of flights in the map.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// One waiter's membership in a flight.
pub(super) struct Flight<'a> {
    flights: &'a Flights,
    key: Key,
    /// Always `Some` until dropped; taken in `drop` so the reference is
    /// released under the map lock, keeping strong counts exact there.
    cell: Option<Cell>,
}

impl Flight<'_> {
    /// The flight's result, running `init` if no one else is (or if whoever
    /// was running it got dropped).
    pub(super) async fn run<F, Fut>(&self, init: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>>,
    {
        match &self.cell {
            Some(cell) => cell.get_or_init(init).await.clone(),
            None => init().await,
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        let mut map = self.flights.map.lock();
        let ours = map.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &cell));
        // Clones are made only under this lock, so 2 means "the map and us".
        if ours && (cell.initialized() || Arc::strong_count(&cell) == 2) {
            map.remove(&self.key);
        }
        drop(cell);
        drop(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn flights_leave_the_map() {
        let flights = Flights::default();
        let a = flights.join("f", 0);
        let b = flights.join("f", 0);
        assert_eq!(flights.len(), 1);
        drop(a);
        assert_eq!(flights.len(), 1, "b still waits");
        drop(b);
        assert_eq!(flights.len(), 0, "abandoned flight is gone");

        let a = flights.join("f", 0);
        let b = flights.join("f", 0);
        assert_eq!(a.run(|| async { Ok(Bytes::from("x")) }).await.unwrap(), "x");
        let b_result = b.run(|| async { unreachable!("shared") }).await.unwrap();
        assert_eq!(b_result, "x");
        drop(a);
        assert_eq!(flights.len(), 0, "finished flight is gone");
        drop(b);

        let _c = flights.join("f", 1);
        flights.forget_file("f");
        assert_eq!(flights.len(), 0);
    }
}
