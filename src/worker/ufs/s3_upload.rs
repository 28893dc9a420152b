//! S3 backend, streamed writes. A body that fits in one part goes as one PUT
//! (as `s3_mut::write`); a larger one as a multipart upload of [`PART`]-byte
//! parts with at most [`IN_FLIGHT`] uploading while the next one fills, so a
//! write of any size holds about four parts in memory. S3 shows the object
//! only when the upload is completed, which happens at the body's end; a
//! body that breaks off, a failed part, or a write whose caller went away
//! aborts the upload, so the object appears whole or not at all.

use futures::StreamExt;
use object_store::{ObjectStoreExt, PutPayloadMut, WriteMultipart};

use super::path::S3Target;
use super::s3::{is_root, key_of, os_err, store};
use super::ByteStream;
use crate::error::{Error, Result};

/// Bytes per part (S3 wants at least 5 MiB for every part but the last).
const PART: usize = 8 << 20;

/// Parts uploading at once; one more fills meanwhile.
const IN_FLIGHT: usize = 3;

/// A multipart upload that is aborted unless completed: dropped midway (the
/// request went away) it aborts in the background.
struct Multipart {
    inner: Option<WriteMultipart>,
    url: String,
}

impl Multipart {
    fn get(&mut self) -> &mut WriteMultipart {
        self.inner
            .as_mut()
            .expect("present until finished or aborted")
    }

    /// Aborts (best effort: S3 drops leftover parts by lifecycle rules too).
    async fn abort(mut self) {
        if let Some(w) = self.inner.take() {
            if let Err(e) = w.abort().await {
                log::warn!("cannot abort the upload of {}: {e}", self.url);
            }
        }
    }

    /// Uploads the last part and completes (object_store aborts on failure).
    async fn finish(mut self) -> Result<()> {
        let w = self
            .inner
            .take()
            .expect("present until finished or aborted");
        w.finish()
            .await
            .map(|_| ())
            .map_err(|e| os_err(&self.url, e))
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        let Some(w) = self.inner.take() else { return };
        let url = std::mem::take(&mut self.url);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = w.abort().await {
                        log::warn!("cannot abort the upload of {url}: {e}");
                    }
                });
            }
            Err(_) => log::warn!("upload of {url} left unfinished (no runtime to abort it)"),
        }
    }
}

/// Creates or replaces the object of `t` with `body`.
pub(super) async fn write(t: &S3Target, mut body: ByteStream<'_>) -> Result<()> {
    if is_root(t) {
        return Err(Error::IsADirectory(t.url.clone()));
    }
    let key = key_of(t)?;
    // Up to one part's worth decides between one PUT and a multipart upload.
    let mut first = PutPayloadMut::new();
    while first.content_length() < PART {
        match body.next().await {
            Some(piece) => first.extend_from_slice(&piece?),
            None => {
                return store(t)
                    .put(&key, first.freeze())
                    .await
                    .map(|_| ())
                    .map_err(|e| os_err(&t.url, e));
            }
        }
    }
    let upload = store(t)
        .put_multipart(&key)
        .await
        .map_err(|e| os_err(&t.url, e))?;
    let mut up = Multipart {
        inner: Some(WriteMultipart::new_with_chunk_size(upload, PART)),
        url: t.url.clone(),
    };
    for b in first.freeze() {
        up.get().put(b);
    }
    while let Some(piece) = body.next().await {
        let piece = match piece {
            Ok(p) => p,
            Err(e) => {
                up.abort().await;
                return Err(e);
            }
        };
        // Back pressure: the body is not read while IN_FLIGHT parts upload.
        if let Err(e) = up.get().wait_for_capacity(IN_FLIGHT).await {
            up.abort().await;
            return Err(os_err(&t.url, e));
        }
        // A copy: hyper's pieces may pin larger read buffers.
        up.get().write(&piece);
    }
    up.finish().await
}
