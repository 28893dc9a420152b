//! Helpers for the under-storage tests: a moto S3 server owned by the test,
//! and snapshots of a directory tree to prove refused requests touched nothing.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where a moto_server binary is: `ALLUXIOFS_MOTO_SERVER`, the project's
/// `.venv`, the main checkout's `.venv`, then `PATH`.
fn find_moto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ALLUXIOFS_MOTO_SERVER") {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
        eprintln!("ALLUXIOFS_MOTO_SERVER={} does not exist", p.display());
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates = vec![
        manifest.join(".venv/bin/moto_server"),
        PathBuf::from("/work/main/.venv/bin/moto_server"),
    ];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("moto_server")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// A moto S3 server this test started; killed (only this process) on drop.
pub struct Moto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

impl Moto {
    /// Starts moto, or returns `None` with a message if it is not installed
    /// (a failure instead when `CI` is set: CI installs it).
    pub fn start() -> Option<Self> {
        let Some(bin) = find_moto() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "moto_server not found (pip install 'moto[server]', or set ALLUXIOFS_MOTO_SERVER)"
            );
            eprintln!("SKIP: moto_server not found (set ALLUXIOFS_MOTO_SERVER to run S3 tests)");
            return None;
        };
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut moto = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited early: {status}");
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a plain unsigned `PUT /bucket` (object_store
    /// cannot create buckets; moto does not check signatures).
    pub async fn create_bucket(&self, bucket: &str) {
        self.put_empty(bucket).await;
    }

    /// An unsigned `PUT /<path>` with an empty body: creates a bucket, or an
    /// empty object such as a `dir/` marker written by another tool.
    pub async fn put_empty(&self, path: &str) {
        self.raw("PUT", path).await;
    }

    /// An unsigned `GET /<path_and_query>`: the response body, e.g. a raw
    /// bucket listing that shows keys exactly as stored.
    pub async fn get(&self, path_and_query: &str) -> String {
        self.raw("GET", path_and_query).await
    }

    /// One HTTP/1.1 request with an empty body; asserts a 200 and returns the
    /// whole response.
    async fn raw(&self, method: &str, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let req = format!(
            "{method} /{path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        let resp = String::from_utf8_lossy(&resp).into_owned();
        assert!(
            resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
            "{method} /{path}: {resp}"
        );
        resp
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One entry of a tree snapshot: kind, symlink target, content, mtime.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory and its mtime (changes when entries are added or removed).
    Dir(Option<std::time::SystemTime>),
    /// A file's bytes and mtime.
    File(Vec<u8>, Option<std::time::SystemTime>),
    /// A symlink's target (never followed).
    Link(PathBuf),
}

/// Everything under `dir`, symlinks not followed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let md = std::fs::symlink_metadata(&d).unwrap();
        out.insert(d.clone(), Node::Dir(md.modified().ok()));
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            if md.file_type().is_symlink() {
                out.insert(p.clone(), Node::Link(std::fs::read_link(&p).unwrap()));
            } else if md.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.clone(),
                    Node::File(std::fs::read(&p).unwrap(), md.modified().ok()),
                );
            }
        }
    }
    out
}
