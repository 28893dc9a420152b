//! The local cache tier: the workers' tier behind the node-shared page
//! cache (`crate::cache`). A piece of a cached page is read from its file
//! straight into the destination; a missing page is fetched whole from the
//! workers by one process on the node (the others wait for it, or take
//! over if it dies), stored, and served.
//!
//! Every read pins one file version ([`Tier::version`], learnt from the
//! cluster at most every `local_cache_metadata_ttl`); its pages are keyed
//! by it, so a read never mixes versions and a newer version's reads never
//! see the old pages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;

use super::dest::Dest;
use super::pages::Piece;
use super::stats::Stats;
use super::tier::{Short, Tier};
use super::ClientCore;
use crate::cache::{Dir, FileVersion, Found, LocalCache, PageKey};
use crate::config::{ClientConfig, MembershipConfig};
use crate::error::{Error, Result, TransportKind};

/// The workers' tier seen through the local cache: the same core.
#[repr(transparent)]
pub struct Cached(ClientCore);

impl ClientCore {
    /// Whether reads go through the node's local cache.
    pub fn has_local_cache(&self) -> bool {
        self.local_cache.is_some()
    }

    /// `path` was written, removed or renamed through this client (even if
    /// the call failed: it may have reached the worker): the node's local
    /// cache forgets its version, so the next read here asks the cluster.
    /// (Other processes on the node notice within `local_cache_metadata_ttl`.)
    pub(crate) fn changed(&self, path: &str) {
        if let Some(c) = &self.local_cache {
            c.forget(path);
        }
    }

    /// This core as the local cache tier.
    pub(crate) fn cached(&self) -> &Cached {
        // SAFETY: `Cached` is a transparent wrapper of `ClientCore`.
        unsafe { &*std::ptr::from_ref(self).cast::<Cached>() }
    }
}

/// The cache namespace of `config`: the cluster (name and how it is found)
/// and the page size, so clusters or page sizes sharing a directory never
/// mix. Returns the directory name and a description for people.
pub fn namespace(config: &ClientConfig) -> (String, String) {
    let members = match &config.membership {
        MembershipConfig::Etcd(e) => {
            let mut v: Vec<String> = e.endpoints.iter().map(|h| h.authority()).collect();
            v.sort();
            format!("etcd {}", v.join(","))
        }
        MembershipConfig::Static(hosts) => {
            let mut v: Vec<String> = hosts.iter().map(|h| h.authority()).collect();
            v.sort();
            format!("workers {}", v.join(","))
        }
    };
    let about = format!(
        "alluxiofs local cache\ncluster: {}\nmembership: {members}\npage size: {}\n",
        config.cluster_name, config.page_size
    );
    let safe: String = config
        .cluster_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let h = xxhash_rust::xxh3::xxh3_64(about.as_bytes());
    (format!("{safe}-{}-{h:016x}", config.page_size), about)
}

/// Opens the local cache `config` asks for (`None`: off, or no directory
/// usable).
pub fn open(config: &ClientConfig) -> Result<Option<LocalCache>> {
    let Some(c) = &config.local_cache else {
        return Ok(None);
    };
    let (ns, about) = namespace(config);
    LocalCache::open(c, &ns, &about, config.page_size)
}

/// How long to wait between looks for a page another process is fetching.
const WAIT_MIN: Duration = Duration::from_millis(1);
const WAIT_MAX: Duration = Duration::from_millis(20);

/// What filling a missed page ended with.
enum Filled {
    /// Its bytes (fetched here).
    Bytes(Vec<u8>),
    /// Another process stored it: read it from the cache.
    Stored,
}

impl Cached {
    fn cache(&self) -> &LocalCache {
        self.0
            .local_cache
            .as_ref()
            .expect("the cached tier has a cache")
    }

    /// The version of `path`, checked with the cluster if not within the TTL.
    async fn version_of(&self, path: &str) -> Result<Arc<FileVersion>> {
        self.cache()
            .version(path, || async {
                let st = self.0.info(path).await?;
                if st.is_dir() {
                    return Err(Error::IsADirectory(path.to_owned()));
                }
                Ok((st.length, st.mtime_ms, st.content_hash))
            })
            .await
    }

    /// Page `key` (`len` bytes) from the workers.
    async fn fetch(&self, path: &str, id: &str, key: &PageKey, len: usize) -> Result<Vec<u8>> {
        let mut buf = Vec::with_capacity(len);
        let p = Piece {
            index: key.index,
            offset: 0,
            len: len as u64,
            dest: 0,
        };
        let dest = Dest::Slice(&mut buf.spare_capacity_mut()[..len]);
        let (n, _) = self
            .0
            .read_piece(path, id, p, dest, Short::Fault, None)
            .await?;
        if n != len {
            // The workers have another version than the one pinned: check
            // again on the next read.
            self.cache().forget(path);
            return Err(Error::transport(
                String::new(),
                TransportKind::ShortBody,
                format!(
                    "{path}: page {} has {n} bytes, the file version says {len} (file changed)",
                    key.index
                ),
            ));
        }
        // SAFETY: the read wrote all `len` bytes.
        unsafe { buf.set_len(len) };
        Ok(buf)
    }

    /// Fetches and stores page `key` unless another process is doing so;
    /// then waits for it, taking over if it does not finish in time (dead
    /// owners release their claims at once; a slow one gets the timeout).
    async fn fill(
        &self,
        dir: &Dir,
        path: &str,
        id: &str,
        key: &PageKey,
        len: usize,
        read_again: bool,
    ) -> Result<Filled> {
        let give_up = Instant::now() + self.0.config.io.timeout;
        let mut wait = WAIT_MIN;
        loop {
            match dir.try_claim(key) {
                Ok(Some(claim)) => {
                    if dir.has(key) {
                        return Ok(Filled::Stored);
                    }
                    let buf = self.fetch(path, id, key, len).await?;
                    let t = Instant::now();
                    if let Err(e) = dir.publish(key, &buf, read_again) {
                        self.cache().warn_once("storing a page", &e);
                    }
                    let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                    Stats::add(&self.0.stats.local_cache_store_us, us);
                    drop(claim);
                    return Ok(Filled::Bytes(buf));
                }
                Ok(None) if Instant::now() < give_up => {
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(WAIT_MAX);
                    if dir.has(key) {
                        return Ok(Filled::Stored);
                    }
                }
                Ok(None) => return self.fetch(path, id, key, len).await.map(Filled::Bytes),
                Err(e) => {
                    self.cache().warn_once("claiming a page", &e);
                    return self.fetch(path, id, key, len).await.map(Filled::Bytes);
                }
            }
        }
    }

    async fn piece(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        mut dest: Dest<'_>,
        v: &FileVersion,
    ) -> Result<(usize, Option<u64>)> {
        let cache = self.cache();
        let stats = &self.0.stats;
        let page_len = cache.page_len(v, p.index);
        #[allow(clippy::cast_possible_truncation)]
        let (offset, asked) = (p.offset as usize, p.len as usize);
        let want = asked.min(page_len.saturating_sub(offset));
        dest.announce(Some(v.len));
        if want == 0 {
            return Ok((0, Some(v.len)));
        }
        let key = PageKey {
            file: v.key,
            index: p.index,
        };
        let dir = cache.dir_of(&key);
        dest.expect(want).await;
        // A page another process stores while we wait is read from there;
        // one that is gone again at once (evicted, corrupt) is fetched here.
        for attempt in 0..3 {
            if dir.read(&key, page_len, offset, dest.window(0, want)) == Found::Hit {
                dest.filled(want);
                Stats::add(&stats.local_cache_hits, 1);
                Stats::add(&stats.bytes_from_local_cache, want as u64);
                dir.ledger().count(true);
                return Ok((want, Some(v.len)));
            }
            if attempt == 0 {
                Stats::add(&stats.local_cache_misses, 1);
                dir.ledger().count(false);
            }
            if let Filled::Bytes(buf) = self.fill(dir, path, id, &key, page_len, false).await? {
                dest.put(0, &buf[offset..offset + want]);
                return Ok((want, Some(v.len)));
            }
        }
        let buf = self.fetch(path, id, &key, page_len).await?;
        dest.put(0, &buf[offset..offset + want]);
        Ok((want, Some(v.len)))
    }
}

/// What [`ClientCore::warm_local`] did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warmed {
    /// The file's size (its version's).
    pub size: u64,
    /// Bytes this call fetched from the workers into the cache.
    pub fetched: u64,
    /// Whether the file was warmed (false: bigger than the allowance).
    pub done: bool,
}

impl ClientCore {
    /// The size of `path` as the local cache knows it (its version, trusted
    /// for `local_cache_metadata_ttl`; else asked of the cluster): what
    /// opening a file needs, without a round trip per open in a warm epoch.
    /// An error if the local cache is off.
    pub async fn local_size(&self, path: &str) -> Result<u64> {
        if self.local_cache.is_none() {
            return Err(Error::InvalidArgument("the local cache is off".into()));
        }
        Ok(self.cached().version_of(path).await?.len)
    }

    /// Fetches every page of `path` missing from the local cache into it
    /// (the pages dated as wanted soon: a reader is expected), unless the
    /// file is bigger than `allowance` bytes. Pages are fetched as reads
    /// fetch them (once per node), several at once. An error if the local
    /// cache is off.
    pub async fn warm_local(&self, path: &str, allowance: u64) -> Result<Warmed> {
        self.warm_local_range(path, allowance, 0, u64::MAX).await
    }

    /// [`Self::warm_local`] for the pages holding bytes `[start, end)` of
    /// `path` only (clamped to the file): read-ahead of an open file.
    pub async fn warm_local_range(
        &self,
        path: &str,
        allowance: u64,
        start: u64,
        end: u64,
    ) -> Result<Warmed> {
        use futures::StreamExt;
        let Some(cache) = self.local_cache.as_ref() else {
            return Err(Error::InvalidArgument(
                "prefetching needs the local cache (local_cache_dir)".into(),
            ));
        };
        let tier = self.cached();
        let v = tier.version_of(path).await?;
        if v.len > allowance {
            return Ok(Warmed {
                size: v.len,
                fetched: 0,
                done: false,
            });
        }
        let id = crate::protocol::path_id::path_id(path);
        let id = &id;
        let page = cache.page_size();
        let first = start / page;
        let last = end.min(v.len).div_ceil(page).min(v.pages(page));
        let fetched = std::sync::atomic::AtomicU64::new(0);
        let fetched_ref = &fetched;
        let v_ref = &v;
        let mut jobs = futures::stream::iter(first..last.max(first))
            .map(|index| async move {
                let key = PageKey {
                    file: v_ref.key,
                    index,
                };
                let dir = cache.dir_of(&key);
                if dir.has(&key) {
                    return Ok(());
                }
                let len = cache.page_len(v_ref, index);
                if let Filled::Bytes(b) = tier.fill(dir, path, id, &key, len, true).await? {
                    fetched_ref.fetch_add(b.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                Ok::<_, Error>(())
            })
            .buffer_unordered(self.config.io.concurrency.clamp(1, 16));
        while let Some(r) = jobs.next().await {
            r?;
        }
        drop(jobs);
        let fetched = fetched.into_inner();
        Stats::add(&self.stats.prefetch_bytes, fetched);
        Ok(Warmed {
            size: v.len,
            fetched,
            done: true,
        })
    }
}

impl Tier for Cached {
    fn read_piece<'a>(
        &'a self,
        path: &'a str,
        id: &'a str,
        p: Piece,
        dest: Dest<'a>,
        _short: Short,
        version: Option<&'a FileVersion>,
    ) -> BoxFuture<'a, Result<(usize, Option<u64>)>> {
        async move {
            match version {
                Some(v) => self.piece(path, id, p, dest, v).await,
                None => {
                    let v = self.version_of(path).await?;
                    self.piece(path, id, p, dest, &v).await
                }
            }
        }
        .boxed()
    }

    fn version<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Option<Arc<FileVersion>>>> {
        async move { self.version_of(path).await.map(Some) }.boxed()
    }

    fn file_size<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<u64>> {
        async move { Ok(self.version_of(path).await?.len) }.boxed()
    }

    /// A hit is a few system calls on this thread.
    fn answers_in_place(&self) -> bool {
        true
    }

    /// The version brings the size: reads are planned exactly, straight
    /// into their result buffers.
    fn needs_size_first(&self, _path: &str) -> bool {
        true
    }
}
