//! Page store: the cache worker's pages on local disk under a byte quota.
//!
//! Files are cached as fixed-size pages (the last one may be shorter) keyed
//! by (file id, page index). The layout is described in `disk.rs`: one file
//! per page, an xxh3-64 checksum in front of the data, written to a temp file
//! and renamed into place. An in-memory index (rebuilt by scanning on open,
//! LRU order from file mtimes) is authoritative for what is cached and for
//! the quota; it sits under a mutex that is never held across an await.
//!
//! Races between readers, writers, eviction and removal only ever end in a
//! cache miss, never in wrong bytes being served: pages are replaced whole
//! and every page served has passed its checksum and, when its file has a
//! record, has the length that record implies. One directory must be
//! opened by one `PageStore` at a time.

mod disk;
mod flight;
mod index;
mod ops;
mod recover;

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use log::{debug, info, warn};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use disk::{remove_quietly, validate_file_id, Layout};
use flight::Flights;
use index::Index;

/// Where the store lives and how big it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStoreConfig {
    /// Store directory; created if missing. Only `store.json`, `pages/`,
    /// `tmp/` and `trash/` inside it belong to the store.
    pub dir: PathBuf,
    /// Bytes per page; a store written with another page size is cleared.
    pub page_size: u64,
    /// Most bytes of page data kept (headers and metas not counted).
    pub quota: u64,
}

/// Which pages a miss may load together; see [`PageStore::get_or_load_span`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanLimits {
    /// Pages a miss may load in any case (widened to hold the missed page).
    pub window: Range<u64>,
    /// Most pages a sequential scan may load at once.
    pub max_pages: u64,
    /// Pages of the file: nothing at or past this is loaded.
    pub file_pages: u64,
}

/// What the worker knows about a cached file; persisted next to its pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Full UFS path the file id was derived from.
    pub ufs_path: String,
    /// File length in bytes.
    pub length: u64,
    /// UFS modification time, milliseconds since the epoch.
    pub mtime_ms: i64,
    /// UFS content hash (S3 ETag) when the file was recorded; empty if the
    /// storage has none (local files) or the record predates it.
    #[serde(default)]
    pub content_hash: String,
    /// UFS creation time, milliseconds since the epoch; 0 if unknown (or
    /// the record predates it).
    #[serde(default)]
    pub ctime_ms: i64,
}

/// A snapshot of the store's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bytes counted against the quota: cached pages plus writes in flight.
    pub used_bytes: u64,
    /// Pages cached.
    pub pages: u64,
    /// The configured quota.
    pub quota: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not answered from the cache.
    pub misses: u64,
    /// Pages evicted to make room.
    pub evictions: u64,
    /// Pages found corrupt and deleted (never served).
    pub corrupt: u64,
    /// Loader calls made by `get_or_load`.
    pub loads: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    corrupt: AtomicU64,
    loads: AtomicU64,
}

/// The on-disk page cache; clones share one store.
#[derive(Clone)]
pub struct PageStore {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    page_size: u64,
    quota: u64,
    index: Mutex<Index>,
    flights: Flights,
    counters: Counters,
    /// Distinguishes this instance's temp names from any leftovers.
    nonce: u64,
    temp_names: AtomicU64,
}

impl fmt::Debug for PageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageStore")
            .field("dir", &self.inner.layout.root())
            .field("page_size", &self.inner.page_size)
            .field("quota", &self.inner.quota)
            .finish()
    }
}

impl PageStore {
    /// Opens (creating if needed) the store in `cfg.dir`. Pages of a store
    /// written with the same page size are reused, least recently used first
    /// by file mtime and evicted down to the quota; a store with another page
    /// size or unreadable metadata is cleared and starts empty.
    pub fn open(cfg: PageStoreConfig) -> Result<Self> {
        if cfg.page_size == 0 {
            return Err(Error::InvalidConfig(
                "page store page_size must be positive".into(),
            ));
        }
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        let layout = Layout::new(cfg.dir);
        let mut index = Index::new(cfg.quota);
        let counters = Counters::default();
        if recover::prepare(&layout, cfg.page_size, nonce)? {
            let mut scan = recover::scan(&layout, cfg.page_size)?;
            scan.pages
                .sort_by(|a, b| (a.mtime, &a.id, a.index).cmp(&(b.mtime, &b.id, b.index)));
            for (id, meta) in scan.metas {
                index.set_meta(&id, meta);
            }
            for page in &scan.pages {
                index.insert(&page.id, page.index, page.len);
            }
            let evicted = index.fit_quota();
            for (id, page) in &evicted {
                remove_quietly(&layout.page_path(id, *page));
            }
            counters.corrupt.store(scan.corrupt, Relaxed);
            counters.evictions.store(evicted.len() as u64, Relaxed);
            info!(
                "page store {}: reusing {} pages ({} bytes), evicted {} over the quota",
                layout.root().display(),
                index.pages(),
                index.used(),
                evicted.len()
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                page_size: cfg.page_size,
                quota: cfg.quota,
                index: Mutex::new(index),
                flights: Flights::default(),
                counters,
                nonce,
                temp_names: AtomicU64::new(1),
            }),
        })
    }

    /// Bytes per page.
    pub fn page_size(&self) -> u64 {
        self.inner.page_size
    }

    /// Current counters.
    pub fn stats(&self) -> StoreStats {
        let c = &self.inner.counters;
        let (used_bytes, pages) = {
            let index = self.inner.index.lock();
            (index.used(), index.pages())
        };
        StoreStats {
            used_bytes,
            pages,
            quota: self.inner.quota,
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            corrupt: c.corrupt.load(Relaxed),
            loads: c.loads.load(Relaxed),
        }
    }

    /// Whether a page is indexed (its file is only verified when read).
    pub fn contains(&self, file_id: &str, index: u64) -> bool {
        validate_file_id(file_id).is_ok() && self.inner.index.lock().contains(file_id, index)
    }

    /// Bytes of a file currently cached.
    pub fn cached_bytes(&self, file_id: &str) -> u64 {
        self.inner.index.lock().cached_bytes(file_id)
    }

    /// The meta recorded for a file, if any.
    pub fn file_meta(&self, file_id: &str) -> Option<FileMeta> {
        self.inner.index.lock().meta(file_id)
    }

    /// Records (and persists) a file's meta; it lives until `remove_file`.
    pub fn set_file_meta(&self, file_id: &str, meta: FileMeta) -> Result<()> {
        validate_file_id(file_id)?;
        let raw = serde_json::to_vec(&meta).map_err(|e| Error::Io {
            context: "encoding file meta".into(),
            message: e.to_string(),
        })?;
        let dest = self.inner.layout.meta_path(file_id);
        let tmp = self.inner.temp_path();
        // Under the lock so `remove_file` (which moves the directory under
        // the same lock) cannot interleave and lose it.
        let mut index = self.inner.index.lock();
        disk::write_atomic(&tmp, &dest, &[&raw])
            .map_err(|e| Error::io(format!("writing {}", dest.display()), &e))?;
        index.set_meta(file_id, meta);
        Ok(())
    }

    /// Drops every page and the meta of a file (it was written or deleted).
    /// Writes and loads of the file already in flight are not cached.
    pub fn remove_file(&self, file_id: &str) {
        if validate_file_id(file_id).is_err() {
            return;
        }
        let inner = &self.inner;
        let dir = inner.layout.file_dir(file_id);
        let trash = inner
            .layout
            .trash_path(inner.nonce, inner.temp_names.fetch_add(1, Relaxed));
        let moved = {
            let mut index = inner.index.lock();
            let pages = index.remove_file(file_id);
            debug!("page store: removing {file_id} ({pages} pages)");
            // One rename under the lock; the slow deletion happens outside it.
            std::fs::rename(&dir, &trash)
        };
        inner.flights.forget_file(file_id);
        let doomed = match moved {
            Ok(()) => trash,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                warn!(
                    "page store: cannot move {} to the trash: {e}",
                    dir.display()
                );
                dir
            }
        };
        let delete = move || {
            if let Err(e) = std::fs::remove_dir_all(&doomed) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!("page store: cannot delete {}: {e}", doomed.display());
                }
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(delete)),
            Err(_) => delete(),
        }
    }

    /// A cached page, verified against its checksum. A corrupt or short page
    /// is deleted, counted and reported as a miss.
    pub async fn get(&self, file_id: &str, index: u64) -> Result<Option<Bytes>> {
        validate_file_id(file_id)?;
        let page = self.read_page(file_id, index).await?;
        let counter = match page {
            Some(_) => &self.inner.counters.hits,
            None => &self.inner.counters.misses,
        };
        counter.fetch_add(1, Relaxed);
        Ok(page)
    }

    /// Caches a page, replacing any previous version, evicting least
    /// recently used pages so the quota holds. A page larger than the whole
    /// quota, or one that cannot get room because writes in flight hold the
    /// quota, is not stored (still `Ok`: this is a cache).
    pub async fn put(&self, file_id: &str, index: u64, data: Bytes) -> Result<()> {
        validate_file_id(file_id)?;
        self.check_len(&data)?;
        let ticket = self.begin_op();
        self.store(file_id, index, data, ticket).await
    }

    /// The page from the cache, or else from `load`, which runs once for all
    /// concurrent callers of the same page (its error goes to all of them and
    /// is not cached). The loaded page is stored before returning; failing to
    /// store it is logged, not returned.
    pub async fn get_or_load<F, Fut>(&self, file_id: &str, index: u64, load: F) -> Result<Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        let one = SpanLimits {
            window: index..index + 1,
            max_pages: 1,
            file_pages: index + 1,
        };
        self.get_or_load_span(file_id, index, &one, move |_, _| load())
            .await
    }

    /// Like [`PageStore::get_or_load`], but a miss loads a span of pages in
    /// one call, and every miss on a page of that span, from any caller,
    /// joins that load instead of starting its own. The span is the longest
    /// run of consecutive pages around `index` inside `limits.window` that
    /// are neither cached nor being loaded; when it reaches the end of the
    /// window and a run of cached or loading pages (as long as the window,
    /// 4 pages at least) ends just before it, or within one window before it
    /// with only missing pages between (a sequential scan, whose requests may
    /// arrive out of order), it starts right after that run and grows past
    /// the window to four times the run's length, up to `limits.max_pages`. The window and the largest
    /// span are cut to half the quota (at least one page), so one load never
    /// evicts most of the cache.
    ///
    /// `load(first, count)` returns pages `first..first + count` back to
    /// back: every page but the last exactly `page_size` bytes, the last one
    /// 1 to `page_size` bytes (a one-page span: 0 to `page_size`); spans never
    /// reach `limits.file_pages`. Every page of the span is stored
    /// (checksummed, under the quota) before any caller returns.
    pub async fn get_or_load_span<F, Fut>(
        &self,
        file_id: &str,
        index: u64,
        limits: &SpanLimits,
        load: F,
    ) -> Result<Bytes>
    where
        F: FnOnce(u64, u64) -> Fut,
        Fut: Future<Output = Result<Bytes>> + Send,
    {
        validate_file_id(file_id)?;
        if let Some(page) = self.read_page(file_id, index).await? {
            self.inner.counters.hits.fetch_add(1, Relaxed);
            return Ok(page);
        }
        self.inner.counters.misses.fetch_add(1, Relaxed);
        let reach = self.reach(file_id, index, limits);
        let flight = self.inner.flights.join(file_id, index, &reach);
        let first = flight.pages().start;
        let span = flight
            .run(|first, count| self.load_span(file_id, first, count, load))
            .await?;
        Ok(self.page_of_span(&span, first, index))
    }
}
