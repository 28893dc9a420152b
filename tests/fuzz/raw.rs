//! Raw HTTP/1.1 over TCP: random requests with honest or lying framing, and
//! a strict reader of one response (1xx skipped) with a deadline.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gen::Rand;

/// One request on the wire.
pub struct Request {
    bytes: Vec<u8>,
    /// Whether the server has everything it needs without end of input.
    complete: bool,
    /// Shut down our sending side after the request.
    half_close: bool,
    head: bool,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(300)]).into_owned();
        write!(
            f,
            "{shown:?} ({} bytes, complete={}, half_close={})",
            self.bytes.len(),
            self.complete,
            self.half_close
        )
    }
}

impl Request {
    /// A request with random version, headers and body framing.
    pub fn build(r: &mut Rand, method: &str, target: &str, body: Vec<u8>) -> Self {
        let version = r.pick(&[
            "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0",
            "HTTP/9.9", "", "http/1.1",
        ]);
        let mut complete = matches!(version, "HTTP/1.1" | "HTTP/1.0")
            && !method.is_empty()
            && method.bytes().all(|b| b.is_ascii_uppercase());
        let mut w = if version.is_empty() {
            format!("{method} {target}\r\n").into_bytes()
        } else {
            format!("{method} {target} {version}\r\n").into_bytes()
        };
        if r.pct(90) {
            w.extend_from_slice(b"Host: 127.0.0.1\r\n");
        }
        for _ in 0..r.below(4) {
            let h: &str = r.pick(&[
                "Connection: close",
                "Connection: keep-alive",
                "Content-Type: application/octet-stream",
                "Expect: 100-continue",
                "Accept-Encoding: gzip",
                "Range: bytes=0-1",
                "X-Empty:",
                "NoColonHere",
                "X-Nul: a\0b",
                "X-Long: LONG",
                " Folded: continuation",
            ]);
            if matches!(h, "NoColonHere" | "X-Nul: a\0b" | " Folded: continuation") {
                complete = false;
            }
            if h == "X-Long: LONG" {
                complete = false;
                w.extend_from_slice(format!("X-Long: {}\r\n", "v".repeat(70_000)).as_bytes());
            } else {
                w.extend_from_slice(h.as_bytes());
                w.extend_from_slice(b"\r\n");
            }
        }
        let n = body.len();
        match r.below(9) {
            0 | 1 => {
                if n > 0 || r.pct(50) {
                    w.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
                }
            }
            // No length: the body is pipelined garbage after a complete request.
            2 => {}
            3 => {
                complete = false;
                w.extend_from_slice(
                    format!("Content-Length: {}\r\n", n + 1 + r.below(100)).as_bytes(),
                );
            }
            4 => {
                let short = r.below(n + 1);
                w.extend_from_slice(format!("Content-Length: {short}\r\n").as_bytes());
            }
            5 => {
                w.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut at = 0;
                while at < n {
                    let k = (1 + r.below(700)).min(n - at);
                    w.extend_from_slice(format!("{k:x}\r\n").as_bytes());
                    w.extend_from_slice(&body[at..at + k]);
                    w.extend_from_slice(b"\r\n");
                    at += k;
                }
                w.extend_from_slice(b"0\r\n\r\n");
                return Self::finish(r, w, complete, method);
            }
            6 => {
                complete = false;
                w.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let bad = r.pick(&[
                    "zz\r\nab\r\n",
                    "5\r\nab",
                    "ffffffffffffffffff\r\n",
                    "3;ext\r\nabc\r\n",
                ]);
                w.extend_from_slice(bad.as_bytes());
                return Self::finish(r, w, complete, method);
            }
            7 => {
                complete = false;
                let v = r.pick(&[
                    "-1",
                    "abc",
                    "18446744073709551616",
                    " 5",
                    "+5",
                    "5, 6",
                    "0x10",
                ]);
                w.extend_from_slice(format!("Content-Length: {v}\r\n").as_bytes());
                if r.pct(30) {
                    w.extend_from_slice(format!("Content-Length: {}\r\n", n + 3).as_bytes());
                }
            }
            _ => {
                complete = false;
                w.extend_from_slice(
                    format!("Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n").as_bytes(),
                );
            }
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(&body);
        Self::finish(r, w, complete, method)
    }

    /// A well-formed HTTP/1.1 request with an honest `Content-Length`.
    pub fn clean(r: &mut Rand, method: &str, target: &str, body: &[u8]) -> Self {
        let mut w = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
        if r.pct(30) {
            w.extend_from_slice(b"Connection: close\r\n");
        }
        if !body.is_empty() || method == "POST" {
            w.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
        Self::finish(r, w, true, method)
    }

    /// A well-formed HTTP/1.1 request with extra header lines.
    pub fn with_headers(
        r: &mut Rand,
        method: &str,
        target: &str,
        headers: &[String],
        body: &[u8],
    ) -> Self {
        let mut w = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n").into_bytes();
        for h in headers {
            w.extend_from_slice(h.as_bytes());
            w.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method == "PUT" {
            w.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
        Self::finish(r, w, true, method)
    }

    fn finish(r: &mut Rand, bytes: Vec<u8>, complete: bool, method: &str) -> Self {
        Self {
            half_close: !complete || r.pct(30),
            complete,
            bytes,
            head: method == "HEAD",
        }
    }

    /// Whether we shut down our side after sending.
    pub fn half_closed(&self) -> bool {
        self.half_close
    }

    /// The method and path (no query), for reports.
    pub fn line(&self) -> String {
        let text = String::from_utf8_lossy(&self.bytes[..self.bytes.len().min(200)]).into_owned();
        text.split(['?', '\r'])
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect()
    }

    /// `GET /v1/health`, closing.
    pub fn health() -> Self {
        Self {
            bytes: b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            complete: true,
            half_close: false,
            head: false,
        }
    }
}

/// What came back.
#[derive(Debug)]
pub enum Outcome {
    /// A well-formed response.
    Response {
        /// Status code.
        status: u16,
        /// Body.
        body: Vec<u8>,
    },
    /// A response whose body ended early: the worker aborting a streamed read.
    Aborted(u16),
    /// The connection was closed (or reset) without a response.
    Closed,
    /// Nothing in time.
    Hang,
    /// Bytes that are not an HTTP response.
    Malformed(String),
}

struct Reader {
    s: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    /// Reads more; false at end of input (a reset counts as the end).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.s.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    async fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Some(line);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    async fn exactly(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.buf.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.buf.drain(..n).collect())
    }
}

/// Sends `req` on a new connection and reads one response within `timeout`.
pub async fn exchange(addr: SocketAddr, req: &Request, timeout: Duration) -> Outcome {
    let run = async {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            return Outcome::Malformed("cannot connect".into());
        };
        if s.write_all(&req.bytes).await.is_ok() && req.half_close {
            let _ = s.shutdown().await;
        }
        let mut rd = Reader {
            s,
            buf: Vec::new(),
            eof: false,
        };
        read_response(&mut rd, req.head).await
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or(Outcome::Hang)
}

async fn read_response(rd: &mut Reader, head: bool) -> Outcome {
    loop {
        let Some(status_line) = rd.line().await else {
            return if rd.buf.is_empty() {
                Outcome::Closed
            } else {
                Outcome::Malformed(format!(
                    "partial status line {:?}",
                    String::from_utf8_lossy(&rd.buf)
                ))
            };
        };
        let text = String::from_utf8_lossy(&status_line).into_owned();
        let mut parts = text.splitn(3, ' ');
        let (Some(v), Some(code)) = (parts.next(), parts.next()) else {
            return Outcome::Malformed(format!("status line {text:?}"));
        };
        let Ok(status) = code.parse::<u16>() else {
            return Outcome::Malformed(format!("status line {text:?}"));
        };
        if !v.starts_with("HTTP/1.") || !(100..600).contains(&status) {
            return Outcome::Malformed(format!("status line {text:?}"));
        }
        let mut length = None;
        let mut chunked = false;
        loop {
            let Some(h) = rd.line().await else {
                return Outcome::Malformed(format!("headers cut after {text:?}"));
            };
            if h.is_empty() {
                break;
            }
            let h = String::from_utf8_lossy(&h).to_ascii_lowercase();
            let Some((name, val)) = h.split_once(':') else {
                return Outcome::Malformed(format!("header {h:?}"));
            };
            match name {
                "content-length" => match val.trim().parse::<usize>() {
                    Ok(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => return Outcome::Malformed(format!("content-length {val:?}")),
                },
                "transfer-encoding" => chunked = val.trim() == "chunked",
                _ => {}
            }
        }
        if status < 200 {
            continue;
        }
        if head || status == 204 || status == 304 {
            return Outcome::Response {
                status,
                body: Vec::new(),
            };
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let Some(size) = rd.line().await else {
                    return Outcome::Aborted(status);
                };
                let size = String::from_utf8_lossy(&size).into_owned();
                let Ok(k) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                else {
                    return Outcome::Malformed(format!("chunk size {size:?}"));
                };
                let Some(data) = rd.exactly(k + 2).await else {
                    return Outcome::Aborted(status);
                };
                if k == 0 {
                    break;
                }
                body.extend_from_slice(&data[..k]);
            }
            body
        } else if let Some(n) = length {
            match rd.exactly(n).await {
                Some(b) => b,
                None => return Outcome::Aborted(status),
            }
        } else {
            while rd.fill().await {}
            std::mem::take(&mut rd.buf)
        };
        let _ = rd.eof;
        return Outcome::Response { status, body };
    }
}
