//! Where a response body goes: a caller's slice or a growing vector (or,
//! when the body turns out to be a whole result, a buffer lent by the
//! caller), and the signal that passes on a file size announced before the
//! body arrives.

use std::mem::MaybeUninit;

use futures::future::BoxFuture;

/// `buf` as a slice that may be left partly unwritten: the view the read
/// path works on, so result buffers need not be zeroed first.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the read path only ever writes initialised bytes
    // through it, so `buf` stays initialised.
    unsafe { &mut *(std::ptr::from_mut::<[u8]>(buf) as *mut [MaybeUninit<u8>]) }
}

/// Copies `src` to the start of `dst` (which is at least as long).
pub fn write_prefix(dst: &mut [MaybeUninit<u8>], src: &[u8]) {
    assert!(
        src.len() <= dst.len(),
        "write_prefix: {} > {}",
        src.len(),
        dst.len()
    );
    // SAFETY: `dst` has room for `src`; the two are distinct borrows.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast(), src.len()) };
}

/// Where a streamed body goes.
pub enum Dest<'a> {
    /// Into this slice from its start (a body may be shorter, never longer).
    /// It need not be initialised: the bytes written are what the caller
    /// may read.
    Slice(&'a mut [MaybeUninit<u8>]),
    /// Appended to this vector (emptied first), at most this many bytes: no
    /// zero-filled buffer up front when the length is not known. The file
    /// size a worker announces is handed to the signal as soon as its
    /// headers arrive. With a [`Lend`], a body that is the whole result goes
    /// into a buffer lent for it instead.
    Vec(&'a mut Vec<u8>, usize, &'a SizeSignal, Option<Lend<'a>>),
}

/// A buffer lent to a read to fill in place: the memory of the result
/// itself (a Python `bytes`), so the body is not copied once more.
pub struct Lent {
    ptr: *mut MaybeUninit<u8>,
    len: usize,
}

// SAFETY: only a pointer and a length; the lender keeps the memory alive,
// and touches it no more, until the read holding it has ended (see `new`).
unsafe impl Send for Lent {}

impl Lent {
    /// # Safety
    /// `ptr` must be valid for writes of `len` bytes, and stay so, read or
    /// written by no one else, until this value and the read it is handed
    /// to are gone.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        Self {
            ptr: ptr.cast(),
            len,
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no room at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer, to be written.
    pub fn buf(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `new`'s contract; `&mut self` makes this the only view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// Lends result buffers to reads (see [`Lent`]).
pub trait Lender: Send + Sync {
    /// A buffer of exactly `len` bytes, or `None`: the read then fills a
    /// buffer of its own. A read asks again only after it is done with the
    /// buffer it had.
    fn lend(&self, len: usize) -> BoxFuture<'_, Option<Lent>>;
}

/// The buffer lent to one read, if any, and whether its bytes are in it.
#[derive(Default)]
pub struct Lending {
    lent: Option<Lent>,
    in_use: bool,
}

impl Lending {
    /// The length of the lent buffer if the read's bytes went into it
    /// (then they fill it exactly).
    pub fn in_use_len(&self) -> Option<usize> {
        self.lent.as_ref().filter(|_| self.in_use).map(Lent::len)
    }

    /// The lent buffer, if the read's bytes go into it.
    fn active(&mut self) -> Option<&mut Lent> {
        self.lent.as_mut().filter(|_| self.in_use)
    }

    /// Asks `lender` for exactly `len` bytes, keeping a buffer already lent
    /// if it has that size; whether one is lent now.
    async fn borrow(&mut self, lender: &dyn Lender, len: usize) -> bool {
        if self.lent.as_ref().is_some_and(|b| b.len() != len) {
            // Given up before asking again (see `Lender::lend`).
            self.lent = None;
        }
        if self.lent.is_none() {
            self.lent = lender.lend(len).await;
        }
        self.in_use = self.lent.is_some();
        self.in_use
    }

    /// A buffer of `len` bytes for a read whose length is known up front,
    /// or `None`.
    pub async fn lent_for(&mut self, lender: &dyn Lender, len: usize) -> Option<&mut Lent> {
        self.borrow(lender, len).await;
        self.active()
    }
}

/// Where a [`Dest::Vec`] for the piece of a read from `start` up to `end`
/// (or the end of the file) may borrow a buffer: when the file size its
/// answer announces makes the body the whole read.
pub struct Lend<'a> {
    pub lender: &'a dyn Lender,
    pub lending: &'a mut Lending,
    pub start: u64,
    pub end: Option<u64>,
}

/// The file size a worker announced in the headers of the answer being
/// read, before its body has arrived; withdrawn if that answer then fails.
#[derive(Default)]
pub struct SizeSignal {
    size: parking_lot::Mutex<Option<u64>>,
    announced: tokio::sync::Notify,
}

impl SizeSignal {
    /// The size announced by the answer in progress, unless it failed since.
    pub fn get(&self) -> Option<u64> {
        *self.size.lock()
    }

    /// Waits for an announcement (one made before the wait counts too).
    pub async fn announced(&self) -> Option<u64> {
        self.announced.notified().await;
        self.get()
    }

    pub(crate) fn announce(&self, size: u64) {
        *self.size.lock() = Some(size);
        self.announced.notify_one();
    }

    /// The answer that announced the size failed: its headers are not to be trusted.
    pub fn withdraw(&self) {
        *self.size.lock() = None;
    }
}

impl Dest<'_> {
    /// The error for an answer from `worker` of `n` bytes or more, past
    /// [`Dest::cap`].
    pub(crate) fn too_long(&self, worker: &str, n: u64) -> crate::error::Error {
        crate::client::http::long_body(worker, n, self.cap())
    }

    /// Passes the file size an answer's headers announced to a
    /// [`Dest::Vec`]'s signal.
    pub(crate) fn announce(&self, size: Option<u64>) {
        if let (Some(size), Dest::Vec(_, _, signal, _)) = (size, self) {
            signal.announce(size);
        }
    }

    /// The most bytes this destination takes.
    pub(crate) fn cap(&self) -> usize {
        match self {
            Dest::Slice(s) => s.len(),
            Dest::Vec(_, max, _, lend) => lend
                .as_ref()
                .and_then(|l| l.lending.in_use_len())
                .unwrap_or(*max),
        }
    }

    /// The body has exactly `len` bytes (at most [`Dest::cap`]): a vector
    /// makes room for them, or takes a lent buffer when they are the whole
    /// read (by the size announced just before).
    pub(crate) async fn expect(&mut self, len: usize) {
        let Dest::Vec(v, _, signal, lend) = self else {
            return;
        };
        if let Some(lend) = lend {
            let whole = signal.get().is_some_and(|size| {
                let stop = lend.end.map_or(size, |e| e.min(size));
                lend.start.checked_add(len as u64) == Some(stop)
            });
            if whole && lend.lending.borrow(lend.lender, len).await {
                return;
            }
            lend.lending.in_use = false;
        }
        v.reserve_exact(len);
    }

    /// Empties it for another attempt.
    pub(crate) fn reset(&mut self) {
        if let Dest::Vec(v, _, _, lend) = self {
            v.clear();
            if let Some(lend) = lend {
                lend.lending.in_use = false;
            }
        }
    }

    /// The room for bytes `n..end` (`n` written so far, `end` <= `cap`),
    /// uninitialised.
    pub(crate) fn window(&mut self, n: usize, end: usize) -> &mut [MaybeUninit<u8>] {
        match self {
            Dest::Slice(s) => &mut s[n..end],
            Dest::Vec(v, _, _, lend) => {
                if let Some(b) = lend.as_mut().and_then(|l| l.lending.active()) {
                    return &mut b.buf()[n..end];
                }
                debug_assert_eq!(v.len(), n);
                v.reserve(end - n);
                &mut v.spare_capacity_mut()[..end - n]
            }
        }
    }

    /// The first `n` bytes have been written through [`Dest::window`].
    pub(crate) fn filled(&mut self, n: usize) {
        if let Dest::Vec(v, _, _, lend) = self {
            if lend
                .as_ref()
                .is_some_and(|l| l.lending.in_use_len().is_some())
            {
                return;
            }
            debug_assert!(n <= v.capacity());
            // SAFETY: `window` handed out this room and the reader wrote
            // bytes up to `n` into it.
            unsafe { v.set_len(n) };
        }
    }

    /// Writes `chunk` at `at` (the bytes written so far); the caller has
    /// checked that it fits.
    pub(crate) fn put(&mut self, at: usize, chunk: &[u8]) {
        let end = at + chunk.len();
        write_prefix(self.window(at, end), chunk);
        self.filled(end);
    }
}
