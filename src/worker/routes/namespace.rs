//! Writes and namespace operations (docs/protocol.md §5.11–5.14). They go through
//! to the under storage and drop the cached pages of every file they touch.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::Response;
use futures::{StreamExt, TryStreamExt};

use super::respond;
use crate::error::{Error, Result};
use crate::worker::query::Query;
use crate::worker::respond::success;
use crate::worker::state::Worker;
use crate::worker::ufs::ByteStream;

/// Drops cached pages of `url` and, for a directory, of every file under it.
async fn invalidate_tree(w: &Worker, url: &str) {
    w.invalidate(url);
    if let Ok(files) = w.ufs().list_files_recursive(url).await {
        for f in files {
            w.invalidate(&f.url);
        }
    }
}

/// `POST /v1/chunk/{id}?ufsFullPath&chunkSize`: create or overwrite a whole
/// file. The body is streamed to the under storage as it arrives (never held
/// whole); the file appears only if the body ends properly.
pub async fn chunk_post(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Body,
) -> Response<Body> {
    // A reset, a disconnect or broken chunked coding ends the stream in this
    // error, and the write is discarded.
    let mut body = body
        .into_data_stream()
        .map_err(|e| Error::InvalidArgument(format!("the request body broke off: {e}")));
    respond(&w, async {
        let written = write_whole(&w, &id, q.as_deref(), (&mut body).boxed()).await;
        if written.is_err() {
            // Read the rest before answering, as a whole-body handler would:
            // closing a connection with unread bytes resets it, and the
            // client, still sending, would lose the answer.
            while let Some(Ok(_)) = body.next().await {}
        }
        written?;
        Ok(success(true, "File written successfully"))
    })
    .await
}

/// The write itself, with its checks and page invalidations.
async fn write_whole(w: &Worker, id: &str, q: Option<&str>, body: ByteStream<'_>) -> Result<()> {
    let url = Query::parse(q)?.require_template("ufsFullPath")?;
    w.ufs().check(&url)?;
    w.store().remove_file(id);
    w.invalidate(&url);
    w.ufs().write_stream(&url, body).await?;
    // Pages read while the write was in flight may hold the old bytes.
    w.store().remove_file(id);
    w.invalidate(&url);
    Ok(())
}

/// `POST /v1/mkdir/{id}?ufsFullPath`: a directory, with its parents.
pub async fn mkdir(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let url = Query::parse(q.as_deref())?.require_template("ufsFullPath")?;
        w.ufs().mkdir(&url).await?;
        Ok(success(true, "Directory created"))
    })
    .await
}

/// `POST /v1/touch/{id}?ufsFullPath`: an empty file if none exists.
pub async fn touch(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let url = Query::parse(q.as_deref())?.require_template("ufsFullPath")?;
        w.ufs().touch(&url).await?;
        w.invalidate(&url);
        Ok(success(true, "File touched"))
    })
    .await
}

fn src_dst(q: &Query) -> Result<(String, String)> {
    Ok((
        q.require_template("srcPath")?,
        q.require_template("dstPath")?,
    ))
}

/// `POST /v1/mv/{id}?srcPath&dstPath`.
pub async fn mv(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let (src, dst) = src_dst(&Query::parse(q.as_deref())?)?;
        w.ufs().check(&src)?;
        w.ufs().check(&dst)?;
        invalidate_tree(&w, &src).await;
        invalidate_tree(&w, &dst).await;
        w.ufs().rename(&src, &dst).await?;
        invalidate_tree(&w, &dst).await;
        Ok(success(true, "Moved"))
    })
    .await
}

/// `POST /v1/copy/{id}?srcPath&dstPath&recursive&recursiveAlias&forced...`.
pub async fn copy(State(w): State<Worker>, RawQuery(q): RawQuery) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let (src, dst) = src_dst(&q)?;
        let recursive = q.flag("recursive", false)? || q.flag("recursiveAlias", false)?;
        w.ufs().check(&src)?;
        w.ufs().check(&dst)?;
        w.ufs().copy(&src, &dst, recursive).await?;
        invalidate_tree(&w, &dst).await;
        Ok(success(true, "Copied"))
    })
    .await
}

/// `POST /v1/rm/{id}?ufsFullPath&recursive&...&remove_alluxio_only`.
pub async fn rm(
    State(w): State<Worker>,
    Path((_v, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Response<Body> {
    respond(&w, async {
        let q = Query::parse(q.as_deref())?;
        let url = q.require_template("ufsFullPath")?;
        let recursive = q.flag("recursive", false)? || q.flag("recursiveAlias", false)?;
        w.ufs().check(&url)?;
        w.store().remove_file(&id);
        invalidate_tree(&w, &url).await;
        if q.flag("remove_alluxio_only", false)? {
            return Ok(success(true, "Removed from the cache"));
        }
        w.ufs().remove(&url, recursive).await?;
        Ok(success(true, "Removed"))
    })
    .await
}
