//! One HTTP/1.1 connection of the raw GET path: reading an answer's head
//! and its body, by whichever framing the head says, into a [`Dest`].

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::client::dest::{write_prefix, Dest};
use crate::error::{Error, Result, TransportKind};
use crate::protocol::wire::FILE_SIZE_HEADER;

/// Room for the status line and headers, and the chunk lines of a chunked
/// body.
const HEAD_BUF: usize = 16 * 1024;
/// Most bytes one read for a head takes. A page answer's head is about 150
/// bytes, and body bytes read with it are copied once more, out of the
/// buffer: a 16 KiB read copied a sixth of every 100 KiB file twice.
const HEAD_READ: usize = 1024;

/// How the body of an answer ends.
#[derive(Clone, Copy, Debug)]
pub(super) enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// The parts of an answer's head the client uses.
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) framing: Framing,
    pub(super) keep_alive: bool,
    pub(super) file_size: Option<u64>,
}

/// A connection and the bytes read from it but not consumed yet.
pub(super) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

/// Why no head could be read.
#[derive(Debug)]
pub(super) enum HeadError {
    /// End of file before any byte of an answer.
    Closed,
    /// An error before any byte of an answer.
    Lost(io::Error),
    Io(io::Error),
    Invalid(String),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Closed => f.write_str("end of file after the request was sent"),
            HeadError::Lost(e) => write!(f, "after the request was sent: {e}"),
            HeadError::Io(e) => write!(f, "reading the answer's headers: {e}"),
            HeadError::Invalid(m) => f.write_str(m),
        }
    }
}

impl HeadError {
    /// The kind of failure this is.
    pub(super) fn kind(&self) -> TransportKind {
        match self {
            HeadError::Closed | HeadError::Lost(_) => TransportKind::ClosedBeforeAnswer,
            HeadError::Io(_) => TransportKind::ClosedMidAnswer,
            HeadError::Invalid(_) => TransportKind::BadHttp,
        }
    }
}

fn header_str<'h>(h: &'h httparse::Header<'_>) -> &'h str {
    std::str::from_utf8(h.value).unwrap_or("").trim()
}

/// Reads into `dst` from `stream` without initialising it first.
async fn read_uninit(stream: &mut TcpStream, dst: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut rb = ReadBuf::uninit(dst);
        Pin::new(&mut *stream)
            .poll_read(cx, &mut rb)
            .map_ok(|()| rb.filled().len())
    })
    .await
}

impl Conn {
    pub(super) fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; HEAD_BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }

    /// Sends a request.
    pub(super) async fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request).await
    }

    /// Whether every byte read so far has been consumed: the connection is
    /// between answers.
    pub(super) fn drained(&self) -> bool {
        self.pos == self.end
    }

    /// The socket (to check an idle connection is still open).
    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads more into the buffer after what is there, at most `most`
    /// bytes; 0 at end of file.
    async fn fill(&mut self, most: usize) -> io::Result<usize> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.buf.len() && self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let end = self.end;
        let stop = end.saturating_add(most).min(self.buf.len());
        let n = self.stream.read(&mut self.buf[end..stop]).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads the status line and headers (skipping 1xx answers).
    pub(super) async fn read_head(&mut self) -> std::result::Result<Head, HeadError> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp
                .parse(&self.buf[self.pos..self.end])
                .map_err(|e| HeadError::Invalid(e.to_string()))?;
            if let httparse::Status::Complete(len) = parsed {
                let status = resp.code.unwrap_or(0);
                let head = Self::head_of(&resp, status)?;
                self.pos += len;
                if (100..200).contains(&status) {
                    continue;
                }
                return Ok(head);
            }
            if self.pos == 0 && self.end == self.buf.len() {
                return Err(HeadError::Invalid(format!(
                    "headers longer than {HEAD_BUF} bytes"
                )));
            }
            let started = self.end > self.pos;
            let got = self.fill(HEAD_READ).await.map_err(|e| {
                if started {
                    HeadError::Io(e)
                } else {
                    HeadError::Lost(e)
                }
            })?;
            if got == 0 {
                return Err(if started {
                    HeadError::Invalid("the connection closed inside the headers".into())
                } else {
                    HeadError::Closed
                });
            }
        }
    }

    fn head_of(
        resp: &httparse::Response<'_, '_>,
        status: u16,
    ) -> std::result::Result<Head, HeadError> {
        let http11 = resp.version == Some(1);
        let mut length = None;
        let mut chunked = false;
        let mut keep_alive = http11;
        let mut file_size = None;
        for h in resp.headers.iter() {
            let v = header_str(h);
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = v
                    .parse::<u64>()
                    .map_err(|_| HeadError::Invalid(format!("Content-Length {v:?}")))?;
                if length.is_some_and(|m| m != n) {
                    return Err(HeadError::Invalid("two different Content-Length".into()));
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v
                    .rsplit(',')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("chunked"));
                if !chunked {
                    return Err(HeadError::Invalid(format!("Transfer-Encoding {v:?}")));
                }
            } else if h.name.eq_ignore_ascii_case("connection") {
                for t in v.split(',').map(str::trim) {
                    if t.eq_ignore_ascii_case("close") {
                        keep_alive = false;
                    } else if t.eq_ignore_ascii_case("keep-alive") {
                        keep_alive = true;
                    }
                }
            } else if h.name.eq_ignore_ascii_case(FILE_SIZE_HEADER) {
                file_size = v.parse::<u64>().ok();
            }
        }
        // No body by definition (RFC 9112 §6.3).
        let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
            Framing::Length(0)
        } else if chunked {
            // Transfer-Encoding wins over Content-Length.
            Framing::Chunked
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            keep_alive = false;
            Framing::UntilClose
        };
        Ok(Head {
            status,
            framing,
            keep_alive,
            file_size,
        })
    }

    /// Reads up to `dst.len()` body bytes: buffered ones first, then
    /// straight from the socket. 0 only at end of file.
    async fn read_into(&mut self, dst: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
        if self.pos < self.end {
            let n = dst.len().min(self.end - self.pos);
            write_prefix(&mut dst[..n], &self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        read_uninit(&mut self.stream, dst).await
    }

    /// Reads one CRLF-terminated line of a chunked body (without the CRLF).
    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf[self.pos..self.end]
                .windows(2)
                .position(|w| w == b"\r\n")
            {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i]).into_owned();
                self.pos += i + 2;
                return Ok(line);
            }
            if self.pos == 0 && self.end == self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk line too long",
                ));
            }
            if self.fill(HEAD_BUF).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads body bytes into `dest` until it holds `end` (`n` counts them as
    /// they land, so on error it says how many did).
    async fn read_exactly(
        &mut self,
        dest: &mut Dest<'_>,
        n: &mut usize,
        end: usize,
    ) -> io::Result<()> {
        while *n < end {
            let got = self.read_into(dest.window(*n, end)).await?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            *n += got;
            dest.filled(*n);
        }
        Ok(())
    }

    /// Reads the body into `dest`; returns its length.
    pub(super) async fn read_body(
        &mut self,
        authority: &str,
        framing: Framing,
        dest: &mut Dest<'_>,
    ) -> Result<usize> {
        let cap = dest.cap();
        let broken = |n: usize, e: io::Error| {
            let kind = match e.kind() {
                io::ErrorKind::TimedOut => TransportKind::AnswerTimeout,
                io::ErrorKind::InvalidData => TransportKind::BadHttp,
                _ => TransportKind::ClosedMidAnswer,
            };
            Error::transport(authority, kind, format!("the body after {n} bytes: {e}"))
        };
        let bad = |m: String| Error::transport(authority, TransportKind::BadHttp, m);
        let mut n = 0usize;
        match framing {
            Framing::Length(len) => {
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= cap)
                    .ok_or_else(|| dest.too_long(authority, len))?;
                dest.expect(len).await;
                self.read_exactly(dest, &mut n, len)
                    .await
                    .map_err(|e| broken(n, e))?;
            }
            Framing::Chunked => loop {
                let line = self.read_line().await.map_err(|e| broken(n, e))?;
                let hex = line.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16)
                    .map_err(|_| bad(format!("invalid chunk size line {line:?}")))?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    while !self.read_line().await.map_err(|e| broken(n, e))?.is_empty() {}
                    break;
                }
                let end = usize::try_from(size)
                    .ok()
                    .and_then(|s| s.checked_add(n))
                    .filter(|&e| e <= cap)
                    .ok_or_else(|| dest.too_long(authority, size.saturating_add(n as u64)))?;
                self.read_exactly(dest, &mut n, end)
                    .await
                    .map_err(|e| broken(n, e))?;
                if !self.read_line().await.map_err(|e| broken(n, e))?.is_empty() {
                    return Err(bad("chunk not followed by CRLF".into()));
                }
            },
            Framing::UntilClose => loop {
                let want = (n + 64 * 1024).min(cap);
                if want == n {
                    // Full: one more byte means the body is too long.
                    let mut probe = [MaybeUninit::uninit()];
                    if self.read_into(&mut probe).await.map_err(|e| broken(n, e))? > 0 {
                        return Err(dest.too_long(authority, n as u64 + 1));
                    }
                    break;
                }
                let got = self
                    .read_into(dest.window(n, want))
                    .await
                    .map_err(|e| broken(n, e))?;
                if got == 0 {
                    break;
                }
                n += got;
                dest.filled(n);
            },
        }
        Ok(n)
    }
}
