//! Reads: a range becomes page pieces fetched concurrently (bounded by the
//! process-wide limit) and written straight into the caller's buffer. Each
//! piece must come back with exactly the bytes asked for; anything else is
//! an error that is retried, never data.

use bytes::Bytes;
use futures::StreamExt;

use super::http::template_encode;
use super::pages::{plan, Piece};
use super::stats::Stats;
use super::{ClientCore, RangeSupport};
use crate::error::{Error, Result};
use crate::path_id::path_id;
use crate::worker_info::WorkerInfo;

/// Whether a failed range request means the endpoint does not exist there
/// (an OSS worker closes the connection; ours answers 404 "no endpoint").
fn endpoint_missing(e: &Error) -> bool {
    match e {
        Error::NotFound(m) => m.contains("no endpoint"),
        Error::Transport { message, .. } => {
            message.contains("connection closed before message completed")
                || message.contains("IncompleteMessage")
        }
        _ => false,
    }
}

impl ClientCore {
    /// Size of the file at `path`; an error if it is a directory.
    pub async fn file_size(&self, path: &str) -> Result<u64> {
        let st = self.info(path).await?;
        if st.is_dir() {
            return Err(Error::IsADirectory(path.to_owned()));
        }
        Ok(st.length)
    }

    async fn get_range(&self, w: &WorkerInfo, path: &str, id: &str, p: &Piece) -> Result<Bytes> {
        let q = format!(
            "/v1/range/{id}?ufsFullPath={}&offset={}&length={}",
            template_encode(path),
            p.file_offset(self.config.page_size),
            p.len
        );
        self.http.send(w, reqwest::Method::GET, &q, None).await
    }

    async fn get_page(&self, w: &WorkerInfo, path: &str, id: &str, p: &Piece) -> Result<Bytes> {
        let q = format!(
            "/v1/file/{id}/page/{}?offset={}&length={}&ufsFullPath={}",
            p.index,
            p.offset,
            p.len,
            template_encode(path)
        );
        self.http.send(w, reqwest::Method::GET, &q, None).await
    }

    /// One piece from one worker: `/v1/range` where the worker has it, pages otherwise.
    async fn get_piece(&self, w: WorkerInfo, path: &str, id: &str, p: Piece) -> Result<Bytes> {
        let data = match self.range_support(&w) {
            Some(RangeSupport::No) => self.get_page(&w, path, id, &p).await?,
            known => match self.get_range(&w, path, id, &p).await {
                Ok(b) => {
                    if known != Some(RangeSupport::Yes) {
                        self.set_range_support(&w, RangeSupport::Yes);
                    }
                    b
                }
                Err(e) if known != Some(RangeSupport::Yes) && endpoint_missing(&e) => {
                    let b = self.get_page(&w, path, id, &p).await?;
                    // Our worker says "no endpoint" outright; an OSS worker only
                    // drops the connection, which needs a second sighting.
                    let definite = matches!(e, Error::NotFound(_));
                    if self.range_probe_failed(&w, definite) {
                        log::info!(
                            "alluxiofs: worker {} has no /v1/range; reading pages",
                            w.http_authority()
                        );
                    }
                    b
                }
                Err(e) => return Err(e),
            },
        };
        if data.len() as u64 != p.len {
            return Err(Error::Worker {
                worker: w.http_authority(),
                status: None,
                message: format!(
                    "{path}: page {} returned {} bytes, expected {} (file changed or worker fault)",
                    p.index,
                    data.len(),
                    p.len
                ),
            });
        }
        Ok(data)
    }

    /// Fills `buf` with bytes `[start, start + buf.len())` of `path`.
    /// The caller has clamped the range to the file.
    pub async fn read_into(&self, path: &str, start: u64, buf: &mut [u8]) -> Result<()> {
        let end = start + buf.len() as u64;
        let id = path_id(path);
        let pieces = plan(start, end, self.config.page_size);
        let id = &id;
        let mut fetched = futures::stream::iter(pieces)
            .map(|p| async move {
                let data = self
                    .with_failover(path, true, |w| self.get_piece(w, path, id, p))
                    .await?;
                Ok::<_, Error>((p, data))
            })
            .buffer_unordered(self.config.io.concurrency);
        while let Some(r) = fetched.next().await {
            let (p, data) = r?;
            #[allow(clippy::cast_possible_truncation)]
            let at = p.dest as usize;
            buf[at..at + data.len()].copy_from_slice(&data);
            Stats::add(&self.stats.bytes_from_workers, data.len() as u64);
        }
        Ok(())
    }

    /// Bytes `[start, end)` of `path` as one buffer (for callers without their own).
    pub async fn read_vec(&self, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        #[allow(clippy::cast_possible_truncation)]
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        self.read_into(path, start, &mut buf).await?;
        Ok(buf)
    }
}
