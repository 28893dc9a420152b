//! `ResponseFileInfo` (docs/protocol.md §5.2): the JSON objects `/v1/files` and
//! `/v1/info` return, with Gson's field names and order, plus the EE fields
//! the alluxiofs 1.0.x client reads.

use serde::Serialize;

/// One listing entry. Field order is the wire order.
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
pub struct ResponseFileInfo {
    /// `"file"` or `"directory"`.
    pub mType: &'static str,
    /// Base name.
    pub mName: String,
    /// Path relative to its under-storage root, with a leading `/`.
    pub mPath: String,
    /// Full under-storage URL.
    pub mUfsPath: String,
    /// Modification time, epoch ms (0 if unknown).
    pub mLastModificationTimeMs: i64,
    /// Bytes (0 for directories).
    pub mLength: u64,
    /// `FormatUtils.getSizeFromBytes(mLength)`.
    pub mHumanReadableFileSize: String,
    /// EE: the file is complete.
    pub mCompleted: bool,
    /// EE: owner name (empty: unknown).
    pub mOwner: String,
    /// EE: group name (empty: unknown).
    pub mGroup: String,
    /// EE: POSIX mode bits as Java's `FileInfo` holds them (an int).
    pub mMode: u32,
    /// EE: creation time, epoch ms (the under storage's; 0 if it has none).
    pub mCreationTimeMs: i64,
    /// EE: last access time, epoch ms (the modification time).
    pub mLastAccessTimeMs: i64,
    /// EE: persisted in the under storage.
    pub mPersisted: bool,
    /// EE: share of the file's bytes cached on this worker, 0–100.
    pub mInAlluxioPercentage: u32,
    /// EE: content hash (S3 ETag; empty for local files).
    pub mContentHash: String,
}

/// `FormatUtils.getSizeFromBytes`: `"<n>B"` up to 5120 bytes, then the first
/// unit (KB, MB, GB, TB, else PB) whose value is at most 5120, with two
/// decimals rounded half-up as Java's `%.2f` does.
pub fn human_readable_size(bytes: u64) -> String {
    if bytes <= 5120 {
        return format!("{bytes}B");
    }
    let units = ["KB", "MB", "GB", "TB"];
    let mut div: u128 = 1;
    for unit in units {
        div *= 1024;
        if u128::from(bytes) <= 5120 * div {
            return format_fixed2(bytes, div, unit);
        }
    }
    format_fixed2(bytes, div * 1024, "PB")
}

/// `bytes / div` with two decimals, rounded half-up, computed exactly.
fn format_fixed2(bytes: u64, div: u128, unit: &str) -> String {
    let hundredths = (u128::from(bytes) * 200 + div) / (2 * div);
    format!("{}.{:02}{unit}", hundredths / 100, hundredths % 100)
}

#[cfg(test)]
mod tests {
    use super::human_readable_size;

    #[test]
    fn java_examples() {
        // docs/protocol.md §5.2, run in Java.
        for (b, s) in [
            (0, "0B"),
            (5120, "5120B"),
            (5121, "5.00KB"),
            (77_542, "75.72KB"),
            (1_048_576, "1024.00KB"),
            (10_485_760, "10.00MB"),
            (1_073_741_824, "1024.00MB"),
        ] {
            assert_eq!(human_readable_size(b), s, "{b}");
        }
        // Exact ties round half-up (5.125 → 5.13), unlike Rust's formatter.
        assert_eq!(human_readable_size(5248), "5.13KB");
        assert_eq!(human_readable_size(u64::MAX), "16384.00PB");
    }
}
