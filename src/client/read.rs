//! Reads: a range becomes page pieces fetched concurrently (bounded by the
//! process-wide limit), each written straight from the socket into its own
//! slice of the caller's buffer. Each piece must come back with exactly the
//! bytes asked for (or, when the size is not known yet, fewer only at end of
//! file); anything else is an error that is retried, never data.

use std::mem::MaybeUninit;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::Mutex;

use super::dest::{as_uninit, Dest};
use super::http::template_encode;
use super::pages::{plan, Piece};
use super::stats::Stats;
use super::{ClientCore, RangeSupport};
use crate::error::{Error, Result, TransportKind};
use crate::protocol::path_id::path_id;
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
pub(super) enum Short {
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

    async fn fetch_counted(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: &mut [MaybeUninit<u8>],
        short: Short,
    ) -> Result<(Piece, usize, Option<u64>)> {
        let (n, size) = self
            .fetch_piece(path, id, p, Dest::Slice(dest), short)
            .await?;
        Stats::add(&self.stats.bytes_from_workers, n as u64);
        Ok((p, n, size))
    }

    /// Fetches every piece of `[start, start + buf.len())` concurrently, each
    /// into its own slice of `buf`; returns the bytes each piece got (written
    /// at the start of its slice).
    async fn fetch_all(
        &self,
        path: &str,
        start: u64,
        buf: &mut [MaybeUninit<u8>],
        short: Short,
    ) -> Result<Vec<(Piece, usize, Option<u64>)>> {
        let end = start + buf.len() as u64;
        let id = path_id(path);
        let id = &id;
        let mut rest = buf;
        let mut jobs = Vec::new();
        for p in plan(start, end, self.config.page_size) {
            #[allow(clippy::cast_possible_truncation)]
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(p.len as usize);
            rest = tail;
            jobs.push((p, head));
        }
        // Futures built eagerly from an `async fn` (not a closure over the
        // stream): closures returning borrowing futures trip rustc's
        // higher-ranked lifetime inference once the whole read must be `Send`.
        let futs: Vec<_> = jobs
            .into_iter()
            .map(|(p, dest)| self.fetch_counted(path, id, p, dest, short))
            .collect();
        let mut fetched = futures::stream::iter(futs).buffer_unordered(self.config.io.concurrency);
        let mut got = Vec::new();
        while let Some(r) = fetched.next().await {
            got.push(r?);
        }
        Ok(got)
    }

    /// Fills `buf` with bytes `[start, start + buf.len())` of `path`.
    /// The caller has clamped the range to the file.
    pub async fn read_into(&self, path: &str, start: u64, buf: &mut [u8]) -> Result<()> {
        self.read_into_uninit(path, start, as_uninit(buf)).await
    }

    /// [`Self::read_into`] for a buffer that need not be initialised: on
    /// success every byte of it has been written. (Zeroing a fresh buffer
    /// first cost a fifth of a big read.)
    pub async fn read_into_uninit(
        &self,
        path: &str,
        start: u64,
        buf: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        self.fetch_all(path, start, buf, Short::Fault).await?;
        Ok(())
    }

    /// Reads `[start, start + buf.len())` of a file whose size is not known:
    /// returns how many bytes the file had there (fewer only at end of file)
    /// and its size; those bytes are written at the start of `buf`. Every
    /// piece is checked against the size its worker announced; pieces
    /// announcing different sizes mean the file changed while it was read:
    /// an error.
    pub async fn read_upto(
        &self,
        path: &str,
        start: u64,
        buf: &mut [MaybeUninit<u8>],
    ) -> Result<(usize, Option<u64>)> {
        let got = self.fetch_all(path, start, buf, Short::Eof).await?;
        let mut size = None;
        let mut total = 0usize;
        for (p, n, s) in got {
            if size.is_some() && s.is_some() && size != s {
                return Err(Error::transport(
                    String::new(),
                    TransportKind::BadBody,
                    format!(
                        "{path}: the file size changed while it was read (page {})",
                        p.index
                    ),
                ));
            }
            size = size.or(s);
            total += n;
        }
        Ok((total, size))
    }

    /// Bytes `[start, end)` of `path` as one buffer (for callers without their own).
    pub async fn read_vec(&self, path: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        #[allow(clippy::cast_possible_truncation)]
        let len = end.saturating_sub(start) as usize;
        let mut buf = Vec::with_capacity(len);
        self.read_into_uninit(path, start, &mut buf.spare_capacity_mut()[..len])
            .await?;
        // SAFETY: the read wrote all `len` bytes.
        unsafe { buf.set_len(len) };
        Ok(buf)
    }
}
