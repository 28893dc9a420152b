//! The worker's shared state and its read path: pages come from the page
//! store, and on a miss from the under storage a window of pages at a time,
//! each page once (single-flight).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::config::ClientConfig;
use crate::error::{Error, Result};
use crate::membership::{static_workers, Membership};
use crate::protocol::path_id::path_id;
use crate::protocol::ring::Ring;
use crate::protocol::worker_info::WorkerInfo;
use crate::worker::config::{self_as_peer, WorkerConfig};
use crate::worker::load_job::LoadJobs;
use crate::worker::meta_sync::MetaSync;
use crate::worker::page_store::{FileMeta, PageStore, SpanLimits};
use crate::worker::ufs::Ufs;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    config: WorkerConfig,
    me: WorkerInfo,
    store: PageStore,
    ufs: Ufs,
    membership: Option<Membership>,
    jobs: LoadJobs,
    http: reqwest::Client,
    stat_flights: StatFlights,
    meta_sync: MetaSync,
}

type StatKey = (String, String);
type StatCell = Arc<OnceCell<Result<FileMeta>>>;

/// Single-flight for the UFS stat behind [`Worker::file_meta`], by (id, url).
/// An entry leaves the map once it has a result (errors are not kept) or
/// when its last waiter gives up.
#[derive(Default)]
struct StatFlights {
    map: Mutex<HashMap<StatKey, StatCell>>,
}

impl StatFlights {
    fn join(&self, id: &str, url: &str) -> StatFlight<'_> {
        let key = (id.to_owned(), url.to_owned());
        let cell = self.map.lock().entry(key.clone()).or_default().clone();
        StatFlight {
            flights: self,
            key,
            cell: Some(cell),
        }
    }
}

struct StatFlight<'a> {
    flights: &'a StatFlights,
    key: StatKey,
    /// `Some` until dropped (released under the map lock, as in the page store's flights).
    cell: Option<StatCell>,
}

impl StatFlight<'_> {
    async fn run<F, Fut>(&self, init: F) -> Result<FileMeta>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<FileMeta>>,
    {
        match &self.cell {
            Some(cell) => cell.get_or_init(init).await.clone(),
            None => init().await,
        }
    }
}

impl Drop for StatFlight<'_> {
    fn drop(&mut self) {
        let Some(cell) = self.cell.take() else {
            return;
        };
        let mut map = self.flights.map.lock();
        let ours = map.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &cell));
        // Clones are made only under this lock: 2 means "the map and us".
        if ours && (cell.initialized() || Arc::strong_count(&cell) == 2) {
            map.remove(&self.key);
        }
        drop(cell);
        drop(map);
    }
}

impl Worker {
    /// Builds the worker state (opens the page store, checks the UFS roots,
    /// starts watching peers). `me` must carry the bound port.
    pub fn new(config: WorkerConfig, me: WorkerInfo, store: PageStore, ufs: Ufs) -> Result<Self> {
        let membership = config.membership.clone().map(|m| {
            let cc = ClientConfig {
                membership: m,
                cluster_name: config.cluster_name.clone(),
                page_size: config.page_size,
                virtual_nodes: config.virtual_nodes,
                io: crate::config::IoConfig::default(),
                local_cache: None,
            };
            Membership::start(&cc, &tokio::runtime::Handle::current())
        });
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .map_err(|e| Error::InvalidConfig(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                me,
                store,
                ufs,
                membership,
                jobs: LoadJobs::default(),
                http,
                stat_flights: StatFlights::default(),
                meta_sync: MetaSync::default(),
            }),
        })
    }

    /// Settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.inner.config
    }
    /// This worker's identity and address.
    pub fn me(&self) -> &WorkerInfo {
        &self.inner.me
    }
    /// The page store.
    pub fn store(&self) -> &PageStore {
        &self.inner.store
    }
    /// The under storage.
    pub fn ufs(&self) -> &Ufs {
        &self.inner.ufs
    }
    /// Load jobs of this worker.
    pub fn jobs(&self) -> &LoadJobs {
        &self.inner.jobs
    }
    /// HTTP client for talking to peers.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }
    /// When each file's record was last checked against the under storage.
    pub(crate) fn meta_sync(&self) -> &MetaSync {
        &self.inner.meta_sync
    }

    /// The ring of all workers (just this one when standalone).
    pub async fn ring(&self) -> Result<Arc<Ring>> {
        match &self.inner.membership {
            Some(m) => m.ring().await,
            None => Ok(Arc::new(Ring::new(
                vec![self.inner.me.clone()],
                self.inner.config.virtual_nodes,
            ))),
        }
    }

    /// Size and location of a file: from the store's record when known (no
    /// UFS access for cached files), else from the under storage.
    pub async fn file_meta(&self, id: &str, url: Option<&str>) -> Result<FileMeta> {
        if let Some(m) = self.store().file_meta(id) {
            if url.is_none_or(|u| u == m.ufs_path) {
                return Ok(m);
            }
        }
        let url = url.ok_or_else(|| {
            Error::NotFound(format!(
                "file {id} is not cached and no ufsFullPath was given"
            ))
        })?;
        // Concurrent first requests for a file (a client reads its pages
        // all at once) share one stat.
        let flight = self.inner.stat_flights.join(id, url);
        flight
            .run(|| async {
                let st = self.ufs().stat(url).await?;
                if st.is_dir {
                    return Err(Error::IsADirectory(url.to_owned()));
                }
                let meta = FileMeta {
                    ufs_path: url.to_owned(),
                    length: st.length,
                    mtime_ms: st.mtime_ms,
                    content_hash: st.content_hash,
                    ctime_ms: st.ctime_ms,
                };
                self.store().set_file_meta(id, meta.clone())?;
                self.inner.meta_sync.checked(id);
                Ok(meta)
            })
            .await
    }

    /// Page `index` of a file, whole (the last page may be short; past EOF empty).
    pub async fn page(&self, id: &str, meta: &FileMeta, index: u64) -> Result<Bytes> {
        self.page_in(id, meta, index, index..index + 1).await
    }

    /// Page `index` of a file, read as part of the pages `wanted` (of one
    /// request). A miss reads a span of missing pages from the under storage
    /// in one read, and concurrent misses on its pages join that read (see
    /// [`PageStore::get_or_load_span`]): the aligned readahead window holding
    /// `index` (see [`WorkerConfig::readahead`]: 16 pages on S3, 1 on local
    /// files by default), widened to the rest of `wanted` (up to the most
    /// pages per read from `index`: a range of that many pages is one read),
    /// grown up to that most by a sequential scan. Never past the end of the
    /// file; at most half the cache quota.
    pub async fn page_in(
        &self,
        id: &str,
        meta: &FileMeta,
        index: u64,
        wanted: Range<u64>,
    ) -> Result<Bytes> {
        let p = self.config().page_size;
        let start = index.saturating_mul(p);
        if start >= meta.length {
            return Ok(Bytes::new());
        }
        let file_pages = meta.length.div_ceil(p);
        let (window, max_pages) = self.config().readahead(Ufs::is_local_url(&meta.ufs_path));
        let window = window.max(1);
        let lo = index / window * window;
        let hi = lo
            .saturating_add(window)
            .max(wanted.end.min(index.saturating_add(max_pages)))
            .min(file_pages);
        let limits = SpanLimits {
            window: lo..hi,
            max_pages,
            file_pages,
        };
        let ufs = self.ufs().clone();
        let (url, length) = (meta.ufs_path.clone(), meta.length);
        self.store()
            .get_or_load_span(id, index, &limits, move |first, count| async move {
                let offset = first * p;
                let want = count.saturating_mul(p).min(length - offset);
                let b = ufs.read(&url, offset, want).await?;
                if b.len() as u64 != want {
                    return Err(Error::Ufs {
                        path: url,
                        message: format!(
                            "pages {first}..{}: read {} bytes, expected {want} (file changed?)",
                            first + count,
                            b.len()
                        ),
                    });
                }
                Ok(b)
            })
            .await
    }

    /// Drops cached pages and metadata of `url` (after a write, move or delete).
    pub fn invalidate(&self, url: &str) {
        let id = path_id(url);
        self.inner.meta_sync.forget(&id);
        self.store().remove_file(&id);
    }

    /// Percentage of `url`'s bytes cached here.
    pub fn cached_percent(&self, url: &str, length: u64) -> u32 {
        if length == 0 {
            return 100;
        }
        let cached = self.store().cached_bytes(&path_id(url)).min(length);
        u32::try_from(cached * 100 / length).unwrap_or(100)
    }
}

/// This worker's identity: fixed, or from peers' static list, or persisted.
pub fn resolve_identity(config: &WorkerConfig, port: u16) -> Result<crate::WorkerIdentity> {
    if let Some(text) = &config.identity {
        return crate::WorkerIdentity::from_uuid_str(text)
            .map_err(|e| Error::InvalidConfig(format!("invalid identity={text:?}: {e}")));
    }
    if let Some(peers) = config.peers() {
        // Static membership: be exactly the worker clients compute from the list.
        let me = self_as_peer(&config.advertise_host, port)?;
        let entry = peers
            .iter()
            .find(|p| p.host == me.host && p.port == me.port)
            .cloned()
            .unwrap_or(me);
        return Ok(static_workers(&[entry]).remove(0).identity);
    }
    crate::worker::identity_file::load_or_create(&config.cache_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(length: u64) -> FileMeta {
        FileMeta {
            ufs_path: "s3://b/k".into(),
            length,
            mtime_ms: 0,
            content_hash: String::new(),
            ctime_ms: 0,
        }
    }

    #[tokio::test]
    async fn concurrent_stats_share_one_and_leave_the_map() {
        let flights = StatFlights::default();
        let (a, b) = (flights.join("f", "s3://b/k"), flights.join("f", "s3://b/k"));
        let other = flights.join("f", "s3://b/other");
        assert_eq!(flights.map.lock().len(), 2);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let stat = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            Ok(meta(7))
        };
        let (ra, rb) = tokio::join!(a.run(stat), b.run(stat));
        assert_eq!((ra.unwrap(), rb.unwrap()), (meta(7), meta(7)));
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop((a, b));
        assert_eq!(flights.map.lock().len(), 1, "done: gone");
        drop(other);
        assert_eq!(flights.map.lock().len(), 0, "abandoned: gone");
        // Errors are not kept.
        let c = flights.join("f", "s3://b/k");
        let err = c.run(|| async { Err(Error::NotFound("k".into())) }).await;
        assert!(err.is_err());
        drop(c);
        let d = flights.join("f", "s3://b/k");
        assert_eq!(d.run(|| async { Ok(meta(8)) }).await.unwrap(), meta(8));
    }
}
