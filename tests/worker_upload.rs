//! `POST /v1/chunk` as a stream (docs/protocol.md §5.11, §8 item 1) on a local
//! under storage, driven over raw sockets: a body cut off by the client
//! (chunked or with a `Content-Length`) or with broken chunked coding leaves
//! no file, no temp file and an existing file as it was; an error found
//! before the body's end still reaches a client that keeps sending.

mod common;

use std::path::Path;
use std::time::Duration;

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

struct Fixture {
    _dir: tempfile::TempDir,
    ufs: std::path::PathBuf,
    worker: RunningWorker,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ufs = dir.path().join("ufs");
        std::fs::create_dir_all(ufs.join("sub")).unwrap();
        let input = WorkerInput {
            port: Some("0".into()),
            cache_dir: Some(dir.path().join("cache").to_string_lossy().into()),
            ufs: Some(format!("file://{}", ufs.display())),
            cluster: ConfigInput {
                page_size: Some("4096".into()),
                ..ConfigInput::default()
            },
            s3_port: Some("0".into()),
            ..WorkerInput::default()
        };
        let worker = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
            .await
            .unwrap();
        Self {
            _dir: dir,
            ufs,
            worker,
        }
    }

    /// The path and query of a write of `name`.
    fn target(&self, name: &str) -> String {
        let url = format!("file://{}/{name}", self.ufs.display());
        format!("/v1/chunk/{}?ufsFullPath={url}", path_id(&url))
    }

    /// A connection with the head of a POST of `name` sent.
    async fn start(&self, name: &str, framing: &str) -> TcpStream {
        let mut s = TcpStream::connect(self.worker.addr()).await.unwrap();
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: w\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n",
            self.target(name)
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 13 + usize::from(seed)) % 251) as u8)
        .collect()
}

/// One HTTP/1.1 chunk.
fn chunk(piece: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", piece.len()).into_bytes();
    out.extend_from_slice(piece);
    out.extend_from_slice(b"\r\n");
    out
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

/// Waits until `dir` holds exactly `want` (temp files gone), then checks it
/// stays so for a while.
async fn settles_to(dir: &Path, want: &[&str]) {
    for _ in 0..100 {
        if raw_names(dir) == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert_eq!(raw_names(dir), want, "in {}", dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_off_leaves_nothing() {
    let fx = Fixture::new().await;
    let old = data(5000, 1);
    std::fs::write(fx.ufs.join("sub/old.bin"), &old).unwrap();
    let piece = data(64 << 10, 2);
    for name in ["sub/new.bin", "sub/old.bin"] {
        // Chunked: 4 MiB of chunks, then the connection closes (no last chunk).
        let mut s = fx.start(name, "Transfer-Encoding: chunked").await;
        for _ in 0..64 {
            s.write_all(&chunk(&piece)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
        settles_to(&fx.ufs.join("sub"), &["old.bin"]).await;
        assert!(std::fs::read(fx.ufs.join("sub/old.bin")).unwrap() == old);

        // A Content-Length the body never reaches.
        let mut s = fx.start(name, "Content-Length: 10000000").await;
        for _ in 0..64 {
            s.write_all(&piece).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(s);
        settles_to(&fx.ufs.join("sub"), &["old.bin"]).await;
        assert!(std::fs::read(fx.ufs.join("sub/old.bin")).unwrap() == old);
    }
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_chunked_coding_leaves_nothing() {
    let fx = Fixture::new().await;
    let mut s = fx.start("sub/bad.bin", "Transfer-Encoding: chunked").await;
    s.write_all(&chunk(&data(100_000, 3))).await.unwrap();
    s.write_all(b"zz-not-a-size\r\nxx\r\n0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    settles_to(&fx.ufs.join("sub"), &[]).await;
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_bodies_of_both_framings_arrive() {
    let fx = Fixture::new().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", fx.worker.addr());
    let body = data(20 << 20, 4);
    // Content-Length framing, as python-requests sends bytes.
    let r = http
        .post(format!("{base}{}", fx.target("sub/len.bin")))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(std::fs::read(fx.ufs.join("sub/len.bin")).unwrap() == body);
    // Chunked framing, in uneven chunks.
    let mut s = fx
        .start("sub/chunked.bin", "Transfer-Encoding: chunked")
        .await;
    let mut at = 0;
    for n in [1usize, 100, 65_536, 3 << 20].iter().cycle() {
        let end = (at + n).min(body.len());
        s.write_all(&chunk(&body[at..end])).await.unwrap();
        at = end;
        if at == body.len() {
            break;
        }
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut s, &mut head)
        .await
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert!(std::fs::read(fx.ufs.join("sub/chunked.bin")).unwrap() == body);
    settles_to(&fx.ufs.join("sub"), &["chunked.bin", "len.bin"]).await;
    fx.worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_errors_reach_a_client_still_sending() {
    let fx = Fixture::new().await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", fx.worker.addr());
    let body = data(16 << 20, 5);
    let outside = "/etc/alluxiofs-nope";
    for (pq, status, lead) in [
        (fx.target("sub"), 400, "is a directory: "),
        (
            format!("/v1/chunk/x?ufsFullPath={outside}"),
            403,
            "permission denied: ",
        ),
    ] {
        for _ in 0..3 {
            let r = http
                .post(format!("{base}{pq}"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status);
            let text = r.text().await.unwrap();
            assert!(text.contains(lead), "{text}");
        }
    }
    assert!(fx.ufs.join("sub").is_dir());
    fx.worker.stop().await;
}
