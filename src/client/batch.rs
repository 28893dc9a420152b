//! Many reads at once (`cat`, `cat_ranges`), each result lent its buffer by
//! the caller where it can.
//!
//! The reads run on the shared runtime's threads. A read whose length is
//! known (up front, or from its first answer's headers) asks the caller for
//! its result buffer through a [`Event::Lend`]; the caller (the Python
//! thread, making a fresh `bytes`) lends it and the read writes the body
//! into it from the socket. Copying each body from a buffer of the read's
//! own into the result was a tenth of `cat`'s CPU over many 100 KiB files,
//! with both cores busy. A read not lent one (small, short, chunked, a size
//! not announced) fills its own buffer. Either way the caller does its
//! share while the reads go on.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::dest::{Lender, Lent};
pub use super::process::exec::Run;
use super::slice::Body;
use super::ClientCore;
use crate::error::{Error, Result};

/// Results from this size on are lent: below it, copying costs less than
/// asking the caller for the buffer.
const LEND_FROM: usize = 32 << 10;

/// Whether results are lent at all (`ALLUXIOFS_LEND=0` turns it off, for
/// A/B measurements; read once).
fn lending() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("ALLUXIOFS_LEND").map_or(true, |v| v.trim() != "0"))
}

/// One read of a batch: `start..end` of `path` with Python slice rules,
/// and the file size if known.
pub type Request = (String, i64, Option<i64>, Option<u64>);

/// What the reads of a batch tell the caller.
pub enum Event {
    /// Read `index` asks for a result buffer of exactly `len` bytes.
    Lend {
        index: usize,
        len: usize,
        reply: LendReply,
    },
    /// Read `index` is done: its bytes, in a buffer of its own or in the
    /// last one lent to it, or its error.
    Done { index: usize, result: Result<Body> },
}

/// The answer to an [`Event::Lend`].
pub struct LendReply(oneshot::Sender<Option<Lent>>);

impl LendReply {
    /// Lends `buf`; false if the read no longer wants it (it was not lent).
    /// A read asks again only once done with the last buffer lent to it, so
    /// a new loan replaces the last one.
    pub fn lend(self, buf: Lent) -> bool {
        self.0.send(Some(buf)).is_ok()
    }
}

/// Lends read `index` its result buffer through the caller.
struct ToCaller {
    index: usize,
    tx: mpsc::Sender<Event>,
}

impl Lender for ToCaller {
    fn lend(&self, len: usize) -> BoxFuture<'_, Option<Lent>> {
        Box::pin(async move {
            if len < LEND_FROM || !lending() {
                return None;
            }
            let (reply, lent) = oneshot::channel();
            let ask = Event::Lend {
                index: self.index,
                len,
                reply: LendReply(reply),
            };
            self.tx.send(ask).await.ok()?;
            lent.await.ok().flatten()
        })
    }
}

/// Reads in flight (see [`ClientCore::read_batch`]). Dropping it stops them
/// and waits until they have: they may be writing into lent buffers, which
/// must outlive it.
pub struct Batch {
    rx: mpsc::Receiver<Event>,
    job: Option<tokio::task::JoinHandle<()>>,
}

impl Batch {
    /// How [`Self::next`] wants to be run.
    pub const RUN: Run = Run::Shared;

    /// Waits for an event, then takes all those ready: never empty.
    pub async fn next(&mut self) -> Result<Vec<Event>> {
        let first = self.rx.recv().await.ok_or_else(|| Error::Io {
            context: "read_many".into(),
            message: "the read task ended early".into(),
        })?;
        let mut batch = vec![first];
        while let Ok(m) = self.rx.try_recv() {
            batch.push(m);
        }
        Ok(batch)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            job.abort();
            // Cancelled at its next await (a read is never blocked inside a
            // poll); a panic in it is over too.
            let _ = futures::executor::block_on(job);
        }
    }
}

impl ClientCore {
    /// Starts the reads `reqs`, as many at once as the concurrency allows,
    /// on the shared runtime: each ends in one [`Event::Done`] with its
    /// index, after any number of [`Event::Lend`]s. Buffers lent must stay
    /// alive and untouched until the read's `Done`, or until the [`Batch`]
    /// is dropped.
    pub fn read_batch(self: &Arc<Self>, reqs: Vec<Request>) -> Result<Batch> {
        let concurrency = self.config.io.concurrency.max(1);
        let (tx, rx) = mpsc::channel::<Event>(2 * concurrency);
        let core = Arc::clone(self);
        let rt = super::process::runtime::current()?;
        let job = rt.runtime().spawn(async move {
            let core = &core;
            let mut done = futures::stream::iter(reqs.into_iter().enumerate())
                .map(|(index, (path, start, end, size))| {
                    let lender = ToCaller {
                        index,
                        tx: tx.clone(),
                    };
                    async move {
                        let result = core
                            .reader()
                            .read_slice_lent(&path, start, end, size, Some(&lender))
                            .await;
                        Event::Done { index, result }
                    }
                })
                .buffer_unordered(concurrency);
            while let Some(done) = done.next().await {
                if tx.send(done).await.is_err() {
                    return; // the caller stopped early (Ctrl-C)
                }
            }
        });
        Ok(Batch { rx, job: Some(job) })
    }
}
