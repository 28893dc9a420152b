//! `info` and `list` (docs/protocol.md §5.2, §5.3) from the owner of the path.

use serde::Deserialize;

use super::http::form_encode;
use super::ClientCore;
use crate::error::{Error, Result, TransportKind};

/// One `ResponseFileInfo`: the OSS fields plus the EE ones (defaulted when absent).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileStatus {
    /// `"file"` or `"directory"`.
    #[serde(rename = "mType")]
    pub kind: String,
    /// Base name.
    #[serde(rename = "mName")]
    pub name: String,
    /// Path under the worker's under-storage root.
    #[serde(rename = "mPath", default)]
    pub path: String,
    /// Full under-storage URL.
    #[serde(rename = "mUfsPath")]
    pub ufs_path: String,
    /// Modification time, epoch ms.
    #[serde(rename = "mLastModificationTimeMs", default)]
    pub mtime_ms: i64,
    /// Bytes.
    #[serde(rename = "mLength", default)]
    pub length: u64,
    /// Human-readable size.
    #[serde(rename = "mHumanReadableFileSize", default)]
    pub human_size: String,
    /// EE: share cached on the worker, 0–100.
    #[serde(rename = "mInAlluxioPercentage", default)]
    pub in_alluxio_percentage: i64,
    /// EE: content hash.
    #[serde(rename = "mContentHash", default)]
    pub content_hash: String,
    /// EE: owner.
    #[serde(rename = "mOwner", default)]
    pub owner: String,
    /// EE: group.
    #[serde(rename = "mGroup", default)]
    pub group: String,
    /// EE: mode (an int or a string, depending on the server).
    #[serde(rename = "mMode", default)]
    pub mode: serde_json::Value,
    /// EE: creation time, epoch ms.
    #[serde(rename = "mCreationTimeMs", default)]
    pub creation_time_ms: i64,
    /// EE: last access, epoch ms.
    #[serde(rename = "mLastAccessTimeMs", default)]
    pub last_access_time_ms: i64,
    /// EE: complete.
    #[serde(rename = "mCompleted", default)]
    pub completed: bool,
    /// EE: persisted.
    #[serde(rename = "mPersisted", default)]
    pub persisted: bool,
}

impl FileStatus {
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == "directory"
    }
}

/// Parses a `/v1/files` or `/v1/info` answer (public for the fuzz tests).
#[doc(hidden)]
pub fn parse_list(worker: &str, body: &[u8]) -> Result<Vec<FileStatus>> {
    serde_json::from_slice(body)
        .map_err(|e| Error::transport(worker, TransportKind::BadBody, format!("file list: {e}")))
}

/// Parses a `/v1/files` answer as [`parse_list`] does, handing the entries
/// to `sink` in batches of `batch` as they are parsed, so that a caller can
/// use one batch while the next is parsed. `sink` returns `false` to stop
/// (then this returns an error). Entries handed over before an error are
/// not valid on their own: the caller discards them.
pub fn parse_list_batches(
    worker: &str,
    body: &[u8],
    batch: usize,
    mut sink: impl FnMut(Vec<FileStatus>) -> bool,
) -> Result<()> {
    let malformed = |e: serde_json::Error| {
        Error::transport(worker, TransportKind::BadBody, format!("file list: {e}"))
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_seq(
        &mut de,
        Batches {
            batch: batch.max(1),
            sink: &mut sink,
        },
    )
    .map_err(malformed)?;
    de.end().map_err(malformed)
}

/// The sequence visitor behind [`parse_list_batches`].
struct Batches<'s, F> {
    batch: usize,
    sink: &'s mut F,
}

impl<'de, F: FnMut(Vec<FileStatus>) -> bool> serde::de::Visitor<'de> for Batches<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of file statuses")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<(), A::Error> {
        let stopped = || <A::Error as serde::de::Error>::custom("the reader stopped");
        let mut cur = Vec::with_capacity(self.batch);
        while let Some(s) = seq.next_element::<FileStatus>()? {
            cur.push(s);
            if cur.len() == self.batch
                && !(self.sink)(std::mem::replace(&mut cur, Vec::with_capacity(self.batch)))
            {
                return Err(stopped());
            }
        }
        if !cur.is_empty() && !(self.sink)(cur) {
            return Err(stopped());
        }
        Ok(())
    }
}

impl ClientCore {
    /// Status of `path` (a full UFS URL).
    pub async fn info(&self, path: &str) -> Result<FileStatus> {
        let q = format!("/v1/info?path={}", form_encode(path));
        self.with_failover(path, true, |w| {
            let q = q.clone();
            async move {
                let body = self.http.send(&w, reqwest::Method::GET, &q, None).await?;
                parse_list(&w.http_authority(), &body)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        Error::transport(
                            w.http_authority(),
                            TransportKind::BadBody,
                            format!("empty info for {path}"),
                        )
                    })
            }
        })
        .await
    }

    /// The raw `/v1/files` answer for `path` and the worker that gave it,
    /// for callers that parse it with [`parse_list_batches`] (and fall back
    /// to [`ClientCore::list`], which retries elsewhere, if it is malformed).
    pub async fn list_body(&self, path: &str) -> Result<(String, bytes::Bytes)> {
        self.list_with(path, |worker, body| Ok((worker, body)))
            .await
    }

    /// Children of the directory `path` (or the file itself).
    pub async fn list(&self, path: &str) -> Result<Vec<FileStatus>> {
        self.list_with(path, |worker, body| parse_list(&worker, &body))
            .await
    }

    /// `GET /v1/files` for `path` with failover; `take` gets the worker and
    /// the answer, and its error counts as that worker's failure.
    async fn list_with<T>(
        &self,
        path: &str,
        take: impl Fn(String, bytes::Bytes) -> Result<T>,
    ) -> Result<T> {
        let q = format!("/v1/files?path={}", form_encode(path));
        let take = &take;
        self.with_failover(path, true, |w| {
            let q = q.clone();
            async move {
                let body = self.http.send(&w, reqwest::Method::GET, &q, None).await?;
                take(w.http_authority(), body)
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_oss_and_ee_shapes() {
        let oss = br#"[{"mType":"file","mName":"test.csv","mPath":"/opt/alluxio/ufs/test.csv","mUfsPath":"file:///opt/alluxio/ufs/test.csv","mLastModificationTimeMs":1710000000000,"mLength":77542,"mHumanReadableFileSize":"75.72KB"}]"#;
        let s = &parse_list("w", oss).unwrap()[0];
        assert_eq!(
            (s.length, s.is_dir(), s.in_alluxio_percentage),
            (77542, false, 0)
        );
        let ee = br#"[{"mType":"directory","mName":"d","mUfsPath":"s3://b/d","mMode":"rwx","mInAlluxioPercentage":50,"mExtra":1}]"#;
        let s = &parse_list("w", ee).unwrap()[0];
        assert!(s.is_dir());
        assert_eq!(s.mode, serde_json::json!("rwx"));
        assert!(parse_list("w", b"{not json").unwrap_err().is_retryable());
    }

    #[test]
    fn batches_parse_as_the_whole_list_does() {
        let entry = |i: usize| {
            format!(
                r#"{{"mType":"file","mName":"f{i}","mUfsPath":"file:///d/f{i}","mLength":{i}}}"#
            )
        };
        for n in [0, 1, 2, 3, 7, 8, 9] {
            let body = format!("[{}]", (0..n).map(entry).collect::<Vec<_>>().join(","));
            let mut got = Vec::new();
            let mut sizes = Vec::new();
            parse_list_batches("w", body.as_bytes(), 4, |b| {
                sizes.push(b.len());
                got.extend(b);
                true
            })
            .unwrap();
            assert_eq!(got, parse_list("w", body.as_bytes()).unwrap());
            assert!(sizes.iter().all(|&k| (1..=4).contains(&k)), "{sizes:?}");
        }
        // Malformed anywhere (after batches went out too), trailing bytes,
        // another shape, or a reader that stops: all errors.
        let bad = format!("[{},{},{{\"mType\":1}}]", entry(0), entry(1));
        for body in [bad.as_str(), "[] x", "{}", "[{\"mType\":\"file\"}]"] {
            let e = parse_list_batches("w", body.as_bytes(), 1, |_| true).unwrap_err();
            assert!(e.is_retryable(), "{body}: {e}");
        }
        let two = format!("[{},{}]", entry(0), entry(1));
        assert!(parse_list_batches("w", two.as_bytes(), 1, |_| false).is_err());
    }
}
