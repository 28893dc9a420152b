//! Page writes (§5.5): off unless the worker runs with `--allow-page-writes`,
//! since any HTTP client could otherwise replace cached bytes (§8).

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Path, State};
use axum::http::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::pages::parse_index;
use super::respond;
use crate::error::{Error, Result};
use crate::worker::respond::success;
use crate::worker::state::Worker;

/// `POST`/`PUT /v1/file/{id}/page/{i}`: store a page in the cache (OSS semantics:
/// cache only, no UFS write), answering 200 with `success` true or false.
/// Refused (403, or a closed connection in OSS-strict mode) without
/// `--allow-page-writes`; a body of more than one page is refused (413).
pub async fn page_put(
    State(w): State<Worker>,
    Path((_v, id, index)): Path<(String, String, String)>,
    body: Body,
) -> Response<Body> {
    respond(&w, async {
        if !w.config().allow_page_writes {
            // Checked before the body is read: a refused client costs nothing.
            return Err(Error::PermissionDenied(
                "page writes are off on this worker (start it with --allow-page-writes)".into(),
            ));
        }
        let index = parse_index(&index)?;
        let body = read_limited(body, w.config().page_size).await?;
        if body.is_empty() {
            return Ok(success(false, "The HTTP request doesn't have body content"));
        }
        Ok(match w.store().put(&id, index, body).await {
            Ok(()) => success(true, "Page written successfully"),
            Err(e) => {
                log::debug!("alluxiofs worker: page write {id}/{index} failed: {e}");
                success(false, "Failed to write page")
            }
        })
    })
    .await
}

/// The whole body, or [`Error::TooLarge`] once it is known to exceed `limit`
/// bytes (from its `Content-Length` before reading, else while reading).
async fn read_limited(body: Body, limit: u64) -> Result<Bytes> {
    let too_large = || {
        Error::TooLarge(format!(
            "a page write carries at most one page ({limit} bytes)"
        ))
    };
    if body.size_hint().lower() > limit {
        return Err(too_large());
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(Error::InvalidArgument(format!(
            "the request body broke off: {e}"
        ))),
    }
}
