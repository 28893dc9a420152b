//! Reads: pages (§5.4), ranges (§5.9), whole files (§5.10), head/tail (§5.15).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use futures::{StreamExt, TryStreamExt};

use super::respond;
use crate::error::{Error, Result};
use crate::protocol::wire::FILE_SIZE_HEADER;
use crate::worker::page_store::FileMeta;
use crate::worker::query::Query;
use crate::worker::respond::{page_bytes, with_type};
use crate::worker::state::Worker;

/// Pages asked for at once while streaming a range (a miss brings the
/// whole readahead window from the under storage in one read).
const READ_AHEAD: usize = 8;

pub(super) fn parse_index(text: &str) -> Result<u64> {
    text.parse().map_err(|_| {
        Error::InvalidArgument(format!("page index {text:?} is not a non-negative integer"))
    })
}

fn non_negative(name: &str, v: Option<i64>) -> Result<Option<u64>> {
    match v {
        Some(n) if n < 0 => Err(Error::InvalidArgument(format!("{name}={n} is negative"))),
        Some(n) => Ok(Some(n.unsigned_abs())),
        None => Ok(None),
    }
}

/// `GET /v1/file/{id}/page/{i}[?offset&length][&ufsFullPath]`.
pub async fn page_get(
    State(w): State<Worker>,
    Path((_v, id, index)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let index = parse_index(&index)?;
        let offset = non_negative("offset", q.int("offset")?)?;
        let length = non_negative("length", q.int("length")?)?;
        let url = q.template("ufsFullPath")?.filter(|u| !u.is_empty());
        // With the file's size known (its record, else a stat), a cached page
        // of the wrong length is dropped and read again, never served; a page
        // of a file with a record is served without touching the under storage.
        let data = if url.is_some() || w.store().file_meta(&id).is_some() {
            let meta = w.file_meta(&id, url.as_deref()).await?;
            w.page(&id, &meta, index).await?
        } else {
            // Only a page write (--allow-page-writes) caches a page of a file
            // the worker never read: OSS semantics, served as written.
            match w.store().get(&id, index).await? {
                Some(d) => d,
                None => {
                    // Not found, unless the file's record appeared meanwhile.
                    let meta = w.file_meta(&id, None).await?;
                    w.page(&id, &meta, index).await?
                }
            }
        };
        let len = data.len() as u64;
        let start = offset.unwrap_or(0).min(len);
        let end = match length {
            Some(l) => start.saturating_add(l).min(len),
            None => len,
        };
        #[allow(clippy::cast_possible_truncation)]
        Ok(page_bytes(data.slice(start as usize..end as usize)))
    })
    .await
}

/// Streams bytes `[start, end)` of a file from its pages, fetching a few pages ahead.
pub(crate) fn stream_range(w: &Worker, id: String, meta: FileMeta, start: u64, end: u64) -> Body {
    if start >= end {
        return Body::empty();
    }
    let p = w.config().page_size;
    let (first, last) = (start / p, (end - 1) / p);
    let w = w.clone();
    let pages = futures::stream::iter(first..=last)
        .map(move |i| {
            let (w, id, meta) = (w.clone(), id.clone(), meta.clone());
            async move {
                let page = w.page_in(&id, &meta, i, first..last + 1).await?;
                let page_start = i * p;
                let from = start.saturating_sub(page_start).min(page.len() as u64);
                let to = (end - page_start).min(page.len() as u64);
                #[allow(clippy::cast_possible_truncation)]
                Ok::<_, Error>(page.slice(from as usize..to as usize))
            }
        })
        .buffered(READ_AHEAD)
        .map_err(|e| {
            // Headers are gone: the client sees a short body and must not take it as data.
            log::warn!("alluxiofs worker: aborting a streamed read: {e}");
            std::io::Error::other(e.to_string())
        });
    Body::from_stream(pages)
}

fn sized(body: Body, len: u64, content_type: &'static str) -> Response<Body> {
    let mut r = with_type(StatusCode::OK, content_type, body);
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// Resolves the file of a `/{op}/{id}?ufsFullPath=` request.
async fn target(w: &Worker, id: &str, q: &Query) -> Result<FileMeta> {
    let url = q.template("ufsFullPath")?.filter(|u| !u.is_empty());
    w.file_meta(id, url.as_deref()).await
}

/// `GET /v1/range/{id}?ufsFullPath&offset&length`: bytes `[offset, offset+length)`
/// clamped to the file; a negative or missing length means "to the end".
pub async fn range(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let meta = target(&w, &id, &q).await?;
        let offset = non_negative("offset", q.int("offset")?)?
            .unwrap_or(0)
            .min(meta.length);
        let end = match q.int("length")? {
            Some(l) if l >= 0 => offset.saturating_add(l.unsigned_abs()).min(meta.length),
            _ => meta.length,
        };
        let size = meta.length;
        let body = stream_range(&w, id, meta, offset, end);
        let mut r = sized(body, end - offset, "application/octet-stream");
        r.headers_mut()
            .insert(FILE_SIZE_HEADER, HeaderValue::from(size));
        Ok(r)
    })
    .await
}

/// `GET /v1/chunk/{id}?ufsFullPath&chunkSize`: the whole file, chunked transfer.
pub async fn chunk_get(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let meta = target(&w, &id, &q).await?;
        let len = meta.length;
        Ok(with_type(
            StatusCode::OK,
            "application/octet-stream",
            stream_range(&w, id, meta, 0, len),
        ))
    })
    .await
}

async fn head_or_tail(w: Worker, id: String, q: Option<String>, tail: bool) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let meta = target(&w, &id, &q).await?;
        let n = non_negative("numOfBytes", q.int("numOfBytes")?)?
            .unwrap_or(1024)
            .min(meta.length);
        let start = if tail { meta.length - n } else { 0 };
        let body = stream_range(&w, id, meta, start, start + n);
        Ok(sized(body, n, "application/octet-stream"))
    })
    .await
}

/// `GET /v1/head/{id}?ufsFullPath&numOfBytes`: the first bytes (default 1024).
pub async fn head(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    head_or_tail(w, id, q, false).await
}

/// `GET /v1/tail/{id}?ufsFullPath&numOfBytes`: the last bytes (default 1024).
pub async fn tail(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    head_or_tail(w, id, q, true).await
}
