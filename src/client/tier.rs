//! Data sources behind the read seam. A read is planned and split into page
//! pieces by [`super::fetch::Reader`]; each piece comes from a [`Tier`]. The
//! worker tier is [`ClientCore`] itself (ring candidates, retries, failover:
//! [`ClientCore::fetch_piece`]); a tier consulted before it (a node-local
//! cache) wraps another tier and answers the same calls.

use futures::future::BoxFuture;
use futures::FutureExt;

use std::sync::Arc;

use super::dest::Dest;
use super::pages::Piece;
pub use super::read::Short;
use super::stats::Stats;
use super::{ClientCore, RangeSupport};
use crate::cache::FileVersion;
use crate::error::Result;

/// One source of file bytes, piece by piece.
pub trait Tier: Send + Sync {
    /// Bytes `[p.file_offset(), + p.len)` of `path` (whose path id is `id`,
    /// docs/protocol.md §4.1, computed once per read) into `dest` (from its
    /// start). Under [`Short::Fault`] exactly `p.len` bytes must come back;
    /// under [`Short::Eof`] the file may end inside the piece, and the file
    /// size must be returned with the bytes. Returns the bytes written and
    /// the file size if learned. The reader checks every answer against
    /// this contract and fails the read on any other length. `version` is
    /// the file version the read is pinned to, from [`Tier::version`].
    fn read_piece<'a>(
        &'a self,
        path: &'a str,
        id: &'a str,
        p: Piece,
        dest: Dest<'a>,
        short: Short,
        version: Option<&'a FileVersion>,
    ) -> BoxFuture<'a, Result<(usize, Option<u64>)>>;

    /// The version of `path` a read pins for all its pieces, for a tier
    /// that keeps file versions (the local cache); `None` for one that
    /// does not. Called once per read by [`super::fetch::Reader`].
    fn version<'a>(&'a self, _path: &'a str) -> BoxFuture<'a, Result<Option<Arc<FileVersion>>>> {
        futures::future::ready(Ok(None)).boxed()
    }

    /// The size of the file at `path` (an error for a directory).
    fn file_size<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// Whether an answer is usually there at once, with no waiting (a local
    /// cache): then a small read is polled in place before any runtime.
    fn answers_in_place(&self) -> bool {
        false
    }

    /// Whether reads of `path` must learn the file size before asking for
    /// bytes past its end (a source that cannot answer such a request).
    fn needs_size_first(&self, _path: &str) -> bool {
        false
    }
}

/// The worker tier.
impl Tier for ClientCore {
    fn read_piece<'a>(
        &'a self,
        path: &'a str,
        id: &'a str,
        p: Piece,
        dest: Dest<'a>,
        short: Short,
        _version: Option<&'a FileVersion>,
    ) -> BoxFuture<'a, Result<(usize, Option<u64>)>> {
        async move {
            let got = self.fetch_piece(path, id, p, dest, short).await?;
            Stats::add(&self.stats.bytes_from_workers, got.0 as u64);
            Ok(got)
        }
        .boxed()
    }

    fn file_size<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<u64>> {
        ClientCore::file_size(self, path).boxed()
    }

    /// Its owner serves pages only, and an OSS worker drops the connection
    /// for a page past the end instead of answering it empty. (No ring yet:
    /// not known to be pages-only.)
    fn needs_size_first(&self, path: &str) -> bool {
        let ring = self.membership.current_ring();
        ring.get_multiple(path, 1)
            .first()
            .is_some_and(|w| self.range_support(w) == Some(RangeSupport::No))
    }
}
