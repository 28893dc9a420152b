//! Alluxio size strings (`FormatUtils.parseSpaceSize`): `1MB`, `20MB`, `64KB`,
//! `1048576`, `1.5GB`. Units are binary (KB = 1024) and case-insensitive.

/// Parses a size string into bytes, or says why it is not one.
///
/// Accepts what Java's `parseSpaceSize` accepts (a decimal number followed by
/// an optional `b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb`, `p`/`pb`), plus
/// surrounding/inner spaces and `KiB`-style units as humanfriendly does.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num.starts_with('.') && num.len() == 1 {
        return Err(format!(
            "{text:?} is not a size (expected e.g. 1MB, 64KB, 1048576)"
        ));
    }
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size (bad number {num:?})"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        other => return Err(format!("{text:?} is not a size (unknown unit {other:?})")),
    };
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    // Java adds 0.0001 before truncating so "0.5KB" is exactly 512.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok((bytes + 0.0001) as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn alluxio_sizes() {
        for (s, want) in [
            ("1MB", 1_048_576),
            ("20MB", 20 * 1_048_576),
            ("64KB", 65_536),
            ("4MB", 4_194_304),
            ("1048576", 1_048_576),
            ("1mb", 1_048_576),
            ("1m", 1_048_576),
            ("1 MB", 1_048_576),
            ("1MiB", 1_048_576),
            ("0.5KB", 512),
            ("1.5GB", 1_610_612_736),
            ("2b", 2),
            (" 3k ", 3072),
            ("1TB", 1 << 40),
            ("1PB", 1 << 50),
        ] {
            assert_eq!(parse_size(s), Ok(want), "{s}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "MB",
            "abc",
            "1XB",
            "-1MB",
            "1.2.3MB",
            "1MB extra",
            ".",
            "1e3",
        ] {
            let err = parse_size(s).unwrap_err();
            assert!(err.contains(&format!("{s:?}")), "{s}: {err}");
        }
        assert!(parse_size("99999999999999PB").is_err());
    }
}
