//! File status for `/v1/info` (docs/protocol.md §5.3) and keeping a file's
//! record in step with the under storage.
//!
//! A file the worker has a record of (it read or loaded the file) is served
//! from that record — its pages are read with the record's length — so
//! `info` answers from it too while the record was checked against the under
//! storage within `metadata_sync_interval` (as Alluxio's metadata sync
//! interval: a cache serves its view for a while). After that, `info` asks
//! the under storage again; a file that changed there (length, modification
//! time or ETag) loses its cached pages and record, so the next read sees
//! the new content instead of mixing old pages with a new length.
//!
//! The decisions ([`MetaSync::file_status`]) depend only on a
//! [`StatusSource`] (the records, the under storage, invalidation) and the
//! sync's own clock; the worker is one source, tests use in-memory fakes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use parking_lot::Mutex;

use crate::error::Result;
use crate::protocol::path_id::path_id;
use crate::worker::page_store::FileMeta;
use crate::worker::state::Worker;
use crate::worker::ufs::{last_segment, UfsStatus};

/// What a file's status is decided from.
pub trait StatusSource: Sync {
    /// The record of file `id`, if there is one.
    fn record(&self, id: &str) -> Option<FileMeta>;
    /// `url` cleaned, checked to be inside a root (no storage access).
    fn cleaned(&self, url: &str) -> Result<String>;
    /// The under storage's status of `url`.
    fn stat(&self, url: &str) -> impl Future<Output = Result<UfsStatus>> + Send;
    /// Drops the cached pages and record of `url`.
    fn invalidate(&self, url: &str);
}

/// A source of the current time.
type Clock = Box<dyn Fn() -> Instant + Send + Sync>;

/// When each file's record was last checked against the under storage, by
/// file id. Not persisted: after a restart every record is checked once.
pub struct MetaSync {
    checked: Mutex<HashMap<Arc<str>, Instant>>,
    clock: Clock,
}

impl Default for MetaSync {
    fn default() -> Self {
        Self::with_clock(Instant::now)
    }
}

impl MetaSync {
    /// A sync that reads the time from `clock` (tests move it by hand).
    pub fn with_clock(clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        Self {
            checked: Mutex::default(),
            clock: Box::new(clock),
        }
    }

    /// Notes that the record of `id` matches the under storage now.
    pub fn checked(&self, id: &str) {
        self.checked.lock().insert(Arc::from(id), (self.clock)());
    }

    /// Forgets `id` (its record is gone).
    pub fn forget(&self, id: &str) {
        self.checked.lock().remove(id);
    }

    /// Whether the record of `id` was checked within `interval` (`None`:
    /// once is enough).
    fn is_fresh(&self, id: &str, interval: Option<Duration>) -> bool {
        let Some(at) = self.checked.lock().get(id).copied() else {
            return false;
        };
        interval.is_none_or(|i| (self.clock)().saturating_duration_since(at) < i)
    }

    /// Status of a file or directory: from the file's record while it is
    /// fresh within `interval` (see the module docs), else from the under
    /// storage, dropping the cached file if it changed there.
    pub async fn file_status<S: StatusSource>(
        &self,
        src: &S,
        url: &str,
        interval: Option<Duration>,
    ) -> Result<UfsStatus> {
        let id = path_id(url);
        // Page requests record the URL they were given; another spelling of
        // the same file has another id and is not looked up here.
        let record = src.record(&id).filter(|m| m.ufs_path == url);
        if let Some(m) = &record {
            if self.is_fresh(&id, interval) {
                // Confinement is checked as for any path (no storage access).
                let clean = src.cleaned(url)?;
                return Ok(status_of(m.clone(), clean));
            }
        }
        let st = src.stat(url).await?;
        if let Some(m) = record {
            if matches(&m, &st) {
                self.checked(&id);
            } else {
                debug!("{url} changed in the under storage: dropping its cached pages");
                self.forget(&id);
                src.invalidate(url);
            }
        }
        Ok(st)
    }
}

/// Whether a record still describes the under-storage entry `st`.
fn matches(m: &FileMeta, st: &UfsStatus) -> bool {
    !st.is_dir
        && m.length == st.length
        && m.mtime_ms == st.mtime_ms
        // Records written before hashes were kept have none.
        && (m.content_hash.is_empty() || m.content_hash == st.content_hash)
}

/// The status a record stands for; `url` is the cleaned URL.
fn status_of(m: FileMeta, url: String) -> UfsStatus {
    UfsStatus {
        name: last_segment(&url).to_owned(),
        url,
        is_dir: false,
        length: m.length,
        mtime_ms: m.mtime_ms,
        ctime_ms: m.ctime_ms,
        content_hash: m.content_hash,
    }
}

impl StatusSource for Worker {
    fn record(&self, id: &str) -> Option<FileMeta> {
        self.store().file_meta(id)
    }

    fn cleaned(&self, url: &str) -> Result<String> {
        self.ufs().cleaned(url)
    }

    fn stat(&self, url: &str) -> impl Future<Output = Result<UfsStatus>> + Send {
        self.ufs().stat(url)
    }

    fn invalidate(&self, url: &str) {
        Worker::invalidate(self, url);
    }
}

impl Worker {
    /// Status of a file or directory for `/v1/info` (see
    /// [`MetaSync::file_status`]).
    pub async fn file_status(&self, url: &str) -> Result<UfsStatus> {
        self.meta_sync()
            .file_status(self, url, self.config().metadata_sync_interval)
            .await
    }
}

#[cfg(test)]
mod tests;
