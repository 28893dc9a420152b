//! The worker over an S3 under storage (moto on loopback): writes through the
//! worker land in the bucket, reads and listings come back byte-identical,
//! and a load job caches every page.

mod common_ufs;

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use common_ufs::Moto;
use serde_json::Value;

const PAGE: usize = 8192;

/// A worker over `ufs` on moto, with `PAGE`-byte pages and its cache in `cache`.
fn s3_input(moto: &Moto, cache: &std::path::Path, ufs: &str) -> WorkerInput {
    WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(ufs.into()),
        s3_endpoint: Some(moto.endpoint()),
        s3_region: Some("us-east-1".into()),
        s3_access_key_id: Some("testing".into()),
        s3_secret_access_key: Some("testing".into()),
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_under_storage_through_the_worker() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("data").await;
    let cache = tempfile::tempdir().unwrap();
    let input = s3_input(&moto, cache.path(), "s3://data/ds");
    let w = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", w.addr());
    let http = reqwest::Client::new();

    let files: Vec<(String, Vec<u8>)> =
        [("a.bin", 3 * PAGE + 17), ("dir/b.bin", 1), ("dir/empty", 0)]
            .iter()
            .map(|(n, len)| {
                (
                    format!("s3://data/ds/{n}"),
                    (0..*len).map(|i| (i % 251) as u8).collect(),
                )
            })
            .collect();
    for (url, data) in &files {
        let r = http
            .post(format!(
                "{base}/v1/chunk/{}?ufsFullPath={url}",
                path_id(url)
            ))
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    // Written objects are real objects in the bucket.
    let listing = moto.get("/data?list-type=2&prefix=ds/").await;
    assert!(
        listing.contains("<Key>ds/a.bin</Key>") && listing.contains("<Size>24593</Size>"),
        "{listing}"
    );

    let v: Value = serde_json::from_slice(
        &http
            .get(format!("{base}/v1/files?path=s3%3A%2F%2Fdata%2Fds"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.bin", "dir"]);
    assert_eq!(v[0]["mPath"], "/a.bin");
    assert_eq!(v[0]["mLength"], 3 * PAGE + 17);
    assert!(
        !v[0]["mContentHash"].as_str().unwrap().is_empty(),
        "S3 ETag"
    );

    for (url, data) in &files {
        let id = path_id(url);
        let got = http
            .get(format!(
                "{base}/v1/range/{id}?ufsFullPath={url}&offset=0&length=99999999"
            ))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(&got[..], &data[..], "{url}");
        if data.len() > PAGE {
            let got = http
                .get(format!(
                    "{base}/v1/range/{id}?ufsFullPath={url}&offset={}&length=10",
                    PAGE - 5
                ))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(&got[..], &data[PAGE - 5..PAGE + 5]);
        }
    }

    // A load job over the prefix caches every page of every file.
    let q = "path=s3%3A%2F%2Fdata%2Fds";
    let r: Value = serde_json::from_slice(
        &http
            .get(format!("{base}/v1/load?{q}&opType=submit"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(r["success"], true);
    let mut state = Value::Null;
    for _ in 0..200 {
        let p: Value = serde_json::from_slice(
            &http
                .get(format!("{base}/v1/load?{q}&opType=progress"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        state = p["jobState"].clone();
        if state != "RUNNING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(state, "SUCCEEDED");
    let a = &files[0].0;
    for p in 0..4 {
        assert!(w.worker().store().contains(&path_id(a), p));
    }
    // Deleting through the worker removes the object.
    let r = http
        .post(format!(
            "{base}/v1/rm/x?ufsFullPath=s3://data/ds/dir&recursive=True"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!moto
        .get("/data?list-type=2&prefix=ds/")
        .await
        .contains("ds/dir/b.bin"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_s3_reads_are_coalesced() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("data").await;
    let cache = tempfile::tempdir().unwrap();
    let input = WorkerInput {
        readahead_pages: Some("8".into()),
        readahead_max_pages: Some("8".into()),
        ..s3_input(&moto, cache.path(), "s3://data")
    };
    let w = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", w.addr());
    let http = reqwest::Client::new();
    let url = "s3://data/cold.bin";
    let id = path_id(url);
    let len = 20 * PAGE + 300; // 21 pages
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let r = http
        .post(format!("{base}/v1/chunk/{id}?ufsFullPath={url}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let loads = w.worker().store().stats().loads;
    // Every page at once, as a client reads a whole file.
    let reqs = (0..21usize).map(|i| {
        let q = format!(
            "{base}/v1/range/{id}?ufsFullPath={url}&offset={}&length={PAGE}",
            i * PAGE
        );
        let http = http.clone();
        async move { (i, http.get(q).send().await.unwrap().bytes().await.unwrap()) }
    });
    for (i, body) in futures::future::join_all(reqs).await {
        assert_eq!(
            &body[..],
            &data[i * PAGE..((i + 1) * PAGE).min(len)],
            "page {i}"
        );
    }
    assert_eq!(
        w.worker().store().stats().loads - loads,
        3,
        "one ranged GET per window of 8 pages"
    );
    w.stop().await;
}
