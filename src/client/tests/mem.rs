//! Test doubles: an in-memory [`Tier`] that can misbehave on purpose, and a
//! [`Lender`] of heap buffers.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;

use crate::client::dest::{Dest, Lender, Lent};
use crate::client::fetch::Reader;
use crate::client::pages::Piece;
use crate::client::tier::{Short, Tier};
use crate::error::{Error, Result};

/// How [`MemTier`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Correctly.
    None,
    /// One byte fewer than the file has there.
    Short,
    /// Claims one byte more than asked for.
    Long,
    /// Announces a different file size for every page.
    SizeDrifts,
    /// Announces no file size.
    NoSize,
    /// A first piece (into a growing vector) announces the size, then its
    /// body never comes.
    HoldFirstPiece,
}

/// Files in memory, served piece by piece.
pub struct MemTier {
    pub page_size: u64,
    files: HashMap<String, Vec<u8>>,
    pub fault: Fault,
    /// Reads must ask for the size first (a pages-only source).
    pub size_first: bool,
    /// Every piece asked for, with whether it went into a growing vector.
    pub asked: Mutex<Vec<(Piece, bool)>>,
    /// `file_size` calls.
    pub sized: Mutex<usize>,
}

impl MemTier {
    pub fn new(page_size: u64) -> Self {
        Self {
            page_size,
            files: HashMap::new(),
            fault: Fault::None,
            size_first: false,
            asked: Mutex::new(Vec::new()),
            sized: Mutex::new(0),
        }
    }

    pub fn with(mut self, path: &str, data: Vec<u8>) -> Self {
        self.files.insert(path.to_owned(), data);
        self
    }

    pub fn reader(&self) -> Reader<'_> {
        Reader {
            tier: self,
            page_size: self.page_size,
            concurrency: 3,
            pin: None,
        }
    }

    fn file(&self, path: &str) -> Result<&[u8]> {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::NotFound(path.to_owned()))
    }

    async fn answer(
        &self,
        path: &str,
        p: Piece,
        mut dest: Dest<'_>,
    ) -> Result<(usize, Option<u64>)> {
        let data = self.file(path)?;
        let into_vec = matches!(dest, Dest::Vec(..));
        self.asked.lock().push((p, into_vec));
        let size = data.len() as u64;
        let off = p.file_offset(self.page_size);
        #[allow(clippy::cast_possible_truncation)]
        let there = &data[(off.min(size)) as usize..(off + p.len).min(size) as usize];
        let announced = match self.fault {
            Fault::NoSize => None,
            Fault::SizeDrifts => Some(size + p.index),
            _ => Some(size),
        };
        dest.announce(announced);
        if self.fault == Fault::HoldFirstPiece && into_vec {
            futures::future::pending::<()>().await;
        }
        let body = match self.fault {
            Fault::Short => &there[..there.len().saturating_sub(1)],
            _ => there,
        };
        dest.expect(body.len()).await;
        dest.put(0, body);
        let claimed = body.len() + usize::from(self.fault == Fault::Long);
        Ok((claimed, announced))
    }
}

impl Tier for MemTier {
    fn read_piece<'a>(
        &'a self,
        path: &'a str,
        _id: &'a str,
        p: Piece,
        dest: Dest<'a>,
        _short: Short,
        _version: Option<&'a crate::cache::FileVersion>,
    ) -> BoxFuture<'a, Result<(usize, Option<u64>)>> {
        self.answer(path, p, dest).boxed()
    }

    fn file_size<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<u64>> {
        async move {
            *self.sized.lock() += 1;
            Ok(self.file(path)?.len() as u64)
        }
        .boxed()
    }

    fn needs_size_first(&self, _path: &str) -> bool {
        self.size_first
    }
}

/// Lends heap buffers (or none), keeping them until dropped.
#[derive(Default)]
pub struct Lends {
    pub refuse: bool,
    pub bufs: Mutex<Vec<Box<[MaybeUninit<u8>]>>>,
    /// Lengths asked for, in order.
    pub asked: Mutex<Vec<usize>>,
}

impl Lender for Lends {
    fn lend(&self, len: usize) -> BoxFuture<'_, Option<Lent>> {
        Box::pin(async move {
            self.asked.lock().push(len);
            if self.refuse {
                return None;
            }
            let mut b = vec![MaybeUninit::uninit(); len].into_boxed_slice();
            // SAFETY: the heap buffer stays where it is, kept in `bufs`,
            // until `self` is dropped after the read.
            let lent = unsafe { Lent::new(b.as_mut_ptr().cast(), len) };
            self.bufs.lock().push(b);
            Some(lent)
        })
    }
}

impl Lends {
    /// The first `n` bytes of the last buffer lent.
    pub fn last(&self, n: usize) -> Vec<u8> {
        let bufs = self.bufs.lock();
        let last = bufs.last().expect("a buffer was lent");
        assert!(n <= last.len());
        // SAFETY: the caller says the read wrote the first `n` bytes.
        unsafe { std::slice::from_raw_parts(last.as_ptr().cast::<u8>(), n) }.to_vec()
    }
}

/// `n` bytes of a pattern that differs at every offset within a page.
pub fn data(n: usize) -> Vec<u8> {
    #[allow(clippy::cast_possible_truncation)]
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}
