//! Local-directory backend, streamed writes: the request body, read on the
//! async side, reaches the blocking writer through a bounded channel, so a
//! write of any size holds only a few pieces in memory. The writer fills the
//! temp file of [`replace_atomically`] and renames it into place only after
//! an explicit end of the body: a body that breaks off, or a write whose
//! caller went away, leaves the target as it was and no temp file.

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::local::resolve_follow;
use super::local_mut::replace_atomically;
use super::path::LocalTarget;
use super::ByteStream;
use crate::error::{Error, Result};

/// Pieces queued between the body and the writer (hyper hands out pieces of
/// at most its read buffer, ~400 KiB).
const QUEUED: usize = 4;

/// The writer's buffer: many small pieces become few large writes.
const WRITE_BUFFER: usize = 1 << 20;

/// What the writer thread receives.
enum Piece {
    Data(Bytes),
    /// The body ended properly: the file may become visible. A channel that
    /// closes without it is a body that broke off.
    End,
}

/// Creates or replaces the file of `t` with `body`, atomically.
pub(super) async fn write(t: LocalTarget, mut body: ByteStream<'_>) -> Result<()> {
    let (tx, rx) = mpsc::channel(QUEUED);
    let url = t.url.clone();
    let writer = tokio::task::spawn_blocking(move || write_from(&t, rx));
    // Should this future be dropped midway, `tx` goes with it and the writer
    // discards the temp file on its own.
    let fed = feed(&mut body, tx).await;
    let written = writer.await.map_err(|e| Error::Io {
        context: format!("write {url}"),
        message: e.to_string(),
    })?;
    // A broken body is the cause; the writer only saw its input stop.
    fed.and(written)
}

/// Passes the body's pieces on, then [`Piece::End`]. Returns the body's
/// error, or `Ok` also when the writer stopped taking pieces (its own result
/// says why).
async fn feed(body: &mut ByteStream<'_>, tx: mpsc::Sender<Piece>) -> Result<()> {
    while let Some(piece) = body.next().await {
        if tx.send(Piece::Data(piece?)).await.is_err() {
            return Ok(());
        }
    }
    let _ = tx.send(Piece::End).await;
    Ok(())
}

/// The blocking side: fills the temp file from `rx` until [`Piece::End`].
fn write_from(t: &LocalTarget, mut rx: mpsc::Receiver<Piece>) -> Result<()> {
    let target = resolve_follow(t)?;
    replace_atomically(&target, &t.url, |f| {
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, f);
        loop {
            match rx.blocking_recv() {
                Some(Piece::Data(b)) => out.write_all(&b)?,
                Some(Piece::End) => return out.flush(),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the request body broke off",
                    ))
                }
            }
        }
    })
}
