//! Slice planning: which plan each kind of read gets, and what a first
//! piece leaves to read.

use super::mem::{data, MemTier};
use crate::client::slice::{after_first, SlicePlan};

const PAGE: u64 = 10;

fn tier() -> MemTier {
    MemTier::new(PAGE).with("f", data(95))
}

#[test]
fn a_known_size_resolves_the_bounds_at_once() {
    let t = tier();
    let r = t.reader();
    assert_eq!(
        r.slice_plan("f", 0, None, Some(95)),
        SlicePlan::Exact(0, 95)
    );
    assert_eq!(
        r.slice_plan("f", -5, None, Some(95)),
        SlicePlan::Exact(90, 95)
    );
    assert_eq!(
        r.slice_plan("f", 3, Some(-3), Some(95)),
        SlicePlan::Exact(3, 92)
    );
    assert_eq!(
        r.slice_plan("f", 90, Some(500), Some(95)),
        SlicePlan::Exact(90, 95)
    );
    assert_eq!(
        r.slice_plan("f", 50, Some(20), Some(95)),
        SlicePlan::Exact(50, 50)
    );
    // Even when the source would want the size first: it is known.
    let mut t = tier();
    t.size_first = true;
    assert_eq!(
        t.reader().slice_plan("f", 0, Some(5), Some(95)),
        SlicePlan::Exact(0, 5)
    );
}

#[test]
fn negative_bounds_and_empty_ranges_ask_for_the_size() {
    let t = tier();
    let r = t.reader();
    assert_eq!(r.slice_plan("f", -1, None, None), SlicePlan::SizeFirst);
    assert_eq!(r.slice_plan("f", 0, Some(-1), None), SlicePlan::SizeFirst);
    assert_eq!(r.slice_plan("f", 5, Some(5), None), SlicePlan::SizeFirst);
    assert_eq!(r.slice_plan("f", 7, Some(2), None), SlicePlan::SizeFirst);
}

#[test]
fn a_source_that_needs_the_size_gets_it_first() {
    let mut t = tier();
    t.size_first = true;
    assert_eq!(
        t.reader().slice_plan("f", 0, Some(5), None),
        SlicePlan::SizeFirst
    );
    assert_eq!(
        t.reader().slice_plan("f", 0, None, None),
        SlicePlan::SizeFirst
    );
}

#[test]
fn small_bounded_reads_are_asked_for_whole_up_to_four_pages() {
    let t = tier();
    let r = t.reader();
    assert_eq!(r.slice_plan("f", 0, Some(1), None), SlicePlan::Upto(0, 1));
    assert_eq!(r.slice_plan("f", 3, Some(43), None), SlicePlan::Upto(3, 43));
    assert_eq!(
        r.slice_plan("f", 3, Some(44), None),
        SlicePlan::FirstPiece(3, Some(44))
    );
    // Past the end of the file: still up to, the answer says where it ends.
    assert_eq!(
        r.slice_plan("f", 90, Some(120), None),
        SlicePlan::Upto(90, 120)
    );
}

#[test]
fn unbounded_and_big_reads_start_with_the_first_piece() {
    let t = tier();
    let r = t.reader();
    assert_eq!(
        r.slice_plan("f", 0, None, None),
        SlicePlan::FirstPiece(0, None)
    );
    assert_eq!(
        r.slice_plan("f", 17, None, None),
        SlicePlan::FirstPiece(17, None)
    );
    assert_eq!(
        r.slice_plan("f", 0, Some(1 << 40), None),
        SlicePlan::FirstPiece(0, Some(1 << 40))
    );
}

#[test]
fn after_the_first_piece_the_rest_runs_to_the_end_or_the_bound() {
    // 10 bytes at 0 of a 95-byte file, to the end: keep 10, stop at 95.
    assert_eq!(after_first(0, None, 10, 95), (10, 95));
    // Bounded inside the first piece: keep only up to the bound.
    assert_eq!(after_first(0, Some(4), 10, 95), (4, 4));
    // Bounded past the end of the file.
    assert_eq!(after_first(90, Some(200), 5, 95), (5, 95));
    // Started past the end of the file: nothing.
    assert_eq!(after_first(120, None, 0, 95), (0, 120));
    // A small file, whole in its first piece.
    assert_eq!(after_first(0, None, 7, 7), (7, 7));
}
