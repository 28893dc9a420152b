//! Which under-storage directory an S3 bucket names (docs/protocol.md §8).
//!
//! With one root (Alluxio OSS: one UFS root) a bucket is a directory right
//! below it: `/{bucket}/{key}` is `root/bucket/key`, so the REST API's
//! `mPath` (the path below the root) is the S3 path, as the alluxiofs 1.1
//! client assumes. With several roots each root is a mount whose name is
//! the bucket (Alluxio EE: "mount points become the buckets"): the root's
//! last path component (`file:///data/train` → `train`, `s3://bench` →
//! `bench`).

use crate::error::{Error, Result};
use crate::worker::ufs::{join_url, last_segment};

/// The buckets of a worker.
#[derive(Debug, Clone)]
pub enum Mounts {
    /// One root: buckets are its top-level directories.
    Single(String),
    /// Several roots, each a bucket by name: `(name, root URL)`.
    Named(Vec<(String, String)>),
}

/// Whether `s` may be one path component (a bucket, or a key's segment).
fn plain_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

impl Mounts {
    /// The mounts of a worker with the under-storage `roots` (cleaned URLs);
    /// two roots with the same last component are a configuration error.
    pub fn new(roots: &[String]) -> Result<Self> {
        if let [one] = roots {
            return Ok(Self::Single(one.clone()));
        }
        let mut named: Vec<(String, String)> = Vec::with_capacity(roots.len());
        for root in roots {
            let name = last_segment(root.trim_end_matches('/')).to_owned();
            if let Some((_, other)) = named.iter().find(|(n, _)| *n == name) {
                return Err(Error::InvalidConfig(format!(
                    "S3 API: the roots {other} and {root} would both be bucket {name:?}"
                )));
            }
            named.push((name, root.clone()));
        }
        Ok(Self::Named(named))
    }

    /// The directory URL of `bucket`; `NotFound` (NoSuchBucket) if no such
    /// bucket can exist.
    pub fn bucket_url(&self, bucket: &str) -> Result<String> {
        if !plain_segment(bucket) {
            return Err(Error::NotFound(format!("no bucket {bucket:?}")));
        }
        match self {
            Self::Single(root) => Ok(join_url(root, bucket)),
            Self::Named(named) => named
                .iter()
                .find(|(n, _)| n == bucket)
                .map(|(_, root)| root.clone())
                .ok_or_else(|| Error::NotFound(format!("no bucket {bucket:?}"))),
        }
    }

    /// The URL of `key` in `bucket`. A key with an empty, `.` or `..`
    /// segment (other than a trailing `/`) names nothing in a file system
    /// tree: `PermissionDenied` (AccessDenied), as the REST API's confinement.
    pub fn object_url(&self, bucket: &str, key: &str) -> Result<String> {
        let base = self.bucket_url(bucket)?;
        let body = key.strip_suffix('/').unwrap_or(key);
        if !body.split('/').all(plain_segment) {
            return Err(Error::PermissionDenied(format!(
                "key {key:?}: empty, '.' or '..' segments are not allowed"
            )));
        }
        Ok(join_url(&base, body))
    }

    /// The buckets' names and directory URLs for ListBuckets: the mounts, or
    /// with one root its top-level directories (listed by the caller).
    pub fn named(&self) -> Option<&[(String, String)]> {
        match self {
            Self::Single(_) => None,
            Self::Named(n) => Some(n),
        }
    }

    /// The mount table as `/v1/ufsInfo` answers it: root URL with a trailing
    /// `/` → the Alluxio path it is mounted at.
    pub fn table(&self) -> Vec<(String, String)> {
        let slash = |u: &str| format!("{}/", u.trim_end_matches('/'));
        match self {
            Self::Single(root) => vec![(slash(root), "/".to_owned())],
            Self::Named(named) => named
                .iter()
                .map(|(n, root)| (slash(root), format!("/{n}/")))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_root_buckets_are_its_directories() {
        let m = Mounts::new(&["file:///data".into()]).unwrap();
        assert_eq!(m.object_url("b", "d/k").unwrap(), "file:///data/b/d/k");
        assert_eq!(m.object_url("b", "d/").unwrap(), "file:///data/b/d");
        assert_eq!(m.bucket_url("b").unwrap(), "file:///data/b");
        assert_eq!(m.table(), vec![("file:///data/".into(), "/".into())]);
    }

    #[test]
    fn several_roots_are_mounts_by_name() {
        let m = Mounts::new(&["file:///x/train".into(), "s3://bench".into()]).unwrap();
        assert_eq!(m.object_url("bench", "a/b").unwrap(), "s3://bench/a/b");
        assert_eq!(m.object_url("train", "f").unwrap(), "file:///x/train/f");
        assert!(matches!(m.bucket_url("other"), Err(Error::NotFound(_))));
        let clash = Mounts::new(&["file:///a/d".into(), "file:///b/d".into()]);
        assert!(matches!(clash, Err(Error::InvalidConfig(_))));
    }

    #[test]
    fn tricks_are_refused() {
        let m = Mounts::new(&["file:///data".into()]).unwrap();
        for key in [
            "../etc/passwd",
            "a/../../x",
            "a//b",
            "./a",
            "a/./b",
            "a\\..\\b",
            "a\0b",
        ] {
            assert!(m.object_url("b", key).is_err(), "{key:?}");
        }
        for bucket in ["..", ".", "", "a/b"] {
            assert!(m.bucket_url(bucket).is_err(), "{bucket:?}");
        }
    }
}
