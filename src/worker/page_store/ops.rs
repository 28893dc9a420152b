//! The page I/O paths behind the public API: verified reads, reserved
//! writes on blocking threads, and the load half of `get_or_load`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use log::{debug, warn};

use super::disk::{self, remove_quietly};
use super::flight::Reach;
use super::index::{PageRef, Reserve};
use super::{Inner, PageStore, SpanLimits};
use crate::error::{Error, Result};

/// Pages of a span written to disk at once.
const SPAN_WRITES: usize = 4;

/// An operation registered with the index, so that its result is discarded
/// if its file is removed before it commits (the data may predate the
/// removal). Owned, so it can travel into the blocking write task.
pub(super) struct OpTicket {
    inner: Arc<Inner>,
    start: u64,
}

impl Drop for OpTicket {
    fn drop(&mut self) {
        self.inner.index.lock().end_op(self.start);
    }
}

impl PageStore {
    /// The load half of `get_or_load_span`, run by one waiter of a flight:
    /// loads pages `first..first + count`, checks their sizes, stores every
    /// page and returns the span's bytes.
    pub(super) async fn load_span<F, Fut>(
        &self,
        file_id: &str,
        first: u64,
        count: u64,
        load: F,
    ) -> Result<Bytes>
    where
        F: FnOnce(u64, u64) -> Fut,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        // Registered before loading: a removal during the load makes it stale.
        let tickets = self.begin_ops(count);
        // An earlier flight may have stored the page since our miss.
        if count == 1 {
            if let Some(page) = self.read_page(file_id, first).await? {
                return Ok(page);
            }
        }
        self.inner.counters.loads.fetch_add(1, Relaxed);
        let started = Instant::now();
        let data = load(first, count).await?;
        let loaded = started.elapsed();
        self.check_span_len(&data, first, count)?;
        let stores = tickets.into_iter().zip(first..).map(|(ticket, index)| {
            let page = self.page_of_span(&data, first, index);
            async move {
                if let Err(e) = self.store(file_id, index, page, ticket).await {
                    warn!("page store: cannot cache page {index} of {file_id}: {e}");
                }
            }
        });
        futures::stream::iter(stores)
            .buffer_unordered(SPAN_WRITES)
            .collect::<()>()
            .await;
        debug!(
            "page store: pages {first}..{} of {file_id} ({} bytes) loaded in {loaded:?}, stored in {:?}",
            first + count,
            data.len(),
            started.elapsed() - loaded
        );
        Ok(data)
    }

    /// Page `index` out of the bytes of a span starting at page `first`.
    pub(super) fn page_of_span(&self, span: &Bytes, first: u64, index: u64) -> Bytes {
        let p = self.inner.page_size;
        let len = span.len() as u64;
        let from = (index - first).saturating_mul(p).min(len);
        let to = from.saturating_add(p).min(len);
        #[allow(clippy::cast_possible_truncation)]
        span.slice(from as usize..to as usize)
    }

    /// A span of `count` pages is `count - 1` full pages and a last one of
    /// 1 to `page_size` bytes; a single page may be anything up to a page.
    fn check_span_len(&self, data: &Bytes, first: u64, count: u64) -> Result<()> {
        if count <= 1 {
            return self.check_len(data);
        }
        let p = self.inner.page_size;
        let len = data.len() as u64;
        if len <= (count - 1).saturating_mul(p) || len > count.saturating_mul(p) {
            return Err(Error::InvalidArgument(format!(
                "{len} bytes loaded for pages {first}..{} of {p} bytes",
                first + count
            )));
        }
        Ok(())
    }

    /// The pages a flight started for `index` may cover, and which of
    /// them are cached. The window (widened to hold `index`, cut at the end
    /// of the file) and the largest span are cut to half the quota in pages,
    /// at least one; the window to its aligned piece holding `index`.
    pub(super) fn reach(&self, file_id: &str, index: u64, limits: &SpanLimits) -> Reach {
        let cap = (self.inner.quota / self.inner.page_size / 2).max(1);
        let end = limits.window.end.min(limits.file_pages);
        let (lo, hi) = (limits.window.start.min(index), end.max(index + 1));
        let window = if hi - lo <= cap {
            lo..hi
        } else {
            let start = lo + (index - lo) / cap * cap;
            start..start.saturating_add(cap).min(hi)
        };
        let max = limits.max_pages.min(cap).max(window.end - window.start);
        let ix = self.inner.index.lock();
        if ix.contains(file_id, index) {
            // Stored since our miss: a one-page flight re-reads it.
            return Reach {
                window: index..index + 1,
                max: 1,
                file_pages: index + 1,
                cached_from: index,
                cached: vec![false],
            };
        }
        let from = window.start.saturating_sub(max);
        let to = window
            .end
            .saturating_add(max)
            .min(limits.file_pages.max(hi));
        Reach {
            cached: (from..to).map(|j| ix.contains(file_id, j)).collect(),
            cached_from: from,
            window,
            max,
            file_pages: limits.file_pages.max(hi),
        }
    }

    pub(super) fn check_len(&self, data: &Bytes) -> Result<()> {
        if data.len() as u64 > self.inner.page_size {
            return Err(Error::InvalidArgument(format!(
                "page of {} bytes exceeds the page size {}",
                data.len(),
                self.inner.page_size
            )));
        }
        Ok(())
    }

    pub(super) fn begin_op(&self) -> OpTicket {
        let start = self.inner.index.lock().begin_op();
        OpTicket {
            inner: self.inner.clone(),
            start,
        }
    }

    /// `n` operations begun at the same moment (one per page of a span).
    fn begin_ops(&self, n: u64) -> Vec<OpTicket> {
        let mut index = self.inner.index.lock();
        (0..n)
            .map(|_| OpTicket {
                inner: self.inner.clone(),
                start: index.begin_op(),
            })
            .collect()
    }

    /// Reads and verifies a page the index knows; `None` on any miss. A page
    /// whose checksum fails, or whose length is not what its file's record
    /// implies (see [`expected_len`]), is deleted and counted as corrupt.
    pub(super) async fn read_page(&self, file_id: &str, index: u64) -> Result<Option<Bytes>> {
        let (found, file_len) = {
            let mut ix = self.inner.index.lock();
            (ix.lookup(file_id, index), ix.file_length(file_id))
        };
        let Some(gen) = found else {
            return Ok(None);
        };
        let path = self.inner.layout.page_path(file_id, index);
        let raw = match tokio::fs::read(&path).await {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Either deleted behind our back or replaced/evicted while we
                // looked; only the former leaves our version in the index.
                if self.inner.index.lock().drop_if_gen(file_id, index, gen) {
                    warn!("page store: page file {} vanished", path.display());
                }
                return Ok(None);
            }
            Err(e) => return Err(Error::io(format!("reading page {}", path.display()), &e)),
        };
        let raw_len = raw.len();
        let p = self.inner.page_size;
        match disk::decode_page(raw, p) {
            // Without a record (a page write for a file never read here) the
            // length cannot be checked.
            Some(data) if file_len.is_none_or(|l| data.len() as u64 == expected_len(l, index, p)) => {
                return Ok(Some(data));
            }
            Some(data) => warn!(
                "page store: page {} holds {} bytes, but page {index} of a file of {} bytes has {}; deleting it",
                path.display(),
                data.len(),
                file_len.unwrap_or(0),
                expected_len(file_len.unwrap_or(0), index, p)
            ),
            None => warn!(
                "page store: page {} is corrupt ({raw_len} bytes, checksum or size mismatch); deleting it",
                path.display()
            ),
        }
        self.inner.counters.corrupt.fetch_add(1, Relaxed);
        let dropped = self.inner.index.lock().drop_if_gen(file_id, index, gen);
        if dropped {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!("page store: cannot delete {}: {e}", path.display());
                }
            }
        }
        Ok(None)
    }

    /// Reserves room, then writes and commits on a blocking thread. That
    /// task owns everything it needs, so a cancelled caller cannot leak the
    /// reservation or leave a written page unindexed.
    pub(super) async fn store(
        &self,
        file_id: &str,
        index: u64,
        data: Bytes,
        ticket: OpTicket,
    ) -> Result<()> {
        let len = data.len() as u64;
        if len > self.inner.quota {
            debug!(
                "page store: page {index} of {file_id} ({len} bytes) exceeds the quota {}; not stored",
                self.inner.quota
            );
            return Ok(());
        }
        let reserved = self
            .inner
            .index
            .lock()
            .reserve(file_id, index, len, ticket.start);
        let (evicted, charge) = match reserved {
            Reserve::Reserved { evicted, charge } => (evicted, charge),
            Reserve::Stale => {
                debug!("page store: {file_id} was removed meanwhile; page {index} not stored");
                return Ok(());
            }
            Reserve::NoRoom => {
                debug!("page store: quota held by writes in flight; page {index} of {file_id} not stored");
                return Ok(());
            }
        };
        self.inner
            .counters
            .evictions
            .fetch_add(evicted.len() as u64, Relaxed);
        let inner = self.inner.clone();
        let file_id = file_id.to_owned();
        tokio::task::spawn_blocking(move || {
            inner.write_reserved(&file_id, index, &data, (evicted, charge), ticket)
        })
        .await
        .map_err(|e| Error::Io {
            context: "page store write task".into(),
            message: e.to_string(),
        })?
    }
}

/// The length of page `index` of a file of `file_len` bytes: a whole page,
/// the rest of the file for the last page, 0 past the end.
pub(super) fn expected_len(file_len: u64, index: u64, page_size: u64) -> u64 {
    file_len
        .saturating_sub(index.saturating_mul(page_size))
        .min(page_size)
}

impl Inner {
    pub(super) fn temp_path(&self) -> PathBuf {
        self.layout
            .temp_path(self.nonce, self.temp_names.fetch_add(1, Relaxed))
    }

    /// Blocking half of `store`: deletes the evicted pages, writes the page
    /// and turns the reservation (its evictions and charge) into an index
    /// entry, or ends it.
    fn write_reserved(
        &self,
        file_id: &str,
        index: u64,
        data: &[u8],
        (evicted, charge): (Vec<PageRef>, u64),
        ticket: OpTicket,
    ) -> Result<()> {
        for (id, page) in &evicted {
            remove_quietly(&self.layout.page_path(id, *page));
        }
        let dest = self.layout.page_path(file_id, index);
        let header = disk::checksum_header(data);
        let written = disk::write_atomic(&self.temp_path(), &dest, &[&header, data]);
        let len = data.len() as u64;
        let committed = written.is_ok()
            && self
                .index
                .lock()
                .commit(file_id, index, len, charge, ticket.start);
        drop(ticket);
        if committed {
            return Ok(());
        }
        // Not indexed: the file goes, then its charge (the quota bounds
        // what is on disk, so the room is free only once the file is).
        remove_quietly(&dest);
        self.index.lock().release(charge);
        match written {
            Ok(()) => {
                debug!("page store: {file_id} was removed meanwhile; dropped page {index}");
                Ok(())
            }
            // The previous version left the index at reservation: not orphaned.
            Err(e) => Err(Error::io(format!("writing page {}", dest.display()), &e)),
        }
    }
}
