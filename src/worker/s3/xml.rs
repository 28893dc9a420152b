//! The S3 API's XML bodies and dates (docs/protocol.md §8): AWS's element
//! names, with the `xmlns` AWS sends; text is escaped, nothing else.

use std::fmt::Write;

/// `s` with XML's five special characters escaped; characters XML 1.0
/// cannot carry at all (control characters) as `&#xN;` is not allowed
/// either, so keys holding them are listed URL-encoded only
/// (`encoding-type=url`), which is what S3 clients ask for.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `<name>text</name>` (text escaped).
pub fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text));
}

/// The XML declaration and the namespace AWS puts on every result.
pub const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
/// The S3 namespace.
pub const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

struct Parts {
    y: i64,
    mo: u32,
    d: u32,
    h: i64,
    mi: i64,
    s: i64,
    ms: i64,
    weekday: usize,
}

fn parts(ms: i64) -> Parts {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    Parts {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: sod % 3600 / 60,
        s: sod % 60,
        ms: ms.rem_euclid(1000),
        weekday,
    }
}

/// `2024-11-30T20:53:20.000Z` (listings).
pub fn iso8601(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.y, p.mo, p.d, p.h, p.mi, p.s, p.ms
    )
}

/// `Sat, 30 Nov 2024 20:53:20 GMT` (`Last-Modified`).
pub fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[p.weekday],
        p.d,
        MONTHS[(p.mo - 1) as usize],
        p.y,
        p.h,
        p.mi,
        p.s
    )
}

/// An S3 error body.
pub fn error(code: &str, message: &str, resource: &str) -> String {
    let mut out = String::from(HEAD);
    out.push_str("<Error>");
    element(&mut out, "Code", code);
    element(&mut out, "Message", message);
    element(&mut out, "Resource", resource);
    element(&mut out, "RequestId", "");
    out.push_str("</Error>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_733_000_000_123), "2024-11-30T20:53:20.123Z");
        assert_eq!(
            http_date(1_733_000_000_123),
            "Sat, 30 Nov 2024 20:53:20 GMT"
        );
        assert_eq!(http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
    }
}
