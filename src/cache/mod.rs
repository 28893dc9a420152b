//! The node-local page cache: pages of file versions in one or more
//! directories, shared by every process on the node that points at them
//! (quota, eviction, single-flight fetching), safe against processes being
//! killed at any point. Pure: no PyO3, no HTTP; the client's cache tier
//! (`client::local_tier`) puts it behind the read seam.
//!
//! - [`page_file`]: a page on disk and its checksums.
//! - [`store`]: one directory (ledger, claims, publish, eviction).
//! - [`meta`], [`versions`]: file versions and the node's table of them.
//! - [`lock`], [`mapped`], [`ledger`]: the cross-process primitives.
//! - [`admin`]: inspecting and clearing a directory (`alluxiofs cache`).

pub mod admin;
pub mod ledger;
pub mod lock;
pub mod mapped;
pub mod meta;
pub mod page_file;
pub mod store;
pub mod versions;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
pub use meta::FileVersion;
pub use store::{Dir, Found, PageKey, Usage};

/// The directory under each `local_cache_dir` that holds our namespaces
/// (format version 1).
pub const TOP: &str = "alluxiofs-cache-v1";

/// Validated local cache settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalCacheConfig {
    /// Each directory and its quota in bytes.
    pub dirs: Vec<(PathBuf, u64)>,
    /// How long a file version checked with the cluster is trusted;
    /// `None`: checked on every read.
    pub metadata_ttl: Option<Duration>,
}

/// The cache of one client configuration (one namespace) in this process.
pub struct LocalCache {
    dirs: Vec<Dir>,
    /// Running sums of the quotas: a page goes to the directory its hash
    /// falls in, so each holds its share.
    bounds: Vec<u64>,
    page_size: u64,
    ttl: Option<Duration>,
    versions: RwLock<HashMap<String, (Arc<FileVersion>, Instant)>>,
    warned: AtomicBool,
}

impl LocalCache {
    /// Opens the namespace `namespace` (which names the cluster and page
    /// size; `about` describes it for people) in every configured
    /// directory. A directory that cannot be used (read-only, …) is left
    /// out with a warning; `None` if none can be. A path that exists and is
    /// not a directory is an error naming `local_cache_dir`.
    pub fn open(
        cfg: &LocalCacheConfig,
        namespace: &str,
        about: &str,
        page_size: u64,
    ) -> Result<Option<Self>> {
        let mut dirs = Vec::new();
        for (dir, quota) in &cfg.dirs {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::InvalidConfig(format!(
                    "local_cache_dir: {} is not a directory",
                    dir.display()
                )));
            }
            match Dir::open(dir.join(TOP).join(namespace), *quota, about) {
                Ok(d) => dirs.push(d),
                Err(e) => log::warn!(
                    "alluxiofs: local cache directory {} cannot be used ({e}); \
                     reading from the cluster instead",
                    dir.display()
                ),
            }
        }
        if dirs.is_empty() {
            return Ok(None);
        }
        let mut sum = 0;
        let bounds = dirs
            .iter()
            .map(|d| {
                sum += d.quota();
                sum
            })
            .collect();
        Ok(Some(Self {
            dirs,
            bounds,
            page_size,
            ttl: cfg.metadata_ttl,
            versions: RwLock::new(HashMap::new()),
            warned: AtomicBool::new(false),
        }))
    }

    /// The directories in use.
    pub fn dirs(&self) -> &[Dir] {
        &self.dirs
    }

    /// The page size.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The directory that holds whatever hashes to `h`.
    pub fn dir_for(&self, h: u64) -> &Dir {
        let total = *self.bounds.last().expect("at least one directory");
        let x = h % total.max(1);
        let i = self.bounds.partition_point(|b| *b <= x);
        &self.dirs[i.min(self.dirs.len() - 1)]
    }

    /// The directory of page `key`.
    pub fn dir_of(&self, key: &PageKey) -> &Dir {
        self.dir_for(key.hash())
    }

    /// Bytes in page `index` of `v`.
    pub fn page_len(&self, v: &FileVersion, index: u64) -> usize {
        let start = index.saturating_mul(self.page_size);
        usize::try_from(v.len.saturating_sub(start).min(self.page_size)).unwrap_or(usize::MAX)
    }

    /// Logs a failure to store into the cache once per process (reads go on
    /// from the cluster; nothing is wrong, only slower).
    pub fn warn_once(&self, what: &str, e: &std::io::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!(
                "alluxiofs: local cache {what} failed ({e}); reading from the cluster \
                 where the cache cannot help (logged once)"
            );
        } else {
            log::debug!("alluxiofs: local cache {what} failed: {e}");
        }
    }

    /// The version of `path`: from memory or the node's record if checked
    /// within the TTL, else from `check` (which asks the cluster for
    /// `(size, modification ms, content hash)`; it fails for a directory).
    /// A new version's predecessor has its pages removed.
    pub async fn version<F, Fut>(&self, path: &str, check: F) -> Result<Arc<FileVersion>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(u64, i64, String)>>,
    {
        let known = self.versions.read().get(path).cloned();
        if let (Some(ttl), Some((v, at))) = (self.ttl, &known) {
            if at.elapsed() < ttl {
                return Ok(Arc::clone(v));
            }
        }
        let mut old = known.map(|(v, _)| v);
        // Hashed only here: the in-memory answer above is what every read
        // of a warm epoch gets.
        let table = self.dir_for(xxh3_64(path.as_bytes())).versions();
        if let Some(ttl) = self.ttl {
            if let Some((v, age)) = table.get(path) {
                let v = Arc::new(v);
                if age < ttl {
                    let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
                    self.versions
                        .write()
                        .insert(path.to_owned(), (Arc::clone(&v), at));
                    return Ok(v);
                }
                old = old.or(Some(v));
            }
        }
        let (len, mtime_ms, hash) = check().await?;
        let v = Arc::new(FileVersion::new(path, len, mtime_ms, &hash));
        if let Some(o) = old.filter(|o| o.key != v.key) {
            self.remove_version(&o);
        }
        if let Err(e) = table.put(path, &v) {
            self.warn_once("recording a file version", &e);
        }
        self.versions
            .write()
            .insert(path.to_owned(), (Arc::clone(&v), Instant::now()));
        Ok(v)
    }

    /// Forgets what is known of `path`'s version (here and on the node), so
    /// the next read checks it with the cluster.
    pub fn forget(&self, path: &str) {
        self.versions.write().remove(path);
        let _ = self
            .dir_for(xxh3_64(path.as_bytes()))
            .versions()
            .remove(path);
    }

    /// Removes the pages of a replaced version.
    fn remove_version(&self, v: &FileVersion) {
        for index in 0..v.pages(self.page_size) {
            let key = PageKey { file: v.key, index };
            self.dir_of(&key).remove_page(&key);
        }
    }
}

#[cfg(test)]
mod tests;
