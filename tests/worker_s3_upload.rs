//! Streamed writes to an S3 under storage (moto on loopback): a body larger
//! than one 8 MiB part becomes a multipart upload that arrives byte-exact; a
//! small one is one PUT; an upload aborted by the client, or cut off by a
//! disconnect, is aborted on S3 too: no object, no pending upload, and an
//! existing object keeps its content.

mod common_ufs;

use std::sync::Arc;
use std::time::Duration;

use _core::client::ClientCore;
use _core::config::{ClientConfig, ConfigInput};
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use bytes::Bytes;
use common_ufs::{free_port, Moto};
use tokio::io::AsyncWriteExt;

struct Fixture {
    moto: Moto,
    _cache: tempfile::TempDir,
    worker: RunningWorker,
    c: Arc<ClientCore>,
}

impl Fixture {
    /// A worker over `s3://data/up` on moto and a client of it; `None` (a
    /// skip) without moto.
    async fn new() -> Option<Self> {
        let moto = Moto::start()?;
        moto.create_bucket("data").await;
        let cache = tempfile::tempdir().unwrap();
        let port = free_port();
        let peers = format!("127.0.0.1:{port}");
        let input = WorkerInput {
            port: Some(port.to_string()),
            cache_dir: Some(cache.path().to_string_lossy().into()),
            ufs: Some("s3://data/up".into()),
            s3_endpoint: Some(moto.endpoint()),
            s3_region: Some("us-east-1".into()),
            s3_access_key_id: Some("testing".into()),
            s3_secret_access_key: Some("testing".into()),
            cluster: ConfigInput {
                worker_hosts: Some(peers.clone()),
                page_size: Some("65536".into()),
                ..ConfigInput::default()
            },
            s3_port: Some("0".into()),
            ..WorkerInput::default()
        };
        let worker = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
            .await
            .unwrap();
        let cfg = ClientConfig::from_input(&ConfigInput {
            worker_hosts: Some(peers),
            page_size: Some("65536".into()),
            timeout: Some("20".into()),
            ..ConfigInput::default()
        })
        .unwrap();
        let c = _core::client::process::runtime::current()
            .unwrap()
            .client(&cfg)
            .unwrap();
        Some(Self {
            moto,
            _cache: cache,
            worker,
            c,
        })
    }

    /// The object's bytes, read through the worker (`GET /v1/chunk`).
    async fn read(&self, url: &str) -> Vec<u8> {
        let r = reqwest::get(format!(
            "http://{}/v1/chunk/{}?ufsFullPath={url}",
            self.worker.addr(),
            path_id(url)
        ))
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{url}");
        r.bytes().await.unwrap().to_vec()
    }

    /// Keys under `up/`, as moto stores them.
    async fn keys(&self) -> Vec<String> {
        let listing = self.moto.get("/data?list-type=2&prefix=up/").await;
        listing
            .split("<Key>")
            .skip(1)
            .map(|s| s.split("</Key>").next().unwrap().to_owned())
            .collect()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    async fn pending_uploads(&self) -> usize {
        self.moto
            .get("/data?uploads")
            .await
            .matches("<UploadId>")
            .count()
    }

    /// Waits (up to 10 s) until `pending_uploads` is `n`.
    async fn pending_becomes(&self, n: usize) {
        for _ in 0..200 {
            if self.pending_uploads().await == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.pending_uploads().await, n, "pending multipart uploads");
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 11 + usize::from(seed)) % 249) as u8)
        .collect()
}

/// `body` in uneven pieces.
fn pieces(body: &[u8]) -> Vec<Bytes> {
    let sizes = [1, 65_536, 4095, 1 << 20, 300_000];
    let mut out = Vec::new();
    let mut at = 0;
    for n in sizes.iter().cycle() {
        if at >= body.len() {
            break;
        }
        let end = (at + n).min(body.len());
        out.push(Bytes::copy_from_slice(&body[at..end]));
        at = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_uploads_arrive_whole() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    // Three parts (8 + 8 + 4 MiB and a little), then one PUT, then nothing.
    for (name, len) in [
        ("big.bin", (20 << 20) + 5),
        ("small.bin", 100_000),
        ("empty", 0),
    ] {
        let url = format!("s3://data/up/{name}");
        let body = data(len, 1);
        let mut up = fx.c.start_upload(&url).await.unwrap();
        for p in pieces(&body) {
            up.send(p).await.unwrap();
        }
        up.finish().await.unwrap();
        assert!(fx.read(&url).await == body, "{name}");
    }
    assert_eq!(fx.pending_uploads().await, 0);
    assert_eq!(fx.keys().await, ["up/big.bin", "up/empty", "up/small.bin"]);
    // One-request writes are unchanged.
    let url = "s3://data/up/one.txt";
    fx.c.write(url, Bytes::from_static(b"one")).await.unwrap();
    assert_eq!(fx.read(url).await, b"one");
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_uploads_are_aborted() {
    let Some(fx) = Fixture::new().await else {
        return;
    };
    let old = data(50_000, 2);
    let keep = "s3://data/up/keep.bin";
    fx.c.write(keep, Bytes::from(old.clone())).await.unwrap();
    let body = data(12 << 20, 3);
    for (name, disconnect) in [("keep.bin", false), ("new.bin", false), ("raw.bin", true)] {
        let url = format!("s3://data/up/{name}");
        // More than one part: the multipart upload begins, a part goes up.
        let keep_alive = if disconnect {
            let mut s = tokio::net::TcpStream::connect(fx.worker.addr())
                .await
                .unwrap();
            let head = format!(
                "POST /v1/chunk/{}?ufsFullPath={url} HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\n",
                path_id(&url)
            );
            s.write_all(head.as_bytes()).await.unwrap();
            for p in pieces(&body) {
                s.write_all(format!("{:x}\r\n", p.len()).as_bytes())
                    .await
                    .unwrap();
                s.write_all(&p).await.unwrap();
                s.write_all(b"\r\n").await.unwrap();
            }
            Err(s)
        } else {
            let mut up = fx.c.start_upload(&url).await.unwrap();
            for p in pieces(&body) {
                up.send(p).await.unwrap();
            }
            Ok(up)
        };
        fx.pending_becomes(1).await;
        match keep_alive {
            Ok(up) => up.abort(),
            Err(s) => drop(s),
        }
        fx.pending_becomes(0).await;
        assert_eq!(fx.keys().await, ["up/keep.bin"], "{name}");
        assert!(fx.read(keep).await == old);
    }
    fx.worker.stop().await;
}
