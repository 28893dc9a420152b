//! Where a response body goes: a caller's slice or a growing vector, and the
//! signal that passes on a file size announced before the body arrives.

use std::mem::MaybeUninit;

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
    /// headers arrive.
    Vec(&'a mut Vec<u8>, usize, &'a SizeSignal),
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
        crate::error::Error::Worker {
            worker: worker.to_owned(),
            status: None,
            message: format!(
                "answered {n} bytes or more, expected at most {}",
                self.cap()
            ),
        }
    }

    /// Passes the file size an answer's headers announced to a
    /// [`Dest::Vec`]'s signal.
    pub(crate) fn announce(&self, size: Option<u64>) {
        if let (Some(size), Dest::Vec(_, _, signal)) = (size, self) {
            signal.announce(size);
        }
    }

    /// The most bytes this destination takes.
    pub(crate) fn cap(&self) -> usize {
        match self {
            Dest::Slice(s) => s.len(),
            Dest::Vec(_, max, _) => *max,
        }
    }

    pub(crate) fn reserve(&mut self, n: usize) {
        if let Dest::Vec(v, _, _) = self {
            v.reserve_exact(n);
        }
    }

    pub(crate) fn reset(&mut self) {
        if let Dest::Vec(v, _, _) = self {
            v.clear();
        }
    }

    /// The room for bytes `n..end` (`n` written so far, `end` <= `cap`),
    /// uninitialised.
    pub(crate) fn window(&mut self, n: usize, end: usize) -> &mut [MaybeUninit<u8>] {
        match self {
            Dest::Slice(s) => &mut s[n..end],
            Dest::Vec(v, _, _) => {
                debug_assert_eq!(v.len(), n);
                v.reserve(end - n);
                &mut v.spare_capacity_mut()[..end - n]
            }
        }
    }

    /// The first `n` bytes have been written through [`Dest::window`].
    pub(crate) fn filled(&mut self, n: usize) {
        if let Dest::Vec(v, _, _) = self {
            debug_assert!(n <= v.capacity());
            // SAFETY: `window` handed out this room and the reader wrote
            // bytes up to `n` into it.
            unsafe { v.set_len(n) };
        }
    }

    /// Writes `chunk` at `at` (the bytes written so far); the caller has
    /// checked that it fits.
    pub(crate) fn put(&mut self, at: usize, chunk: &[u8]) {
        match self {
            Dest::Slice(s) => write_prefix(&mut s[at..], chunk),
            Dest::Vec(v, _, _) => v.extend_from_slice(chunk),
        }
    }
}
