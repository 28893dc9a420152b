//! The read seam: what a binding calls to read. The core plans each read
//! (Python slice rules, size known or not) and fills buffers the binding
//! supplies; each step says how it wants to be run ([`Run`], for
//! [`crate::client::process::exec::block_on`]). The binding knows neither
//! the plan nor the runtimes.
//!
//! - One result into one buffer (a `bytes` built in place, a caller's
//!   `readinto` buffer): [`ClientCore::slice_read`], then
//!   [`SliceRead::len`] (run as [`SliceRead::sizing`]) and
//!   [`SliceRead::fill`] (run as [`SliceRead::filling`]) into a buffer of
//!   exactly that many bytes.
//! - Many results at once, each lent its buffer when its length is known:
//!   [`ClientCore::read_batch`] (module `batch`).
//!
//! Behind it, pieces come from a [`super::tier::Tier`] (the workers).

use std::mem::MaybeUninit;
use std::sync::Arc;

use super::dest::write_prefix;
use super::fetch::Reader;
use super::pages::resolve;
pub use super::process::exec::Run;
use super::slice::{after_first, FirstPiece, SlicePlan};
use super::ClientCore;
use crate::error::{Error, Result};

/// One read with Python slice rules, planned: its result's length (learnt
/// by [`Self::len`]), then its bytes (written by [`Self::fill`]).
pub struct SliceRead<'a> {
    reader: Reader<'a>,
    path: &'a str,
    state: State,
}

enum State {
    /// The size first, then `start`/`end` resolved against it.
    SizeFirst(i64, Option<i64>),
    /// The first piece from `s`, then the rest up to `e` or the end.
    FirstPiece(u64, Option<u64>),
    /// Exactly `[s, e)`.
    Exact(u64, u64),
    /// `[s, e)`, the file perhaps ending inside it.
    Upto(u64, u64),
    /// `[s, stop)`, of which the first `at` bytes are in `first`.
    Rest {
        s: u64,
        stop: u64,
        first: Vec<u8>,
        at: usize,
    },
}

impl<'a> SliceRead<'a> {
    /// Plans bytes `start..end` (Python slice rules; `None`: to the end) of
    /// `path` over `reader`; `size` is the file size if the caller knows it.
    pub(crate) fn new(
        reader: Reader<'a>,
        path: &'a str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> Self {
        let state = match reader.slice_plan(path, start, end, size) {
            SlicePlan::Exact(s, e) => State::Exact(s, e),
            SlicePlan::SizeFirst => State::SizeFirst(start, end),
            SlicePlan::Upto(s, e) => State::Upto(s, e),
            SlicePlan::FirstPiece(s, e) => State::FirstPiece(s, e),
        };
        Self {
            reader,
            path,
            state,
        }
    }

    /// How [`Self::len`] wants to be run.
    pub fn sizing(&self) -> Run {
        self.in_place(match self.state {
            State::SizeFirst(..) | State::FirstPiece(..) => Run::Caller,
            _ => Run::Inline,
        })
    }

    /// `run`, or [`Run::Inline`] for a step of one or two requests when the
    /// tier usually answers without waiting (a local cache hit needs no
    /// runtime; a miss goes on as [`Run::Caller`]).
    fn in_place(&self, run: Run) -> Run {
        if run == Run::Caller && self.reader.tier.answers_in_place() {
            Run::Inline
        } else {
            run
        }
    }

    /// The result's length, at most (an up-to read may come back shorter):
    /// the buffer [`Self::fill`] wants. Asks for what it needs to know (the
    /// file size, or the first piece, which brings it) if it is not known.
    pub async fn len(&mut self) -> Result<u64> {
        match self.state {
            State::SizeFirst(start, end) => {
                let (s, e) = resolve(start, end, self.reader.file_size(self.path).await?);
                self.state = State::Exact(s, e);
            }
            State::FirstPiece(s, e) => {
                self.state = match self.reader.first_piece_or_size(self.path, s, e).await? {
                    FirstPiece::Piece(first, size) => {
                        let (at, stop) = after_first(s, e, first.len(), size);
                        State::Rest { s, stop, first, at }
                    }
                    // Held up by a load: the whole range at once, as the size is known.
                    FirstPiece::Whole(stop) => State::Exact(s, stop),
                }
            }
            _ => {}
        }
        Ok(match &self.state {
            State::Exact(s, e) | State::Upto(s, e) | State::Rest { s, stop: e, .. } => e - s,
            State::SizeFirst(..) | State::FirstPiece(..) => unreachable!("resolved above"),
        })
    }

    /// How [`Self::fill`] wants to be run (once [`Self::len`] has run).
    pub fn filling(&self) -> Run {
        let page = self.reader.page_size;
        self.in_place(match self.state {
            State::Exact(s, e) | State::Upto(s, e) => Run::for_range(s, e - s, page),
            State::Rest { s, stop, at, .. } => {
                let rest = s + at as u64;
                Run::for_range(rest, stop - rest, page)
            }
            State::SizeFirst(..) | State::FirstPiece(..) => Run::Caller,
        })
    }

    /// Writes the result at the start of `buf`, which has exactly
    /// [`Self::len`] bytes and need not be initialised; returns how many
    /// (all of them, or fewer where an up-to read met the end of the file).
    pub async fn fill(&mut self, buf: &mut [MaybeUninit<u8>]) -> Result<usize> {
        let len = self.len().await?;
        if buf.len() as u64 != len {
            return Err(Error::InvalidArgument(format!(
                "a {}-byte buffer for a {len}-byte read",
                buf.len()
            )));
        }
        let (reader, path) = (&self.reader, self.path);
        match &self.state {
            State::Exact(s, _) => reader
                .read_into_uninit(path, *s, buf)
                .await
                .map(|()| buf.len()),
            State::Upto(s, _) => Ok(reader.read_upto(path, *s, buf).await?.0),
            State::Rest { s, first, at, .. } => {
                let at = *at;
                write_prefix(buf, &first[..at]);
                if at < buf.len() {
                    reader
                        .read_into_uninit(path, s + at as u64, &mut buf[at..])
                        .await?;
                }
                Ok(buf.len())
            }
            State::SizeFirst(..) | State::FirstPiece(..) => unreachable!("resolved by len"),
        }
    }
}

impl ClientCore {
    /// Reads of this core (one read of one path per reader): pieces from
    /// the local cache if it is on, else from the workers.
    pub fn reader(&self) -> Reader<'_> {
        match self.local_cache {
            Some(_) => Reader {
                tier: self.cached(),
                page_size: self.config.page_size,
                concurrency: self.config.io.concurrency,
                pin: Some(Arc::default()),
            },
            None => Reader {
                tier: self,
                page_size: self.config.page_size,
                concurrency: self.config.io.concurrency,
                pin: None,
            },
        }
    }

    /// Plans a read of `start..end` (Python slice rules) of `path`; `size`
    /// is the file size if known. See [`SliceRead`].
    pub fn slice_read<'a>(
        &'a self,
        path: &'a str,
        start: i64,
        end: Option<i64>,
        size: Option<u64>,
    ) -> SliceRead<'a> {
        SliceRead::new(self.reader(), path, start, end, size)
    }
}
