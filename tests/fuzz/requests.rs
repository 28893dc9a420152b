//! Random requests to the worker: well-formed calls of the real endpoints
//! (§5) with the parameters they take, and garbage built from their pieces.

use _core::client::http::{form_encode, template_encode};
use _core::protocol::path_id::path_id;

use crate::gen::{self, Rand};
use crate::raw::Request;

/// Page size of the fuzzed worker.
pub const PAGE: usize = 1024;

/// Names under the UFS root and outside it, as a client would send them.
fn ufs_url(r: &mut Rand, ufs: &str) -> String {
    let name = gen::string(
        r,
        &[
            "many",
            "page",
            "one",
            "empty",
            "sub",
            "sub/deeper",
            "new",
            "escape/secret",
            "../secret",
            "../ufs2/x",
            "%2e%2e/secret",
        ],
    );
    match r.below(10) {
        0 => format!("/etc/{name}"),
        1 => format!("s3://bucket/{name}"),
        2 => format!("file://{ufs}/../secret"),
        3 => format!("file://{ufs}2/x"),
        4 => name,
        _ => format!("file://{ufs}/{name}"),
    }
}

fn value(r: &mut Rand, ufs: &str) -> String {
    match r.below(6) {
        0 | 1 => template_encode(&ufs_url(r, ufs)),
        2 => form_encode(&ufs_url(r, ufs)),
        3 => gen::string(
            r,
            &[
                "0",
                "1",
                "-1",
                "4096",
                "99999999999999999999",
                "True",
                "false",
                "submit",
                "progress",
                "stop",
            ],
        ),
        _ => ufs_url(r, ufs),
    }
}

const ENDPOINTS: &[&str] = &[
    "files",
    "info",
    "health",
    "load",
    "node",
    "file/{id}/page/{i}",
    "range/{id}",
    "chunk/{id}",
    "head/{id}",
    "tail/{id}",
    "mkdir/{id}",
    "touch/{id}",
    "mv/{id}",
    "copy/{id}",
    "rm/{id}",
];
const PARAMS: &[&str] = &[
    "path",
    "ufsFullPath",
    "ufsFullPath",
    "offset",
    "length",
    "numOfBytes",
    "opType",
    "srcPath",
    "dstPath",
    "recursive",
    "recursiveAlias",
    "verbose",
    "chunkSize",
    "remove_alluxio_only",
];

fn target(r: &mut Rand, ufs: &str) -> String {
    if r.pct(8) {
        return r
            .pick(&[
                "*",
                "http://h/v1/health",
                "//v1//files",
                "/v1/files/../health",
                "%",
                "v1/info",
                "/v1/info?path=%zz",
                "/\u{e9}",
                "/a b",
                "/\x01",
                "/v1/health#frag",
            ])
            .to_string();
    }
    let id = match r.below(4) {
        0 => path_id(&format!("file://{ufs}/many")),
        1 => gen::string(r, &["abc", "..", "%2e%2e", "a%2Fb", "A-_z"]),
        2 => "f".repeat(100 + r.below(60)),
        _ => "0123abcd".into(),
    };
    let idx = r.pick(&["0", "1", "5", "-1", "99999999999999999999", "x", "", "%30"]);
    let ep = r.pick(ENDPOINTS).replace("{id}", &id).replace("{i}", idx);
    let version = r.pick(&["v1", "v1", "v1", "v2", "V1", "", "v1.0"]);
    let mut t = format!("/{version}/{ep}");
    if r.pct(85) {
        t.push('?');
        for i in 0..r.below(6) {
            if i > 0 {
                t.push('&');
            }
            t.push_str(r.pick(PARAMS));
            if r.pct(90) {
                t.push('=');
                t.push_str(&value(r, ufs));
            }
        }
    }
    if r.pct(2) {
        t.push_str(&"a".repeat(20_000));
    }
    t
}

/// A well-formed request to a real endpoint with the parameters it takes,
/// properly encoded (so that it reaches the handler), on a URL inside or
/// just outside the root.
fn clean_request(r: &mut Rand, ufs: &str) -> Request {
    let name = r.pick(&[
        "many",
        "many",
        "page",
        "one",
        "empty",
        "sub",
        "sub/deeper",
        "new",
        "sub/new2",
        "loop",
        "loop/x",
        "escape/secret",
        "../secret",
        "%2e%2e/secret",
        "a b+c ü",
        "",
    ]);
    let url = match r.below(10) {
        0 => format!("/etc/{name}"),
        1 => format!("file://{ufs}2/x"),
        2 => format!("s3://bucket/{name}"),
        _ => format!("file://{ufs}/{name}"),
    };
    let id = if r.pct(85) {
        path_id(&url)
    } else {
        gen::string(r, &["abc", "A-_z"])
    };
    let t = template_encode(&url);
    let num = |r: &mut Rand| {
        r.pick(&[
            "0",
            "1",
            "7",
            "1000",
            "1024",
            "5000",
            "-1",
            "",
            "99999999999999999999",
        ])
    };
    let (method, target) = match r.below(14) {
        0 => ("GET", format!("/v1/files?path={}", form_encode(&url))),
        1 => ("GET", format!("/v1/info?path={}", form_encode(&url))),
        2 => ("GET", "/v1/health".to_owned()),
        3 => {
            let op = r.pick(&["submit", "progress", "stop", "Submit", "bogus"]);
            (
                "GET",
                format!(
                    "/v1/load?path={}&opType={op}&verbose=true",
                    form_encode(&url)
                ),
            )
        }
        4 => ("GET", format!("/v1/node?path={}", form_encode(&url))),
        5 | 6 => {
            let m = r.pick(&["GET", "GET", "POST", "PUT"]);
            let (i, o, l) = (r.below(7), num(r), num(r));
            (
                m,
                format!("/v1/file/{id}/page/{i}?offset={o}&length={l}&ufsFullPath={t}"),
            )
        }
        7 => {
            let (o, l) = (num(r), num(r));
            (
                "GET",
                format!("/v1/range/{id}?ufsFullPath={t}&offset={o}&length={l}"),
            )
        }
        8 => (
            r.pick(&["GET", "POST"]),
            format!("/v1/chunk/{id}?ufsFullPath={t}&chunkSize=1048576"),
        ),
        9 => {
            let n = num(r);
            (
                r.pick(&["GET"]),
                format!(
                    "/v1/{}/{id}?ufsFullPath={t}&numOfBytes={n}",
                    r.pick(&["head", "tail"])
                ),
            )
        }
        10 => (
            "POST",
            format!("/v1/{}/{id}?ufsFullPath={t}", r.pick(&["mkdir", "touch"])),
        ),
        11 | 12 => {
            let dst = template_encode(&format!(
                "file://{ufs}/{}",
                r.pick(&["moved", "sub/x", "../out", "many", "sub"])
            ));
            let rec = r.pick(&["True", "False"]);
            let op = r.pick(&["mv", "copy"]);
            (
                "POST",
                format!("/v1/{op}/{id}?srcPath={t}&dstPath={dst}&recursive={rec}"),
            )
        }
        _ => {
            let rec = r.pick(&["True", "False"]);
            (
                "POST",
                format!("/v1/rm/{id}?ufsFullPath={t}&recursive={rec}"),
            )
        }
    };
    let n = if method == "GET" || r.pct(10) {
        0
    } else {
        r.below(3 * PAGE)
    };
    let body = r.bytes(n);
    Request::clean(r, method, &target, &body)
}

/// A random request: mostly well formed, the rest garbage.
pub fn request(r: &mut Rand, ufs: &str) -> Request {
    if r.pct(60) {
        return clean_request(r, ufs);
    }
    let method = if r.pct(90) {
        r.pick(&[
            "GET", "GET", "GET", "POST", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH",
        ])
    } else {
        r.pick(&["get", "GARBAGE", "", "G\u{e9}T", "CONNECT"])
    };
    let n = if r.pct(50) { 0 } else { r.below(2 * PAGE) };
    let body = r.bytes(n);
    let t = target(r, ufs);
    Request::build(r, method, &t, body)
}
