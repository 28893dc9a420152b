//! The `Range` header of GetObject, as S3 answers it: one `bytes=a-b`,
//! `bytes=a-` or `bytes=-n` range gives 206 (clipped to the object), a
//! range that starts at or past the end gives 416 `InvalidRange`, and a
//! header S3 does not understand (several ranges, other units, `a > b`,
//! junk) is ignored: 200 with the whole object, as both S3 and Alluxio do
//! (alluxiofs 1.1.17 sends `bytes=0--2` for whole-file reads and relies on
//! that).

/// What to send for a `Range` header against an object of some size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// 200, the whole object.
    Whole,
    /// 206, bytes `[start, end)` (`end` > `start`).
    Part(u64, u64),
    /// 416 `InvalidRange`.
    Unsatisfiable,
}

fn digits(s: &str) -> Option<Option<u64>> {
    if s.is_empty() {
        return Some(None);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().map(Some)
}

/// The answer to `header` (absent: `None`) for an object of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.strip_prefix("bytes=")) else {
        return Ranged::Whole;
    };
    let Some((a, b)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (Some(a), Some(b)) = (digits(a), digits(b)) else {
        return Ranged::Whole; // junk, a second '-', several ranges
    };
    match (a, b) {
        (None, None) => Ranged::Whole,
        (None, Some(n)) => {
            if n == 0 || size == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(size.saturating_sub(n), size)
            }
        }
        (Some(a), b) => {
            if b.is_some_and(|b| b < a) {
                return Ranged::Whole; // not a valid range: ignored
            }
            if a >= size {
                return Ranged::Unsatisfiable;
            }
            let end = b.map_or(size, |b| b.saturating_add(1).min(size));
            Ranged::Part(a, end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, Ranged::*};

    #[test]
    fn s3_semantics() {
        assert_eq!(parse(None, 10), Whole);
        assert_eq!(parse(Some("bytes=0-4"), 10), Part(0, 5));
        assert_eq!(parse(Some("bytes=5-100"), 10), Part(5, 10));
        assert_eq!(parse(Some("bytes=3-"), 10), Part(3, 10));
        assert_eq!(parse(Some("bytes=-4"), 10), Part(6, 10));
        assert_eq!(parse(Some("bytes=-40"), 10), Part(0, 10));
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-12"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-3"), 0), Unsatisfiable);
    }

    #[test]
    fn what_s3_ignores_is_the_whole_object() {
        // alluxiofs 1.1.17's whole-file reads, and other junk.
        for h in [
            "bytes=0--2",
            "bytes=5-3",
            "bytes=-5--7",
            "bytes=0-1,4-5",
            "bytes=-",
            "bytes= 0-1",
            "items=0-1",
            "bytes=x-1",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(Some(h), 10), Whole, "{h}");
        }
    }
}
