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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::debug;
use parking_lot::Mutex;

use crate::error::Result;
use crate::protocol::path_id::path_id;
use crate::worker::page_store::FileMeta;
use crate::worker::state::Worker;
use crate::worker::ufs::{last_segment, UfsStatus};

/// When each file's record was last checked against the under storage, by
/// file id. Not persisted: after a restart every record is checked once.
#[derive(Default)]
pub struct MetaSync {
    checked: Mutex<HashMap<Arc<str>, Instant>>,
}

impl MetaSync {
    /// Notes that the record of `id` matches the under storage now.
    pub fn checked(&self, id: &str) {
        self.checked.lock().insert(Arc::from(id), Instant::now());
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
        interval.is_none_or(|i| at.elapsed() < i)
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
        content_hash: m.content_hash,
    }
}

impl Worker {
    /// Status of a file or directory for `/v1/info`: from the file's record
    /// while it is fresh (see the module docs), else from the under storage,
    /// dropping the cached file if it changed there.
    pub async fn file_status(&self, url: &str) -> Result<UfsStatus> {
        let id = path_id(url);
        // Page requests record the URL they were given; another spelling of
        // the same file has another id and is not looked up here.
        let record = self.store().file_meta(&id).filter(|m| m.ufs_path == url);
        if let Some(m) = &record {
            if self
                .meta_sync()
                .is_fresh(&id, self.config().metadata_sync_interval)
            {
                // Confinement is checked as for any path (no storage access).
                let clean = self.ufs().cleaned(url)?;
                return Ok(status_of(m.clone(), clean));
            }
        }
        let st = self.ufs().stat(url).await?;
        if let Some(m) = record {
            if matches(&m, &st) {
                self.meta_sync().checked(&id);
            } else {
                debug!("{url} changed in the under storage: dropping its cached pages");
                self.invalidate(url);
            }
        }
        Ok(st)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(length: u64, mtime_ms: i64, hash: &str) -> UfsStatus {
        UfsStatus {
            url: "s3://b/d/k".into(),
            name: "k".into(),
            is_dir: false,
            length,
            mtime_ms,
            content_hash: hash.into(),
        }
    }

    fn meta(length: u64, mtime_ms: i64, hash: &str) -> FileMeta {
        FileMeta {
            ufs_path: "s3://b/d/k".into(),
            length,
            mtime_ms,
            content_hash: hash.into(),
        }
    }

    #[test]
    fn a_record_matches_only_the_same_version() {
        assert!(matches(&meta(5, 7, "e1"), &st(5, 7, "e1")));
        assert!(
            matches(&meta(5, 7, ""), &st(5, 7, "e1")),
            "old record, no hash"
        );
        assert!(!matches(&meta(5, 7, "e1"), &st(6, 7, "e1")));
        assert!(!matches(&meta(5, 7, "e1"), &st(5, 8, "e1")));
        assert!(!matches(&meta(5, 7, "e1"), &st(5, 7, "e2")));
        let mut dir = st(0, 0, "");
        dir.is_dir = true;
        assert!(!matches(&meta(0, 0, ""), &dir));
    }

    #[test]
    fn a_status_from_a_record_names_the_cleaned_url() {
        let s = status_of(meta(5, 7, "e1"), "s3://b/d/k".into());
        assert_eq!((s.name.as_str(), s.length, s.mtime_ms), ("k", 5, 7));
        assert_eq!((s.is_dir, s.content_hash.as_str()), (false, "e1"));
    }

    #[test]
    fn freshness_follows_the_interval() {
        let m = MetaSync::default();
        assert!(!m.is_fresh("f", None), "never checked");
        m.checked("f");
        assert!(m.is_fresh("f", None));
        assert!(m.is_fresh("f", Some(Duration::from_secs(60))));
        assert!(!m.is_fresh("f", Some(Duration::ZERO)), "0: always ask");
        m.forget("f");
        assert!(!m.is_fresh("f", None));
    }
}
