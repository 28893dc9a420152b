//! Streamed whole-file writes (`POST /v1/chunk`, docs/protocol.md §5.11):
//! the caller hands the file over piece by piece and the pieces travel as
//! one chunked request body through a bounded queue, so a file of any size
//! holds at most [`QUEUED`] pieces in this process.
//!
//! The body ends properly only in [`Upload::finish`]. An aborted or dropped
//! [`Upload`] ends it with an error instead (no final chunk), and the worker
//! then keeps nothing: the file is never seen half written.
//!
//! A streamed body cannot be sent twice, so the request moves on to the
//! next ring candidate only when the connection failed before any piece was
//! taken (refused, unreachable); any later failure is the caller's error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio::task::JoinHandle;

use super::ops::chunk_query;
use super::process::{runtime, short_runtime};
use super::{retry, stats, ClientCore};
use crate::error::{Error, Result, TransportKind};
use crate::protocol::worker_info::WorkerInfo;

/// Pieces queued between [`Upload::send`] and the request.
pub const QUEUED: usize = 4;

/// What the request body receives.
enum Msg {
    Data(Bytes),
    /// The body ends properly. A queue that closes without it makes the body
    /// fail, so the worker discards what it got.
    End,
}

/// `host:port` of the worker the request went to last (for messages).
type Target = Arc<parking_lot::Mutex<String>>;

/// The reading end of the queue, kept across connection attempts.
struct Feed {
    rx: Mutex<mpsc::Receiver<Msg>>,
    /// Whether a piece left the queue: the body can no longer be replayed.
    taken: AtomicBool,
    worker: Target,
    /// Told when a worker first asks for the body (it took the connection
    /// and the request's head).
    opened: parking_lot::Mutex<Option<oneshot::Sender<()>>>,
}

impl Feed {
    /// One attempt's request body: the queue's pieces until [`Msg::End`].
    fn body(self: &Arc<Self>) -> reqwest::Body {
        let pieces = futures::stream::unfold(Some(Arc::clone(self)), |feed| async move {
            let feed = feed?;
            if let Some(opened) = feed.opened.lock().take() {
                let _ = opened.send(());
            }
            let msg = feed.rx.lock().await.recv().await;
            match msg {
                Some(Msg::Data(b)) => {
                    feed.taken.store(true, Ordering::Relaxed);
                    Some((Ok(b), Some(feed)))
                }
                Some(Msg::End) => None,
                None => Some((Err(std::io::Error::other("upload abandoned")), None)),
            }
        });
        reqwest::Body::wrap_stream(pieces)
    }
}

/// How the request task ended.
type Joined = std::result::Result<Result<()>, tokio::task::JoinError>;

/// What became of a piece offered to the queue.
enum Step {
    /// Queued (`true`), or the queue has no reader any more (`false`).
    Sent(bool),
    /// The request ended first.
    Ended(Joined),
    /// No room within the request timeout.
    Stalled,
}

/// A file being written piece by piece (see the module docs). Dropping it
/// without [`Upload::finish`] aborts it.
pub struct Upload {
    core: Arc<ClientCore>,
    path: String,
    worker: Target,
    /// `None` once the body is over (ended or abandoned).
    tx: Option<mpsc::Sender<Msg>>,
    /// The request; `None` once its outcome was taken.
    task: Option<JoinHandle<Result<()>>>,
    /// The request's failure, returned by every later call.
    failed: Option<Error>,
    /// The longest wait for room in the queue, or for the answer.
    timeout: Duration,
}

impl ClientCore {
    /// Starts writing the file `path` (created or replaced) on the ring
    /// owner of `path`: `POST /v1/chunk` with a body sent as it is made.
    /// Returns once a worker (the owner, or the next candidate if the owner
    /// refused the connection) asked for the body. The file appears (whole)
    /// only after [`Upload::finish`].
    pub async fn start_upload(self: &Arc<Self>, path: &str) -> Result<Upload> {
        let candidates = self.candidates(path).await?;
        let candidates = self.suspects.order(candidates, Instant::now());
        let (tx, rx) = mpsc::channel(QUEUED);
        let worker = Target::default();
        let (opened, is_open) = oneshot::channel();
        let feed = Arc::new(Feed {
            rx: Mutex::new(rx),
            taken: AtomicBool::new(false),
            worker: Arc::clone(&worker),
            opened: parking_lot::Mutex::new(Some(opened)),
        });
        let request = {
            let (core, path) = (Arc::clone(self), path.to_owned());
            async move { core.stream_to(&path, candidates, &feed).await }
        };
        // The request outlives this call: never on the short-call runtime,
        // which runs only while some thread is inside a call.
        let mut task = if short_runtime::active() {
            runtime::current()?.runtime().spawn(request)
        } else {
            tokio::spawn(request)
        };
        let mut up = Upload {
            core: Arc::clone(self),
            path: path.to_owned(),
            worker,
            tx: None,
            task: None,
            failed: None,
            timeout: self.config.io.timeout,
        };
        // Returns once a worker took the request: failing to reach every
        // candidate is this call's error, while the caller still holds its
        // first piece (and can write it elsewhere, e.g. to the under storage).
        tokio::select! {
            biased;
            asked = is_open => {
                if asked.is_err() {
                    return Err(up.ended_early(task.await));
                }
            }
            joined = &mut task => return Err(up.ended_early(joined)),
        }
        up.tx = Some(tx);
        up.task = Some(task);
        Ok(up)
    }

    /// Sends the body to the first candidate that takes a connection, as
    /// [`retry::Plan`] says for a request that must not be sent twice (the
    /// deadline bounds the connection attempts, not the upload). No
    /// concurrency permit is held: an upload lasts as long as its caller
    /// keeps writing, and reads meanwhile must not wait for it.
    async fn stream_to(
        &self,
        key: &str,
        candidates: Vec<WorkerInfo>,
        feed: &Arc<Feed>,
    ) -> Result<()> {
        let q = chunk_query(key);
        let config = retry::RetryConfig::from_io(&self.config.io);
        let start = Instant::now();
        let mut rng = retry::SplitMix::seeded();
        let mut plan = retry::Plan::new(config, false, candidates, &mut rng);
        while let Some(attempt) = plan.next(start.elapsed()) {
            let worker = attempt.worker;
            if attempt.failover {
                stats::Stats::add(&self.stats.failovers, 1);
                log::info!(
                    "alluxiofs: upload {key}: moving on to {}",
                    worker.http_authority()
                );
            }
            if attempt.retry > 0 {
                tokio::time::sleep(attempt.wait).await;
                stats::Stats::add(&self.stats.retries, 1);
            }
            stats::Stats::add(&self.stats.requests, 1);
            *feed.worker.lock() = worker.http_authority();
            let e = match self.http.post_stream(&worker, &q, feed.body()).await {
                Ok(_) => {
                    self.suspects.clear(&worker);
                    return Ok(());
                }
                Err(e) => e,
            };
            if e.transport_kind().is_some_and(TransportKind::unresponsive) {
                self.suspects.mark(&worker, Instant::now());
            }
            // Pieces the failed attempt took are gone: no second attempt.
            if feed.taken.load(Ordering::Relaxed) {
                self.count_failure(&e);
                return Err(e);
            }
            if let retry::Verdict::Fail(e) = plan.failed(e) {
                self.count_failure(&e);
                return Err(e);
            }
        }
        stats::Stats::add(&self.stats.errors, 1);
        Err(plan.last_error().unwrap_or_else(|| Error::NoWorkers {
            source_desc: self.membership.description().to_owned(),
        }))
    }
}

impl Upload {
    /// Sends the next piece; waits while [`QUEUED`] pieces are still on
    /// their way (bounded memory), at most the request timeout. If the
    /// request already failed, returns that error (and every later call
    /// does too).
    pub async fn send(&mut self, data: Bytes) -> Result<()> {
        self.check().await?;
        // An empty piece carries nothing (and must not look like an end).
        if data.is_empty() {
            return Ok(());
        }
        self.put(Msg::Data(data)).await
    }

    /// Ends the body and waits for the worker's answer (at most the request
    /// timeout): `Ok` means the file is written whole.
    pub async fn finish(mut self) -> Result<()> {
        self.check().await?;
        self.put(Msg::End).await?;
        self.tx = None;
        let Some(mut task) = self.task.take() else {
            return Err(self.outcome().await);
        };
        match tokio::time::timeout(self.timeout, &mut task).await {
            Ok(joined) => joined.map_err(|e| self.task_error(&e))?,
            Err(_) => {
                task.abort();
                let e = self.timed_out("no answer to the end of the upload");
                Err(self.fail(e))
            }
        }
    }

    /// Fails the body so the worker discards everything: nothing of this
    /// upload becomes visible, and an existing file keeps its content.
    pub fn abort(self) {
        drop(self);
    }

    /// The request's failure, if it has ended already.
    async fn check(&mut self) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            return Err(self.outcome().await);
        }
        Ok(())
    }

    /// Queues `msg`, waiting at most the request timeout for room, and no
    /// longer than the request lasts.
    async fn put(&mut self, msg: Msg) -> Result<()> {
        let (Some(tx), Some(task)) = (&self.tx, &mut self.task) else {
            return Err(self.outcome().await);
        };
        let step = tokio::select! {
            sent = tx.send(msg) => Step::Sent(sent.is_ok()),
            joined = task => Step::Ended(joined),
            () = tokio::time::sleep(self.timeout) => Step::Stalled,
        };
        match step {
            Step::Sent(true) => Ok(()),
            // Nobody reads the queue: the request has ended.
            Step::Sent(false) => Err(self.outcome().await),
            Step::Ended(joined) => {
                self.task = None;
                let e = self.ended_early(joined);
                Err(self.fail(e))
            }
            Step::Stalled => {
                let e = self.timed_out("the worker took no data");
                Err(self.fail(e))
            }
        }
    }

    /// How the request ended, once it has (waits for it); the body was not
    /// over, so even a success is an error here.
    async fn outcome(&mut self) -> Error {
        if let Some(e) = &self.failed {
            return e.clone();
        }
        let e = match self.task.take() {
            Some(task) => self.ended_early(task.await),
            None => Error::InvalidArgument(format!("the upload of {} is over", self.path)),
        };
        self.fail(e)
    }

    /// The error of a request that ended before its body did.
    fn ended_early(&self, joined: Joined) -> Error {
        match joined {
            Ok(Err(e)) => e,
            Ok(Ok(())) => Error::transport(
                self.worker.lock().clone(),
                TransportKind::BadBody,
                format!("answered the upload of {} before its end", self.path),
            ),
            Err(e) => self.task_error(&e),
        }
    }

    /// Records the failure; the body is abandoned (the worker discards it).
    fn fail(&mut self, e: Error) -> Error {
        self.tx = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
        self.failed = Some(e.clone());
        e
    }

    fn timed_out(&self, what: &str) -> Error {
        Error::transport(
            self.worker.lock().clone(),
            TransportKind::AnswerTimeout,
            format!("{what} within {:?} ({})", self.timeout, self.path),
        )
    }

    fn task_error(&self, e: &tokio::task::JoinError) -> Error {
        Error::Io {
            context: format!("upload of {}", self.path),
            message: e.to_string(),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Without `Msg::End` the body fails and the worker keeps nothing.
        self.tx = None;
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // The file may have changed (or been written) on the worker.
        self.core.changed(&self.path);
    }
}
