//! Destinations: a caller's slice, a growing vector, and a buffer lent for
//! the whole result.

use std::mem::MaybeUninit;

use futures::FutureExt;

use super::mem::Lends;
use crate::client::dest::{as_uninit, write_prefix, Dest, Lend, Lender, Lending, SizeSignal};

fn init(buf: &[MaybeUninit<u8>], n: usize) -> Vec<u8> {
    // SAFETY: the tests read back only bytes they wrote.
    buf[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect()
}

#[test]
fn write_prefix_writes_only_the_prefix() {
    let mut buf = *b"..........";
    write_prefix(as_uninit(&mut buf), b"abc");
    assert_eq!(&buf, b"abc.......");
}

#[test]
#[should_panic(expected = "write_prefix: 4 > 3")]
fn write_prefix_refuses_what_does_not_fit() {
    let mut buf = [0u8; 3];
    write_prefix(as_uninit(&mut buf), b"abcd");
}

#[test]
fn a_slice_takes_at_most_its_length_in_place() {
    let mut buf = [MaybeUninit::uninit(); 8];
    let mut d = Dest::Slice(&mut buf);
    assert_eq!(d.cap(), 8);
    d.expect(5).now_or_never().unwrap();
    d.put(0, b"hel");
    d.put(3, b"lo");
    d.reset(); // nothing to undo in a slice
    assert_eq!(init(&buf, 5), b"hello");
}

#[test]
fn a_vector_grows_to_the_body_and_resets_for_another_attempt() {
    let signal = SizeSignal::default();
    let mut v = Vec::new();
    let mut d = Dest::Vec(&mut v, 100, &signal, None);
    assert_eq!(d.cap(), 100);
    d.announce(Some(1234));
    d.expect(6).now_or_never().unwrap();
    d.put(0, b"abc");
    d.put(3, b"def");
    d.reset();
    d.expect(2).now_or_never().unwrap();
    d.put(0, b"xy");
    assert_eq!(v, b"xy");
    assert_eq!(signal.get(), Some(1234));
}

#[test]
fn window_and_filled_write_without_zeroing() {
    let signal = SizeSignal::default();
    let mut v = Vec::new();
    let mut d = Dest::Vec(&mut v, 10, &signal, None);
    let w = d.window(0, 4);
    assert_eq!(w.len(), 4);
    write_prefix(w, b"wxyz");
    d.filled(4);
    assert_eq!(v, b"wxyz");
}

#[test]
fn the_size_signal_passes_on_and_withdraws() {
    let s = SizeSignal::default();
    assert_eq!(s.get(), None);
    s.announce(7);
    // An announcement made before the wait counts.
    assert_eq!(s.announced().now_or_never(), Some(Some(7)));
    s.withdraw();
    assert_eq!(s.get(), None);
    // A slice passes nothing on.
    let mut buf = [MaybeUninit::uninit(); 1];
    Dest::Slice(&mut buf).announce(Some(9));
    assert_eq!(s.get(), None);
}

#[test]
fn too_long_names_the_cap() {
    let mut buf = [MaybeUninit::uninit(); 3];
    let e = Dest::Slice(&mut buf).too_long("w:1", 4);
    assert!(e.to_string().contains("expected at most 3"), "{e}");
}

/// A vector with a lender for a read from `start` to `end`.
fn lent_body(
    lends: &Lends,
    announced: Option<u64>,
    start: u64,
    end: Option<u64>,
    body: &[u8],
) -> (Vec<u8>, Option<usize>) {
    let signal = SizeSignal::default();
    let mut lending = Lending::default();
    let mut v = Vec::new();
    let lend = Lend {
        lender: lends as &dyn Lender,
        lending: &mut lending,
        start,
        end,
    };
    let mut d = Dest::Vec(&mut v, 1 << 20, &signal, Some(lend));
    d.announce(announced);
    d.expect(body.len()).now_or_never().unwrap();
    d.put(0, body);
    (v, lending.in_use_len())
}

#[test]
fn a_body_that_is_the_whole_read_goes_into_the_lent_buffer() {
    let lends = Lends::default();
    // From 100 to the end of a 105-byte file: 5 bytes, the whole read.
    let (v, lent) = lent_body(&lends, Some(105), 100, None, b"fghij");
    assert!(v.is_empty(), "copied into the vector too");
    assert_eq!(lent, Some(5));
    assert_eq!(lends.last(5), b"fghij");
    // Up to an end inside the file: whole too.
    let (_, lent) = lent_body(&lends, Some(1000), 100, Some(103), b"abc");
    assert_eq!(lent, Some(3));
}

#[test]
fn a_body_that_is_not_the_whole_read_stays_in_the_vector() {
    let lends = Lends::default();
    // The file goes on past the body: the read is longer than it.
    let (v, lent) = lent_body(&lends, Some(1000), 100, None, b"abc");
    assert_eq!((v.as_slice(), lent), (&b"abc"[..], None));
    // No size announced: not known to be whole.
    let (v, lent) = lent_body(&lends, None, 0, None, b"abc");
    assert_eq!((v.as_slice(), lent), (&b"abc"[..], None));
    assert!(
        lends.asked.lock().is_empty(),
        "asked for a buffer it could not use"
    );
    // Refused: the vector.
    let refusing = Lends {
        refuse: true,
        ..Lends::default()
    };
    let (v, lent) = lent_body(&refusing, Some(3), 0, None, b"abc");
    assert_eq!((v.as_slice(), lent), (&b"abc"[..], None));
    assert_eq!(*refusing.asked.lock(), [3]);
}

#[test]
fn a_reset_gives_the_lent_buffer_up_until_the_next_whole_body() {
    let lends = Lends::default();
    let signal = SizeSignal::default();
    let mut lending = Lending::default();
    let mut v = Vec::new();
    let lend = Lend {
        lender: &lends,
        lending: &mut lending,
        start: 0,
        end: None,
    };
    let mut d = Dest::Vec(&mut v, 64, &signal, Some(lend));
    d.announce(Some(4));
    d.expect(4).now_or_never().unwrap();
    assert_eq!(d.cap(), 4, "a lent buffer caps the body at its length");
    d.put(0, b"ab");
    d.reset();
    // The next attempt's answer says the file is longer: not whole.
    d.announce(Some(50));
    d.expect(4).now_or_never().unwrap();
    assert_eq!(d.cap(), 64);
    d.put(0, b"abcd");
    d.reset();
    // Whole again, same length: the buffer already lent is kept.
    d.announce(Some(4));
    d.expect(4).now_or_never().unwrap();
    d.put(0, b"wxyz");
    assert!(v.is_empty());
    assert_eq!(lending.in_use_len(), Some(4));
    assert_eq!(*lends.asked.lock(), [4], "asked again for a buffer it had");
    assert_eq!(lends.last(4), b"wxyz");
}

#[test]
fn lent_for_asks_again_only_for_another_length() {
    let lends = Lends::default();
    let mut lending = Lending::default();
    assert_eq!(lending.in_use_len(), None);
    assert!(lending
        .lent_for(&lends, 8)
        .now_or_never()
        .unwrap()
        .is_some());
    assert!(lending
        .lent_for(&lends, 8)
        .now_or_never()
        .unwrap()
        .is_some());
    let b = lending.lent_for(&lends, 3).now_or_never().unwrap().unwrap();
    assert_eq!(b.len(), 3);
    write_prefix(b.buf(), b"xyz");
    assert_eq!(lending.in_use_len(), Some(3));
    assert_eq!(*lends.asked.lock(), [8, 3]);
    assert_eq!(lends.last(3), b"xyz");
    let refusing = Lends {
        refuse: true,
        ..Lends::default()
    };
    let mut lending = Lending::default();
    assert!(lending
        .lent_for(&refusing, 8)
        .now_or_never()
        .unwrap()
        .is_none());
    assert_eq!(lending.in_use_len(), None);
}
