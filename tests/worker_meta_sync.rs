//! `/v1/info` of a cached file answers from the worker's record while it is
//! fresh, and a file changed in the under storage loses its cached pages once
//! `info` asks again (`metadata_sync_interval`).

use std::path::Path;
use std::time::Duration;

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput, DEFAULT_METADATA_SYNC_INTERVAL};
use _core::worker::server::RunningWorker;
use serde_json::Value;

const PAGE: usize = 4096;

fn input(ufs: &Path, cache: &Path, interval: Option<&str>) -> WorkerInput {
    WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(format!("file://{}", ufs.display())),
        cache_size: Some("1MB".into()),
        metadata_sync_interval: interval.map(str::to_owned),
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    url: String,
    worker: RunningWorker,
    base: String,
}

impl Fixture {
    /// A worker over a local UFS holding one 2.5-page file.
    async fn new(interval: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (ufs, cache) = (dir.path().join("ufs"), dir.path().join("cache"));
        std::fs::create_dir_all(&ufs).unwrap();
        let file = ufs.join("f");
        std::fs::write(&file, vec![b'a'; PAGE * 5 / 2]).unwrap();
        let config = WorkerConfig::from_input(&input(&ufs, &cache, interval)).unwrap();
        let worker = RunningWorker::start(config).await.unwrap();
        let base = format!("http://{}", worker.addr());
        let url = format!("file://{}", file.display());
        Self {
            _dir: dir,
            file,
            url,
            worker,
            base,
        }
    }

    async fn get(&self, pq: &str) -> (u16, bytes::Bytes) {
        let r = reqwest::get(format!("{}{pq}", self.base)).await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap())
    }

    async fn page(&self, i: u64) -> bytes::Bytes {
        let id = path_id(&self.url);
        let (s, b) = self
            .get(&format!("/v1/file/{id}/page/{i}?ufsFullPath={}", self.url))
            .await;
        assert_eq!(s, 200);
        b
    }

    /// (mLength, mLastModificationTimeMs) from `/v1/info`.
    async fn info(&self) -> (u64, i64) {
        let (s, b) = self.get(&format!("/v1/info?path={}", self.url)).await;
        assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v[0]["mUfsPath"], self.url.as_str());
        assert_eq!(v[0]["mName"], "f");
        (
            v[0]["mLength"].as_u64().unwrap(),
            v[0]["mLastModificationTimeMs"].as_i64().unwrap(),
        )
    }

    /// Rewrites the file behind the worker's back: `len` bytes of `b'b'`,
    /// with a modification time an hour later than before.
    fn rewrite(&self, len: usize) {
        let before = std::fs::metadata(&self.file).unwrap().modified().unwrap();
        std::fs::write(&self.file, vec![b'b'; len]).unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(&self.file)
            .unwrap();
        f.set_modified(before + Duration::from_secs(3600)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_record_answers_info_like_the_pages_it_serves() {
    let f = Fixture::new(None).await;
    assert_eq!(f.page(0).await.as_ref(), &[b'a'; PAGE][..]);
    let (len, mtime) = f.info().await;
    assert_eq!(len, (PAGE * 5 / 2) as u64);
    // Changed in the UFS, but the record was checked just now: info and
    // pages keep describing the same (cached) version.
    f.rewrite(PAGE * 3);
    assert_eq!(f.info().await, (len, mtime));
    assert_eq!(f.page(0).await.as_ref(), &[b'a'; PAGE][..]);
    f.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_record_is_checked_and_a_changed_file_dropped() {
    let f = Fixture::new(Some("0")).await;
    assert_eq!(f.page(0).await.as_ref(), &[b'a'; PAGE][..]);
    let loads = f.worker.worker().store().stats().loads;
    // Unchanged: info asks the UFS and keeps the cached pages.
    let (len, mtime) = f.info().await;
    assert_eq!(len, (PAGE * 5 / 2) as u64);
    assert_eq!(f.page(0).await.as_ref(), &[b'a'; PAGE][..]);
    assert_eq!(
        f.worker.worker().store().stats().loads,
        loads,
        "still cached"
    );
    // Same length, new content and time: info sees the new version and the
    // old pages are gone, so reads return the new bytes.
    f.rewrite(PAGE * 5 / 2);
    let (len2, mtime2) = f.info().await;
    assert_eq!(len2, len);
    assert_ne!(mtime2, mtime);
    assert_eq!(f.page(0).await.as_ref(), &[b'b'; PAGE][..]);
    assert_eq!(f.page(2).await.len(), PAGE / 2);
    // Longer now: the new length, and the page past the old end exists.
    f.rewrite(PAGE * 4);
    assert_eq!(f.info().await.0, (PAGE * 4) as u64);
    assert_eq!(f.page(3).await.as_ref(), &[b'b'; PAGE][..]);
    f.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_file_is_not_found_once_checked() {
    let f = Fixture::new(Some("0")).await;
    f.page(0).await;
    std::fs::remove_file(&f.file).unwrap();
    let (s, _) = f.get(&format!("/v1/info?path={}", f.url)).await;
    assert_eq!(s, 404);
    f.worker.stop().await;
}

#[test]
fn the_interval_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let c = |v: Option<&str>| WorkerConfig::from_input(&input(dir.path(), dir.path(), v));
    assert_eq!(
        c(None).unwrap().metadata_sync_interval,
        Some(DEFAULT_METADATA_SYNC_INTERVAL)
    );
    assert_eq!(
        c(Some("0")).unwrap().metadata_sync_interval,
        Some(Duration::ZERO)
    );
    assert_eq!(
        c(Some(" 2.5 ")).unwrap().metadata_sync_interval,
        Some(Duration::from_millis(2500))
    );
    assert_eq!(c(Some("-1")).unwrap().metadata_sync_interval, None);
    for bad in ["-2", "x", "", "inf", "NaN"] {
        let err = c(Some(bad)).unwrap_err().to_string();
        assert!(err.contains("metadata_sync_interval"), "{bad:?}: {err}");
    }
}
