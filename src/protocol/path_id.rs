//! File ids in worker URLs: `lowercase_hex(SHA-256(UTF-8(full UFS path)))`
//! (docs/protocol.md §4.1), computed on the raw string.

use sha2::{Digest, Sha256};

/// The `path_id` of a full UFS path, as alluxiofs computes it.
pub fn path_id(ufs_path: &str) -> String {
    hex::encode(Sha256::digest(ufs_path.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::path_id;

    #[test]
    fn spec_examples() {
        assert_eq!(
            path_id("s3://bucket/path/to/file"),
            "745ccda354863f67c5cab1991b283fcb031077f4abbd767a955861defccf8d35"
        );
        assert_eq!(
            path_id("file:///opt/alluxio/ufs/test.csv"),
            "1d640ded09e5b845c0df92a122da498b3e54ff3071e5378b4be7d4cff228ef75"
        );
    }
}
