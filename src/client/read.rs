//! Reads: a range becomes page pieces fetched concurrently (bounded by the
//! process-wide limit), each written straight from the socket into its own
//! slice of the caller's buffer. Each piece must come back with exactly the
//! bytes asked for (or, when the size is not known yet, fewer only at end of
//! file); anything else is an error that is retried, never data.

use std::mem::MaybeUninit;

use futures::StreamExt;
use tokio::sync::Mutex;

use super::http::{as_uninit, template_encode, Dest};
use super::pages::{plan, resolve, Piece};
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

/// Reads up to this many pages are sent before the file size is known.
const SMALL_READ_PAGES: u64 = 4;

/// How a slice is read (see [`ClientCore::slice_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlicePlan {
    /// The size is known: exactly `[s, e)`.
    Exact(u64, u64),
    /// Ask for the size, then read the resolved range exactly.
    SizeFirst,
    /// Small enough to ask for `[s, e)` at once; the file may end inside it.
    Upto(u64, u64),
    /// The first piece from `s` (it brings the size), then the rest up to
    /// `e` (or the end of the file).
    FirstPiece(u64, Option<u64>),
}

/// After a first piece of `first` bytes at `start` of a file of `size`
/// bytes, read up to `end`: how many of its bytes to keep and where the read
/// stops (`stop - start` is the result's length).
pub fn after_first(start: u64, end: Option<u64>, first: usize, size: u64) -> (usize, u64) {
    let stop = end.map_or(size, |e| e.min(size)).max(start);
    let at = first.min(usize::try_from(stop - start).unwrap_or(usize::MAX));
    (at, stop)
}

/// What a short piece means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Short {
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
    async fn get_piece(
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
                // Our worker says "no endpoint" outright; an OSS worker only
                // drops the connection, which needs a second sighting.
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
    /// and the file size when learned.
    async fn fetch_piece(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: Dest<'_>,
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        let dest = Mutex::new(dest);
        let dest = &dest;
        let page = self.config.page_size;
        self.with_failover(path, true, |w| async move {
            let mut d = dest.lock().await;
            let (n, announced) = self.get_piece(&w, path, id, &p, &mut d).await?;
            let size = match (short, announced) {
                (Short::Fault, _) => None,
                (Short::Eof, Some(s)) => Some(s),
                // A Java worker announces nothing: ask.
                (Short::Eof, None) => Some(self.file_size(path).await?),
            };
            let expected = size.map_or(p.len, |s| p.len.min(s.saturating_sub(p.file_offset(page))));
            if n as u64 != expected {
                return Err(Error::Worker {
                    worker: w.http_authority(),
                    status: None,
                    message: format!(
                        "{path}: page {} returned {n} bytes, expected {expected} (file \
                         changed or worker fault)",
                        p.index
                    ),
                });
            }
            Ok((n, size))
        })
        .await
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
                return Err(Error::Worker {
                    worker: String::new(),
                    status: None,
                    message: format!(
                        "{path}: the file size changed while it was read (page {})",
                        p.index
                    ),
                });
            }
            size = size.or(s);
            total += n;
        }
        Ok((total, size))
    }

    /// Whether reads of `path` must learn the file size first: its owner
    /// serves pages only, and an OSS worker drops the connection for a page
    /// past the end instead of answering it empty. (No ring yet: not known
    /// to be pages-only.)
    pub fn needs_size_first(&self, path: &str) -> bool {
        let ring = self.membership.current_ring();
        ring.get_multiple(path, 1)
            .first()
            .is_some_and(|w| self.range_support(w) == Some(RangeSupport::No))
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

    /// How to read `start`/`end` (Python slice rules) of `path`, asking for
    /// the size only when it is needed: negative bounds, an empty range, a
    /// pages-only owner, or (learnt from the first piece) a read to the end of
    /// a file longer than that piece.
    pub fn slice_plan(
        &self,
        path: &str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> SlicePlan {
        if let Some(size) = size {
            let (s, e) = resolve(start, end, size);
            return SlicePlan::Exact(s, e);
        }
        let (Ok(s), Ok(e)) = (u64::try_from(start), end.map(u64::try_from).transpose()) else {
            return SlicePlan::SizeFirst;
        };
        if e.is_some_and(|e| e <= s) || self.needs_size_first(path) {
            SlicePlan::SizeFirst
        } else if let Some(e) = e.filter(|&e| self.small_read(s, e)) {
            SlicePlan::Upto(s, e)
        } else {
            SlicePlan::FirstPiece(s, e)
        }
    }

    /// `start`/`end` with Python slice rules, as one buffer (see [`Self::slice_plan`]).
    pub async fn read_slice(
        &self,
        path: &str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> Result<Vec<u8>> {
        match self.slice_plan(path, start, end, size) {
            SlicePlan::Exact(s, e) => self.read_vec(path, s, e).await,
            SlicePlan::SizeFirst => {
                let (s, e) = resolve(start, end, self.file_size(path).await?);
                self.read_vec(path, s, e).await
            }
            SlicePlan::Upto(s, e) => {
                #[allow(clippy::cast_possible_truncation)]
                let len = (e - s) as usize;
                let mut buf = Vec::with_capacity(len);
                let (n, _) = self
                    .read_upto(path, s, &mut buf.spare_capacity_mut()[..len])
                    .await?;
                // SAFETY: the read wrote the first `n` bytes.
                unsafe { buf.set_len(n) };
                Ok(buf)
            }
            SlicePlan::FirstPiece(s, e) => {
                let (mut buf, size) = self.read_first_piece(path, s).await?;
                let (at, stop) = after_first(s, e, buf.len(), size);
                buf.truncate(at);
                #[allow(clippy::cast_possible_truncation)]
                let len = (stop - s) as usize;
                buf.reserve_exact(len - at);
                self.read_into_uninit(
                    path,
                    s + at as u64,
                    &mut buf.spare_capacity_mut()[..len - at],
                )
                .await?;
                // SAFETY: the first piece wrote `at` bytes, the read the rest.
                unsafe { buf.set_len(len) };
                Ok(buf)
            }
        }
    }

    /// Whether `[start, end)` is small enough to be asked for whole before the
    /// size is known (a buffer of that size is allocated up front, so an
    /// `end` far past the end of the file must not be).
    pub fn small_read(&self, start: u64, end: u64) -> bool {
        end.saturating_sub(start) <= SMALL_READ_PAGES * self.config.page_size
    }

    /// The bytes from `start` to the end of its page (fewer at end of file),
    /// and the file size. The buffer grows as bytes arrive: a small file
    /// costs its size, not a page.
    pub async fn read_first_piece(&self, path: &str, start: u64) -> Result<(Vec<u8>, u64)> {
        let page = self.config.page_size;
        let p = plan(start, start + (page - start % page), page)[0];
        #[allow(clippy::cast_possible_truncation)]
        let max = p.len as usize;
        let mut buf = Vec::new();
        let id = path_id(path);
        let (n, size) = self
            .fetch_piece(path, &id, p, Dest::Vec(&mut buf, max), Short::Eof)
            .await?;
        Stats::add(&self.stats.bytes_from_workers, n as u64);
        // A piece read under `Short::Eof` always learns the size.
        let size = size.unwrap_or(start + n as u64);
        Ok((buf, size))
    }
}
