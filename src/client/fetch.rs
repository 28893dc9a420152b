//! Reads over a [`Tier`]: a range becomes page pieces fetched concurrently,
//! each written from its source straight into its own slice of the
//! destination. Each piece must come back with exactly the bytes asked for
//! (or, when the size is not known yet, fewer only at end of file): the
//! tier retries what it can, and whatever it still gets wrong fails the
//! read, never reaches the caller.

use std::mem::MaybeUninit;
use std::sync::Arc;

use futures::StreamExt;

use super::dest::Dest;
use super::pages::{plan, Piece};
use super::tier::{Short, Tier};
use crate::cache::FileVersion;
use crate::error::{Error, Result, TransportKind};
use crate::protocol::path_id::path_id;

/// Reads of one configuration from one tier.
#[derive(Clone)]
pub struct Reader<'t> {
    /// Where the pieces come from.
    pub tier: &'t dyn Tier,
    /// Page size: a piece never crosses a page.
    pub page_size: u64,
    /// Pieces of one read in flight at once.
    pub concurrency: usize,
    /// For a tier with file versions: the version this reader's path is
    /// pinned to, learnt at its first piece (a reader serves one read of
    /// one path, so no read mixes two versions of a file).
    pub pin: Option<Arc<Pin>>,
}

/// The version a reader is pinned to, and the path it is of.
#[derive(Default)]
pub struct Pin(tokio::sync::OnceCell<(String, Option<Arc<FileVersion>>)>);

impl Reader<'_> {
    /// The version of `path` this read uses (see [`Reader::pin`]).
    pub(crate) async fn version(&self, path: &str) -> Result<Option<Arc<FileVersion>>> {
        let Some(pin) = &self.pin else {
            return Ok(None);
        };
        let (pinned, v) = pin
            .0
            .get_or_try_init(|| async {
                Ok::<_, Error>((path.to_owned(), self.tier.version(path).await?))
            })
            .await?;
        if pinned == path {
            Ok(v.clone())
        } else {
            self.tier.version(path).await
        }
    }

    /// The size of `path`: the pinned version's, or the tier's answer.
    pub(crate) async fn file_size(&self, path: &str) -> Result<u64> {
        match self.version(path).await? {
            Some(v) => Ok(v.len),
            None => self.tier.file_size(path).await,
        }
    }

    /// One piece from the tier, its answer checked: exactly `p.len` bytes
    /// under `Short::Fault`, and under `Short::Eof` the file size and
    /// exactly what the file has there by it.
    pub(crate) async fn piece(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: Dest<'_>,
        short: Short,
    ) -> Result<(usize, Option<u64>)> {
        let v = self.version(path).await?;
        let (n, size) = self
            .tier
            .read_piece(path, id, p, dest, short, v.as_deref())
            .await?;
        let expected = match (short, size) {
            (Short::Fault, _) => Some(p.len),
            (Short::Eof, Some(s)) => {
                Some(p.len.min(s.saturating_sub(p.file_offset(self.page_size))))
            }
            (Short::Eof, None) => None,
        };
        if expected != Some(n as u64) {
            let kind = match expected {
                Some(e) if (n as u64) > e => TransportKind::LongBody,
                Some(_) => TransportKind::ShortBody,
                None => TransportKind::BadBody,
            };
            return Err(Error::transport(
                String::new(),
                kind,
                format!(
                    "{path}: page {} came back with {n} bytes, expected {} (file \
                     changed or source fault)",
                    p.index,
                    expected.map_or_else(|| "a file size too".to_owned(), |e| e.to_string())
                ),
            ));
        }
        Ok((n, size))
    }

    async fn piece_into(
        &self,
        path: &str,
        id: &str,
        p: Piece,
        dest: &mut [MaybeUninit<u8>],
        short: Short,
    ) -> Result<(Piece, usize, Option<u64>)> {
        let (n, size) = self.piece(path, id, p, Dest::Slice(dest), short).await?;
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
        for p in plan(start, end, self.page_size) {
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
            .map(|(p, dest)| self.piece_into(path, id, p, dest, short))
            .collect();
        let mut fetched = futures::stream::iter(futs).buffer_unordered(self.concurrency.max(1));
        let mut got = Vec::new();
        while let Some(r) = fetched.next().await {
            got.push(r?);
        }
        Ok(got)
    }

    /// Fills `buf` with bytes `[start, start + buf.len())` of `path`, which
    /// lie within the file. `buf` need not be initialised: on success every
    /// byte of it has been written. (Zeroing a fresh buffer first cost a
    /// fifth of a big read.)
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
    /// and its size; those bytes are written at the start of `buf`. Pieces
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

    /// Bytes `[start, end)` of `path` (within the file) as one buffer.
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
