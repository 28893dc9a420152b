//! Page math (docs/protocol.md §4.3): a byte range of a file becomes page-aligned
//! pieces, each one request.

/// One request's share of a read: bytes `[offset, offset + len)` of page `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Page index.
    pub index: u64,
    /// Offset within the page.
    pub offset: u64,
    /// Bytes wanted from this page.
    pub len: u64,
    /// Where these bytes go in the caller's buffer.
    pub dest: u64,
}

impl Piece {
    /// Offset of this piece within the file.
    pub fn file_offset(&self, page_size: u64) -> u64 {
        self.index * page_size + self.offset
    }
}

/// Splits `[start, end)` into per-page pieces, in order.
pub fn plan(start: u64, end: u64, page_size: u64) -> Vec<Piece> {
    assert!(page_size > 0, "page size must be positive");
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let index = pos / page_size;
        let offset = pos % page_size;
        let len = (page_size - offset).min(end - pos);
        out.push(Piece {
            index,
            offset,
            len,
            dest: pos - start,
        });
        pos += len;
    }
    out
}

/// Resolves Python-style `start`/`end` (negative = from the end, `None` = EOF)
/// against a file of `size` bytes, clamped to the file.
pub fn resolve(start: i64, end: Option<i64>, size: u64) -> (u64, u64) {
    let size_i = i64::try_from(size).unwrap_or(i64::MAX);
    let abs = |v: i64| -> u64 {
        let v = if v < 0 {
            (size_i + v).max(0)
        } else {
            v.min(size_i)
        };
        v.unsigned_abs()
    };
    let s = abs(start);
    let e = end.map_or(size, abs);
    (s, e.max(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        // docs/protocol.md §4.3: offset 1048000, length 2000, 1 MiB pages.
        let p = plan(1_048_000, 1_050_000, 1_048_576);
        assert_eq!(
            p,
            [
                Piece {
                    index: 0,
                    offset: 1_048_000,
                    len: 576,
                    dest: 0
                },
                Piece {
                    index: 1,
                    offset: 0,
                    len: 1424,
                    dest: 576
                },
            ]
        );
    }

    #[test]
    fn pieces_cover_the_range_exactly() {
        for (s, e, ps) in [
            (0, 0, 4),
            (0, 1, 4),
            (3, 4, 4),
            (0, 4, 4),
            (0, 5, 4),
            (5, 17, 4),
            (7, 8, 1),
        ] {
            let p = plan(s, e, ps);
            assert_eq!(p.iter().map(|x| x.len).sum::<u64>(), e - s);
            let mut at = s;
            for x in &p {
                assert_eq!(x.file_offset(ps), at);
                assert!(x.offset + x.len <= ps && x.len > 0);
                at += x.len;
            }
        }
    }

    #[test]
    fn python_style_bounds() {
        assert_eq!(resolve(0, None, 10), (0, 10));
        assert_eq!(resolve(-3, None, 10), (7, 10));
        assert_eq!(resolve(2, Some(-2), 10), (2, 8));
        assert_eq!(resolve(-20, Some(5), 10), (0, 5));
        assert_eq!(resolve(8, Some(100), 10), (8, 10));
        assert_eq!(resolve(12, None, 10), (10, 10));
        assert_eq!(resolve(5, Some(2), 10), (5, 5));
        assert_eq!(resolve(0, Some(-20), 10), (0, 0));
    }
}
