//! GetObject, HeadObject, PutObject and DeleteObject (docs/protocol.md §8).
//! Reads go through the worker's page store (`stream_range`), exactly as
//! `/v1/range` does; writes go through the under storage atomically, as
//! `POST /v1/chunk` does, and drop the file's cached pages.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use futures::TryStreamExt;

use super::mounts::Mounts;
use super::range::{self, Ranged};
use super::xml::http_date;
use super::{S3Error, S3Request, S3Result};
use crate::error::Error;
use crate::protocol::path_id::path_id;
use crate::worker::routes::stream_range;
use crate::worker::state::Worker;
use crate::worker::ufs::UfsStatus;

/// The object's ETag, quoted as S3 sends it: the under storage's content
/// hash (an S3 ETag) where it has one, else one made of the modification
/// time and size (local files), which changes whenever they do.
pub fn etag(st: &UfsStatus) -> String {
    let hash = st.content_hash.trim_matches('"');
    if hash.is_empty() {
        format!("\"{:x}-{:x}\"", st.mtime_ms, st.length)
    } else {
        format!("\"{hash}\"")
    }
}

fn url_of(w: &Worker, r: &S3Request) -> Result<String, S3Error> {
    let key = r.key.as_deref().unwrap_or("");
    let url = Mounts::new(&w.ufs().roots())
        .and_then(|m| m.object_url(&r.bucket, key))
        .map_err(|e| S3Error::from_error(&e, "NoSuchKey"))?;
    // Confinement (syntax, roots); symlinks are checked where the path is used.
    w.ufs()
        .check(&url)
        .map_err(|e| S3Error::from_error(&e, "NoSuchKey"))?;
    Ok(url)
}

fn no_such_key(r: &S3Request) -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        format!(
            "no key {:?} in bucket {:?}",
            r.key.as_deref().unwrap_or(""),
            r.bucket
        ),
    )
}

fn set(r: &mut Response<Body>, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// `GET`/`HEAD /{bucket}/{key}`, `Range` as S3 answers it (see `range.rs`).
/// A key ending in `/` names a directory: a 0-byte object if it exists.
pub async fn get(w: &Worker, r: &S3Request) -> S3Result {
    let url = url_of(w, r)?;
    let head = r.method == Method::HEAD;
    let dir_key = r.key.as_deref().is_some_and(|k| k.ends_with('/'));
    let st = match w.file_status(&url).await {
        Ok(st) => st,
        // A directory is not a file: file_status says so for local ones.
        Err(Error::IsADirectory(_)) if dir_key => w
            .ufs()
            .stat(&url)
            .await
            .map_err(|e| S3Error::from_error(&e, "NoSuchKey"))?,
        Err(Error::IsADirectory(_)) => return Err(no_such_key(r)),
        Err(e) => return Err(S3Error::from_error(&e, "NoSuchKey")),
    };
    if st.is_dir != dir_key {
        return Err(no_such_key(r));
    }
    let size = if st.is_dir { 0 } else { st.length };
    let ranged = if st.is_dir {
        Ranged::Whole
    } else {
        range::parse(r.header(header::RANGE), size)
    };
    let (status, start, end) = match ranged {
        Ranged::Whole => (StatusCode::OK, 0, size),
        Ranged::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
        Ranged::Unsatisfiable => {
            let mut e = S3Error::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!("the range is not satisfiable for an object of {size} bytes"),
            )
            .into_response(
                &format!("{}/{}", r.bucket, r.key.as_deref().unwrap_or("")),
                head,
            );
            set(&mut e, header::CONTENT_RANGE, &format!("bytes */{size}"));
            return Ok(e);
        }
    };
    let body = if head || start >= end {
        Body::empty()
    } else {
        let id = path_id(&url);
        let meta = w
            .file_meta(&id, Some(&url))
            .await
            .map_err(|e| S3Error::from_error(&e, "NoSuchKey"))?;
        stream_range(w, id, meta, start, end)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    set(
        &mut resp,
        header::CONTENT_LENGTH,
        &(end - start).to_string(),
    );
    set(&mut resp, header::CONTENT_TYPE, "application/octet-stream");
    set(&mut resp, header::ACCEPT_RANGES, "bytes");
    set(&mut resp, header::LAST_MODIFIED, &http_date(st.mtime_ms));
    set(&mut resp, header::ETAG, &etag(&st));
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            &mut resp,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", end - 1),
        );
    }
    Ok(resp)
}

/// `PUT /{bucket}/{key}`: the body becomes the object (streamed to the
/// under storage, visible whole at the end); a key ending in `/` makes a
/// directory. `aws-chunked` bodies are decoded; a copy
/// (`x-amz-copy-source`) is not implemented.
pub async fn put(w: &Worker, r: &S3Request, body: Body) -> S3Result {
    if r.headers.contains_key("x-amz-copy-source") {
        return Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "CopyObject is not implemented by this worker's S3 API",
        ));
    }
    let url = url_of(w, r)?;
    let map = |e: Error| S3Error::from_error(&e, "NoSuchKey");
    if r.key.as_deref().is_some_and(|k| k.ends_with('/')) {
        w.ufs().mkdir(&url).await.map_err(map)?;
        return Ok(Response::new(Body::empty()));
    }
    w.invalidate(&url);
    let chunked = r
        .header(header::CONTENT_ENCODING)
        .is_some_and(|v| v.split(',').any(|p| p.trim() == "aws-chunked"))
        || r.header(header::HeaderName::from_static("x-amz-content-sha256"))
            .is_some_and(|v| v.starts_with("STREAMING-"));
    let raw = body
        .into_data_stream()
        .map_err(|e| Error::InvalidArgument(format!("request body: {e}")));
    let stream = if chunked {
        super::chunked::decode(raw)
    } else {
        Box::pin(raw)
    };
    w.ufs().write_stream(&url, stream).await.map_err(map)?;
    w.invalidate(&url);
    let st = w.ufs().stat(&url).await.map_err(map)?;
    let mut resp = Response::new(Body::empty());
    set(&mut resp, header::ETAG, &etag(&st));
    Ok(resp)
}

/// `DELETE /{bucket}/{key}`: 204, also when the key does not exist (as S3).
pub async fn delete(w: &Worker, r: &S3Request) -> S3Result {
    let url = url_of(w, r)?;
    w.invalidate(&url);
    match w.ufs().remove(&url, false).await {
        Ok(()) | Err(Error::NotFound(_)) => {}
        Err(e) => return Err(S3Error::from_error(&e, "NoSuchKey")),
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}
