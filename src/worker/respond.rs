//! Response helpers: JSON and byte bodies, the recommended error model
//! (`{"message": ...}` with the right status), and the OSS-strict model
//! (close the connection without a response, like the Java OSS worker).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::Bytes;

use crate::error::Error;

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Clone, Copy, Debug)]
pub struct CloseConnection;

/// A response with a body and a content type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response<Body> {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `200 application/json`.
pub fn json(body: String) -> Response<Body> {
    with_type(StatusCode::OK, "application/json", body)
}

/// `200 text/plain` raw bytes (what the OSS page endpoint sends).
pub fn page_bytes(body: Bytes) -> Response<Body> {
    with_type(StatusCode::OK, "text/plain", body)
}

/// `{"success":..,"message":..}` with 200, as the page/namespace endpoints answer.
pub fn success(ok: bool, message: &str) -> Response<Body> {
    json(crate::protocol::gson::to_string(
        &serde_json::json!({"success": ok, "message": message}),
    ))
}

/// The error response: JSON `{"message"}` with the mapped status, or in
/// OSS-strict mode a closed connection.
pub fn error(e: &Error, strict: bool) -> Response<Body> {
    if strict {
        let mut r = Response::new(Body::empty());
        r.extensions_mut().insert(CloseConnection);
        return r;
    }
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        log::warn!("alluxiofs worker: {e}");
    } else {
        log::debug!("alluxiofs worker: {e}");
    }
    let body = crate::protocol::gson::to_string(&serde_json::json!({ "message": e.to_string() }));
    with_type(status, "application/json", body)
}
