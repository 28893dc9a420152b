//! Alluxio's S3 API on the worker (`--s3-port`, default 29998;
//! docs/protocol.md §8): path-style `/{bucket}/{key}` over the same page
//! store as the REST API, so a page cached through one API is a hit for the
//! other. GetObject (with `Range`), HeadObject, ListObjects v1/v2,
//! ListBuckets, HeadBucket, PutObject and DeleteObject; every other
//! operation answers S3's `NotImplemented`. Signatures are accepted and
//! ignored (Alluxio's SIMPLE mode) unless the worker is given credentials,
//! then SigV4 is verified (`sigv4.rs`).

mod chunked;
mod list;
pub mod mounts;
mod object;
pub mod range;
pub mod sigv4;
pub mod xml;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::Router;
use percent_encoding::percent_decode_str;

use crate::error::Error;
use crate::worker::state::Worker;

/// Query keys of subresources this API does not have (Alluxio's deny-list).
const NOT_IMPLEMENTED: &[&str] = &[
    "acl",
    "policy",
    "versioning",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "lifecycle",
    "metrics",
    "ownershipControls",
    "replication",
    "website",
    "accelerate",
    "location",
    "logging",
    "notification",
    "policyStatus",
    "requestPayment",
    "attributes",
    "legal-hold",
    "object-lock",
    "retention",
    "torrent",
    "publicAccessBlock",
    "restore",
    "select",
    "tagging",
    "uploads",
    "uploadId",
    "delete",
    "versions",
];

/// An S3 error answer.
#[derive(Debug)]
pub struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl S3Error {
    /// An error with S3's `code` and HTTP `status`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The S3 form of a worker error; `missing` is the code for "not found"
    /// (`NoSuchKey` or `NoSuchBucket`).
    pub fn from_error(e: &Error, missing: &'static str) -> Self {
        let (status, code) = match e {
            Error::NotFound(_) => (StatusCode::NOT_FOUND, missing),
            Error::PermissionDenied(_) => (StatusCode::FORBIDDEN, "AccessDenied"),
            Error::InvalidArgument(_) | Error::InvalidConfig(_) => {
                (StatusCode::BAD_REQUEST, "InvalidArgument")
            }
            Error::IsADirectory(_) => (StatusCode::NOT_FOUND, missing),
            Error::NotEmpty(_) | Error::AlreadyExists(_) => {
                (StatusCode::CONFLICT, "OperationAborted")
            }
            Error::NoWorkers { .. } | Error::EtcdUnavailable { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        Self::new(status, code, e.to_string())
    }

    fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not implemented by this worker's S3 API"),
        )
    }

    /// The response; `head` answers carry no body.
    fn into_response(self, resource: &str, head: bool) -> Response<Body> {
        if self.status.is_server_error() {
            log::warn!(
                "alluxiofs worker S3 API: {} {}: {}",
                self.code,
                resource,
                self.message
            );
        } else {
            log::debug!(
                "alluxiofs worker S3 API: {} {}: {}",
                self.code,
                resource,
                self.message
            );
        }
        let body = if head {
            Body::empty()
        } else {
            Body::from(xml::error(self.code, &self.message, resource))
        };
        let mut r = Response::new(body);
        *r.status_mut() = self.status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    }
}

/// The result of an S3 handler.
pub type S3Result = std::result::Result<Response<Body>, S3Error>;

/// A request's decoded pieces.
pub struct S3Request {
    /// The method.
    pub method: Method,
    /// The bucket (empty: the service).
    pub bucket: String,
    /// The key, if the path has one (may end with `/`).
    pub key: Option<String>,
    /// Query parameters, percent-decoded (`+` kept: RFC 3986).
    pub query: Vec<(String, String)>,
    /// The request headers.
    pub headers: axum::http::HeaderMap,
}

impl S3Request {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A header's value as text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn decode(s: &str, what: &str) -> std::result::Result<String, S3Error> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            S3Error::new(
                StatusCode::BAD_REQUEST,
                "InvalidURI",
                format!("{what} is not UTF-8"),
            )
        })
}

/// Splits `/{bucket}/{key}` (path-style; the key is everything after the
/// bucket's `/`, decoded once) and the query.
/// A request's bucket, key and query parameters.
type Target = (String, Option<String>, Vec<(String, String)>);

fn parse_target(path: &str, query: Option<&str>) -> std::result::Result<Target, S3Error> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match rest.split_once('/') {
        Some((b, k)) => (decode(b, "the bucket")?, Some(decode(k, "the key")?)),
        None => (decode(rest, "the bucket")?, None),
    };
    let key = key.filter(|k| !k.is_empty());
    let mut q = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        q.push((decode(k, "a query key")?, decode(v, "a query value")?));
    }
    Ok((bucket, key, q))
}

/// The S3 API router of `worker` (everything goes through one handler:
/// S3 routes by path shape, method and query, not by path templates).
pub fn router(worker: Worker) -> Router {
    Router::new().fallback(handle).with_state(worker)
}

async fn handle(State(w): State<Worker>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let head = parts.method == Method::HEAD;
    let path = parts.uri.path().to_owned();
    let resource = path.trim_start_matches('/').to_owned();
    let (bucket, key, query) = match parse_target(&path, parts.uri.query()) {
        Ok(t) => t,
        Err(e) => return e.into_response(&resource, head),
    };
    if let Err(e) = sigv4::check(&w, &parts) {
        return e.into_response(&resource, head);
    }
    let r = S3Request {
        method: parts.method,
        bucket,
        key,
        query,
        headers: parts.headers,
    };
    if let Some((k, _)) = r
        .query
        .iter()
        .find(|(k, _)| NOT_IMPLEMENTED.contains(&k.as_str()))
    {
        return S3Error::not_implemented(&format!("the {k:?} subresource"))
            .into_response(&resource, head);
    }
    let out = match (&r.method, r.bucket.is_empty(), &r.key) {
        (&Method::GET, true, None) => list::buckets(&w).await,
        (&Method::HEAD, false, None) => list::head_bucket(&w, &r).await,
        (&Method::GET, false, None) => list::objects(&w, &r).await,
        (&Method::GET | &Method::HEAD, false, Some(_)) => object::get(&w, &r).await,
        (&Method::PUT, false, Some(_)) => object::put(&w, &r, body).await,
        (&Method::DELETE, false, Some(_)) => object::delete(&w, &r).await,
        // `//key`: no bucket names it.
        (_, true, Some(_)) => Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "the path names no bucket",
        )),
        (m, _, _) => Err(S3Error::not_implemented(&format!("{m} {path}"))),
    };
    out.unwrap_or_else(|e| e.into_response(&resource, head))
}
