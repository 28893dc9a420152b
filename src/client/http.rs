//! HTTP to workers: one pooled client, URL encoding exactly as the Python
//! clients send it (docs/protocol.md §4.4), and the status → error mapping.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::dest::Dest;
use super::raw_get;
use crate::client::process::{short_runtime, stale};
use crate::config::IoConfig;
use crate::error::{Error, Result, TransportKind};
use crate::protocol::wire::FILE_SIZE_HEADER;
use crate::protocol::worker_info::WorkerInfo;

/// Form encoding (`urllib.parse.quote_plus`): for `path`, `opType`, flags.
pub fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Raw-template encoding as python-requests requotes `ufsFullPath`,
/// `srcPath`, `dstPath`: most punctuation stays, `+` stays a plus. Unlike
/// Python (which corrupts them) `%`, `&` and `#` are escaped so every path
/// round-trips.
pub fn template_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(b as char),
            b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b'+' | b','
            | b';' | b'=' | b':' | b'@' | b'/' | b'[' | b']' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The pooled HTTP client for workers. Inside
/// [`crate::client::process::short_runtime::block_on`] requests go through a second client
/// whose connections live on that runtime.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    /// Settings of the short-call client.
    io: IoConfig,
    /// The short-call client and the runtime generation it was built for.
    short: Arc<stale::Slot<u64, reqwest::Client>>,
    /// Connections for data GETs read straight into the caller's buffer;
    /// `None` where reqwest must carry them too (see [`raw_gets_allowed`]).
    raw: Option<Arc<raw_get::Pool>>,
}

/// Whether data GETs may use [`raw_get`]: not when a proxy is configured in
/// the environment (reqwest honours it, the raw path would not), nor with
/// `ALLUXIOFS_RAW_GET=0` (for A/B measurements, and a way out).
fn raw_gets_allowed() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let proxy = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|k| set(k));
    let off = std::env::var("ALLUXIOFS_RAW_GET").is_ok_and(|v| v.trim() == "0");
    !proxy && !off
}

/// Idle connections the short-call client keeps per worker: one call runs
/// on it at a time, of one or two requests (see `run_blocking_small`).
pub const SHORT_IDLE_PER_HOST: usize = 2;

fn connect_timeout(io: &IoConfig) -> Duration {
    io.timeout.min(Duration::from_secs(5))
}

fn build_client(io: &IoConfig, idle_per_host: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(idle_per_host)
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(connect_timeout(io))
        .tcp_nodelay(true)
        // Workers speak plain HTTP (docs/protocol.md §5). Without this the
        // TLS backend (compiled in for object_store's S3) loads and parses
        // the system's root certificates for every client built: 5 of the
        // 6 ms a forked loader process spent before its first read.
        .tls_certs_only([])
        .build()
        .map_err(|e| Error::InvalidConfig(format!("cannot build the HTTP client: {e}")))
}

fn message_of(body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text = text.trim();
    if text.chars().count() > 500 {
        format!("{}…", text.chars().take(500).collect::<String>())
    } else {
        text.to_owned()
    }
}

/// Maps a non-2xx answer to the error users expect.
pub fn status_error(worker: &str, status: u16, body: &[u8]) -> Error {
    let msg = message_of(body);
    // Our worker's messages start with the kind already; don't say it twice.
    let bare = |prefix: &str| msg.strip_prefix(prefix).unwrap_or(&msg).to_owned();
    match status {
        404 => Error::NotFound(bare("not found: ")),
        401 | 403 => Error::PermissionDenied(bare("permission denied: ")),
        400 if msg.starts_with("is a directory: ") => Error::IsADirectory(bare("is a directory: ")),
        400 if msg.starts_with("directory not empty: ") => {
            Error::NotEmpty(bare("directory not empty: "))
        }
        400 => Error::InvalidArgument(bare("invalid argument: ")),
        409 => Error::AlreadyExists(bare("already exists: ")),
        _ => Error::transport(worker, TransportKind::Status(status), msg),
    }
}

/// An answer from `worker` of `n` bytes or more where at most `cap` fit.
pub(crate) fn long_body(worker: &str, n: u64, cap: usize) -> Error {
    Error::transport(
        worker,
        TransportKind::LongBody,
        format!("{n} bytes or more, expected at most {cap}"),
    )
}

/// Where in an exchange a reqwest error happened.
#[derive(Clone, Copy)]
enum Stage {
    /// Sending the request and reading the answer's head.
    Send,
    /// Reading the body.
    Body,
}

/// The kind of a reqwest failure, from reqwest's and hyper's own
/// predicates and the OS error kind in its source chain (never its text).
fn kind_of(e: &reqwest::Error, stage: Stage) -> TransportKind {
    use std::io::ErrorKind as Io;
    let mut io = None;
    let mut hyper = None;
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if io.is_none() {
            io = s.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        }
        if hyper.is_none() {
            hyper = s.downcast_ref::<hyper::Error>();
        }
        src = s.source();
    }
    if e.is_connect() {
        return match io {
            _ if e.is_timeout() => TransportKind::ConnectTimeout,
            Some(Io::TimedOut) => TransportKind::ConnectTimeout,
            Some(Io::ConnectionRefused) => TransportKind::Refused,
            _ => TransportKind::ConnectFailed,
        };
    }
    if e.is_timeout() || io == Some(Io::TimedOut) {
        return TransportKind::AnswerTimeout;
    }
    if hyper.is_some_and(|h| h.is_parse() || h.is_parse_status() || h.is_parse_too_large()) {
        return TransportKind::BadHttp;
    }
    match stage {
        // hyper reads the head before `send` returns: a failure there came
        // before any answer (its `IncompleteMessage`, a reset, a closed pipe).
        Stage::Send => TransportKind::ClosedBeforeAnswer,
        Stage::Body => TransportKind::ClosedMidAnswer,
    }
}

impl Http {
    /// Builds the client: keep-alive pool, connect and request timeouts.
    pub fn new(io: &IoConfig) -> Result<Self> {
        Self::with_raw(io, raw_gets_allowed())
    }

    /// [`Http::new`] with data GETs on [`raw_get`] or not (tests run both).
    pub(crate) fn with_raw(io: &IoConfig, raw: bool) -> Result<Self> {
        Ok(Self {
            client: build_client(io, io.concurrency)?,
            timeout: io.timeout,
            io: io.clone(),
            short: Arc::default(),
            raw: raw.then(|| {
                Arc::new(raw_get::Pool::new(
                    io.concurrency,
                    SHORT_IDLE_PER_HOST,
                    connect_timeout(io),
                ))
            }),
        })
    }

    /// The client for this call: the shared one, or the short-call client
    /// inside the short-call runtime (a connection made there must not reach
    /// the shared pool, where nobody would drive it).
    fn pick(&self) -> Result<reqwest::Client> {
        let generation = short_runtime::generation();
        if generation == 0 {
            return Ok(self.client.clone());
        }
        // A client built on a runtime from before a fork is forgotten.
        stale::get_or_rebuild(&self.short, generation, || {
            build_client(&self.io, SHORT_IDLE_PER_HOST)
        })
    }

    /// A request to `worker` that ran past the request timeout.
    fn timed_out(&self, worker: &str) -> Error {
        Error::transport(
            worker,
            TransportKind::AnswerTimeout,
            format!("no complete answer after {:?}", self.timeout),
        )
    }

    fn transport(&self, worker: &str, e: &reqwest::Error, stage: Stage) -> Error {
        let kind = kind_of(e, stage);
        if kind == TransportKind::AnswerTimeout {
            return self.timed_out(worker);
        }
        // The source chain says what really happened, for people.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        Error::transport(worker, kind, msg)
    }

    /// Sends a request to `worker` and returns the body of a 2xx answer.
    pub async fn send(
        &self,
        worker: &WorkerInfo,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Bytes>,
    ) -> Result<Bytes> {
        let body = body.map(reqwest::Body::from);
        let (authority, resp) = self
            .start(worker, method, path_and_query, body, true)
            .await?;
        resp.bytes()
            .await
            .map_err(|e| self.transport(&authority, &e, Stage::Body))
    }

    /// Sends a request (within the request timeout if `timed`); returns the
    /// worker's authority and the response of a 2xx answer (any other status
    /// becomes its error, body read).
    async fn start(
        &self,
        worker: &WorkerInfo,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<reqwest::Body>,
        timed: bool,
    ) -> Result<(String, reqwest::Response)> {
        let authority = worker.http_authority();
        let url = format!("http://{authority}{path_and_query}");
        let mut req = self.pick()?.request(method, &url);
        if timed {
            req = req.timeout(self.timeout);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/octet-stream")
                .body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport(&authority, &e, Stage::Send))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok((authority, resp));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport(&authority, &e, Stage::Body))?;
        Err(status_error(&authority, status, &body))
    }
}

impl Http {
    /// GETs `path_and_query` from `worker` and writes the body of a 2xx answer
    /// into `dest` as it arrives (from the socket directly on the raw path,
    /// from hyper's buffer through reqwest); returns the
    /// bytes written and the file size the worker announced
    /// ([`FILE_SIZE_HEADER`]), if any. A body longer than `dest` is an error,
    /// never truncated.
    pub async fn get_into(
        &self,
        worker: &WorkerInfo,
        path_and_query: &str,
        dest: &mut Dest<'_>,
    ) -> Result<(usize, Option<u64>)> {
        dest.reset();
        if let Some(raw) = &self.raw {
            let authority = worker.http_authority();
            return tokio::time::timeout(
                self.timeout,
                raw.get_into(&authority, path_and_query, dest),
            )
            .await
            .map_err(|_| self.timed_out(&authority))?;
        }
        let (authority, mut resp) = self
            .start(worker, reqwest::Method::GET, path_and_query, None, true)
            .await?;
        let file_size = resp
            .headers()
            .get(FILE_SIZE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        dest.announce(file_size);
        let cap = dest.cap();
        if let Some(n) = resp.content_length() {
            if n > cap as u64 {
                return Err(long_body(&authority, n, cap));
            }
            #[allow(clippy::cast_possible_truncation)]
            dest.expect(n as usize).await;
        }
        let mut n = 0;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport(&authority, &e, Stage::Body))?
        {
            let end = n + chunk.len();
            if end > cap {
                return Err(long_body(&authority, end as u64, cap));
            }
            dest.put(n, &chunk);
            n = end;
        }
        Ok((n, file_size))
    }
}

#[path = "http_stream.rs"]
mod stream;

#[cfg(test)]
#[path = "http_faults.rs"]
mod faults;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_python_clients() {
        // §4.4 examples.
        assert_eq!(form_encode("s3://bucket/dir"), "s3%3A%2F%2Fbucket%2Fdir");
        assert_eq!(form_encode("a b"), "a+b");
        assert_eq!(
            template_encode("s3://bucket/dir/a b+c ü"),
            "s3://bucket/dir/a%20b+c%20%C3%BC"
        );
        assert_eq!(template_encode("x&y#z%41"), "x%26y%23z%2541");
    }

    #[test]
    fn statuses_map_to_kinds() {
        let body = br#"{"message":"gone"}"#;
        assert!(matches!(status_error("w", 404, body), Error::NotFound(m) if m == "gone"));
        assert!(matches!(
            status_error("w", 403, body),
            Error::PermissionDenied(_)
        ));
        assert!(matches!(status_error("w", 400, b"bad"), Error::InvalidArgument(m) if m == "bad"));
        assert!(matches!(
            status_error("w", 409, body),
            Error::AlreadyExists(_)
        ));
        let e = status_error("w", 503, body);
        assert!(e.is_retryable() && e.transport_kind() == Some(TransportKind::Status(503)));
        assert!(status_error("w", 429, body).is_retryable());
        assert!(!status_error("w", 404, body).is_retryable());
    }
}
