//! The request-head timeout: from the first byte of a head, the whole head
//! must arrive within a fixed time, however slowly it trickles in (hyper's
//! own header timer also counts the idle time before the head, so it serves
//! as the idle timeout instead).
//!
//! The connection's socket is wrapped: a byte read while no request is in
//! flight starts a timer, which the next request's start disarms; when it
//! fires first, the read fails and hyper closes the connection. A request
//! is in flight from its start until its response body is dropped (sent or
//! abandoned), so a request body, however long it takes, is never timed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::Response;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// What one connection's requests are doing, shared by its service and socket.
#[derive(Debug, Default)]
pub(super) struct Activity {
    /// Requests started and not yet answered in full.
    in_flight: AtomicUsize,
    /// Requests started so far: a timer armed before the latest start is over.
    started: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Notes that a request's head has arrived; the request is in flight
    /// until the returned guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        self.started.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight (see [`Activity::request_started`]).
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl InFlight {
    /// `resp` with this guard moved into its body, so the request stays in
    /// flight until the body is sent (or dropped).
    pub(super) fn hold_until_sent(self, resp: Response<Body>) -> Response<Body> {
        resp.map(|inner| Body::new(HeldBody { inner, _held: self }))
    }
}

/// A response body carrying an [`InFlight`] guard.
struct HeldBody {
    inner: Body,
    _held: InFlight,
}

impl HttpBody for HeldBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose reads fail once a request head has taken longer than
/// `timeout` since its first byte.
pub(super) struct HeadTimed<S> {
    inner: S,
    activity: Arc<Activity>,
    timeout: Duration,
    /// The running timer and the request count when it was armed.
    timer: Option<(Pin<Box<Sleep>>, u64)>,
}

impl<S> HeadTimed<S> {
    pub(super) fn new(inner: S, activity: Arc<Activity>, timeout: Duration) -> Self {
        Self {
            inner,
            activity,
            timeout,
            timer: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for HeadTimed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let started = this.activity.started.load(Relaxed);
        if this.timer.as_ref().is_some_and(|(_, at)| *at != started) {
            this.timer = None; // the head it timed has ended
        }
        match polled {
            Poll::Ready(Ok(())) => {
                let got = buf.filled().len() > before;
                let idle = this.activity.in_flight.load(Relaxed) == 0;
                // Armed once per head: later bytes do not push it back.
                if got && idle && this.timer.is_none() {
                    let sleep = Box::pin(tokio::time::sleep(this.timeout));
                    this.timer = Some((sleep, started));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // Polled here so the timer wakes the connection when it fires.
                if let Some((sleep, _)) = &mut this.timer {
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("request head not complete within {:?}", this.timeout),
                        )));
                    }
                }
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for HeadTimed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const TIMEOUT: Duration = Duration::from_millis(400);

    fn timed() -> (HeadTimed<DuplexStream>, DuplexStream, Arc<Activity>) {
        let (a, b) = tokio::io::duplex(1024);
        let activity = Activity::new();
        let io = HeadTimed::new(a, activity.clone(), TIMEOUT);
        (io, b, activity)
    }

    #[tokio::test]
    async fn a_slow_head_fails_from_its_first_byte_and_idle_never_does() {
        let (mut io, mut peer, _) = timed();
        let mut buf = [0u8; 16];
        let idle = tokio::time::timeout(TIMEOUT * 2, io.read(&mut buf)).await;
        assert!(idle.is_err(), "an idle read must just wait");
        // A byte every TIMEOUT / 4: the timer does not restart with each one.
        let started = Instant::now();
        let err = loop {
            peer.write_all(b"G").await.unwrap();
            match io.read(&mut buf).await {
                Ok(n) => assert_eq!(n, 1),
                Err(e) => break e,
            }
            match tokio::time::timeout(TIMEOUT / 4, io.read(&mut buf)).await {
                Ok(Err(e)) => break e,
                Ok(Ok(n)) => panic!("read {n} bytes from nothing"),
                Err(_) => {}
            }
            assert!(started.elapsed() < TIMEOUT * 5, "never timed out");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_started_request_disarms_and_its_body_is_not_timed() {
        let (mut io, mut peer, activity) = timed();
        let mut buf = [0u8; 32];
        peer.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(io.read(&mut buf).await.unwrap() > 0);
        let in_flight = activity.request_started();
        // A body trickling in for 3 timeouts while the request is in flight.
        for _ in 0..12 {
            tokio::time::sleep(TIMEOUT / 4).await;
            peer.write_all(b"b").await.unwrap();
            assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        }
        drop(in_flight);
        // The next head is timed afresh.
        let started = Instant::now();
        peer.write_all(b"G").await.unwrap();
        assert_eq!(io.read(&mut buf).await.unwrap(), 1);
        let e = io.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= TIMEOUT, "{:?}", started.elapsed());
    }
}
