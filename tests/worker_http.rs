//! The worker's REST API (docs/protocol.md §5) against an in-process worker over a
//! local under storage: every endpoint, edge cases, the error models.

mod common;

use std::path::Path;

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use serde_json::Value;

const PAGE: usize = 4096;

struct Fixture {
    _dir: tempfile::TempDir,
    ufs: std::path::PathBuf,
    cache: std::path::PathBuf,
    worker: Option<RunningWorker>,
    base: String,
    http: reqwest::Client,
}

fn input(ufs: &Path, cache: &Path) -> WorkerInput {
    WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(format!("file://{}", ufs.display())),
        cache_size: Some("64KB".into()),
        // Every endpoint is tested here, page writes included.
        allow_page_writes: true,
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    }
}

fn content(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

impl Fixture {
    async fn new(strict: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(ufs.join("sub/deeper")).unwrap();
        for (name, len) in [
            ("empty", 0),
            ("one", 1),
            ("page_minus", PAGE - 1),
            ("page", PAGE),
            ("page_plus", PAGE + 1),
            ("many", PAGE * 5 + 123),
        ] {
            std::fs::write(ufs.join(name), content(len, len as u8)).unwrap();
        }
        std::fs::write(ufs.join("sub/a b+c ü.txt"), b"spaces and plus").unwrap();
        std::fs::write(ufs.join("sub/deeper/x"), b"x").unwrap();
        std::fs::write(dir.path().join("secret"), b"s3cr3t-bytes").unwrap();
        let mut i = input(&ufs, &cache);
        i.oss_strict = strict;
        let worker = RunningWorker::start(WorkerConfig::from_input(&i).unwrap())
            .await
            .unwrap();
        let base = format!("http://{}", worker.addr());
        Self {
            _dir: dir,
            ufs,
            cache,
            worker: Some(worker),
            base,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("file://{}/{name}", self.ufs.display())
    }

    fn worker(&self) -> &RunningWorker {
        self.worker.as_ref().unwrap()
    }

    /// GET with a raw (already encoded) path+query.
    async fn get(&self, path_and_query: &str) -> (u16, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    async fn post(&self, path_and_query: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let r = self
            .http
            .post(format!("{}{path_and_query}", self.base))
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }

    async fn json(&self, path_and_query: &str) -> (u16, Value) {
        let (s, b) = self.get(path_and_query).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.ufs.join(name)).unwrap()
    }
}

/// Form-encodes like python's urlencode (params= dicts).
fn form(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Requotes like python-requests does a raw template URL.
fn template(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b','
            | b';' | b'=' | b':' | b'@' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_info() {
    let f = Fixture::new(false).await;
    let root = format!("file://{}", f.ufs.display());
    let (s, v) = f.json(&format!("/v1/files?path={}", form(&root))).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "empty",
            "many",
            "one",
            "page",
            "page_minus",
            "page_plus",
            "sub"
        ]
    );
    let many = &v[1];
    assert_eq!(many["mType"], "file");
    assert_eq!(many["mPath"], "/many");
    assert_eq!(many["mUfsPath"], f.url("many"));
    assert_eq!(many["mLength"], PAGE * 5 + 123);
    assert_eq!(many["mHumanReadableFileSize"], "20.12KB");
    assert!(many["mLastModificationTimeMs"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(v[6]["mType"], "directory");
    assert_eq!(v[6]["mLength"], 0);
    // Field order is Gson's.
    let raw = String::from_utf8(
        f.get(&format!("/v1/info?path={}", form(&f.url("one"))))
            .await
            .1,
    )
    .unwrap();
    assert!(
        raw.starts_with(r#"[{"mType":"file","mName":"one","mPath":"/one","mUfsPath":"#),
        "{raw}"
    );
    // A file lists as itself; info of a directory works; missing → 404 JSON.
    let (_, v) = f
        .json(&format!("/v1/files?path={}", form(&f.url("one"))))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (s, v) = f
        .json(&format!("/v1/info?path={}", form(&f.url("sub"))))
        .await;
    assert_eq!((s, v[0]["mType"].as_str()), (200, Some("directory")));
    let (s, v) = f
        .json(&format!("/v1/info?path={}", form(&f.url("nope"))))
        .await;
    assert_eq!(s, 404);
    assert!(v["message"].as_str().unwrap().contains("nope"));
    let (s, _) = f.json("/v1/info").await;
    assert_eq!(s, 400);
    // Spaces, plus and non-ASCII survive both encodings.
    let odd = f.url("sub/a b+c ü.txt");
    let (s, v) = f.json(&format!("/v2/info?path={}", form(&odd))).await;
    assert_eq!((s, v[0]["mLength"].as_u64()), (200, Some(15)));
    let id = path_id(&odd);
    let (s, b) = f
        .get(&format!(
            "/v1/file/{id}/page/0?ufsFullPath={}",
            template(&odd)
        ))
        .await;
    assert_eq!((s, b.as_slice()), (200, &b"spaces and plus"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_at_every_boundary() {
    let f = Fixture::new(false).await;
    for name in ["empty", "one", "page_minus", "page", "page_plus", "many"] {
        let data = f.file(name);
        let url = f.url(name);
        let id = path_id(&url);
        let pages = data.len().div_ceil(PAGE) + 1;
        for i in 0..pages {
            let want = &data[(i * PAGE).min(data.len())..((i + 1) * PAGE).min(data.len())];
            let (s, b) = f
                .get(&format!(
                    "/v1/file/{id}/page/{i}?ufsFullPath={}",
                    template(&url)
                ))
                .await;
            assert_eq!((s, b.as_slice()), (200, want), "{name} page {i}");
            // Cached now: no ufsFullPath needed.
            if !want.is_empty() {
                let (s, b) = f.get(&format!("/v1/file/{id}/page/{i}")).await;
                assert_eq!((s, b.as_slice()), (200, want), "{name} page {i} cached");
                let (s, b) = f
                    .get(&format!(
                        "/v1/file/{id}/page/{i}?offset=1&length=2&ufsFullPath={}",
                        template(&url)
                    ))
                    .await;
                assert_eq!(
                    (s, b.as_slice()),
                    (200, &want[1.min(want.len())..3.min(want.len())])
                );
                let (s, b) = f.get(&format!("/v1/file/{id}/page/{i}?offset=1")).await;
                assert_eq!((s, b.as_slice()), (200, &want[1.min(want.len())..]));
                let (s, b) = f
                    .get(&format!("/v1/file/{id}/page/{i}?offset=99999&length=5"))
                    .await;
                assert_eq!((s, b.len()), (200, 0));
            }
        }
    }
    let (s, _) = f
        .get(&format!("/v1/file/{}/page/0", path_id("file:///unknown")))
        .await;
    assert_eq!(s, 404);
    let (s, _) = f
        .get(&format!("/v1/file/{}/page/x", path_id("file:///unknown")))
        .await;
    assert_eq!(s, 400);
    let (s, _) = f
        .get(&format!(
            "/v1/file/{}/page/0?offset=-1",
            path_id(&f.url("one"))
        ))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_chunks_head_tail() {
    let f = Fixture::new(false).await;
    let data = f.file("many");
    let url = f.url("many");
    let id = path_id(&url);
    let q = template(&url);
    for (off, len) in [
        (0, 0),
        (0, 1),
        (0, PAGE),
        (PAGE - 1, 2),
        (100, 3 * PAGE),
        (data.len() - 1, 10),
        (data.len(), 5),
        (data.len() + 7, 5),
    ] {
        let (s, b) = f
            .get(&format!(
                "/v1/range/{id}?ufsFullPath={q}&offset={off}&length={len}"
            ))
            .await;
        let want = &data[off.min(data.len())..(off + len).min(data.len())];
        assert_eq!((s, b.as_slice()), (200, want), "range {off}+{len}");
    }
    let (_, b) = f
        .get(&format!(
            "/v1/range/{id}?ufsFullPath={q}&offset=10&length=-1"
        ))
        .await;
    assert_eq!(b, &data[10..]);
    let (_, b) = f.get(&format!("/v1/range/{id}?ufsFullPath={q}")).await;
    assert_eq!(b, data);
    // Every range answer announces the file size (wire::FILE_SIZE_HEADER), past EOF too.
    for off in [0, data.len() + 7] {
        let r = f
            .http
            .get(format!(
                "{}/v1/range/{id}?ufsFullPath={q}&offset={off}&length=5",
                f.base
            ))
            .send()
            .await
            .unwrap();
        let announced = r
            .headers()
            .get(_core::protocol::wire::FILE_SIZE_HEADER)
            .cloned();
        assert_eq!(
            announced.and_then(|v| v.to_str().ok().map(str::to_owned)),
            Some(data.len().to_string())
        );
    }
    let (_, b) = f
        .get(&format!("/v1/chunk/{id}?ufsFullPath={q}&chunkSize=1048576"))
        .await;
    assert_eq!(b, data);
    let (_, b) = f
        .get(&format!("/v1/head/{id}?ufsFullPath={q}&numOfBytes=100"))
        .await;
    assert_eq!(b, &data[..100]);
    let (_, b) = f
        .get(&format!("/v1/tail/{id}?ufsFullPath={q}&numOfBytes=100"))
        .await;
    assert_eq!(b, &data[data.len() - 100..]);
    let (_, b) = f.get(&format!("/v1/head/{id}?ufsFullPath={q}")).await;
    assert_eq!(b.len(), 1024);
    let e = f.url("empty");
    let (s, b) = f
        .get(&format!(
            "/v1/chunk/{}?ufsFullPath={}",
            path_id(&e),
            template(&e)
        ))
        .await;
    assert_eq!((s, b.len()), (200, 0));
    let (s, _) = f
        .get(&format!(
            "/v1/range/{}?ufsFullPath={}&offset=0&length=4",
            path_id("x"),
            template(&f.url("sub"))
        ))
        .await;
    assert_eq!(s, 400, "a directory has no bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_namespace_ops() {
    let f = Fixture::new(false).await;
    let url = f.url("new/dir/file.bin");
    let id = path_id(&url);
    let body = content(3 * PAGE + 5, 9);
    let (s, v) = f
        .post(
            &format!(
                "/v1/chunk/{id}?ufsFullPath={}&chunkSize=1024",
                template(&url)
            ),
            body.clone(),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&v));
    assert_eq!(f.file("new/dir/file.bin"), body);
    let (_, b) = f
        .get(&format!(
            "/v1/range/{id}?ufsFullPath={}&offset=0&length=999999",
            template(&url)
        ))
        .await;
    assert_eq!(b, body);
    // Overwrite: cached pages are dropped, the new bytes are served.
    let body2 = content(10, 1);
    f.post(
        &format!("/v1/chunk/{id}?ufsFullPath={}", template(&url)),
        body2.clone(),
    )
    .await;
    let (_, b) = f
        .get(&format!(
            "/v1/range/{id}?ufsFullPath={}&offset=0&length=999999",
            template(&url)
        ))
        .await;
    assert_eq!(b, body2);

    let d = f.url("made/a/b");
    assert_eq!(
        f.post(
            &format!("/v1/mkdir/{}?ufsFullPath={}", path_id(&d), template(&d)),
            vec![]
        )
        .await
        .0,
        200
    );
    assert!(f.ufs.join("made/a/b").is_dir());
    let t = f.url("made/t");
    assert_eq!(
        f.post(
            &format!("/v1/touch/{}?ufsFullPath={}", path_id(&t), template(&t)),
            vec![]
        )
        .await
        .0,
        200
    );
    assert_eq!(f.file("made/t"), b"");
    let (s, _) = f
        .post(
            &format!(
                "/v1/mv/{}?srcPath={}&dstPath={}",
                path_id(&t),
                template(&t),
                template(&f.url("made/t2"))
            ),
            vec![],
        )
        .await;
    assert_eq!(s, 200);
    assert!(!f.ufs.join("made/t").exists() && f.ufs.join("made/t2").exists());
    let src = f.url("one");
    let (s, _) = f
        .post(&format!("/v1/copy/{}?srcPath={}&dstPath={}&recursive=False&recursiveAlias=False&forced=False", path_id(&src), template(&src), template(&f.url("made/one"))), vec![])
        .await;
    assert_eq!(s, 200);
    assert_eq!(f.file("made/one"), f.file("one"));
    let m = f.url("made");
    let rm = |rec: &str| {
        format!("/v1/rm/{}?ufsFullPath={}&recursive={rec}&recursiveAlias=False&sync_parent_next_time=False&remove_unchecked_option=False&remove_alluxio_only=False&delete_mount_point=False", path_id(&m), template(&m))
    };
    let (s, v) = f.post(&rm("False"), vec![]).await;
    assert_eq!(
        s,
        400,
        "non-empty directory without recursive: {}",
        String::from_utf8_lossy(&v)
    );
    assert_eq!(f.post(&rm("True"), vec![]).await.0, 200);
    assert!(!f.ufs.join("made").exists());
    let (s, _) = f.post(&rm("True"), vec![]).await;
    assert_eq!(s, 404);

    // Page POST stores in the cache only (OSS semantics).
    let pid = path_id("file:///virtual");
    let (s, v) = f
        .post(
            &format!("/v1/file/{pid}/page/0?ufsFullPath=file:///virtual"),
            b"cached".to_vec(),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&v).unwrap()["success"],
        true
    );
    assert_eq!(f.get(&format!("/v1/file/{pid}/page/0")).await.1, b"cached");
    let (_, v) = f.post(&format!("/v1/file/{pid}/page/1"), vec![]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&v).unwrap()["success"],
        false
    );
}

/// Regression (R5 fuzzing): a name longer than the file system allows was
/// a 500 ("File name too long"); it is the client's mistake, a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_names_are_bad_requests() {
    let f = Fixture::new(false).await;
    let long = f.url(&"x".repeat(300));
    let (s, v) = f.json(&format!("/v1/info?path={}", form(&long))).await;
    assert_eq!(s, 400, "{v}");
    let id = path_id(&long);
    let (s, _) = f
        .get(&format!("/v1/range/{id}?ufsFullPath={}", template(&long)))
        .await;
    assert_eq!(s, 400);
    let (s, _) = f
        .post(
            &format!("/v1/touch/{id}?ufsFullPath={}", template(&long)),
            vec![],
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = f
        .post(
            &format!("/v1/chunk/{id}?ufsFullPath={}", template(&long)),
            b"x".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_health_and_unknown() {
    let f = Fixture::new(false).await;
    let (s, b) = f.get("/v1/health").await;
    assert_eq!((s, b.as_slice()), (200, &b"worker is active"[..]));
    let (s, v) = f
        .json(&format!("/v1/node?path={}", template(&f.url("one"))))
        .await;
    assert_eq!(s, 200);
    // The shape the alluxiofs 1.0.17 wheel indexes into (tests/reference/WIRE.md).
    let addr = &v[0]["mBlockInfo"]["mBlockInfo"]["mLocations"][0]["mWorkerAddress"];
    assert_eq!(addr["Host"], "127.0.0.1");
    assert_eq!(addr["HttpServerPort"], f.worker().addr().port());
    let (s, v) = f.json("/v1/nothing").await;
    assert_eq!(s, 404);
    assert!(v["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_and_cached_reads_skip_the_ufs() {
    let f = Fixture::new(false).await;
    let url = f.url("many");
    let id = path_id(&url);
    let before = f.worker().worker().store().stats().loads;
    let q = format!("/v1/file/{id}/page/2?ufsFullPath={}", template(&url));
    let reqs = (0..16).map(|_| f.get(&q));
    let results = futures::future::join_all(reqs).await;
    let want = &f.file("many")[2 * PAGE..3 * PAGE];
    assert!(results.iter().all(|(s, b)| *s == 200 && b == want));
    assert_eq!(
        f.worker().worker().store().stats().loads - before,
        1,
        "16 concurrent misses, one UFS read"
    );
    // Delete the file from the UFS: the cached page is still served.
    std::fs::remove_file(f.ufs.join("many")).unwrap();
    let (s, b) = f
        .get(&format!(
            "/v1/file/{id}/page/2?ufsFullPath={}",
            template(&url)
        ))
        .await;
    assert_eq!((s, b.as_slice()), (200, want));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_page_is_refetched_not_served() {
    let f = Fixture::new(false).await;
    let url = f.url("page_plus");
    let id = path_id(&url);
    let want = f.file("page_plus")[..PAGE].to_vec();
    assert_eq!(
        f.get(&format!(
            "/v1/file/{id}/page/0?ufsFullPath={}",
            template(&url)
        ))
        .await
        .1,
        want
    );
    // Flip a byte in every stored page file of this id.
    let mut corrupted = 0;
    for entry in walk(&f.cache) {
        if entry.to_string_lossy().contains(&id)
            && entry.is_file()
            && entry.file_name().unwrap() == "0"
        {
            let mut b = std::fs::read(&entry).unwrap();
            let last = b.len() - 1;
            b[last] ^= 0xff;
            std::fs::write(&entry, b).unwrap();
            corrupted += 1;
        }
    }
    assert_eq!(
        corrupted,
        1,
        "page file not found under {}",
        f.cache.display()
    );
    let (s, b) = f
        .get(&format!(
            "/v1/file/{id}/page/0?ufsFullPath={}",
            template(&url)
        ))
        .await;
    assert_eq!((s, b), (200, want));
    assert!(f.worker().worker().store().stats().corrupt >= 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_under_load() {
    let f = Fixture::new(false).await;
    // 64KB quota, 4KB pages: read 40 distinct pages of fresh files.
    for n in 0..8 {
        std::fs::write(f.ufs.join(format!("q{n}")), content(5 * PAGE, n)).unwrap();
    }
    for n in 0..8 {
        let url = f.url(&format!("q{n}"));
        let (s, b) = f
            .get(&format!(
                "/v1/range/{}?ufsFullPath={}&offset=0&length={}",
                path_id(&url),
                template(&url),
                5 * PAGE
            ))
            .await;
        assert_eq!((s, b), (200, f.file(&format!("q{n}"))));
        let st = f.worker().worker().store().stats();
        assert!(
            st.used_bytes <= st.quota + PAGE as u64,
            "{} > quota {}",
            st.used_bytes,
            st.quota
        );
    }
    assert!(f.worker().worker().store().stats().evictions > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confinement_over_http() {
    let f = Fixture::new(false).await;
    let root = format!("file://{}", f.ufs.display());
    let outside = f.ufs.parent().unwrap().join("secret");
    std::os::unix::fs::symlink("/etc", f.ufs.join("etc_link")).unwrap();
    std::os::unix::fs::symlink(&outside, f.ufs.join("secret_link")).unwrap();
    // Raw query values, as an attacker sends them (the worker decodes once).
    let attempts = [
        format!("{root}/../secret"),
        format!("{root}/sub/../../secret"),
        format!("{root}/%2e%2e/secret"),
        format!("{root}/%2E%2E/secret"),
        format!("{root}/sub/%2e%2e%2f%2e%2e/secret"),
        format!("{root}/%252e%252e/secret"),
        "/etc/passwd".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("{root}2/x"),
        format!("{}", outside.display()),
        format!("file://{}", outside.display()),
        format!("{root}/etc_link/passwd"),
        format!("{root}/secret_link"),
        format!("{root}/sub/%00x"),
        "file://evil.example/etc/passwd".to_owned(),
        "s3://bucket/key".to_owned(),
        "http://127.0.0.1/x".to_owned(),
    ];
    let mut refused = 0;
    for a in &attempts {
        for q in [
            format!("/v1/info?path={a}"),
            format!("/v1/files?path={a}"),
            format!(
                "/v1/range/{}?ufsFullPath={a}&offset=0&length=10",
                path_id(a)
            ),
        ] {
            let (s, b) = f.get(&q).await;
            let body = String::from_utf8_lossy(&b);
            assert!(matches!(s, 400 | 403 | 404), "{q}: {s} {body}");
            assert!(
                !body.contains("s3cr3t") && !body.contains("root:"),
                "{q} leaked: {body}"
            );
            refused += 1;
        }
    }
    // Plain traversal is refused as such, not merely missing.
    let (s, _) = f.get(&format!("/v1/info?path={root}/../secret")).await;
    assert_eq!(s, 403);
    let (s, _) = f.get(&format!("/v1/info?path={root}/%2e%2e/secret")).await;
    assert_eq!(s, 403);
    let (s, _) = f.get(&format!("/v1/info?path={root}/secret_link")).await;
    assert_eq!(s, 403);
    // Writes outside: nothing may appear or change.
    for a in [
        format!("{root}/../planted"),
        format!("{root}/etc_link/planted"),
        "file:///tmp/planted-by-test".to_owned(),
    ] {
        let (s, _) = f
            .post(
                &format!("/v1/chunk/{}?ufsFullPath={}", path_id(&a), template(&a)),
                b"x".to_vec(),
            )
            .await;
        assert!(s == 403 || s == 400, "write {a}: {s}");
        let (s, _) = f
            .post(
                &format!("/v1/mkdir/{}?ufsFullPath={}", path_id(&a), template(&a)),
                vec![],
            )
            .await;
        assert!(s == 403 || s == 400, "mkdir {a}: {s}");
        refused += 2;
    }
    let (s, _) = f
        .post(
            &format!(
                "/v1/rm/{}?ufsFullPath={}&recursive=True",
                path_id(&root),
                template(&root)
            ),
            vec![],
        )
        .await;
    assert_eq!(s, 403, "removing the root");
    let (s, _) = f
        .post(
            &format!(
                "/v1/mv/x?srcPath={}&dstPath={}",
                template(&f.url("one")),
                template(&format!("{root}/../moved"))
            ),
            vec![],
        )
        .await;
    assert!(s == 403 || s == 400);
    refused += 2;
    assert!(refused >= 20);
    assert_eq!(std::fs::read(&outside).unwrap(), b"s3cr3t-bytes");
    assert!(!f.ufs.parent().unwrap().join("planted").exists());
    assert!(!Path::new("/tmp/planted-by-test").exists());
    assert!(!Path::new("/etc/planted").exists());
    assert!(f.ufs.join("one").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_strict_closes_connections() {
    let f = Fixture::new(true).await;
    let url = f.url("one");
    let (s, _) = f
        .get(&format!(
            "/v1/file/{}/page/0?ufsFullPath={}",
            path_id(&url),
            template(&url)
        ))
        .await;
    assert_eq!(s, 200);
    for bad in [
        format!("/v1/info?path={}", form(&f.url("nope"))),
        format!("/v1/range/{}?ufsFullPath={}", path_id(&url), template(&url)),
        "/v1/node?path=x".into(),
    ] {
        let r = f.http.get(format!("{}{bad}", f.base)).send().await;
        assert!(
            r.is_err(),
            "{bad}: expected a closed connection, got {:?}",
            r.map(|r| r.status())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reuses_the_store() {
    let mut f = Fixture::new(false).await;
    let url = f.url("page");
    let id = path_id(&url);
    let want = f.file("page");
    assert_eq!(
        f.get(&format!(
            "/v1/file/{id}/page/0?ufsFullPath={}",
            template(&url)
        ))
        .await
        .1,
        want
    );
    f.worker.take().unwrap().stop().await;
    std::fs::remove_file(f.ufs.join("page")).unwrap();
    let w = RunningWorker::start(WorkerConfig::from_input(&input(&f.ufs, &f.cache)).unwrap())
        .await
        .unwrap();
    f.base = format!("http://{}", w.addr());
    f.worker = Some(w);
    let (s, b) = f.get(&format!("/v1/file/{id}/page/0")).await;
    assert_eq!((s, b), (200, want), "cached page survives a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_object_shape_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = input(dir.path(), &dir.path().join("c"));
    i.node_response = Some("object".into());
    let w = RunningWorker::start(WorkerConfig::from_input(&i).unwrap())
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(
        &reqwest::get(format!("http://{}/v1/node?path=file:///x", w.addr()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["Host"], "127.0.0.1");
    assert_eq!(v["HttpServerPort"], w.addr().port());
    i.node_response = Some("tree".into());
    let e = WorkerConfig::from_input(&i).unwrap_err().to_string();
    assert!(e.contains("node_response") && e.contains("tree"), "{e}");
    w.stop().await;
}

/// A worker over a fresh local UFS holding `name` (`len` bytes), with the
/// given readahead settings; its base URL and the file's UFS URL.
async fn readahead_worker(
    dir: &Path,
    name: &str,
    len: usize,
    pages: &str,
    max: &str,
) -> (RunningWorker, String, String) {
    let (ufs, cache) = (dir.join("ufs"), dir.join("cache"));
    std::fs::create_dir_all(&ufs).unwrap();
    std::fs::write(ufs.join(name), content(len, 9)).unwrap();
    let mut i = input(&ufs, &cache);
    i.cache_size = Some("1MB".into());
    i.readahead_pages = Some(pages.into());
    i.readahead_max_pages = Some(max.into());
    let w = RunningWorker::start(WorkerConfig::from_input(&i).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", w.addr());
    let url = format!("file://{}/{name}", ufs.display());
    (w, base, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_pages_are_read_a_window_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let len = 37 * PAGE + 5; // 38 pages
    let (w, base, url) = readahead_worker(dir.path(), "big", len, "4", "4").await;
    let want = content(len, 9);
    let id = path_id(&url);
    let http = reqwest::Client::new();
    // 64 concurrent requests, as a client sends them: every page, some twice.
    let reqs = (0..64usize).map(|k| {
        let i = k % 38;
        let q = format!(
            "{base}/v1/file/{id}/page/{i}?ufsFullPath={}",
            template(&url)
        );
        let http = http.clone();
        async move {
            let r = http.get(q).send().await.unwrap();
            (i, r.status().as_u16(), r.bytes().await.unwrap())
        }
    });
    for (i, status, body) in futures::future::join_all(reqs).await {
        assert_eq!(status, 200);
        assert_eq!(
            &body[..],
            &want[i * PAGE..((i + 1) * PAGE).min(len)],
            "page {i}"
        );
    }
    let st = w.worker().store().stats();
    assert_eq!(st.loads, 10, "ceil(38 pages / 4) UFS reads, not one a page");
    assert_eq!(st.used_bytes, len as u64);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_range_is_one_ufs_read() {
    let dir = tempfile::tempdir().unwrap();
    let len = 40 * PAGE;
    let (w, base, url) = readahead_worker(dir.path(), "r", len, "4", "16").await;
    let want = content(len, 9);
    let id = path_id(&url);
    let get = |offset: usize, length: usize| {
        let q = format!(
            "{base}/v1/range/{id}?ufsFullPath={}&offset={offset}&length={length}",
            template(&url)
        );
        async move { reqwest::get(q).await.unwrap().bytes().await.unwrap() }
    };
    // Pages 2..=9: across two readahead windows, still one read.
    let got = get(2 * PAGE + 10, 7 * PAGE + 100).await;
    assert_eq!(&got[..], &want[2 * PAGE + 10..9 * PAGE + 110]);
    assert_eq!(w.worker().store().stats().loads, 1);
    for i in 0..10 {
        assert!(w.worker().store().contains(&id, i), "page {i}");
    }
    // A random read further on: its window only.
    let got = get(33 * PAGE + 1, 10).await;
    assert_eq!(&got[..], &want[33 * PAGE + 1..33 * PAGE + 11]);
    assert_eq!(w.worker().store().stats().loads, 2);
    let cached: Vec<u64> = (10..40)
        .filter(|&i| w.worker().store().contains(&id, i))
        .collect();
    assert_eq!(cached, vec![32, 33, 34, 35]);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readahead_never_blows_a_small_quota() {
    let dir = tempfile::tempdir().unwrap();
    let len = 40 * PAGE;
    let (ufs, cache) = (dir.path().join("ufs"), dir.path().join("cache"));
    std::fs::create_dir_all(&ufs).unwrap();
    std::fs::write(ufs.join("q"), content(len, 9)).unwrap();
    let mut i = input(&ufs, &cache);
    // 6 pages of quota, a window of 64: reads of 3 pages at most.
    i.cache_size = Some((6 * PAGE).to_string());
    i.readahead_pages = Some("64".into());
    let w = RunningWorker::start(WorkerConfig::from_input(&i).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", w.addr());
    let url = format!("file://{}/q", ufs.display());
    let id = path_id(&url);
    let want = content(len, 9);
    let http = reqwest::Client::new();
    let reqs = (0..40usize).map(|i| {
        let q = format!(
            "{base}/v1/file/{id}/page/{i}?ufsFullPath={}",
            template(&url)
        );
        let (http, store) = (http.clone(), w.worker().store().clone());
        async move {
            let b = http.get(q).send().await.unwrap().bytes().await.unwrap();
            let st = store.stats();
            assert!(st.used_bytes <= st.quota + PAGE as u64, "{st:?}");
            (i, b)
        }
    });
    for (i, body) in futures::future::join_all(reqs).await {
        assert_eq!(&body[..], &want[i * PAGE..(i + 1) * PAGE], "page {i}");
    }
    let st = w.worker().store().stats();
    assert!(st.used_bytes <= st.quota, "{st:?}");
    assert!(st.loads >= 14, "reads of at most 3 pages: {st:?}");
    w.stop().await;
}

#[test]
fn readahead_options_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let mut i = input(dir.path(), dir.path());
    let c = WorkerConfig::from_input(&i).unwrap();
    // (window, most pages per read) for S3 objects and for local files.
    assert_eq!((c.readahead(false), c.readahead(true)), ((16, 64), (1, 16)));
    i.readahead_pages = Some("8".into());
    let c = WorkerConfig::from_input(&i).unwrap();
    assert_eq!((c.readahead(false), c.readahead(true)), ((8, 32), (8, 32)));
    i.readahead_pages = Some("2".into());
    let c = WorkerConfig::from_input(&i).unwrap();
    assert_eq!(c.readahead(false), (2, 16));
    i.readahead_max_pages = Some("2".into());
    let c = WorkerConfig::from_input(&i).unwrap();
    assert_eq!((c.readahead(false), c.readahead(true)), ((2, 2), (2, 2)));
    i.readahead_pages = None;
    i.readahead_max_pages = Some("8".into());
    let c = WorkerConfig::from_input(&i).unwrap();
    assert_eq!((c.readahead(false), c.readahead(true)), ((8, 8), (1, 8)));
    for (pages, max) in [
        ("0", "8"),
        ("x", "8"),
        ("8", "4"),
        ("8", "0"),
        ("2000", "2000"),
    ] {
        i.readahead_pages = Some(pages.into());
        i.readahead_max_pages = Some(max.into());
        let err = WorkerConfig::from_input(&i).unwrap_err();
        assert!(
            err.to_string().contains("readahead"),
            "{pages}/{max}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_are_read_a_page_at_a_time_unless_scanned() {
    let f = Fixture::new(false).await;
    let len = 40 * PAGE;
    std::fs::write(f.ufs.join("scan"), content(len, 3)).unwrap();
    let url = f.url("scan");
    let id = path_id(&url);
    let store = f.worker().worker().store().clone();
    let page = |i: usize| {
        let q = format!("/v1/file/{id}/page/{i}?ufsFullPath={}", template(&url));
        let f = &f;
        async move {
            let (s, b) = f.get(&q).await;
            assert_eq!(
                (s, &b[..]),
                (200, &content(len, 3)[i * PAGE..(i + 1) * PAGE])
            );
        }
    };
    let loads = store.stats().loads;
    // A random read: its page only (no readahead on local files by default).
    page(20).await;
    let cached: Vec<u64> = (0..40).filter(|&i| store.contains(&id, i)).collect();
    assert_eq!((cached, store.stats().loads - loads), (vec![20], 1));
    // Reading on from there becomes a scan once 4 pages in a row are
    // cached: then 4 times that run, up to 16 pages, here 8 (half the 64 KB
    // quota).
    for i in 21..40 {
        page(i).await;
    }
    assert_eq!(
        store.stats().loads - loads,
        6,
        "pages 20, 21, 22, 23, 24..32, 32..40"
    );
}
