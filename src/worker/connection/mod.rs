//! Serving HTTP/1.1 connections with the worker's limits: the request head's
//! size and time, idle keep-alive connections, and request bodies
//! (docs/protocol.md §8). Any [`axum::Router`] can be served this way, so
//! every listener of the worker shares the same limits.

mod head_timer;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::worker::respond::CloseConnection;
use head_timer::{Activity, HeadTimed};

/// Most bytes of a complete request head (request line and headers); a
/// larger one is answered 431 and the connection closed.
pub const MAX_HEAD_BYTES: usize = 64 << 10;
/// hyper's read buffer per connection, which bounds what a head that never
/// ends can hold (hyper answers 431 when it is full). Twice
/// [`MAX_HEAD_BYTES`], so a complete head just over that limit is parsed
/// and answered 431 rather than cut off mid-send.
pub const READ_BUFFER_BYTES: usize = 2 * MAX_HEAD_BYTES;
/// Time from the first byte of a request head to its end; a client still
/// sending it then is disconnected (a slow-loris client holds a connection
/// this long at most).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that brings no request for this long (after it opened or
/// after its last response) is closed. Longer than the client's 60 s pool
/// idle timeout (`src/client/raw_get`), so a client drops an idle
/// connection before the worker does and never sends on a closing one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most bytes of a request body any extractor reads, for endpoints without
/// a limit of their own: page writes take one page at most
/// (`routes::page_write`), `POST /v1/chunk` streams without a limit, and
/// no other endpoint reads its body.
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// Why a connection must be dropped without a response (OSS-strict mode).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed; closing the connection (OSS error model)")
    }
}

impl std::error::Error for Dropped {}

/// hyper's HTTP/1.1 settings with the limits above.
fn http1() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    // hyper's header timer runs from when it waits for a head (the
    // connection opened, or its last response was sent) to the head's end,
    // so it is the idle timeout; `HeadTimed` times the head itself.
    b.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(IDLE_TIMEOUT)
        .max_buf_size(READ_BUFFER_BYTES)
        .max_header_size(MAX_HEAD_BYTES);
    b
}

/// Serves one connection with `router` until it closes, under the limits
/// above. A response marked [`CloseConnection`] closes the connection
/// without being sent.
pub(crate) async fn serve_connection(stream: TcpStream, router: axum::Router) {
    let activity = Activity::new();
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        // Held until the response body is dropped: until then bytes read are
        // the request's body, not a next head to time.
        let in_flight = requests.request_started();
        async move {
            let resp: Response<Body> = match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            if resp.extensions().get::<CloseConnection>().is_some() {
                // hyper closes the connection without writing a response.
                return Err(Dropped);
            }
            Ok::<_, Dropped>(in_flight.hold_until_sent(resp))
        }
    });
    let _ = stream.set_nodelay(true);
    let io = HeadTimed::new(stream, activity, HEADER_READ_TIMEOUT);
    let conn = http1().serve_connection(TokioIo::new(io), service);
    if let Err(e) = conn.await {
        log::debug!("alluxiofs worker: connection ended: {e}");
    }
}

/// Accepts connections on `listener` and serves each with `router` (see
/// [`serve_connection`]) until `stop` changes.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    // E.g. out of file descriptors: wait for some to close.
                    log::warn!("alluxiofs worker: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}
