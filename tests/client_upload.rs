//! Streamed uploads (`ClientCore::start_upload`) against in-process workers
//! over a local under storage: many pieces arrive byte-exact, nothing is
//! visible before `finish`, an aborted or dropped upload leaves nothing (and
//! an existing file as it was), a refused owner is failed over but a body
//! already under way is not, and small one-request writes still work.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use _core::client::ClientCore;
use _core::config::{ClientConfig, ConfigInput};
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use bytes::Bytes;
use tokio::io::AsyncReadExt;

const PAGE: u64 = 4096;

async fn worker(ufs: &Path, cache: &Path, port: u16, peers: &str) -> RunningWorker {
    let input = WorkerInput {
        port: Some(port.to_string()),
        cache_dir: Some(cache.to_string_lossy().into()),
        ufs: Some(ufs.to_string_lossy().into()),
        cluster: ConfigInput {
            worker_hosts: Some(peers.into()),
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    };
    RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
        .await
        .unwrap()
}

fn client(peers: &str) -> Arc<ClientCore> {
    let cfg = ClientConfig::from_input(&ConfigInput {
        worker_hosts: Some(peers.into()),
        page_size: Some(PAGE.to_string()),
        retries: Some("1".into()),
        timeout: Some("5".into()),
        ..ConfigInput::default()
    })
    .unwrap();
    _core::client::process::runtime::current()
        .unwrap()
        .client(&cfg)
        .unwrap()
}

/// One worker over a fresh local under storage, and a client of it.
struct Fixture {
    _dir: tempfile::TempDir,
    ufs: std::path::PathBuf,
    worker: RunningWorker,
    c: Arc<ClientCore>,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        std::fs::create_dir_all(&ufs).unwrap();
        let port = common::free_port();
        let peers = format!("127.0.0.1:{port}");
        let worker = worker(&ufs, &dir.path().join("cache"), port, &peers).await;
        Self {
            c: client(&peers),
            _dir: dir,
            ufs,
            worker,
        }
    }

    fn url(&self, name: &str) -> String {
        format!("file://{}/{name}", self.ufs.display())
    }

    async fn names(&self) -> Vec<String> {
        let url = format!("file://{}", self.ufs.display());
        let listed = self.c.list(&url).await.unwrap();
        listed.into_iter().map(|s| s.name).collect()
    }
}

/// Deterministic bytes, different per `seed`.
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 7 + usize::from(seed)) % 253) as u8)
        .collect()
}

/// Every name in `dir`, hidden ones included.
fn raw_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// Waits (up to 5 s) until the worker has dropped every temp file in `dir`.
async fn no_temps_left(dir: &Path) {
    for _ in 0..100 {
        if !raw_names(dir).iter().any(|n| n.ends_with(".alluxiofs-tmp")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("temp files left in {}: {:?}", dir.display(), raw_names(dir));
}

/// `body` cut into pieces of varied sizes (empty ones included).
fn pieces(body: &[u8]) -> Vec<Bytes> {
    let sizes = [1, 0, 4095, 65_536, 7, 300_000, 0, 1 << 20, 12_345];
    let mut out = Vec::new();
    let mut at = 0;
    for i in 0.. {
        if at >= body.len() {
            break;
        }
        let end = (at + sizes[i % sizes.len()]).min(body.len());
        out.push(Bytes::copy_from_slice(&body[at..end]));
        at = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pieces_arrive_byte_exact() {
    let fx = Fixture::new().await;
    let body = data(9 << 20, 1);
    let url = fx.url("dir/big.bin");
    let mut up = fx.c.start_upload(&url).await.unwrap();
    let parts = pieces(&body);
    assert!(parts.len() > 50);
    for p in parts {
        up.send(p).await.unwrap();
    }
    up.finish().await.unwrap();
    assert!(std::fs::read(fx.ufs.join("dir/big.bin")).unwrap() == body);
    let back = fx.c.reader().read_vec(&url, 0, body.len() as u64).await;
    assert!(back.unwrap() == body);
    no_temps_left(&fx.ufs.join("dir")).await;

    // Replacing it streams too; an upload of no pieces is an empty file.
    let mut up = fx.c.start_upload(&url).await.unwrap();
    up.send(Bytes::from_static(b"short")).await.unwrap();
    up.finish().await.unwrap();
    assert_eq!(std::fs::read(fx.ufs.join("dir/big.bin")).unwrap(), b"short");
    let empty = fx.url("empty");
    fx.c.start_upload(&empty)
        .await
        .unwrap()
        .finish()
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.ufs.join("empty")).unwrap(), b"");
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_visible_before_finish() {
    let fx = Fixture::new().await;
    std::fs::write(fx.ufs.join("other"), b"x").unwrap();
    let body = data(4 << 20, 2);
    let url = fx.url("half.bin");
    let mut up = fx.c.start_upload(&url).await.unwrap();
    let (first, second) = body.split_at(body.len() / 2);
    for p in pieces(first) {
        up.send(p).await.unwrap();
    }
    // Let the first half reach the worker's temp file.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fx.names().await, ["other"]);
    assert!(matches!(
        fx.c.info(&url).await,
        Err(_core::Error::NotFound(_))
    ));
    assert!(!fx.ufs.join("half.bin").exists());
    for p in pieces(second) {
        up.send(p).await.unwrap();
    }
    up.finish().await.unwrap();
    assert_eq!(fx.names().await, ["half.bin", "other"]);
    assert_eq!(fx.c.info(&url).await.unwrap().length, body.len() as u64);
    assert!(std::fs::read(fx.ufs.join("half.bin")).unwrap() == body);
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_or_dropped_uploads_leave_nothing() {
    let fx = Fixture::new().await;
    let old = data(10_000, 3);
    std::fs::write(fx.ufs.join("keep.bin"), &old).unwrap();
    let new = data(6 << 20, 4);
    for (name, drop_it) in [
        ("keep.bin", false),
        ("new.bin", false),
        ("dropped.bin", true),
    ] {
        let mut up = fx.c.start_upload(&fx.url(name)).await.unwrap();
        for p in pieces(&new) {
            up.send(p).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if drop_it {
            drop(up);
        } else {
            up.abort();
        }
        // The worker discards what it got; nothing shows up meanwhile.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                raw_names(&fx.ufs)
                    .iter()
                    .filter(|n| !n.starts_with('.'))
                    .count(),
                1
            );
            assert!(std::fs::read(fx.ufs.join("keep.bin")).unwrap() == old);
        }
        no_temps_left(&fx.ufs).await;
    }
    assert_eq!(fx.names().await, ["keep.bin"]);
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_from_send_or_finish() {
    let fx = Fixture::new().await;
    std::fs::create_dir_all(fx.ufs.join("a_dir")).unwrap();
    // A directory in the way: the worker refuses before the body's end.
    let mut up = fx.c.start_upload(&fx.url("a_dir")).await.unwrap();
    let mut failed = None;
    for p in pieces(&data(8 << 20, 5)) {
        if let Err(e) = up.send(p).await {
            failed = Some(e);
            break;
        }
    }
    let e = match failed {
        Some(e) => e,
        None => up.finish().await.unwrap_err(),
    };
    assert!(matches!(e, _core::Error::IsADirectory(_)), "{e}");
    // Outside the roots: refused as the one-request write is.
    let up =
        fx.c.start_upload("file:///etc/alluxiofs-nope")
            .await
            .unwrap();
    let e = up.finish().await.unwrap_err();
    assert!(matches!(e, _core::Error::PermissionDenied(_)), "{e}");
    // Small one-request writes are unchanged.
    let small = fx.url("small.txt");
    fx.c.write(&small, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(fx.ufs.join("small.txt")).unwrap(), b"hello");
    fx.worker.stop().await;
}

/// A name starting with `prefix` whose ring owner is the worker on `port`.
async fn owned_by(c: &ClientCore, port: u16, base: &Path, prefix: &str) -> String {
    let ring = c.membership().ring().await.unwrap();
    (0..)
        .map(|i| format!("file://{}/{prefix}{i}", base.display()))
        .find(|u| ring.get_multiple(u, 1)[0].address.http_server_port == i32::from(port))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_owner_fails_over_but_a_started_body_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = dir.path().join("ufs");
    std::fs::create_dir_all(&ufs).unwrap();

    // The owner refuses connections: the body goes to the next candidate.
    let (dead, live) = (common::free_port(), common::free_port());
    let peers = format!("127.0.0.1:{dead},127.0.0.1:{live}");
    let w = worker(&ufs, &dir.path().join("c1"), live, &peers).await;
    let c = client(&peers);
    let url = owned_by(&c, dead, &ufs, "refused").await;
    let body = data(3 << 20, 6);
    let mut up = c.start_upload(&url).await.unwrap();
    for p in pieces(&body) {
        up.send(p).await.unwrap();
    }
    up.finish().await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    assert!(std::fs::read(ufs.join(name)).unwrap() == body);
    w.stop().await;

    // The owner takes part of the body, then drops the connection: the
    // pieces it took cannot be sent again, so the error comes back and the
    // next candidate never sees the file.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flaky = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 256 << 10];
            let _ = sock.read_exact(&mut buf).await;
        }
    });
    let live = common::free_port();
    let peers = format!("127.0.0.1:{flaky},127.0.0.1:{live}");
    let w = worker(&ufs, &dir.path().join("c2"), live, &peers).await;
    let c = client(&peers);
    let url = owned_by(&c, flaky, &ufs, "broken").await;
    let mut up = c.start_upload(&url).await.unwrap();
    let mut failed = None;
    for p in pieces(&body) {
        if let Err(e) = up.send(p).await {
            failed = Some(e);
            break;
        }
    }
    let e = match failed {
        Some(e) => e,
        None => up.finish().await.unwrap_err(),
    };
    assert!(e.transport_kind().is_some(), "{e}");
    let name = url.rsplit('/').next().unwrap();
    assert!(!ufs.join(name).exists());
    w.stop().await;
}
