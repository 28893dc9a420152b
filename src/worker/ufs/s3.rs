//! S3 backend on `object_store`, read side (the write side is `s3_mut.rs`).
//!
//! Directories are key prefixes: a directory exists while at least one key
//! lies under `dir/`; the root (bucket or root prefix) always exists. `mkdir`
//! writes a zero-byte `dir/` marker, as Alluxio and Hadoop's s3a do, so empty
//! directories exist; markers are never listed as files and are removed,
//! renamed and copied with their directory. When a key is both a file and a
//! prefix (`a` and `a/b`), `stat` and `list` see the file.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};

use bytes::Bytes;

use super::path::S3Target;
use super::{last_segment, S3Options, UfsStatus};
use crate::error::{Error, Result};

/// A client for one bucket: `from_env()` (the usual `AWS_*` variables), then
/// every option that is set overrides it.
pub(crate) fn build_store(bucket: &str, opts: &S3Options) -> Result<AmazonS3> {
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(endpoint) = &opts.endpoint {
        // Test servers and on-premise gateways speak plain HTTP.
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(v) = &opts.region {
        b = b.with_region(v);
    }
    if let Some(v) = &opts.access_key_id {
        b = b.with_access_key_id(v);
    }
    if let Some(v) = &opts.secret_access_key {
        b = b.with_secret_access_key(v);
    }
    if let Some(v) = &opts.session_token {
        b = b.with_token(v);
    }
    b.build().map_err(|e| {
        Error::InvalidArgument(format!("cannot configure S3 for bucket {bucket}: {e}"))
    })
}

/// Maps an object_store error on `url` to the crate error.
pub(crate) fn os_err(url: &str, e: object_store::Error) -> Error {
    match e {
        object_store::Error::NotFound { .. } => Error::NotFound(url.to_string()),
        object_store::Error::AlreadyExists { .. } => Error::AlreadyExists(url.to_string()),
        object_store::Error::InvalidPath { source } => {
            Error::InvalidArgument(format!("{url}: {source}"))
        }
        other => Error::Ufs {
            path: url.to_string(),
            message: other.to_string(),
        },
    }
}

pub(crate) fn key_of(t: &S3Target) -> Result<Key> {
    Key::parse(&t.key).map_err(|e| Error::InvalidArgument(format!("{}: {e}", t.url)))
}

pub(crate) fn store(t: &S3Target) -> &AmazonS3 {
    &t.root.store
}

pub(crate) fn is_root(t: &S3Target) -> bool {
    t.key == t.root.prefix
}

pub(crate) fn key_url(bucket: &str, key: &str) -> String {
    if key.is_empty() {
        format!("s3://{bucket}")
    } else {
        format!("s3://{bucket}/{key}")
    }
}

fn file_status(bucket: &str, m: &ObjectMeta) -> UfsStatus {
    let url = key_url(bucket, m.location.as_ref());
    UfsStatus {
        name: last_segment(&url).to_string(),
        is_dir: false,
        length: m.size,
        mtime_ms: m.last_modified.timestamp_millis(),
        // S3 keeps no creation time (LastModified is the last write's).
        ctime_ms: 0,
        content_hash: m
            .e_tag
            .as_deref()
            .unwrap_or("")
            .trim_matches('"')
            .to_string(),
        url,
    }
}

fn dir_status(url: String) -> UfsStatus {
    UfsStatus {
        name: last_segment(&url).to_string(),
        is_dir: true,
        length: 0,
        mtime_ms: 0,
        ctime_ms: 0,
        content_hash: String::new(),
        url,
    }
}

/// The object at exactly this key, if any (never for the bucket itself).
pub(crate) async fn head_file(t: &S3Target) -> Result<Option<ObjectMeta>> {
    if t.key.is_empty() {
        return Ok(None);
    }
    match store(t).head(&key_of(t)?).await {
        Ok(m) => Ok(Some(m)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(os_err(&t.url, e)),
    }
}

fn prefix_of(t: &S3Target) -> Result<Option<Key>> {
    Ok(if t.key.is_empty() {
        None
    } else {
        Some(key_of(t)?)
    })
}

/// Every object under `key/` (markers included).
pub(crate) async fn under(t: &S3Target) -> Result<Vec<ObjectMeta>> {
    store(t)
        .list(prefix_of(t)?.as_ref())
        .try_collect()
        .await
        .map_err(|e| os_err(&t.url, e))
}

/// Whether at least one object lies under `key/`.
pub(crate) async fn has_any_under(t: &S3Target) -> Result<bool> {
    match store(t).list(prefix_of(t)?.as_ref()).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(e)) => Err(os_err(&t.url, e)),
    }
}

/// A directory's `dir/` marker key. object_store's `Path::parse` strips a
/// trailing `/`, but appending an empty part keeps one (checked against moto
/// by the S3 tests).
pub(crate) fn marker_key(dir: &Key) -> Key {
    dir.clone().join("")
}

/// Whether an object exists at exactly `key`.
async fn head_exists(t: &S3Target, key: &Key) -> Result<bool> {
    match store(t).head(key).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(os_err(&t.url, e)),
    }
}

/// A listed object: a file, or a `dir/` marker (its key without the `/`).
pub(crate) enum Obj {
    /// A real object.
    File(ObjectMeta),
    /// A directory marker.
    Marker(Key),
}

/// Tells files from markers. Listings drop a marker's trailing `/`, so an
/// empty object is a marker if it is the listed directory itself, or if no
/// object exists under its key without the slash (one HEAD each).
pub(crate) async fn classify(t: &S3Target, objs: Vec<ObjectMeta>) -> Result<Vec<Obj>> {
    let mut files = HashSet::new();
    let mut out = Vec::with_capacity(objs.len());
    for m in objs {
        let marker = m.location.as_ref() == t.key
            || (m.size == 0
                && (files.contains(&m.location) || !head_exists(t, &m.location).await?));
        if marker {
            out.push(Obj::Marker(m.location));
        } else {
            files.insert(m.location.clone());
            out.push(Obj::File(m));
        }
    }
    Ok(out)
}

/// Status of a key or a prefix.
pub(crate) async fn stat(t: &S3Target) -> Result<UfsStatus> {
    if is_root(t) {
        return Ok(dir_status(t.url.clone()));
    }
    if let Some(m) = head_file(t).await? {
        return Ok(file_status(&t.root.bucket, &m));
    }
    if has_any_under(t).await? {
        return Ok(dir_status(t.url.clone()));
    }
    Err(Error::NotFound(t.url.clone()))
}

/// Immediate children (one delimiter listing), or a file's own status.
pub(crate) async fn list(t: &S3Target) -> Result<Vec<UfsStatus>> {
    if !is_root(t) {
        if let Some(m) = head_file(t).await? {
            return Ok(vec![file_status(&t.root.bucket, &m)]);
        }
    }
    let res = store(t)
        .list_with_delimiter(prefix_of(t)?.as_ref())
        .await
        .map_err(|e| os_err(&t.url, e))?;
    if res.common_prefixes.is_empty() && res.objects.is_empty() && !is_root(t) {
        return Err(Error::NotFound(t.url.clone()));
    }
    let bucket = &t.root.bucket;
    let mut out: Vec<UfsStatus> = res
        .common_prefixes
        .iter()
        .map(|p| dir_status(key_url(bucket, p.as_ref())))
        .chain(
            res.objects
                .iter()
                .filter(|m| m.location.as_ref() != t.key)
                .map(|m| file_status(bucket, m)),
        )
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.is_dir.cmp(&b.is_dir)));
    Ok(out)
}

/// Every object under a prefix (or the object itself), sorted by URL.
pub(crate) async fn list_files_recursive(t: &S3Target) -> Result<Vec<UfsStatus>> {
    if !is_root(t) {
        if let Some(m) = head_file(t).await? {
            return Ok(vec![file_status(&t.root.bucket, &m)]);
        }
    }
    let objs = under(t).await?;
    if objs.is_empty() && !is_root(t) {
        return Err(Error::NotFound(t.url.clone()));
    }
    let mut out: Vec<UfsStatus> = classify(t, objs)
        .await?
        .iter()
        .filter_map(|o| match o {
            Obj::File(m) => Some(file_status(&t.root.bucket, m)),
            Obj::Marker(_) => None,
        })
        .collect();
    out.sort_by(|a, b| a.url.cmp(&b.url));
    Ok(out)
}

/// One ranged GET; past-the-end and zero-length reads cost a HEAD instead.
pub(crate) async fn read(t: &S3Target, offset: u64, len: u64) -> Result<Bytes> {
    if len == 0 {
        return match head_file(t).await? {
            Some(_) => Ok(Bytes::new()),
            None => Err(Error::NotFound(t.url.clone())),
        };
    }
    let key = key_of(t)?;
    let opts = GetOptions {
        range: Some(GetRange::Bounded(offset..offset.saturating_add(len))),
        ..Default::default()
    };
    match store(t).get_opts(&key, opts).await {
        Ok(r) => r.bytes().await.map_err(|e| os_err(&t.url, e)),
        Err(object_store::Error::NotFound { .. }) => Err(Error::NotFound(t.url.clone())),
        // S3 answers 416 for a range starting at or past the end.
        Err(e) => match head_file(t).await? {
            None => Err(Error::NotFound(t.url.clone())),
            Some(m) if offset >= m.size => Ok(Bytes::new()),
            Some(_) => Err(os_err(&t.url, e)),
        },
    }
}
