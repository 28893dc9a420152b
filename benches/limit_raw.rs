//! The limit's raw transport: each GET written to a plain keep-alive TCP
//! socket and its body `recv`'d into one buffer per connection, reused and
//! never looked at (as `curl -o /dev/null`). Only as much HTTP/1.1 as stays
//! correct: the head parsed with `httparse`, bodies framed by
//! `Content-Length` or `Transfer-Encoding: chunked`, and a connection reused
//! only after a complete answer that allows it, with nothing left over.
//!
//! Our client's data GETs read the socket straight into the result (no
//! second copy, as hyper makes); this bounds that path: the same socket
//! reads, and nothing else.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Each connection's buffer: the head and chunk lines are parsed in it, and
/// every body byte lands in it (then is dropped). 64 KiB to 1 MiB measured
/// alike within the noise (interleaved runs); 128 KiB was never behind.
const BUF: usize = 128 << 10;
/// Most bytes one read for a head takes (as ours: body bytes read with the
/// head are the only ones not read by the body loop).
const HEAD_READ: usize = 1024;
/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle keep-alive connections per worker.
pub struct Pool {
    idle: Mutex<HashMap<String, Vec<Conn>>>,
    max_idle: usize,
}

/// A connection, its buffer, and the bytes in `buf[pos..end]` read but not
/// consumed yet.
struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

/// How an answer's body ends.
enum Framing {
    Length(usize),
    Chunked,
}

/// A request that failed; `before_answer` when no byte of an answer came
/// (a reused connection the server had closed: worth one retry).
struct Failure {
    message: String,
    before_answer: bool,
}

fn late(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        before_answer: false,
    }
}

impl Pool {
    /// A pool keeping up to `max_idle` idle connections per worker.
    pub fn new(max_idle: usize) -> Self {
        Self {
            idle: Mutex::default(),
            max_idle,
        }
    }

    /// GETs `pq` from `worker`, drops the body; returns its length. Panics
    /// on any failure (the limit has no fallback), after one retry on a new
    /// connection when a reused one turns out closed.
    pub async fn get(&self, worker: &str, pq: &str) -> usize {
        let request = format!("GET {pq} HTTP/1.1\r\nhost: {worker}\r\naccept: */*\r\n\r\n");
        let reused = self.idle.lock().get_mut(worker).and_then(Vec::pop);
        if let Some(conn) = reused {
            match self.exchange(conn, worker, &request).await {
                Err(f) if f.before_answer => {}
                done => return done.unwrap_or_else(|f| panic!("{worker}{pq}: {}", f.message)),
            }
        }
        let conn = self.connect(worker).await;
        self.exchange(conn, worker, &request)
            .await
            .unwrap_or_else(|f| panic!("{worker}{pq}: {}", f.message))
    }

    async fn connect(&self, worker: &str) -> Conn {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(worker))
            .await
            .unwrap_or_else(|_| panic!("{worker}: connect timed out"))
            .unwrap_or_else(|e| panic!("{worker}: cannot connect: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Conn {
            stream,
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        worker: &str,
        request: &str,
    ) -> Result<usize, Failure> {
        conn.stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Failure {
                message: format!("cannot send the request: {e}"),
                before_answer: true,
            })?;
        let (status, framing, keep_alive) = conn.read_head().await?;
        let n = conn.drop_body(framing).await?;
        if !(200..300).contains(&status) {
            return Err(late(format!("answered {status}")));
        }
        if keep_alive && conn.pos == conn.end {
            let mut idle = self.idle.lock();
            let list = idle.entry(worker.to_owned()).or_default();
            if list.len() < self.max_idle {
                list.push(conn);
            }
        }
        Ok(n)
    }
}

impl Conn {
    /// Reads more after the unconsumed bytes, at most `most`; 0 at end of
    /// file.
    async fn fill(&mut self, most: usize) -> std::io::Result<usize> {
        if self.pos == self.end {
            (self.pos, self.end) = (0, 0);
        } else if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            (self.end, self.pos) = (self.end - self.pos, 0);
        }
        let stop = (self.end + most).min(self.buf.len());
        let n = self.stream.read(&mut self.buf[self.end..stop]).await?;
        self.end += n;
        Ok(n)
    }

    /// The status, framing and keep-alive of the next answer (1xx skipped).
    async fn read_head(&mut self) -> Result<(u16, Framing, bool), Failure> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp
                .parse(&self.buf[self.pos..self.end])
                .map_err(|e| late(format!("invalid head: {e}")))?;
            if let httparse::Status::Complete(len) = parsed {
                let status = resp.code.unwrap_or(0);
                let (framing, keep_alive) = head_of(&resp, status)?;
                self.pos += len;
                if (100..200).contains(&status) {
                    continue;
                }
                return Ok((status, framing, keep_alive));
            }
            let started = self.end > self.pos;
            match self.fill(HEAD_READ).await {
                Ok(0) | Err(_) if !started => {
                    return Err(Failure {
                        message: "connection closed before any answer".into(),
                        before_answer: true,
                    })
                }
                Ok(0) => return Err(late("connection closed inside the head")),
                Err(e) => return Err(late(format!("reading the head: {e}"))),
                Ok(_) => {}
            }
        }
    }

    /// Consumes `len` body bytes: those buffered, then `recv`s into the
    /// buffer (from its start: nothing there is kept).
    async fn skip(&mut self, mut len: usize) -> Result<(), Failure> {
        let buffered = len.min(self.end - self.pos);
        self.pos += buffered;
        len -= buffered;
        if len > 0 {
            (self.pos, self.end) = (0, 0);
        }
        while len > 0 {
            let most = len.min(self.buf.len());
            let got = self
                .stream
                .read(&mut self.buf[..most])
                .await
                .map_err(|e| late(format!("body broke off: {e}")))?;
            if got == 0 {
                return Err(late("connection closed inside the body"));
            }
            len -= got;
        }
        Ok(())
    }

    /// One CRLF-terminated line (without the CRLF) of a chunked body.
    async fn line(&mut self) -> Result<String, Failure> {
        loop {
            let window = &self.buf[self.pos..self.end];
            if let Some(i) = window.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&window[..i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.end - self.pos >= HEAD_READ * 8 {
                return Err(late("chunk line too long"));
            }
            match self.fill(HEAD_READ).await {
                Ok(0) => return Err(late("connection closed inside a chunk line")),
                Err(e) => return Err(late(format!("reading a chunk line: {e}"))),
                Ok(_) => {}
            }
        }
    }

    /// Reads the body and drops it; returns its length.
    async fn drop_body(&mut self, framing: Framing) -> Result<usize, Failure> {
        match framing {
            Framing::Length(len) => {
                self.skip(len).await?;
                Ok(len)
            }
            Framing::Chunked => {
                let mut n = 0;
                loop {
                    let line = self.line().await?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(hex, 16)
                        .map_err(|_| late(format!("invalid chunk size line {line:?}")))?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        while !self.line().await?.is_empty() {}
                        return Ok(n);
                    }
                    self.skip(size).await?;
                    n += size;
                    if !self.line().await?.is_empty() {
                        return Err(late("chunk not followed by CRLF"));
                    }
                }
            }
        }
    }
}

/// The framing and keep-alive an answer's headers give (RFC 9112 §6.3).
fn head_of(resp: &httparse::Response<'_, '_>, status: u16) -> Result<(Framing, bool), Failure> {
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = resp.version == Some(1);
    for h in resp.headers.iter() {
        let v = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| late(format!("Content-Length {v:?}")))?,
            );
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v
                .rsplit(',')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in v.split(',').map(str::trim) {
                if t.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if t.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        // A body up to the close: never sent by our worker, not supported.
        return Err(late("an answer with neither Content-Length nor chunked"));
    };
    Ok((framing, keep_alive))
}
