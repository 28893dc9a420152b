//! A fake worker for the client target: answers each request honestly or
//! with one random fault, and logs what it served so the test can judge the
//! client's result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use _core::protocol::path_id::path_id;
use _core::worker::query::Query;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::gen::{self, Rand};

/// What the fake worker serves in one case.
pub struct Case {
    /// The file's bytes.
    pub truth: Vec<u8>,
    /// Page size the client uses.
    pub page: u64,
    /// The file's URL.
    pub url: String,
    /// Percent of answers that carry a fault.
    pub fault_pct: u64,
    /// How long a stall lasts (longer than the client's timeout).
    pub stall: Duration,
    /// Random source of the answers.
    pub rng: Mutex<Rand>,
    /// Every answer, in order.
    pub log: Mutex<Vec<Served>>,
}

/// One answer.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// Request path and query.
    pub target: String,
    /// Fault applied, if any.
    pub fault: Option<&'static str>,
    /// File sizes the answer announced (size header, `mLength`).
    pub sizes: Vec<u64>,
    /// Whether the request was what the client should send.
    pub request_ok: bool,
    /// The body of a `POST /v1/chunk`.
    pub upload: Option<Vec<u8>>,
    /// Whether the answer was a 2xx.
    pub success: bool,
}

/// The honest answer to `/v1/load`.
pub fn load_answer() -> serde_json::Value {
    serde_json::json!({"success": true, "jobState": "RUNNING", "message": "ok"})
}

/// Starts the fake worker; `slot` holds the current case.
pub async fn start(slot: Arc<Mutex<Option<Arc<Case>>>>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let case = slot.lock().expect("slot").clone();
            if let Some(case) = case {
                tokio::spawn(connection(s, case));
            }
        }
    });
    port
}

async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String, Vec<u8>)> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < len {
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf.drain(..len).collect();
    Some((method, target, body))
}

async fn connection(mut s: TcpStream, case: Arc<Case>) {
    let mut buf = Vec::new();
    while let Some((method, target, body)) = read_request(&mut s, &mut buf).await {
        let (wire, served, close, stall) = answer(&case, &method, &target, body);
        case.log.lock().expect("log").push(served);
        if stall {
            tokio::time::sleep(case.stall).await;
        }
        if s.write_all(&wire).await.is_err() || close {
            return;
        }
    }
}

fn u64_param(q: &Query, name: &str) -> u64 {
    q.int(name)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

/// The honest answer: status, extra headers, body; and whether the request
/// was well formed.
fn honest(
    case: &Case,
    method: &str,
    target: &str,
    body: &[u8],
) -> (u16, Vec<String>, Vec<u8>, bool) {
    let (path, raw_q) = target.split_once('?').unwrap_or((target, ""));
    let q = Query::parse(Some(raw_q)).unwrap_or_default();
    let id = path_id(&case.url);
    let size = case.truth.len() as u64;
    let url_is = |name: &str, form: bool| {
        let v = if form { q.form(name) } else { q.template(name) };
        v.ok().flatten().as_deref() == Some(case.url.as_str())
    };
    let slice = |a: u64, b: u64| {
        let (a, b) = (a.min(size), b.min(size));
        #[allow(clippy::cast_possible_truncation)]
        case.truth[a as usize..b.max(a) as usize].to_vec()
    };
    let status = serde_json::json!([{
        "mType": "file", "mName": "f.bin", "mPath": "/f.bin", "mUfsPath": case.url,
        "mLastModificationTimeMs": 1, "mLength": size, "mHumanReadableFileSize": "1B",
    }]);
    let json = |v: &serde_json::Value| serde_json::to_vec(v).expect("json");
    let mut parts = path.trim_start_matches('/').split('/');
    let (_, op, pid) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    match (method, op) {
        ("GET", "info" | "files") => (200, vec![], json(&status), url_is("path", true)),
        ("GET", "load") => (200, vec![], json(&load_answer()), url_is("path", true)),
        ("GET", "range") => {
            let (o, l) = (u64_param(&q, "offset"), u64_param(&q, "length"));
            let h = vec![format!("x-alluxio-file-size: {size}")];
            (
                200,
                h,
                slice(o, o.saturating_add(l)),
                pid == id && url_is("ufsFullPath", false),
            )
        }
        ("GET", "file") => {
            let index: u64 = parts
                .nth(1)
                .and_then(|i| i.parse().ok())
                .unwrap_or(u64::MAX);
            let start = index
                .saturating_mul(case.page)
                .saturating_add(u64_param(&q, "offset"));
            let end = start
                .saturating_add(u64_param(&q, "length"))
                .min(index.saturating_add(1).saturating_mul(case.page));
            (
                200,
                vec![],
                slice(start, end),
                pid == id && url_is("ufsFullPath", false),
            )
        }
        ("POST", "chunk") => {
            let ok = pid == id && url_is("ufsFullPath", false);
            let _ = body;
            (
                200,
                vec![],
                json(&serde_json::json!({"success": true, "message": "ok"})),
                ok,
            )
        }
        _ => (
            404,
            vec![],
            json(&serde_json::json!({"message": format!("no endpoint {method} {path}")})),
            false,
        ),
    }
}

const FAULTS: &[&str] = &[
    "status",
    "status",
    "truncate",
    "extend",
    "length-long",
    "length-short",
    "chunked",
    "chunked-cut",
    "close-delimited",
    "size-header",
    "size-header",
    "garbage",
    "close",
    "partial-head",
    "stall",
    "json",
    "json",
    "bad-length",
    "http10",
    "informational",
];

fn reason(status: u16) -> &'static str {
    if status == 200 {
        "OK"
    } else {
        "X"
    }
}

/// One answer on the wire: bytes, log entry, close after, stall before.
fn answer(case: &Case, method: &str, target: &str, body: Vec<u8>) -> (Vec<u8>, Served, bool, bool) {
    let (mut status, mut headers, mut data, request_ok) = honest(case, method, target, &body);
    let mut r = case.rng.lock().expect("rng");
    let fault = r.pct(case.fault_pct).then(|| r.pick(FAULTS));
    let mut served = Served {
        target: target.to_owned(),
        fault,
        request_ok,
        upload: (method == "POST").then_some(body),
        ..Served::default()
    };
    let is_json = !target.contains("/range/") && !target.contains("/file/");
    let mut close = r.pct(20);
    let mut version = "HTTP/1.1";
    let mut framing = "length";
    let mut prefix: Vec<u8> = Vec::new();
    match fault.unwrap_or("") {
        "status" => {
            status = r.pick(&[
                201, 204, 206, 301, 304, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503, 504, 599,
            ]);
            // A 2xx keeps the honest body: a success with other bytes of the
            // right length is a lie no client can detect.
            if r.pct(30) && !(200..300).contains(&status) {
                data = br#"{"message":"no endpoint GET /v1/range"}"#.to_vec();
            }
        }
        "truncate" => data.truncate(r.below(data.len().max(1))),
        "extend" => {
            let k = 1 + r.below(40);
            data.extend(r.bytes(k).iter().map(|b| b | 0x80));
        }
        "length-long" => framing = "long",
        "length-short" => framing = "short",
        "chunked" => framing = "chunked",
        "chunked-cut" => framing = "chunked-cut",
        "close-delimited" => framing = "eof",
        "size-header" => {
            let v = match r.below(5) {
                0 => "abc".to_string(),
                1 => "-1".into(),
                2 => "18446744073709551616".into(),
                _ => (r.next() % (case.truth.len() as u64 * 2 + 2)).to_string(),
            };
            headers = vec![format!("x-alluxio-file-size: {v}")];
            if r.pct(30) {
                headers.push(format!("x-alluxio-file-size: {}", case.truth.len()));
            }
        }
        "garbage" => {
            let k = r.below(64);
            return (
                r.bytes(k).iter().map(|b| b & 0x7f).collect(),
                served,
                true,
                false,
            );
        }
        "close" => return (Vec::new(), served, true, false),
        "partial-head" => {
            return (
                b"HTTP/1.1 200 OK\r\nContent-Len".to_vec(),
                served,
                true,
                false,
            )
        }
        "stall" => return (Vec::new(), served, true, true),
        "json" if is_json => {
            let v: serde_json::Value = serde_json::from_slice(&data).expect("honest json");
            data = gen::mutated(
                &v,
                r.next(),
                1 + r.below(3),
                r.below(2),
                &["mLength", "mType", "mUfsPath", "message", "success"],
            );
        }
        "json" => data.truncate(data.len() / 2),
        "bad-length" => {
            let v = r.pick(&["+5", "abc", "-1", "18446744073709551616"]);
            headers.push(format!("content-length: {v}"));
        }
        "http10" => version = "HTTP/1.0",
        "informational" => prefix = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        _ => {}
    }
    served.success = (200..300).contains(&status);
    if served.success {
        for h in &headers {
            if let Some(v) = h.strip_prefix("x-alluxio-file-size: ") {
                served.sizes.extend(v.parse::<u64>().ok());
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&data) {
        for e in v.as_array().into_iter().flatten() {
            served
                .sizes
                .extend(e.get("mLength").and_then(serde_json::Value::as_u64));
        }
    }
    let mut w = prefix;
    w.extend_from_slice(
        format!(
            "{version} {status} {}\r\ncontent-type: application/json\r\n",
            reason(status)
        )
        .as_bytes(),
    );
    for h in &headers {
        w.extend_from_slice(h.as_bytes());
        w.extend_from_slice(b"\r\n");
    }
    if close || framing == "eof" {
        w.extend_from_slice(b"connection: close\r\n");
    }
    let n = data.len();
    match framing {
        "chunked" | "chunked-cut" => {
            w.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
            let mut at = 0;
            while at < n {
                let k = (1 + r.below(50)).min(n - at);
                w.extend_from_slice(format!("{k:x}\r\n").as_bytes());
                w.extend_from_slice(&data[at..at + k]);
                w.extend_from_slice(b"\r\n");
                at += k;
            }
            if framing == "chunked" {
                w.extend_from_slice(b"0\r\n\r\n");
            } else {
                close = true;
            }
        }
        "eof" => {
            close = true;
            w.extend_from_slice(b"\r\n");
            w.extend_from_slice(&data);
        }
        "long" => {
            close = true;
            w.extend_from_slice(
                format!("content-length: {}\r\n\r\n", n + 1 + r.below(100)).as_bytes(),
            );
            w.extend_from_slice(&data);
        }
        "short" => {
            let k = r.below(n.max(1));
            w.extend_from_slice(format!("content-length: {k}\r\n\r\n").as_bytes());
            w.extend_from_slice(&data);
            // The excess is left on the connection: never a valid response.
            w.extend_from_slice(b"\x00\x01junk");
        }
        _ => {
            w.extend_from_slice(format!("content-length: {n}\r\n\r\n").as_bytes());
            w.extend_from_slice(&data);
        }
    }
    (w, served, close, false)
}
