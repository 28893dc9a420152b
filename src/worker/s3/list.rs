//! ListBuckets, HeadBucket and ListObjects (v1 and v2) over the under
//! storage's listings (docs/protocol.md §8): keys sorted by UTF-8 bytes,
//! `max-keys` capped at 1000 as S3 does, `delimiter` `/` only (what
//! Alluxio supports) giving the direct children, no delimiter a recursive
//! listing of files (directories are not keys: empty ones do not show, as
//! on S3). `encoding-type=url` encodes keys and prefixes as AWS does.

use std::fmt::Write;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::mounts::Mounts;
use super::xml::{element, iso8601, HEAD, XMLNS};
use super::{S3Error, S3Request, S3Result};
use crate::error::Error;
use crate::worker::state::Worker;
use crate::worker::ufs::UfsStatus;

/// The most keys one answer holds (S3's limit).
const MAX_KEYS: usize = 1000;

/// What `encoding-type=url` leaves alone: unreserved characters and `/`.
const KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

fn mounts(w: &Worker) -> Result<Mounts, S3Error> {
    Mounts::new(&w.ufs().roots()).map_err(|e| S3Error::from_error(&e, "NoSuchBucket"))
}

fn xml_response(body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// The directory of `bucket`, which must exist.
async fn bucket_dir(w: &Worker, bucket: &str) -> Result<String, S3Error> {
    let url = mounts(w)?
        .bucket_url(bucket)
        .map_err(|e| S3Error::from_error(&e, "NoSuchBucket"))?;
    match w.ufs().stat(&url).await {
        Ok(st) if st.is_dir => Ok(url),
        Ok(_) => Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            format!("no bucket {bucket:?}"),
        )),
        Err(e) => Err(S3Error::from_error(&e, "NoSuchBucket")),
    }
}

/// `GET /`: the mounts, or with one root its top-level directories.
pub async fn buckets(w: &Worker) -> S3Result {
    let m = mounts(w)?;
    let mut names: Vec<(String, i64)> = Vec::new();
    match (m.named(), &m) {
        (Some(named), _) => {
            for (name, root) in named {
                let ms = w.ufs().stat(root).await.map_or(0, |st| st.mtime_ms);
                names.push((name.clone(), ms));
            }
        }
        (None, Mounts::Single(root)) => {
            let all = w
                .ufs()
                .list(root)
                .await
                .map_err(|e| S3Error::from_error(&e, "NoSuchBucket"))?;
            names.extend(
                all.into_iter()
                    .filter(|s| s.is_dir)
                    .map(|s| (s.name, s.mtime_ms)),
            );
        }
        (None, Mounts::Named(_)) => {}
    }
    let mut out = format!(
        "{HEAD}<ListAllMyBucketsResult xmlns=\"{XMLNS}\"><Owner><ID>alluxio</ID></Owner><Buckets>"
    );
    for (name, ms) in names {
        out.push_str("<Bucket>");
        element(&mut out, "Name", &name);
        element(&mut out, "CreationDate", &iso8601(ms));
        out.push_str("</Bucket>");
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_response(out))
}

/// `HEAD /{bucket}`.
pub async fn head_bucket(w: &Worker, r: &S3Request) -> S3Result {
    bucket_dir(w, &r.bucket).await?;
    Ok(Response::new(Body::empty()))
}

/// One listed key: a file, or (with a delimiter) a common prefix.
struct Listed {
    key: String,
    file: Option<UfsStatus>,
}

fn bad(message: String) -> S3Error {
    S3Error::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
}

/// `GET /{bucket}[?list-type=2&prefix&delimiter&max-keys&continuation-token&start-after|marker]`.
pub async fn objects(w: &Worker, r: &S3Request) -> S3Result {
    let v2 = r.param("list-type") == Some("2");
    let prefix = r.param("prefix").unwrap_or("");
    let delimiter = r.param("delimiter").unwrap_or("");
    if !delimiter.is_empty() && delimiter != "/" {
        return Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("delimiter {delimiter:?}: only \"/\" is supported"),
        ));
    }
    let max_keys = match r.param("max-keys") {
        None => MAX_KEYS,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS))
            .ok_or_else(|| bad(format!("max-keys {v:?} is not a non-negative integer")))?,
    };
    let token = r.param("continuation-token");
    let after = if v2 {
        let from_token = match token {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        S3Error::new(
                            StatusCode::BAD_REQUEST,
                            "InvalidArgument",
                            "the continuation token is not valid",
                        )
                    })?,
            ),
            None => None,
        };
        from_token.or_else(|| r.param("start-after").map(str::to_owned))
    } else {
        r.param("marker").map(str::to_owned)
    };
    let dir = bucket_dir(w, &r.bucket).await?;
    let dir_prefix = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
    let base = if dir_prefix.is_empty() {
        dir.clone()
    } else {
        mounts(w)?
            .object_url(&r.bucket, dir_prefix)
            .map_err(|e| S3Error::from_error(&e, "NoSuchKey"))?
    };
    let listed = match collect(w, &dir, &base, !delimiter.is_empty()).await {
        Ok(l) => l,
        Err(Error::NotFound(_)) => Vec::new(),
        Err(e) => return Err(S3Error::from_error(&e, "NoSuchKey")),
    };
    let mut keys: Vec<Listed> = listed
        .into_iter()
        .filter(|l| {
            l.key.starts_with(prefix) && after.as_deref().is_none_or(|a| l.key.as_str() > a)
        })
        .collect();
    keys.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    let truncated = keys.len() > max_keys;
    keys.truncate(max_keys);
    let encode = r.param("encoding-type") == Some("url");
    let enc = |s: &str| -> String {
        if encode {
            utf8_percent_encode(s, KEY_SET).to_string()
        } else {
            s.to_owned()
        }
    };
    let mut out = format!("{HEAD}<ListBucketResult xmlns=\"{XMLNS}\">");
    element(&mut out, "Name", &r.bucket);
    element(&mut out, "Prefix", &enc(prefix));
    if !delimiter.is_empty() {
        element(&mut out, "Delimiter", &enc(delimiter));
    }
    let _ = write!(out, "<MaxKeys>{max_keys}</MaxKeys>");
    if encode {
        element(&mut out, "EncodingType", "url");
    }
    let _ = write!(out, "<IsTruncated>{truncated}</IsTruncated>");
    let last = keys.last().map(|l| l.key.clone());
    if v2 {
        let _ = write!(out, "<KeyCount>{}</KeyCount>", keys.len());
        if let Some(t) = token {
            element(&mut out, "ContinuationToken", t);
        }
        if let Some(s) = r.param("start-after") {
            element(&mut out, "StartAfter", &enc(s));
        }
        if let (true, Some(l)) = (truncated, &last) {
            element(&mut out, "NextContinuationToken", &hex::encode(l));
        }
    } else {
        element(&mut out, "Marker", &enc(r.param("marker").unwrap_or("")));
        if let (true, Some(l)) = (truncated, &last) {
            element(&mut out, "NextMarker", &enc(l));
        }
    }
    for l in &keys {
        match &l.file {
            Some(st) => {
                out.push_str("<Contents>");
                element(&mut out, "Key", &enc(&l.key));
                element(&mut out, "LastModified", &iso8601(st.mtime_ms));
                element(&mut out, "ETag", &super::object::etag(st));
                let _ = write!(out, "<Size>{}</Size>", st.length);
                element(&mut out, "StorageClass", "STANDARD");
                out.push_str("</Contents>");
            }
            None => {
                out.push_str("<CommonPrefixes>");
                element(&mut out, "Prefix", &enc(&l.key));
                out.push_str("</CommonPrefixes>");
            }
        }
    }
    out.push_str("</ListBucketResult>");
    Ok(xml_response(out))
}

/// The keys below `base` (a directory in the bucket at `dir`): its
/// children (directories as `key/` prefixes) or, recursively, its files.
async fn collect(
    w: &Worker,
    dir: &str,
    base: &str,
    children: bool,
) -> crate::error::Result<Vec<Listed>> {
    let key_of = |url: &str| -> Option<String> {
        url.strip_prefix(dir)
            .map(|rest| rest.trim_start_matches('/').to_owned())
    };
    let st = w.ufs().stat(base).await?;
    if !st.is_dir {
        return Ok(Vec::new()); // a file is no directory to list
    }
    let entries = if children {
        w.ufs().list(base).await?
    } else {
        w.ufs().list_files_recursive(base).await?
    };
    Ok(entries
        .into_iter()
        .filter_map(|st| {
            let key = key_of(&st.url)?;
            if key.is_empty() {
                return None;
            }
            Some(if st.is_dir {
                Listed {
                    key: format!("{key}/"),
                    file: None,
                }
            } else {
                Listed {
                    key,
                    file: Some(st),
                }
            })
        })
        .collect())
}
