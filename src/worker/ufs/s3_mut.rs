//! S3 backend, write side: put, directory markers, delete, server-side copy
//! and rename. See `s3.rs` for the directory model.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::path::{strip_base, S3Target};
use super::s3::{
    classify, has_any_under, head_file, is_root, key_of, key_url, marker_key, os_err, store, under,
    Obj,
};
use crate::error::{Error, Result};

async fn put(t: &S3Target, key: &Key, data: Bytes) -> Result<()> {
    store(t)
        .put(key, PutPayload::from(data))
        .await
        .map(|_| ())
        .map_err(|e| os_err(&t.url, e))
}

/// One PUT: S3 makes it visible all at once.
pub(crate) async fn write(t: &S3Target, data: Bytes) -> Result<()> {
    if is_root(t) {
        return Err(Error::IsADirectory(t.url.clone()));
    }
    put(t, &key_of(t)?, data).await
}

/// Writes the `dir/` marker (parents exist through it); fails only if a
/// file holds the name. The root needs nothing.
pub(crate) async fn mkdir(t: &S3Target) -> Result<()> {
    if is_root(t) {
        return Ok(());
    }
    if head_file(t).await?.is_some() {
        return Err(Error::AlreadyExists(format!("{} (not a directory)", t.url)));
    }
    put(t, &marker_key(&key_of(t)?), Bytes::new()).await
}

/// Creates an empty object unless a file or directory exists (S3 cannot
/// bump an mtime without rewriting the object, so an existing one is kept).
pub(crate) async fn touch(t: &S3Target) -> Result<()> {
    if is_root(t) || head_file(t).await?.is_some() || has_any_under(t).await? {
        return Ok(());
    }
    write(t, Bytes::new()).await
}

fn refuse_root(t: &S3Target, what: &str) -> Result<()> {
    if is_root(t) {
        return Err(Error::PermissionDenied(format!(
            "refusing to {what} the under-storage root {}",
            t.url
        )));
    }
    Ok(())
}

/// Deletes raw keys (bulk DeleteObjects, batched by object_store).
async fn delete_all(t: &S3Target, keys: Vec<Key>) -> Result<()> {
    let stream = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
    store(t)
        .delete_stream(stream)
        .try_collect::<Vec<_>>()
        .await
        .map(|_| ())
        .map_err(|e| os_err(&t.url, e))
}

/// The raw key to delete for a listed object.
fn raw_key(o: &Obj) -> Key {
    match o {
        Obj::File(m) => m.location.clone(),
        Obj::Marker(k) => marker_key(k),
    }
}

/// Removes an object, or every object (markers included) under a prefix.
pub(crate) async fn remove(t: &S3Target, recursive: bool) -> Result<()> {
    refuse_root(t, "remove")?;
    if head_file(t).await?.is_some() {
        return store(t)
            .delete(&key_of(t)?)
            .await
            .map_err(|e| os_err(&t.url, e));
    }
    let objs = classify(t, under(t).await?).await?;
    if objs.is_empty() {
        return Err(Error::NotFound(t.url.clone()));
    }
    // Only the directory's own marker may be there without `recursive`.
    let own_marker = |o: &Obj| matches!(o, Obj::Marker(k) if k.as_ref() == t.key);
    if !recursive && !objs.iter().all(own_marker) {
        return Err(Error::NotEmpty(t.url.clone()));
    }
    delete_all(t, objs.iter().map(raw_key).collect()).await
}

/// Whether anything (object or prefix) exists at `t`.
async fn exists(t: &S3Target) -> Result<bool> {
    Ok(is_root(t) || head_file(t).await?.is_some() || has_any_under(t).await?)
}

/// `dst`'s key plus a relative part (`""` = `dst` itself).
fn dst_key(dst: &S3Target, rel: &str) -> String {
    match (dst.key.is_empty(), rel.is_empty()) {
        (_, true) => dst.key.clone(),
        (true, false) => rel.to_string(),
        (false, false) => format!("{}/{rel}", dst.key),
    }
}

/// Server-side copies of a file, or of a prefix tree (markers recreated),
/// within one bucket. Returns the raw source keys copied, for rename.
async fn copy_keys(src: &S3Target, dst: &S3Target, recursive: bool) -> Result<Vec<Key>> {
    if !is_root(src) && head_file(src).await?.is_some() {
        if is_root(dst) || has_any_under(dst).await? {
            return Err(Error::InvalidArgument(format!(
                "{} is a directory",
                dst.url
            )));
        }
        let (s, d) = (key_of(src)?, key_of(dst)?);
        store(src)
            .copy(&s, &d)
            .await
            .map_err(|e| os_err(&src.url, e))?;
        return Ok(vec![s]);
    }
    let objs = under(src).await?;
    if objs.is_empty() && !is_root(src) {
        return Err(Error::NotFound(src.url.clone()));
    }
    if !recursive {
        // A directory where a file copy was asked: what fsspec's recursive
        // copy reads as "make the directory" (IsADirectoryError).
        return Err(Error::IsADirectory(src.url.clone()));
    }
    if strip_base(&dst.key, &src.key).is_some() {
        return Err(Error::InvalidArgument(format!(
            "cannot copy {} into itself ({})",
            src.url, dst.url
        )));
    }
    if !is_root(dst) && head_file(dst).await?.is_some() {
        return Err(Error::AlreadyExists(format!(
            "{} (not a directory)",
            dst.url
        )));
    }
    let mut copied = Vec::new();
    for o in classify(src, objs).await? {
        let from = match &o {
            Obj::File(m) => &m.location,
            Obj::Marker(k) => k,
        };
        let rel = strip_base(from.as_ref(), &src.key).unwrap_or_default();
        let to = dst_key(dst, rel);
        let to_url = key_url(&dst.root.bucket, &to);
        let to = Key::parse(&to).map_err(|e| Error::InvalidArgument(format!("{to_url}: {e}")))?;
        match &o {
            Obj::File(m) => store(src)
                .copy(&m.location, &to)
                .await
                .map_err(|e| os_err(&to_url, e))?,
            // The destination root exists without a marker.
            Obj::Marker(_) if to.as_ref() == dst.root.prefix => {}
            Obj::Marker(_) => put(dst, &marker_key(&to), Bytes::new()).await?,
        }
        copied.push(raw_key(&o));
    }
    Ok(copied)
}

/// Copy within one bucket (server-side).
pub(crate) async fn copy(src: &S3Target, dst: &S3Target, recursive: bool) -> Result<()> {
    copy_keys(src, dst, recursive).await.map(|_| ())
}

/// Rename within one bucket: copy, then delete the sources. Not atomic (S3
/// has no rename); a failure midway leaves both copies, never neither.
pub(crate) async fn rename(src: &S3Target, dst: &S3Target) -> Result<()> {
    refuse_root(src, "rename")?;
    refuse_root(dst, "replace")?;
    if !exists(src).await? {
        return Err(Error::NotFound(src.url.clone()));
    }
    if exists(dst).await? {
        return Err(Error::AlreadyExists(dst.url.clone()));
    }
    let keys = copy_keys(src, dst, true).await?;
    delete_all(src, keys).await
}
