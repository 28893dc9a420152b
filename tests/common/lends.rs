//! A [`Lender`] for tests: lends heap buffers it keeps until dropped (or
//! lends none), and turns a read's [`Body`] back into bytes.

#![allow(dead_code)]

use std::mem::MaybeUninit;
use std::sync::Mutex;

use _core::client::dest::{Lender, Lent};
use _core::client::slice::Body;
use futures::future::BoxFuture;

/// Lends every buffer asked for (or none), keeping them all.
#[derive(Default)]
pub struct Lends {
    pub refuse: bool,
    bufs: Mutex<Vec<Box<[MaybeUninit<u8>]>>>,
}

impl Lender for Lends {
    fn lend(&self, len: usize) -> BoxFuture<'_, Option<Lent>> {
        Box::pin(async move {
            if self.refuse {
                return None;
            }
            let mut b = vec![MaybeUninit::uninit(); len].into_boxed_slice();
            // SAFETY: the heap buffer stays where it is, kept in `bufs`,
            // until `self` is dropped after the read.
            let lent = unsafe { Lent::new(b.as_mut_ptr().cast(), len) };
            self.bufs.lock().unwrap().push(b);
            Some(lent)
        })
    }
}

impl Lends {
    /// Lends nothing.
    pub fn refusing() -> Self {
        Self {
            refuse: true,
            ..Self::default()
        }
    }

    /// The bytes of a read's result, and whether they were in a lent buffer.
    pub fn bytes(&self, body: Body) -> (Vec<u8>, bool) {
        match body {
            Body::Own(v) => (v, false),
            Body::Lent(n) => {
                let bufs = self.bufs.lock().unwrap();
                let last = bufs.last().expect("a buffer was lent");
                assert!(n <= last.len(), "{n} bytes in a {}-byte buffer", last.len());
                // SAFETY: the read wrote the first `n` bytes of the last
                // buffer lent to it.
                let got = unsafe { std::slice::from_raw_parts(last.as_ptr().cast::<u8>(), n) };
                (got.to_vec(), true)
            }
        }
    }
}
