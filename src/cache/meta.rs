//! File versions: what the cluster says a file is (size, modification
//! time, content hash) and the key its cached pages are stored under
//! (module `versions` shares checks between processes).
//!
//! A version's pages are keyed by the version, so once a newer version is
//! seen the old pages can never be served (they are also removed), and a
//! read, which pins one version for all its pages, never mixes two.

use xxhash_rust::xxh3::xxh3_128;

/// One version of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, epoch ms.
    pub mtime_ms: i64,
    /// Key of its pages: a hash of the path, the above and the content
    /// hash (empty where the under storage has none).
    pub key: u128,
}

impl FileVersion {
    /// The version of `path` with these attributes.
    pub fn new(path: &str, len: u64, mtime_ms: i64, hash: &str) -> Self {
        let key = xxh3_128(format!("{path}\0{len}\0{mtime_ms}\0{hash}").as_bytes());
        Self { len, mtime_ms, key }
    }

    /// Pages it has at `page_size`.
    pub fn pages(&self, page_size: u64) -> u64 {
        self.len.div_ceil(page_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_path_and_every_attribute() {
        let v = FileVersion::new("s3://b/k", 10, 5, "etag");
        assert_eq!(v, FileVersion::new("s3://b/k", 10, 5, "etag"));
        for other in [
            FileVersion::new("s3://b/k2", 10, 5, "etag"),
            FileVersion::new("s3://b/k", 11, 5, "etag"),
            FileVersion::new("s3://b/k", 10, 6, "etag"),
            FileVersion::new("s3://b/k", 10, 5, "etag2"),
        ] {
            assert_ne!(v.key, other.key);
        }
    }
}
