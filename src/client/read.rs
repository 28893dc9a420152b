//! The worker tier's pieces: one page piece from the ring candidates of its
//! file, written straight from the socket into its destination. Each piece
//! must come back with exactly the bytes asked for (or, when the size is not
//! known yet, fewer only at end of file); anything else is an error that is
//! retried, never data. (Planning reads and splitting them into pieces:
//! `fetch` and `slice`.)

use std::time::Instant;

use tokio::sync::Mutex;

use super::dest::Dest;
use super::http::template_encode;
use super::pages::Piece;
use super::{ClientCore, RangeSupport};
use crate::error::{Error, Result, TransportKind};
use crate::protocol::worker_info::WorkerInfo;

/// Whether a failed range request may mean the endpoint does not exist
/// there: an OSS worker closes the connection without answering, ours
/// answers 404. A 404 may also mean the file does not exist: the page
/// request that follows tells them apart (see [`ClientCore::get_piece`]).
fn endpoint_missing(e: &Error) -> bool {
    matches!(e, Error::NotFound(_)) || e.transport_kind() == Some(TransportKind::ClosedBeforeAnswer)
}

/// What a short piece means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Short {
    /// The range lies within the file: a short piece is a fault.
    Fault,
    /// The file may end inside the range: a short piece is end of file.
    Eof,
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

    fn range_query(&self, path: &str, id: &str, p: &Piece) -> String {
        format!(
            "/v1/range/{id}?ufsFullPath={}&offset={}&length={}",
            template_encode(path),
            p.file_offset(self.config.page_size),
            p.len
        )
    }

    fn page_query(path: &str, id: &str, p: &Piece) -> String {
        format!(
            "/v1/file/{id}/page/{}?offset={}&length={}&ufsFullPath={}",
            p.index,
            p.offset,
            p.len,
            template_encode(path)
        )
    }

    /// One piece from one worker into `dest` (`p.len` bytes): `/v1/range`
    /// where the worker has it, pages otherwise. Returns the bytes written and
    /// the file size the worker announced, if it did.
    pub(super) async fn get_piece(
        &self,
        w: &WorkerInfo,
        path: &str,
        id: &str,
        p: &Piece,
        dest: &mut Dest<'_>,
    ) -> Result<(usize, Option<u64>)> {
        let known = self.range_support(w);
        if known == Some(RangeSupport::No) {
            return self
                .http
                .get_into(w, &Self::page_query(path, id, p), dest)
                .await;
        }
        match self
            .http
            .get_into(w, &self.range_query(path, id, p), dest)
            .await
        {
            Ok(got) => {
                if known != Some(RangeSupport::Yes) {
                    self.set_range_support(w, RangeSupport::Yes);
                }
                Ok(got)
            }
            Err(e) if known != Some(RangeSupport::Yes) && endpoint_missing(&e) => {
                let got = self
                    .http
                    .get_into(w, &Self::page_query(path, id, p), dest)
                    .await?;
                // A 404 for the range where the page exists settles it; an
                // OSS worker only drops the connection, which needs a second
                // sighting (one could be a passing fault).
                let definite = matches!(e, Error::NotFound(_));
                if self.range_probe_failed(w, definite) {
                    log::info!(
                        "alluxiofs: worker {} has no /v1/range; reading pages",
                        w.http_authority()
                    );
                }
                Ok(got)
            }
            Err(e) => Err(e),
        }
    }

    /// One piece with retries and failover. Under `Short::Fault` exactly
    /// `p.len` bytes must come back; under `Short::Eof` exactly what the file
    /// has there, by the size the worker announced or, if it announced none,
    /// by `/v1/info`. Any other length is a fault (retried). Returns the bytes
    /// and the file size when learned. With `hedged_reads`, a piece into a
    /// slice is hedged (see [`super::hedge`]).
    pub(super) async fn fetch_piece(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: Dest<'_>,
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        match dest {
            Dest::Slice(s) if self.config.io.hedged_reads => {
                self.fetch_hedged(path, id, p, s, short).await
            }
            dest => self.fetch_plain(path, id, p, dest, short).await,
        }
    }

    /// [`Self::fetch_piece`] without hedging.
    pub(super) async fn fetch_plain(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: Dest<'_>,
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        let dest = Mutex::new(dest);
        let dest = &dest;
        let hedged = self.config.io.hedged_reads;
        self.with_failover(path, true, |w| async move {
            let mut d = dest.lock().await;
            let start = Instant::now();
            let got = self.get_piece(&w, path, id, &p, &mut d).await;
            let checked = self.check_piece(path, &w, p, short, got).await;
            match &checked {
                // The latencies hedging compares against.
                Ok(_) if hedged => self.hedger.record(&w.http_authority(), start.elapsed()),
                Ok(_) => {}
                Err(_) => {
                    if let Dest::Vec(_, _, signal, _) = &*d {
                        signal.withdraw();
                    }
                }
            }
            checked
        })
        .await
    }

    /// The bytes and size of one attempt at a piece, checked (see [`Self::fetch_piece`]).
    pub(super) async fn check_piece(
        &self,
        path: &str,
        w: &WorkerInfo,
        p: Piece,
        short: Short,
        got: Result<(usize, Option<u64>)>,
    ) -> Result<(usize, Option<u64>)> {
        let page = self.config.page_size;
        let (n, announced) = got?;
        let size = match (short, announced) {
            (Short::Fault, _) => None,
            (Short::Eof, Some(s)) => Some(s),
            // A Java worker announces nothing: ask.
            (Short::Eof, None) => Some(self.file_size(path).await?),
        };
        let expected = size.map_or(p.len, |s| p.len.min(s.saturating_sub(p.file_offset(page))));
        if n as u64 != expected {
            let kind = if (n as u64) < expected {
                TransportKind::ShortBody
            } else {
                TransportKind::LongBody
            };
            return Err(Error::transport(
                w.http_authority(),
                kind,
                format!(
                    "{path}: page {} returned {n} bytes, expected {expected} (file \
                     changed or worker fault)",
                    p.index
                ),
            ));
        }
        Ok((n, size))
    }
}
