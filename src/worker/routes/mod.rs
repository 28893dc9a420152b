//! The REST routes of docs/protocol.md §5. The version segment is not checked,
//! as in the OSS worker (`/v1/files` and `/v2/files` are the same).

mod load;
mod meta;
mod namespace;
mod page_write;
mod pages;

pub(crate) use pages::stream_range;

use std::future::Future;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::error::{Error, Result};
use crate::worker::connection::MAX_BODY_BYTES;
use crate::worker::respond;
use crate::worker::state::Worker;

/// Runs a handler body, turning its error into the configured error response.
async fn respond(w: &Worker, f: impl Future<Output = Result<Response<Body>>>) -> Response<Body> {
    match f.await {
        Ok(r) => r,
        Err(e) => respond::error(&e, w.config().oss_strict),
    }
}

/// The router for `worker`: every endpoint, or only the OSS ones in strict mode.
pub fn router(worker: Worker) -> Router {
    let strict = worker.config().oss_strict;
    let mut r = Router::new()
        .route("/{v}/files", get(meta::files))
        .route("/{v}/info", get(meta::info))
        .route("/{v}/health", get(meta::health))
        .route("/{v}/load", get(load::load))
        .route(
            "/{v}/file/{id}/page/{index}",
            get(pages::page_get)
                .post(page_write::page_put)
                .put(page_write::page_put),
        );
    if !strict {
        r = r
            .route("/{v}/node", get(meta::node))
            .route("/{v}/ufsInfo", get(meta::ufs_info))
            .route("/{v}/range/{id}", get(pages::range))
            .route(
                "/{v}/chunk/{id}",
                // Whole-file writes stream the file to the under storage
                // (namespace::chunk_post): no body limit.
                get(pages::chunk_get)
                    .post(namespace::chunk_post)
                    .layer(DefaultBodyLimit::disable()),
            )
            .route("/{v}/head/{id}", get(pages::head))
            .route("/{v}/tail/{id}", get(pages::tail))
            .route("/{v}/mkdir/{id}", post(namespace::mkdir))
            .route("/{v}/touch/{id}", post(namespace::touch))
            .route("/{v}/mv/{id}", post(namespace::mv))
            .route("/{v}/copy/{id}", post(namespace::copy))
            .route("/{v}/rm/{id}", post(namespace::rm));
    }
    r.fallback(move |req: axum::extract::Request| async move {
        let e = Error::NotFound(format!("no endpoint {} {}", req.method(), req.uri().path()));
        respond::error(&e, strict)
    })
    // Bodies other endpoints might read are small (page writes enforce one
    // page themselves); POST /v1/chunk lifts the limit for its route.
    .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
    .with_state(worker)
}
