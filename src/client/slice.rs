//! Reads with Python slice rules when the file size may not be known yet:
//! how each is planned, the first piece that brings the size, and whole
//! reads into buffers lent for their results.

use super::dest::{Dest, Lend, Lender, Lending, SizeSignal};
use super::fetch::Reader;
use super::pages::{plan, resolve};
use super::tier::Short;
use crate::error::Result;
use crate::protocol::path_id::path_id;

/// Reads up to this many pages are sent before the file size is known.
const SMALL_READ_PAGES: u64 = 4;

/// How a slice is read (see [`Reader::slice_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlicePlan {
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
pub(crate) fn after_first(start: u64, end: Option<u64>, first: usize, size: u64) -> (usize, u64) {
    let stop = end.map_or(size, |e| e.min(size)).max(start);
    let at = first.min(usize::try_from(stop - start).unwrap_or(usize::MAX));
    (at, stop)
}

/// How long a first piece's body may lag its headers before the rest of the
/// read is asked for without it (see [`Reader::first_piece_or_size`]).
/// A cached 1 MiB page arrives well within it; a window loaded from the
/// under storage does not.
const FIRST_PIECE_GRACE: std::time::Duration = std::time::Duration::from_millis(5);

/// The bytes of a read that may have been lent a buffer (see
/// [`Reader::read_slice_lent`]).
#[derive(Debug)]
pub enum Body {
    /// In a buffer of its own.
    Own(Vec<u8>),
    /// The first `n` bytes of the buffer lent to it.
    Lent(usize),
}

/// What [`Reader::first_piece_or_size`] learnt.
#[derive(Debug)]
pub(crate) enum FirstPiece {
    /// The first piece's bytes and the file size.
    Piece(Vec<u8>, u64),
    /// Where the read stops, by the size announced: the first piece was held
    /// up, so `[start, stop)` is read at once, that piece included.
    Whole(u64),
}

impl Reader<'_> {
    /// How to read `start`/`end` (Python slice rules) of `path`, asking for
    /// the size only when it is needed: negative bounds, an empty range, a
    /// source that needs it (a pages-only owner), or (learnt from the first
    /// piece) a read to the end of a file longer than that piece.
    pub(crate) fn slice_plan(
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
        if e.is_some_and(|e| e <= s) || self.tier.needs_size_first(path) {
            SlicePlan::SizeFirst
        } else if let Some(e) = e.filter(|&e| self.small_read(s, e)) {
            SlicePlan::Upto(s, e)
        } else {
            SlicePlan::FirstPiece(s, e)
        }
    }

    /// Whether `[start, end)` is small enough to be asked for whole before the
    /// size is known (a buffer of that size is allocated up front, so an
    /// `end` far past the end of the file must not be).
    fn small_read(&self, start: u64, end: u64) -> bool {
        end.saturating_sub(start) <= SMALL_READ_PAGES * self.page_size
    }

    /// `start`/`end` with Python slice rules, as one buffer.
    pub async fn read_slice(
        &self,
        path: &str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> Result<Vec<u8>> {
        match self.read_slice_lent(path, start, end, size, None).await? {
            Body::Own(buf) => Ok(buf),
            Body::Lent(_) => unreachable!("a read without a lender was lent a buffer"),
        }
    }

    /// [`Self::read_slice`] into a buffer `lender` lends for the result once
    /// its length is known (up front, or from the first piece's headers),
    /// so that the bytes land in the result directly; into a buffer of its
    /// own where none is lent.
    pub async fn read_slice_lent(
        &self,
        path: &str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
        lender: Option<&dyn Lender>,
    ) -> Result<Body> {
        let mut lending = Lending::default();
        match self.slice_plan(path, start, end, size) {
            SlicePlan::Exact(s, e) => self.read_exact(path, s, e, lender, &mut lending).await,
            SlicePlan::SizeFirst => {
                let (s, e) = resolve(start, end, self.file_size(path).await?);
                self.read_exact(path, s, e, lender, &mut lending).await
            }
            SlicePlan::Upto(s, e) => {
                #[allow(clippy::cast_possible_truncation)]
                let len = (e - s) as usize;
                if let Some(l) = lender {
                    if let Some(b) = lending.lent_for(l, len).await {
                        let (n, _) = self.read_upto(path, s, b.buf()).await?;
                        return Ok(Body::Lent(n));
                    }
                }
                let mut buf = Vec::with_capacity(len);
                let (n, _) = self
                    .read_upto(path, s, &mut buf.spare_capacity_mut()[..len])
                    .await?;
                // SAFETY: the read wrote the first `n` bytes.
                unsafe { buf.set_len(n) };
                Ok(Body::Own(buf))
            }
            SlicePlan::FirstPiece(s, e) => {
                let lend = lender.map(|lender| Lend {
                    lender,
                    lending: &mut lending,
                    start: s,
                    end: e,
                });
                let (mut buf, size) = match self.first_piece_with(path, s, e, lend).await? {
                    FirstPiece::Piece(buf, size) => (buf, size),
                    FirstPiece::Whole(stop) => {
                        return self.read_exact(path, s, stop, lender, &mut lending).await
                    }
                };
                if let Some(n) = lending.in_use_len() {
                    // Lent only for a piece that is the whole read.
                    return Ok(Body::Lent(n));
                }
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
                Ok(Body::Own(buf))
            }
        }
    }

    /// Exactly `[s, e)`, into a lent buffer if `lender` lends one.
    async fn read_exact(
        &self,
        path: &str,
        s: u64,
        e: u64,
        lender: Option<&dyn Lender>,
        lending: &mut Lending,
    ) -> Result<Body> {
        #[allow(clippy::cast_possible_truncation)]
        let len = e.saturating_sub(s) as usize;
        if let Some(l) = lender {
            if let Some(b) = lending.lent_for(l, len).await {
                self.read_into_uninit(path, s, b.buf()).await?;
                return Ok(Body::Lent(len));
            }
        }
        self.read_vec(path, s, e).await.map(Body::Own)
    }

    /// The bytes from `start` to the end of its page (fewer at end of file),
    /// and the file size; the size a source announces is also handed to
    /// `signal` as its headers arrive. The buffer grows as bytes arrive: a
    /// small file costs its size, not a page.
    async fn read_first_piece(
        &self,
        path: &str,
        start: u64,
        signal: &SizeSignal,
        lend: Option<Lend<'_>>,
    ) -> Result<(Vec<u8>, u64)> {
        let page = self.page_size;
        let p = plan(start, start + (page - start % page), page)[0];
        #[allow(clippy::cast_possible_truncation)]
        let max = p.len as usize;
        let mut buf = Vec::new();
        let id = path_id(path);
        let (n, size) = self
            .piece(
                path,
                &id,
                p,
                Dest::Vec(&mut buf, max, signal, lend),
                Short::Eof,
            )
            .await?;
        // A piece read under `Short::Eof` always learns the size.
        let size = size.unwrap_or(start + n as u64);
        Ok((buf, size))
    }

    /// The first piece of a read from `start` up to `end` (or the end of the
    /// file) whose size is not known, as [`Self::read_first_piece`]; or, if
    /// the read goes on past that piece and the piece's body is held up
    /// after its headers announced the size (its worker is loading the
    /// window from the under storage), where the read stops: the caller then
    /// reads the whole range at once, the first piece again included,
    /// instead of waiting for it before asking for the rest. A cold read
    /// spent the load of the first window (40-100 ms for 16 MiB from moto)
    /// before the rest was even asked for.
    pub(crate) async fn first_piece_or_size(
        &self,
        path: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<FirstPiece> {
        self.first_piece_with(path, start, end, None).await
    }

    /// [`Self::first_piece_or_size`], the piece going into a lent buffer if
    /// `lend` lends one and it is the whole read (then its vector is empty).
    async fn first_piece_with(
        &self,
        path: &str,
        start: u64,
        end: Option<u64>,
        lend: Option<Lend<'_>>,
    ) -> Result<FirstPiece> {
        let signal = SizeSignal::default();
        let piece = self.read_first_piece(path, start, &signal, lend);
        tokio::pin!(piece);
        let got = |r: Result<(Vec<u8>, u64)>| r.map(|(buf, size)| FirstPiece::Piece(buf, size));
        let announced = tokio::select! {
            biased;
            r = &mut piece => return got(r),
            size = signal.announced() => size,
        };
        // None: that answer failed already, and the piece is being retried.
        let Some(size) = announced else {
            return got(piece.await);
        };
        let page = self.page_size;
        let piece_end = (start - start % page).saturating_add(page).min(size);
        let stop = end.map_or(size, |e| e.min(size));
        if stop <= piece_end {
            return got(piece.await);
        }
        // A cached page's body follows its headers at once: worth the wait.
        if let Ok(r) = tokio::time::timeout(FIRST_PIECE_GRACE, &mut piece).await {
            return got(r);
        }
        // Only while the answer that announced the size is still arriving:
        // after a failure its size is not trusted, and the piece is retried
        // as any other.
        if signal.get() == Some(size) {
            Ok(FirstPiece::Whole(stop))
        } else {
            got(piece.await)
        }
    }
}
