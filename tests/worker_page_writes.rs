//! Page writes (docs/protocol.md §5.5, §8): refused unless the worker runs
//! with `allow_page_writes`, at most one page, and a cached page whose length
//! disagrees with its file's size is read again, never served.

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use bytes::Bytes;
use serde_json::Value;

const PAGE: usize = 4096;

struct Fixture {
    _dir: tempfile::TempDir,
    ufs: std::path::PathBuf,
    worker: RunningWorker,
    base: String,
    http: reqwest::Client,
}

impl Fixture {
    async fn new(allow_page_writes: bool, oss_strict: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let input = WorkerInput {
            port: Some("0".into()),
            cache_dir: Some(dir.path().join("cache").to_string_lossy().into()),
            ufs: Some(format!("file://{}", ufs.display())),
            cache_size: Some("1MB".into()),
            allow_page_writes,
            oss_strict,
            cluster: ConfigInput {
                page_size: Some(PAGE.to_string()),
                ..ConfigInput::default()
            },
            s3_port: Some("0".into()),
            ..WorkerInput::default()
        };
        let worker = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", worker.addr());
        Self {
            _dir: dir,
            ufs,
            worker,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// Writes `name` in the under storage; its URL.
    fn file(&self, name: &str, data: &[u8]) -> String {
        std::fs::write(self.ufs.join(name), data).unwrap();
        format!("file://{}/{name}", self.ufs.display())
    }

    async fn send(&self, method: &str, path: &str, body: Vec<u8>) -> reqwest::Result<(u16, Bytes)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .body(body)
            .send()
            .await?;
        Ok((r.status().as_u16(), r.bytes().await?))
    }

    async fn get(&self, path: &str) -> (u16, Bytes) {
        self.send("GET", path, vec![]).await.unwrap()
    }
}

fn json(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or(Value::Null)
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_writes_are_refused_by_default() {
    let f = Fixture::new(false, false).await;
    let url = f.file("f", &content(PAGE * 2));
    let id = path_id(&url);
    for method in ["POST", "PUT"] {
        let page = format!("/v1/file/{id}/page/0?ufsFullPath={url}");
        let (s, b) = f.send(method, &page, vec![7; PAGE]).await.unwrap();
        assert_eq!(s, 403, "{method}: {}", String::from_utf8_lossy(&b));
        let message = json(&b)["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains("--allow-page-writes"), "{message}");
    }
    assert!(!f.worker.worker().store().contains(&id, 0));
    let (s, b) = f
        .get(&format!("/v1/file/{id}/page/0?ufsFullPath={url}"))
        .await;
    assert_eq!((s, b.to_vec()), (200, content(PAGE * 2)[..PAGE].to_vec()));

    // OSS-strict: the connection is closed, as for any other error.
    let strict = Fixture::new(false, true).await;
    let r = strict
        .send("POST", &format!("/v1/file/{id}/page/0"), vec![7; 10])
        .await;
    assert!(r.is_err(), "expected a closed connection, got {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_writes_carry_one_page_at_most() {
    let f = Fixture::new(true, false).await;
    let id = path_id("file:///virtual");
    let page = |i: u32| format!("/v1/file/{id}/page/{i}");
    let (s, b) = f.send("POST", &page(0), vec![1; PAGE]).await.unwrap();
    assert_eq!((s, json(&b)["success"].clone()), (200, Value::Bool(true)));
    assert_eq!(f.get(&page(0)).await.1.to_vec(), vec![1; PAGE]);
    // Larger than a page: 413 from the Content-Length, nothing stored.
    let (s, b) = f.send("PUT", &page(1), vec![2; PAGE + 1]).await.unwrap();
    assert_eq!(s, 413, "{}", String::from_utf8_lossy(&b));
    assert!(json(&b)["message"].as_str().unwrap().contains("one page"));
    assert!(!f.worker.worker().store().contains(&id, 1));
    // The same without a Content-Length (chunked): 413 once read.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![3; PAGE]), Ok(vec![3; 9])];
    let r = f
        .http
        .post(format!("{}{}", f.base, page(2)))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    assert!(!f.worker.worker().store().contains(&id, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_page_of_the_wrong_length_is_read_again_not_served() {
    let f = Fixture::new(true, false).await;
    let data = content(PAGE * 3 + 100);
    let url = f.file("f", &data);
    let id = path_id(&url);
    let range = format!("/v1/range/{id}?ufsFullPath={url}&offset=0&length=-1");
    assert_eq!(f.get(&range).await.1.to_vec(), data, "cold read");
    let store = f.worker.worker().store();
    assert!((0..4).all(|i| store.contains(&id, i)));

    // Through the store: a short middle page, a whole page past the last
    // one's end, and a short last page.
    store
        .put(&id, 1, Bytes::from_static(b"short"))
        .await
        .unwrap();
    store.put(&id, 3, Bytes::from(vec![9; PAGE])).await.unwrap();
    let (s, b) = f.get(&range).await;
    assert_eq!((s, b.to_vec() == data), (200, true), "range");
    store.put(&id, 3, Bytes::from(vec![9; 99])).await.unwrap();
    let (s, b) = f
        .get(&format!("/v1/file/{id}/page/3?ufsFullPath={url}"))
        .await;
    assert_eq!((s, b.to_vec()), (200, data[PAGE * 3..].to_vec()), "page");
    // Through a page write (as an old worker allowed), with and without
    // ufsFullPath on the read.
    let (s, _) = f
        .send("POST", &format!("/v1/file/{id}/page/2"), b"torn".to_vec())
        .await
        .unwrap();
    assert_eq!(s, 200);
    let (s, b) = f.get(&format!("/v1/file/{id}/page/2")).await;
    assert_eq!((s, b.to_vec()), (200, data[PAGE * 2..PAGE * 3].to_vec()));
    assert_eq!(store.stats().corrupt, 4, "each bad page dropped once");
    // Read again from the under storage and cached whole.
    assert_eq!(f.get(&range).await.1.to_vec(), data);
    assert_eq!(store.stats().corrupt, 4);
}
