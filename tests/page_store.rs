//! Page store behaviour through its public API and on-disk layout.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use _core::worker::page_store::{FileMeta, PageStore, PageStoreConfig, SpanLimits};
use _core::Error;
use bytes::Bytes;

const ID: &str = "745ccda354863f67c5cab1991b283fcb031077f4abbd767a955861defccf8d35";
const OTHER: &str = "1d640ded09e5b845c0df92a122da498b3e54ff3071e5378b4be7d4cff228ef75";

fn open(dir: &Path, page_size: u64, quota: u64) -> PageStore {
    PageStore::open(PageStoreConfig {
        dir: dir.to_path_buf(),
        page_size,
        quota,
    })
    .expect("open page store")
}

fn data(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

fn page_file(dir: &Path, id: &str, index: u64) -> PathBuf {
    dir.join("pages")
        .join(&id[..2])
        .join(id)
        .join(index.to_string())
}

fn meta() -> FileMeta {
    FileMeta {
        ufs_path: "s3://bucket/path/to/file".into(),
        length: 2500,
        mtime_ms: 1_700_000_000_000,
        content_hash: "0cc175b9c0f1b6a831c399e269772661".into(),
        ctime_ms: 1_690_000_000_000,
    }
}

/// [`meta`] of a file of `length` bytes (its pages must fit it to be served).
fn meta_of(length: u64) -> FileMeta {
    FileMeta { length, ..meta() }
}

#[tokio::test]
async fn round_trip_full_short_and_empty_pages() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1024, 1 << 20);
    assert_eq!(store.page_size(), 1024);
    store.put(ID, 0, data(1, 1024)).await.unwrap();
    store.put(ID, 1, data(2, 1024)).await.unwrap();
    store.put(ID, 2, data(3, 452)).await.unwrap();
    store.put(OTHER, 0, Bytes::new()).await.unwrap();

    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(1, 1024)));
    assert_eq!(store.get(ID, 1).await.unwrap(), Some(data(2, 1024)));
    assert_eq!(store.get(ID, 2).await.unwrap(), Some(data(3, 452)));
    assert_eq!(store.get(OTHER, 0).await.unwrap(), Some(Bytes::new()));
    assert_eq!(store.get(ID, 3).await.unwrap(), None);
    assert_eq!(store.get(OTHER, 1).await.unwrap(), None);

    assert!(store.contains(ID, 2) && !store.contains(ID, 3));
    assert_eq!(store.cached_bytes(ID), 2500);
    assert_eq!(store.cached_bytes(OTHER), 0);
    let stats = store.stats();
    assert_eq!((stats.used_bytes, stats.pages), (2500, 4));
    assert_eq!((stats.hits, stats.misses), (4, 2));
    assert_eq!(
        std::fs::metadata(page_file(dir.path(), ID, 2))
            .unwrap()
            .len(),
        460
    );
}

#[tokio::test]
async fn reput_replaces_page_and_counts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1000);
    store.put(ID, 0, data(1, 100)).await.unwrap();
    store.put(ID, 0, data(2, 40)).await.unwrap();
    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(2, 40)));
    let stats = store.stats();
    assert_eq!((stats.used_bytes, stats.pages), (40, 1));
    assert_eq!(store.cached_bytes(ID), 40);
}

#[tokio::test]
async fn oversized_data_rejected_and_page_above_quota_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 50);
    let err = store.put(ID, 0, data(0, 101)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    store.put(ID, 0, data(0, 60)).await.unwrap();
    assert!(!store.contains(ID, 0));
    assert_eq!(store.stats().used_bytes, 0);
    let err = store
        .get_or_load(ID, 1, || async { Ok(data(0, 101)) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

async fn assert_corruption_dropped(damage: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 64, 1 << 20);
    store.put(ID, 5, data(9, 64)).await.unwrap();
    let file = page_file(dir.path(), ID, 5);
    damage(&file);
    assert_eq!(store.get(ID, 5).await.unwrap(), None);
    let stats = store.stats();
    assert_eq!((stats.corrupt, stats.pages, stats.used_bytes), (1, 0, 0));
    assert!(!file.exists(), "corrupt page file must be deleted");
    assert!(!store.contains(ID, 5));
    // The page can be cached again afterwards.
    store.put(ID, 5, data(9, 64)).await.unwrap();
    assert_eq!(store.get(ID, 5).await.unwrap(), Some(data(9, 64)));
}

#[tokio::test]
async fn corrupt_page_with_flipped_byte_is_never_served() {
    assert_corruption_dropped(|file| {
        let mut raw = std::fs::read(file).unwrap();
        raw[20] ^= 0x40;
        std::fs::write(file, raw).unwrap();
    })
    .await;
    assert_corruption_dropped(|file| {
        let mut raw = std::fs::read(file).unwrap();
        raw[0] ^= 1; // the checksum itself
        std::fs::write(file, raw).unwrap();
    })
    .await;
}

#[tokio::test]
async fn truncated_page_is_never_served() {
    for keep in [40, 8, 3, 0] {
        assert_corruption_dropped(|file| {
            let raw = std::fs::read(file).unwrap();
            std::fs::write(file, &raw[..keep]).unwrap();
        })
        .await;
    }
}

#[tokio::test]
async fn a_page_whose_length_disagrees_with_the_record_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1 << 20);
    // Without a record the length cannot be checked: served as written.
    store.put(ID, 0, data(1, 60)).await.unwrap();
    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(1, 60)));
    // A file of 250 bytes: pages of 100, 100 and 50 bytes, none after.
    store.set_file_meta(ID, meta_of(250)).unwrap();
    let bad = [(0, 60), (1, 99), (2, 100), (2, 49), (3, 10)];
    for (n, (i, len)) in bad.into_iter().enumerate() {
        store.put(ID, i, data(2, len)).await.unwrap();
        assert_eq!(store.get(ID, i).await.unwrap(), None, "page {i} of {len}");
        assert!(!store.contains(ID, i) && !page_file(dir.path(), ID, i).exists());
        assert_eq!(store.stats().corrupt, n as u64 + 1);
    }
    for (i, len) in [(0, 100), (1, 100), (2, 50)] {
        store.put(ID, i, data(3, len)).await.unwrap();
        assert_eq!(store.get(ID, i).await.unwrap(), Some(data(3, len)));
    }
    // A miss on a page of the wrong length is loaded again.
    store.put(ID, 1, data(4, 30)).await.unwrap();
    let page = store
        .get_or_load(ID, 1, || async { Ok(data(5, 100)) })
        .await
        .unwrap();
    assert_eq!(page, data(5, 100));
    assert_eq!(store.get(ID, 1).await.unwrap(), Some(data(5, 100)));
    assert_eq!(store.stats().corrupt, bad.len() as u64 + 1);
}

#[tokio::test]
async fn lru_eviction_keeps_quota_and_recently_used_pages() {
    let dir = tempfile::tempdir().unwrap();
    let page = 100u64;
    let store = open(dir.path(), page, 4 * page);
    for i in 0..10u64 {
        store
            .put(ID, i, data(i as u8, page as usize))
            .await
            .unwrap();
        assert!(store.stats().used_bytes <= 4 * page);
        // Page 0 is read after every insertion, so it is never the LRU one.
        assert!(
            store.get(ID, 0).await.unwrap().is_some(),
            "page 0 after {i}"
        );
        assert!(store.stats().used_bytes <= 4 * page);
    }
    let cached: Vec<u64> = (0..10).filter(|&i| store.contains(ID, i)).collect();
    assert_eq!(cached, vec![0, 7, 8, 9]);
    for i in 1..7 {
        assert!(
            !page_file(dir.path(), ID, i).exists(),
            "evicted page {i} on disk"
        );
    }
    let stats = store.stats();
    assert_eq!(
        (stats.used_bytes, stats.pages, stats.evictions),
        (400, 4, 6)
    );
    assert_eq!(store.get(ID, 7).await.unwrap(), Some(data(7, 100)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_never_exceed_quota() {
    let dir = tempfile::tempdir().unwrap();
    let page = 1000u64;
    let quota = 4 * page;
    let store = open(dir.path(), page, quota);
    let max_seen = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let monitor = {
        let (store, max_seen, done) = (store.clone(), max_seen.clone(), done.clone());
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) == 0 {
                max_seen.fetch_max(store.stats().used_bytes, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (store, max_seen) = (store.clone(), max_seen.clone());
            tokio::spawn(async move {
                for i in 0..8u64 {
                    let len = if i % 3 == 0 { 500 } else { 1000 };
                    store.put(ID, t * 8 + i, data(i as u8, len)).await.unwrap();
                    max_seen.fetch_max(store.stats().used_bytes, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.store(1, Ordering::SeqCst);
    monitor.await.unwrap();
    let max = max_seen.load(Ordering::SeqCst);
    assert!(max <= quota + page, "used {max} > quota + one page");
    assert!(max <= quota, "used {max} > quota");
    // Index and disk agree once everything settled.
    let stats = store.stats();
    let file_dir = dir.path().join("pages").join(&ID[..2]).join(ID);
    let on_disk: Vec<u64> = std::fs::read_dir(&file_dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len() - 8)
        .collect();
    assert_eq!(on_disk.len() as u64, stats.pages);
    assert_eq!(on_disk.iter().sum::<u64>(), stats.used_bytes);
    assert!(stats.pages > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_loads_once_for_concurrent_misses() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 4096, 1 << 20);
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (store, calls) = (store.clone(), calls.clone());
            tokio::spawn(async move {
                store
                    .get_or_load(ID, 3, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(data(3, 4096))
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), data(3, 4096));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(store.contains(ID, 3), "loaded page is stored");
    let stats = store.stats();
    assert_eq!(stats.loads, 1);
    // A later call is a plain hit.
    let again = store
        .get_or_load(ID, 3, || async { panic!("must not load a cached page") })
        .await
        .unwrap();
    assert_eq!(again, data(3, 4096));
    assert_eq!(store.stats().hits, stats.hits + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_error_reaches_all_waiters_and_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 4096, 1 << 20);
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, calls) = (store.clone(), calls.clone());
            tokio::spawn(async move {
                store
                    .get_or_load(ID, 0, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(Error::Ufs {
                            path: "s3://bucket/path/to/file".into(),
                            message: "boom".into(),
                        })
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, Error::Ufs { message, .. } if message == "boom"),
            "{err}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!store.contains(ID, 0));
    let page = store
        .get_or_load(ID, 0, || async { Ok(data(0, 10)) })
        .await
        .unwrap();
    assert_eq!(page, data(0, 10));
    assert_eq!(store.stats().loads, 2, "the failed load was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_loader_hands_over_to_a_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 4096, 1 << 20);
    let leader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .get_or_load(ID, 0, || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(data(1, 10))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let store = store.clone();
        tokio::spawn(async move { store.get_or_load(ID, 0, || async { Ok(data(2, 10)) }).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let page = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("waiter must take over, not hang")
        .unwrap()
        .unwrap();
    assert_eq!(page, data(2, 10));
    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(2, 10)));
}

#[tokio::test]
async fn remove_file_drops_pages_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 10_000);
    store.set_file_meta(ID, meta()).unwrap();
    for i in 0..3 {
        store.put(ID, i, data(i as u8, 100)).await.unwrap();
    }
    store.put(OTHER, 0, data(7, 50)).await.unwrap();
    assert_eq!(store.file_meta(ID), Some(meta()));
    store.remove_file(ID);
    assert_eq!(store.file_meta(ID), None);
    assert_eq!(store.cached_bytes(ID), 0);
    assert!((0..3).all(|i| !store.contains(ID, i)));
    assert_eq!(store.get(ID, 0).await.unwrap(), None);
    assert!(!page_file(dir.path(), ID, 0).exists());
    let stats = store.stats();
    assert_eq!((stats.used_bytes, stats.pages), (50, 1));
    assert_eq!(store.get(OTHER, 0).await.unwrap(), Some(data(7, 50)));
    // Gone after a restart too.
    drop(store);
    let store = open(dir.path(), 100, 10_000);
    assert_eq!(store.file_meta(ID), None);
    assert_eq!(store.stats().pages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_during_load_does_not_cache_stale_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 10_000);
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let load = {
        let (store, release, started) = (store.clone(), release.clone(), started.clone());
        tokio::spawn(async move {
            store
                .get_or_load(ID, 0, || async move {
                    started.notify_one();
                    release.notified().await;
                    Ok(data(1, 100))
                })
                .await
        })
    };
    started.notified().await;
    store.remove_file(ID);
    release.notify_one();
    assert_eq!(load.await.unwrap().unwrap(), data(1, 100));
    assert!(
        !store.contains(ID, 0),
        "data loaded before the removal is stale"
    );
    assert_eq!(store.stats().used_bytes, 0);
    // A load that starts after the removal is cached.
    store
        .get_or_load(ID, 0, || async { Ok(data(2, 100)) })
        .await
        .unwrap();
    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(2, 100)));
}

#[tokio::test]
async fn restart_with_same_page_size_keeps_pages_and_meta() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 100, 10_000);
        for i in 0..3 {
            store.put(ID, i, data(i as u8, 100)).await.unwrap();
        }
        store.put(ID, 3, data(3, 20)).await.unwrap();
        store.set_file_meta(ID, meta_of(320)).unwrap();
        store.set_file_meta(OTHER, meta()).unwrap();
    }
    // A record written before content hashes were kept still loads.
    let old = dir
        .path()
        .join("pages")
        .join(&OTHER[..2])
        .join(OTHER)
        .join("meta.json");
    let m = meta();
    let text = format!(
        r#"{{"ufs_path":"{}","length":{},"mtime_ms":{}}}"#,
        m.ufs_path, m.length, m.mtime_ms
    );
    std::fs::write(&old, text).unwrap();
    let store = open(dir.path(), 100, 10_000);
    for i in 0..3 {
        assert_eq!(store.get(ID, i).await.unwrap(), Some(data(i as u8, 100)));
    }
    assert_eq!(store.get(ID, 3).await.unwrap(), Some(data(3, 20)));
    assert_eq!(store.file_meta(ID), Some(meta_of(320)));
    let without_hash = FileMeta {
        content_hash: String::new(),
        ctime_ms: 0,
        ..meta()
    };
    assert_eq!(store.file_meta(OTHER), Some(without_hash));
    assert_eq!(store.cached_bytes(ID), 320);
    let stats = store.stats();
    assert_eq!((stats.used_bytes, stats.pages), (320, 4));
}

#[tokio::test]
async fn restart_with_smaller_quota_evicts_oldest_pages() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 100, 10_000);
        for i in 0..4u64 {
            store.put(ID, i, data(i as u8, 100)).await.unwrap();
            // Distinct mtimes, so the restart can tell the order.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let store = open(dir.path(), 100, 200);
    let cached: Vec<u64> = (0..4).filter(|&i| store.contains(ID, i)).collect();
    assert_eq!(cached, vec![2, 3]);
    assert!(!page_file(dir.path(), ID, 0).exists());
    assert_eq!(store.stats().used_bytes, 200);
}

#[tokio::test]
async fn restart_with_other_page_size_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 100, 10_000);
        store.put(ID, 0, data(0, 100)).await.unwrap();
        store.set_file_meta(ID, meta()).unwrap();
    }
    std::fs::write(dir.path().join("unrelated.txt"), "keep me").unwrap();
    let store = open(dir.path(), 200, 10_000);
    assert_eq!(store.page_size(), 200);
    assert_eq!(store.stats().pages, 0);
    assert_eq!(store.get(ID, 0).await.unwrap(), None);
    assert_eq!(store.file_meta(ID), None);
    assert!(
        !page_file(dir.path(), ID, 0).exists(),
        "old page files removed"
    );
    assert!(
        dir.path().join("unrelated.txt").exists(),
        "only the store's own files go"
    );
    // The new page size sticks.
    store.put(ID, 0, data(0, 200)).await.unwrap();
    drop(store);
    let store = open(dir.path(), 200, 10_000);
    assert_eq!(store.get(ID, 0).await.unwrap(), Some(data(0, 200)));
}

#[tokio::test]
async fn restart_with_unreadable_store_metadata_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), 100, 10_000);
        store.put(ID, 0, data(0, 100)).await.unwrap();
    }
    std::fs::write(dir.path().join("store.json"), "{not json").unwrap();
    let store = open(dir.path(), 100, 10_000);
    assert_eq!(store.stats().pages, 0);
    assert!(!page_file(dir.path(), ID, 0).exists());
}

#[tokio::test]
async fn invalid_file_ids_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 10_000);
    let long = "a".repeat(200);
    for bad in ["../x", "", "a/b", "..", "a\0b", long.as_str()] {
        let put = store.put(bad, 0, data(0, 10)).await;
        assert!(matches!(put, Err(Error::InvalidArgument(_))), "put {bad:?}");
        let get = store.get(bad, 0).await;
        assert!(matches!(get, Err(Error::InvalidArgument(_))), "get {bad:?}");
        let load = store
            .get_or_load(bad, 0, || async { Ok(data(0, 10)) })
            .await;
        assert!(
            matches!(load, Err(Error::InvalidArgument(_))),
            "load {bad:?}"
        );
        let set = store.set_file_meta(bad, meta());
        assert!(
            matches!(set, Err(Error::InvalidArgument(_))),
            "meta {bad:?}"
        );
        assert!(!store.contains(bad, 0));
        store.remove_file(bad);
    }
    assert!(!dir.path().join("x").exists());
    assert!(store.put(&"a".repeat(128), 0, data(0, 10)).await.is_ok());
    assert!(store.put("A_b-9", 0, data(0, 10)).await.is_ok());
    assert_eq!(store.stats().pages, 2);
}

#[test]
fn zero_page_size_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let err = PageStore::open(PageStoreConfig {
        dir: dir.path().to_path_buf(),
        page_size: 0,
        quota: 100,
    })
    .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
}

#[test]
fn page_store_is_shareable() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<PageStore>();
}

// ---- Spans: one load for a window of pages, joined by every miss on them ----

/// A file in a fake under storage that counts reads and logs their spans.
#[derive(Clone)]
struct SpanUfs {
    bytes: Bytes,
    page: u64,
    delay: Duration,
    reads: Arc<parking_lot::Mutex<Vec<(u64, u64)>>>,
}

impl SpanUfs {
    fn new(len: usize, page: u64, delay_ms: u64) -> Self {
        Self {
            bytes: data(7, len),
            page,
            delay: Duration::from_millis(delay_ms),
            reads: Arc::default(),
        }
    }

    fn pages(&self) -> u64 {
        (self.bytes.len() as u64).div_ceil(self.page)
    }

    fn page_bytes(&self, i: u64) -> Bytes {
        let len = self.bytes.len() as u64;
        let (from, to) = ((i * self.page).min(len), ((i + 1) * self.page).min(len));
        self.bytes.slice(from as usize..to as usize)
    }

    /// What `get_or_load_span` wants: pages `first..first + count` back to back.
    async fn read(self, first: u64, count: u64) -> Result<Bytes, Error> {
        self.reads.lock().push((first, count));
        tokio::time::sleep(self.delay).await;
        let len = self.bytes.len() as u64;
        let from = (first * self.page).min(len);
        let to = ((first + count) * self.page).min(len);
        Ok(self.bytes.slice(from as usize..to as usize))
    }

    fn reads(&self) -> Vec<(u64, u64)> {
        let mut r = self.reads.lock().clone();
        r.sort_unstable();
        r
    }

    /// The aligned window of `w` pages holding `i`, growing to `max`.
    fn limits(&self, i: u64, w: u64, max: u64) -> SpanLimits {
        let lo = i / w * w;
        SpanLimits {
            window: lo..(lo + w).min(self.pages()),
            max_pages: max,
            file_pages: self.pages(),
        }
    }
}

async fn span_get(store: &PageStore, ufs: &SpanUfs, i: u64, w: u64, max: u64) -> Bytes {
    let u = ufs.clone();
    store
        .get_or_load_span(ID, i, &ufs.limits(i, w, max), move |f, c| u.read(f, c))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_join_one_read_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1000, 1 << 20);
    // 20 full pages and a short one; 64 concurrent requests, every page thrice.
    let ufs = SpanUfs::new(20_300, 1000, 50);
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (store, ufs) = (store.clone(), ufs.clone());
            tokio::spawn(async move {
                let i = (t * 13) % 21;
                (i, span_get(&store, &ufs, i, 8, 8).await)
            })
        })
        .collect();
    for t in tasks {
        let (i, page) = t.await.unwrap();
        assert_eq!(page, ufs.page_bytes(i), "page {i}");
    }
    assert_eq!(
        ufs.reads(),
        vec![(0, 8), (8, 8), (16, 5)],
        "one read a window"
    );
    assert_eq!(store.stats().loads, 3);
    for i in 0..21 {
        assert_eq!(store.get(ID, i).await.unwrap(), Some(ufs.page_bytes(i)));
    }
    assert_eq!(store.stats().used_bytes, 20_300);
    // Cached now: no more reads.
    span_get(&store, &ufs, 9, 8, 8).await;
    assert_eq!(ufs.reads().len(), 3);
}

#[tokio::test]
async fn spans_stop_at_cached_pages_and_at_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1 << 20);
    let ufs = SpanUfs::new(750, 100, 0);
    store.put(ID, 5, ufs.page_bytes(5)).await.unwrap();
    assert_eq!(span_get(&store, &ufs, 2, 8, 8).await, ufs.page_bytes(2));
    assert_eq!(ufs.reads(), vec![(0, 5)], "stops before cached page 5");
    assert_eq!(span_get(&store, &ufs, 7, 8, 8).await, ufs.page_bytes(7));
    assert_eq!(
        ufs.reads(),
        vec![(0, 5), (6, 2)],
        "never past the last page"
    );
    assert_eq!(store.get(ID, 7).await.unwrap().unwrap().len(), 50);
    // A window asked past the end of the file is cut there too.
    let other = SpanUfs::new(250, 100, 0);
    let limits = SpanLimits {
        window: 0..16,
        max_pages: 64,
        file_pages: 3,
    };
    let u = other.clone();
    store
        .get_or_load_span(OTHER, 1, &limits, move |f, c| u.read(f, c))
        .await
        .unwrap();
    assert_eq!(other.reads(), vec![(0, 3)]);
    assert_eq!(store.cached_bytes(OTHER), 250);
}

#[tokio::test]
async fn sequential_scans_grow_the_read_random_reads_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1 << 20);
    let ufs = SpanUfs::new(4000, 100, 0);
    // Random reads first: windows of 4 only (nothing cached right before them).
    span_get(&store, &ufs, 33, 4, 16).await;
    span_get(&store, &ufs, 21, 4, 16).await;
    assert_eq!(ufs.reads(), vec![(20, 4), (32, 4)]);
    ufs.reads.lock().clear();
    // A scan from the start: each read four times the run before it, up to
    // 16, never over cached pages.
    for i in 0..40 {
        assert_eq!(span_get(&store, &ufs, i, 4, 16).await, ufs.page_bytes(i));
    }
    assert_eq!(ufs.reads(), vec![(0, 4), (4, 16), (24, 8), (36, 4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spans_larger_than_the_quota_are_cut_and_the_quota_holds() {
    let dir = tempfile::tempdir().unwrap();
    let page = 100u64;
    let quota = 4 * page;
    let store = open(dir.path(), page, quota);
    let ufs = SpanUfs::new(3200, page, 20);
    let max_seen = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..32u64)
        .map(|i| {
            let (store, ufs, max_seen) = (store.clone(), ufs.clone(), max_seen.clone());
            tokio::spawn(async move {
                let got = span_get(&store, &ufs, i, 16, 64).await;
                max_seen.fetch_max(store.stats().used_bytes, Ordering::SeqCst);
                (i, got)
            })
        })
        .collect();
    for t in tasks {
        let (i, got) = t.await.unwrap();
        assert_eq!(got, ufs.page_bytes(i));
    }
    let reads = ufs.reads();
    assert!(
        reads.iter().all(|&(_, n)| n <= 2) && reads.len() >= 16,
        "at most half the quota per read: {reads:?}"
    );
    // (Pages whose writes find the quota held by other writes in flight are
    // not stored at all; either way the quota holds.)
    assert!(max_seen.load(Ordering::SeqCst) <= quota);
    assert!(store.stats().used_bytes <= quota);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_span_fails_every_page_waiting_on_it_and_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1 << 20);
    let calls = Arc::new(AtomicUsize::new(0));
    let limits = SpanLimits {
        window: 0..8,
        max_pages: 8,
        file_pages: 8,
    };
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let (store, calls, limits) = (store.clone(), calls.clone(), limits.clone());
            tokio::spawn(async move {
                store
                    .get_or_load_span(ID, i, &limits, |_, _| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(Error::Ufs {
                            path: "s3://bucket/f".into(),
                            message: "boom".into(),
                        })
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(Error::Ufs { .. })));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.stats().pages, 0);
    // Wrong sizes are refused, never cached: short, and one page too many.
    for len in [700, 701 + 100] {
        let err = store
            .get_or_load_span(ID, 0, &limits, |_, _| async move { Ok(data(1, len)) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{len}: {err}");
    }
    assert_eq!(store.stats().pages, 0);
    let ufs = SpanUfs::new(800, 100, 0);
    assert_eq!(span_get(&store, &ufs, 3, 8, 8).await, ufs.page_bytes(3));
    assert_eq!(store.stats().pages, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_span_load_is_taken_over_by_a_waiter_of_another_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 1 << 20);
    let limits = SpanLimits {
        window: 0..4,
        max_pages: 4,
        file_pages: 4,
    };
    let leader = {
        let (store, limits) = (store.clone(), limits.clone());
        tokio::spawn(async move {
            store
                .get_or_load_span(ID, 0, &limits, |_, _| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(data(1, 400))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .get_or_load_span(ID, 3, &limits, |first, count| async move {
                    assert_eq!((first, count), (0, 4), "the whole span");
                    Ok(data(2, 400))
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let page = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("waiter must take over, not hang")
        .unwrap()
        .unwrap();
    assert_eq!(page, data(2, 400).slice(300..));
    assert_eq!(
        store.get(ID, 0).await.unwrap(),
        Some(data(2, 400).slice(..100))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_during_a_span_load_caches_none_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 100, 10_000);
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let limits = SpanLimits {
        window: 0..4,
        max_pages: 4,
        file_pages: 4,
    };
    let load = {
        let (store, release, started, limits) = (
            store.clone(),
            release.clone(),
            started.clone(),
            limits.clone(),
        );
        tokio::spawn(async move {
            store
                .get_or_load_span(ID, 1, &limits, |_, _| async move {
                    started.notify_one();
                    release.notified().await;
                    Ok(data(1, 400))
                })
                .await
        })
    };
    started.notified().await;
    store.remove_file(ID);
    release.notify_one();
    assert_eq!(load.await.unwrap().unwrap(), data(1, 400).slice(100..200));
    assert_eq!(
        store.stats().pages,
        0,
        "data loaded before the removal is stale"
    );
}
