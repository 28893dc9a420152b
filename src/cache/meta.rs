//! File versions: what the cluster says a file is (size, modification
//! time, content hash), the key its cached pages are stored under, and the
//! record that lets every process on the node reuse a check for
//! `local_cache_metadata_ttl` seconds instead of asking the cluster again.
//!
//! A version's pages are keyed by the version, so once a newer version is
//! seen the old pages can never be served (they are also removed), and a
//! read, which pins one version for all its pages, never mixes two.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_128;

/// First line of a version record.
const MAGIC: &str = "afsmeta1";

/// One version of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, epoch ms.
    pub mtime_ms: i64,
    /// Content hash (empty where the under storage has none).
    pub hash: String,
    /// Key of its pages: a hash of the path and all of the above.
    pub key: u128,
}

impl FileVersion {
    /// The version of `path` with these attributes.
    pub fn new(path: &str, len: u64, mtime_ms: i64, hash: String) -> Self {
        let key = xxh3_128(format!("{path}\0{len}\0{mtime_ms}\0{hash}").as_bytes());
        Self {
            len,
            mtime_ms,
            hash,
            key,
        }
    }

    /// Pages it has at `page_size`.
    pub fn pages(&self, page_size: u64) -> u64 {
        self.len.div_ceil(page_size)
    }
}

/// Where the record for `path` lives under a namespace root.
pub fn record_path(root: &Path, path: &str) -> PathBuf {
    let h = xxh3_128(path.as_bytes());
    root.join("meta")
        .join(format!("{:02x}", (h >> 120) as u8))
        .join(format!("{h:032x}"))
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The record for `path` and how long ago it was checked, if there is a
/// well-formed one for exactly this path.
pub fn load(root: &Path, path: &str) -> Option<(FileVersion, Duration)> {
    let text = fs::read_to_string(record_path(root, path)).ok()?;
    let mut lines = text.splitn(6, '\n');
    if lines.next()? != MAGIC {
        return None;
    }
    let checked: u64 = lines.next()?.parse().ok()?;
    let len: u64 = lines.next()?.parse().ok()?;
    let mtime_ms: i64 = lines.next()?.parse().ok()?;
    let hash = lines.next()?.to_owned();
    if lines.next()? != path {
        return None;
    }
    let age = Duration::from_millis(now_ms().saturating_sub(checked));
    Some((FileVersion::new(path, len, mtime_ms, hash), age))
}

/// Records `v` as checked now (written whole, then renamed into place).
pub fn store(root: &Path, path: &str, v: &FileVersion) -> std::io::Result<()> {
    let dst = record_path(root, path);
    let dir = dst.parent().expect("a shard");
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}-{:x}",
        std::process::id(),
        now_ms() ^ (v.key as u64)
    ));
    let body = format!(
        "{MAGIC}\n{}\n{}\n{}\n{}\n{path}",
        now_ms(),
        v.len,
        v.mtime_ms,
        v.hash.replace('\n', " ")
    );
    fs::write(&tmp, body)?;
    fs::rename(&tmp, &dst).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_for_its_path_only() {
        let t = tempfile::tempdir().unwrap();
        let v = FileVersion::new("s3://b/k", 10, 5, "etag".into());
        store(t.path(), "s3://b/k", &v).unwrap();
        let (got, age) = load(t.path(), "s3://b/k").unwrap();
        assert_eq!(got, v);
        assert!(age < Duration::from_secs(60));
        assert!(load(t.path(), "s3://b/other").is_none());
        assert_ne!(
            v.key,
            FileVersion::new("s3://b/k", 10, 6, "etag".into()).key
        );
        assert_ne!(
            v.key,
            FileVersion::new("s3://b/k2", 10, 5, "etag".into()).key
        );
    }
}
