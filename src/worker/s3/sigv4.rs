//! Authentication of S3 API requests. By default none: a signature is
//! accepted and ignored and a request without one is served, as Alluxio's
//! SIMPLE mode does (alluxiofs 1.1 sends no `Authorization` header). With
//! `s3_credentials` set, every request must carry an AWS Signature V4
//! `Authorization` header made with that access key and secret, dated
//! within 15 minutes: the canonical request is rebuilt and the signature
//! compared. The payload hash is the one the client states
//! (`x-amz-content-sha256`; bodies stream and are not hashed here), and
//! `aws-chunked` chunk signatures are not checked.

use axum::http::request::Parts;
use axum::http::StatusCode;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use super::S3Error;
use crate::worker::state::Worker;

/// RFC 3986 unreserved characters are left alone; everything else encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How far a request's date may be from now.
const SKEW_SECS: i64 = 15 * 60;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn denied(message: impl Into<String>) -> S3Error {
    S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", message)
}

/// The fields of an `AWS4-HMAC-SHA256` Authorization header.
struct Auth<'a> {
    access_key: &'a str,
    scope: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_auth(h: &str) -> Option<Auth<'_>> {
    let rest = h.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => sig = Some(v),
            _ => {}
        }
    }
    let (access_key, scope) = cred?.split_once('/')?;
    Some(Auth {
        access_key,
        scope,
        signed_headers: signed?,
        signature: sig?,
    })
}

/// The canonical query string: pairs decoded, re-encoded the SigV4 way, sorted.
fn canonical_query(q: Option<&str>) -> String {
    let enc = |s: &str| {
        let raw = percent_decode_str(s).decode_utf8_lossy();
        utf8_percent_encode(&raw, UNRESERVED).to_string()
    };
    let mut pairs: Vec<(String, String)> = q
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Seconds since the epoch of an `x-amz-date` (`20240101T000000Z`).
fn amz_seconds(d: &str) -> Option<i64> {
    if d.len() != 16 || !d.ends_with('Z') || d.as_bytes()[8] != b'T' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d.get(r)?.parse::<i64>().ok();
    let (y, mo, day) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(9..11)?, n(11..13)?, n(13..15)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// The signature of `parts` made with `secret`, per the header's scope and
/// signed headers.
fn signature(parts: &Parts, auth: &Auth<'_>, secret: &str, date: &str) -> Option<String> {
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                let v = String::from_utf8_lossy(v.as_bytes());
                v.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() && name != "host" {
            return None;
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("UNSIGNED-PAYLOAD");
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        parts.uri.path(),
        canonical_query(parts.uri.query()),
        canonical_headers,
        auth.signed_headers,
        payload
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
        auth.scope,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut fields = auth.scope.split('/');
    let (day, region, service) = (fields.next()?, fields.next()?, fields.next()?);
    let k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    let k = hmac(&k, b"aws4_request");
    Some(hex::encode(hmac(&k, to_sign.as_bytes())))
}

/// Whether the request may proceed (see the module docs).
pub fn check(w: &Worker, parts: &Parts) -> Result<(), S3Error> {
    let Some((key, secret)) = &w.config().s3_credentials else {
        return Ok(());
    };
    let header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("this worker's S3 API requires a SigV4 signed request"))?;
    let auth = parse_auth(header).ok_or_else(|| {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "AuthorizationHeaderMalformed",
            "expected an AWS4-HMAC-SHA256 Authorization header",
        )
    })?;
    if auth.access_key != key {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            format!("unknown access key {:?}", auth.access_key),
        ));
    }
    let date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("x-amz-date is missing"))?;
    let when = amz_seconds(date).ok_or_else(|| denied(format!("bad x-amz-date {date:?}")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if (now - when).abs() > SKEW_SECS {
        return Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "RequestTimeTooSkewed",
            "the request's date is more than 15 minutes from the worker's clock",
        ));
    }
    match signature(parts, &auth, secret, date) {
        Some(s) if s == auth.signature => Ok(()),
        _ => Err(S3Error::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "the request signature does not match",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn aws_documented_get_object_example() {
        // AWS's SigV4 documentation example (GET /test.txt with a Range).
        let req = axum::http::Request::builder()
            .method("GET")
            .uri("/test.txt")
            .header("host", "examplebucket.s3.amazonaws.com")
            .header("range", "bytes=0-9")
            .header(
                "x-amz-content-sha256",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            )
            .header("x-amz-date", "20130524T000000Z")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let auth = Auth {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            scope: "20130524/us-east-1/s3/aws4_request",
            signed_headers: "host;range;x-amz-content-sha256;x-amz-date",
            signature: "",
        };
        let sig = signature(
            &parts,
            &auth,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524T000000Z",
        );
        assert_eq!(
            sig.as_deref(),
            Some("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        );
        assert_eq!(amz_seconds("20130524T000000Z"), Some(1_369_353_600));
    }
}
