//! Reads through an in-memory tier: the bytes of every kind of slice, end of
//! file, answers of the wrong length rejected, and a file that changes
//! while it is read.

use std::mem::MaybeUninit;

use super::mem::{data, Fault, Lends, MemTier};
use crate::client::pages::resolve;
use crate::client::seam::{Run, SliceRead};
use crate::client::slice::Body;
use crate::error::Result;

const PAGE: u64 = 10;
const SIZE: usize = 95;

fn tier(fault: Fault) -> MemTier {
    let mut t = MemTier::new(PAGE).with("f", data(SIZE));
    t.fault = fault;
    t
}

/// Through the seam, as the binding reads into a `bytes` it makes.
async fn seam(t: &MemTier, start: i64, end: Option<i64>, size: Option<u64>) -> Result<Vec<u8>> {
    let mut r = SliceRead::new(t.reader(), "f", start, end, size);
    #[allow(clippy::cast_possible_truncation)]
    let len = r.len().await? as usize;
    let mut buf = vec![MaybeUninit::<u8>::uninit(); len];
    let n = r.fill(&mut buf).await?;
    assert!(n <= len);
    // SAFETY: `fill` wrote the first `n` bytes.
    Ok(buf[..n]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect())
}

/// Through the lending path, as a batch reads.
async fn lent(
    t: &MemTier,
    refuse: bool,
    start: i64,
    end: Option<i64>,
    size: Option<u64>,
) -> Result<Vec<u8>> {
    let lends = Lends {
        refuse,
        ..Lends::default()
    };
    let body = t
        .reader()
        .read_slice_lent("f", start, end, size, Some(&lends))
        .await?;
    Ok(match body {
        Body::Own(v) => v,
        Body::Lent(n) => {
            assert!(!refuse);
            lends.last(n)
        }
    })
}

fn expected(start: i64, end: Option<i64>) -> Vec<u8> {
    let (s, e) = resolve(start, end, SIZE as u64);
    #[allow(clippy::cast_possible_truncation)]
    data(SIZE)[s as usize..e as usize].to_vec()
}

#[tokio::test]
async fn every_slice_has_exactly_the_files_bytes() {
    let t = tier(Fault::None);
    let starts = [-200, -95, -5, -1, 0, 1, 9, 10, 11, 37, 94, 95, 96, 200];
    let ends = [
        None,
        Some(-200),
        Some(-1),
        Some(0),
        Some(5),
        Some(10),
        Some(41),
        Some(44),
        Some(95),
        Some(200),
        Some(1 << 40),
    ];
    for start in starts {
        for end in ends {
            for size in [None, Some(SIZE as u64)] {
                let want = expected(start, end);
                let case = format!("[{start}:{end:?}] size {size:?}");
                assert_eq!(
                    seam(&t, start, end, size).await.unwrap(),
                    want,
                    "seam {case}"
                );
                let own = t.reader().read_slice("f", start, end, size).await.unwrap();
                assert_eq!(own, want, "read_slice {case}");
                assert_eq!(
                    lent(&t, false, start, end, size).await.unwrap(),
                    want,
                    "lent {case}"
                );
                assert_eq!(
                    lent(&t, true, start, end, size).await.unwrap(),
                    want,
                    "refused {case}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_known_size_reads_exactly_and_says_how_to_run() {
    let t = tier(Fault::None);
    let mut r = SliceRead::new(t.reader(), "f", 5, Some(20), Some(SIZE as u64));
    assert_eq!(r.sizing(), Run::Inline);
    assert_eq!(r.len().await.unwrap(), 15);
    assert_eq!(r.filling(), Run::Caller); // pages 0 and 1
    let r = SliceRead::new(t.reader(), "f", 0, None, Some(SIZE as u64));
    assert_eq!(r.filling(), Run::Shared);
    assert!(t.asked.lock().is_empty(), "planning asked for bytes");
}

#[tokio::test]
async fn the_first_piece_brings_the_size_and_the_rest_follows() {
    let t = tier(Fault::None);
    let mut r = SliceRead::new(t.reader(), "f", 3, None, None);
    assert_eq!(r.sizing(), Run::Caller);
    assert_eq!(r.len().await.unwrap(), 92);
    let asked: Vec<_> = t.asked.lock().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].0.index, asked[0].0.offset, asked[0].1),
        (0, 3, true)
    );
    assert_eq!(r.filling(), Run::Shared);
    let mut buf = vec![MaybeUninit::uninit(); 92];
    assert_eq!(r.fill(&mut buf).await.unwrap(), 92);
    // The first piece is not asked for again.
    let mut pages: Vec<_> = t.asked.lock().iter().map(|(p, _)| p.index).collect();
    assert_eq!(pages[0], 0);
    pages[1..].sort_unstable();
    assert_eq!(pages[1..], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[tokio::test]
async fn a_file_whole_in_its_first_piece_needs_nothing_more() {
    let t = MemTier::new(PAGE).with("f", data(7));
    let mut r = SliceRead::new(t.reader(), "f", 0, None, None);
    assert_eq!(r.len().await.unwrap(), 7);
    assert_eq!(r.filling(), Run::Inline);
    let mut buf = vec![MaybeUninit::uninit(); 7];
    assert_eq!(r.fill(&mut buf).await.unwrap(), 7);
    assert_eq!(t.asked.lock().len(), 1);
}

#[tokio::test]
async fn a_held_up_first_piece_turns_into_one_whole_read() {
    let t = tier(Fault::HoldFirstPiece);
    assert_eq!(seam(&t, 0, None, None).await.unwrap(), data(SIZE));
    let asked: Vec<_> = t.asked.lock().iter().map(|(p, v)| (p.index, *v)).collect();
    // The held piece, then every page at once (the first one again).
    assert_eq!(asked[0], (0, true));
    let mut rest: Vec<_> = asked[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, (0..10).map(|i| (i, false)).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_size_first_source_is_asked_for_the_size_once() {
    let mut t = tier(Fault::None);
    t.size_first = true;
    assert_eq!(
        seam(&t, 4, Some(30), None).await.unwrap(),
        expected(4, Some(30))
    );
    assert_eq!(*t.sized.lock(), 1);
}

#[tokio::test]
async fn end_of_file_inside_an_up_to_read_is_a_short_result() {
    let t = tier(Fault::None);
    let mut r = SliceRead::new(t.reader(), "f", 80, Some(110), None);
    assert_eq!(r.len().await.unwrap(), 30, "the most it can be");
    let mut buf = vec![MaybeUninit::uninit(); 30];
    assert_eq!(r.fill(&mut buf).await.unwrap(), 15);
    assert_eq!(seam(&t, 200, Some(210), None).await.unwrap(), b"");
}

#[tokio::test]
async fn a_buffer_of_another_length_is_refused() {
    let t = tier(Fault::None);
    let mut r = SliceRead::new(t.reader(), "f", 0, Some(20), Some(SIZE as u64));
    let mut buf = vec![MaybeUninit::uninit(); 19];
    assert!(r.fill(&mut buf).await.is_err());
}

/// Every read path, with a misbehaving tier: an error each time, never bytes.
async fn all_fail(t: &MemTier) {
    let cases: [(i64, Option<i64>, Option<u64>); 4] = [
        (0, Some(30), Some(SIZE as u64)), // exact
        (5, Some(30), None),              // up to
        (0, None, None),                  // first piece, then the rest
        (85, None, None),                 // first piece to the end
    ];
    for (start, end, size) in cases {
        let case = format!("[{start}:{end:?}] size {size:?} {:?}", t.fault);
        assert!(seam(t, start, end, size).await.is_err(), "seam {case}");
        assert!(
            lent(t, false, start, end, size).await.is_err(),
            "lent {case}"
        );
        assert!(lent(t, true, start, end, size).await.is_err(), "own {case}");
    }
}

#[tokio::test]
async fn short_and_long_answers_are_rejected() {
    all_fail(&tier(Fault::Short)).await;
    all_fail(&tier(Fault::Long)).await;
}

#[tokio::test]
async fn a_size_is_required_where_the_file_may_end() {
    let t = tier(Fault::NoSize);
    assert!(seam(&t, 5, Some(30), None).await.is_err());
    assert!(seam(&t, 0, None, None).await.is_err());
    // Where the size is known, the length alone decides.
    assert_eq!(
        seam(&t, 5, Some(30), Some(SIZE as u64)).await.unwrap(),
        expected(5, Some(30))
    );
}

#[tokio::test]
async fn a_file_that_changes_size_while_read_is_an_error() {
    let t = tier(Fault::SizeDrifts);
    let e = seam(&t, 0, Some(35), None).await.unwrap_err();
    assert!(e.to_string().contains("size changed"), "{e}");
}
