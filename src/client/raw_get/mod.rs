//! Page and range GETs on the client's own HTTP/1.1 connections, each body
//! read from the socket straight into the caller's buffer.
//!
//! Through hyper every body byte is copied twice on the client: from the
//! socket into hyper's read buffer, then from there into the caller's. For a
//! read that is the whole file again, and on a small machine the worker
//! sending it needs the same cores. Only data GETs come here (the bulk of
//! the bytes); every other request goes through reqwest.
//!
//! Framing follows RFC 9112: `Content-Length`, `Transfer-Encoding: chunked`,
//! or (HTTP/1.0 style) the body ends when the connection closes. A
//! connection goes back to the pool only after a complete answer that allows
//! keep-alive, with nothing left over.

mod conn;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::net::TcpStream;

use self::conn::{Conn, HeadError};
use super::dest::Dest;
use super::http::status_error;
use crate::client::process::short_runtime;
use crate::error::{Error, Result, TransportKind};

/// Largest error body kept for the message.
const ERROR_BODY_MAX: usize = 64 * 1024;
/// Idle connections older than this are closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections idle at least this long are checked to be open before use.
/// One used moments ago is not: the check is a system call per request
/// (a tenth of a small read's), and a connection the server closed anyway
/// fails before any answer and is replaced once (see [`Pool::get_into`]).
const CHECK_AFTER: Duration = Duration::from_secs(1);

/// Idle connections to one worker on one runtime, newest last, with the
/// time each went idle. A connection keeps its read buffer: made once, not
/// per request.
type IdleList = Vec<(Conn, Instant)>;

/// Idle keep-alive connections per (short-runtime generation, authority):
/// a connection is registered with the runtime that made it and must only
/// be used there.
pub struct Pool {
    idle: Mutex<HashMap<(u64, String), IdleList>>,
    max_idle: usize,
    max_idle_short: usize,
    connect_timeout: Duration,
}

/// A failure, and whether it happened before any byte of an answer arrived
/// (on a reused connection that means the server had closed it meanwhile,
/// and the request may be sent again on a new one).
struct Failure {
    error: Error,
    before_answer: bool,
}

impl Pool {
    /// A pool keeping up to `max_idle` idle connections per worker on the
    /// shared runtime and `max_idle_short` on the short-call runtime.
    pub fn new(max_idle: usize, max_idle_short: usize, connect_timeout: Duration) -> Self {
        Self {
            idle: Mutex::default(),
            max_idle,
            max_idle_short,
            connect_timeout,
        }
    }

    /// GETs `path_and_query` from `authority` into `dest`; returns the bytes
    /// written and the file size announced in the headers, which a
    /// [`Dest::Vec`]'s signal gets as soon as the headers are in. A non-2xx
    /// answer becomes its error. A reused connection that turns out to have
    /// been closed is replaced by a new one once, transparently.
    pub async fn get_into(
        &self,
        authority: &str,
        path_and_query: &str,
        dest: &mut Dest<'_>,
    ) -> Result<(usize, Option<u64>)> {
        let generation = short_runtime::generation();
        let request =
            format!("GET {path_and_query} HTTP/1.1\r\nhost: {authority}\r\naccept: */*\r\n\r\n");
        if let Some(conn) = self.checkout(generation, authority) {
            match self
                .exchange(conn, generation, authority, &request, dest)
                .await
            {
                Err(f) if f.before_answer => {
                    log::debug!(
                        "alluxiofs: idle connection to {authority} was closed; reconnecting"
                    );
                }
                done => return done.map_err(|f| f.error),
            }
        }
        let conn = self.connect(authority).await?;
        self.exchange(conn, generation, authority, &request, dest)
            .await
            .map_err(|f| f.error)
    }

    /// The newest idle connection to `authority` that is still open (as far
    /// as [`CHECK_AFTER`] says to check).
    fn checkout(&self, generation: u64, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(&(generation, authority.to_owned()))?;
        while let Some((conn, since)) = list.pop() {
            let idle = since.elapsed();
            if idle < IDLE_TIMEOUT && (idle < CHECK_AFTER || still_open(conn.stream())) {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps `conn` (between answers, nothing buffered) for reuse.
    fn checkin(&self, generation: u64, authority: &str, conn: Conn) {
        let max = if generation == 0 {
            self.max_idle
        } else {
            self.max_idle_short
        };
        let mut idle = self.idle.lock();
        let list = idle.entry((generation, authority.to_owned())).or_default();
        if list.len() < max {
            list.push((conn, Instant::now()));
        }
    }

    async fn connect(&self, authority: &str) -> Result<Conn> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(authority))
            .await
            .map_err(|_| {
                Error::transport(
                    authority,
                    TransportKind::ConnectTimeout,
                    format!("no connection after {:?}", self.connect_timeout),
                )
            })?
            .map_err(|e| {
                let kind = if e.kind() == io::ErrorKind::ConnectionRefused {
                    TransportKind::Refused
                } else {
                    TransportKind::ConnectFailed
                };
                Error::transport(authority, kind, e.to_string())
            })?;
        // Requests are one small write each; Nagle would hold the next one.
        stream.set_nodelay(true).map_err(|e| {
            Error::transport(
                authority,
                TransportKind::ConnectFailed,
                format!("cannot set TCP_NODELAY: {e}"),
            )
        })?;
        Ok(Conn::new(stream))
    }

    /// Sends the request on `conn` and reads the whole answer.
    async fn exchange(
        &self,
        mut conn: Conn,
        generation: u64,
        authority: &str,
        request: &str,
        dest: &mut Dest<'_>,
    ) -> std::result::Result<(usize, Option<u64>), Failure> {
        let early = |e: String| Failure {
            error: Error::transport(authority, TransportKind::ClosedBeforeAnswer, e),
            before_answer: true,
        };
        conn.send(request.as_bytes())
            .await
            .map_err(|e| early(format!("cannot send the request: {e}")))?;
        let head = conn.read_head().await.map_err(|e| match e {
            HeadError::Closed | HeadError::Lost(_) => early(e.to_string()),
            HeadError::Io(_) | HeadError::Invalid(_) => Failure {
                error: Error::transport(authority, e.kind(), e.to_string()),
                before_answer: false,
            },
        })?;
        let late = |error| Failure {
            error,
            before_answer: false,
        };
        if !(200..300).contains(&head.status) {
            let mut body = Vec::new();
            let signal = Default::default();
            let mut sink = Dest::Vec(&mut body, ERROR_BODY_MAX, &signal, None);
            // The error is what matters; a body that cannot be read is left out.
            let complete = conn.read_body(authority, head.framing, &mut sink).await;
            if complete.is_ok() && head.keep_alive && conn.drained() {
                self.checkin(generation, authority, conn);
            }
            return Err(late(status_error(authority, head.status, &body)));
        }
        dest.announce(head.file_size);
        let n = conn
            .read_body(authority, head.framing, dest)
            .await
            .map_err(late)?;
        // Bytes past the answer mean the two sides disagree on framing.
        if head.keep_alive && conn.drained() {
            self.checkin(generation, authority, conn);
        }
        Ok((n, head.file_size))
    }
}

/// Whether an idle connection is still open: nothing to read yet (a closed
/// one reads as end of file; an open one has no answer pending).
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local, on a socket this stream owns.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            std::ptr::from_mut(&mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}
