//! The worker's S3 API end to end: random S3 requests over TCP (paths with
//! traversal, encoded separators and escaping symlinks, listings with random
//! parameters, `Range` headers, `aws-chunked` and lying bodies) and garbage.
//! Every request gets a well-formed answer or a clean close in time; no 5xx
//! but 501 NotImplemented and reports of a broken under storage; the secret
//! outside the root never leaks; nothing outside the root changes.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use _core::config::ConfigInput;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;

use crate::gen::{self, Rand};
use crate::raw::{exchange, Outcome, Request};
use crate::{runtime, Budget, Figures};

const SECRET: &[u8] = b"OUTSIDE-SECRET-BYTES";
const TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: u64 = 25;
const PAGE: usize = 1024;

fn fixture(base: &Path) {
    let ufs = base.join("ufs");
    std::fs::create_dir_all(ufs.join("b/sub/deeper")).expect("mkdir");
    std::fs::write(base.join("secret"), SECRET).expect("write");
    for (name, len) in [("b/empty", 0), ("b/one", 1), ("b/sub/many", PAGE * 5 + 7)] {
        if !ufs.join(name).exists() {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(ufs.join(name), data).expect("write");
        }
    }
    let _ = std::os::unix::fs::symlink(base, ufs.join("escape"));
    let _ = std::os::unix::fs::symlink(base, ufs.join("b/out"));
    let _ = std::os::unix::fs::symlink(base.join("secret"), ufs.join("b/secret-link"));
    let _ = std::os::unix::fs::symlink(ufs.join("b/loop"), ufs.join("b/loop"));
}

fn path(r: &mut Rand) -> String {
    let bucket = r.pick(&[
        "b", "b", "b", "escape", "nope", "", "..", "%2e%2e", "b%2F..",
    ]);
    let key = gen::string(
        r,
        &[
            "one",
            "empty",
            "sub/",
            "sub/many",
            "sub/deeper/",
            "out/secret",
            "secret-link",
            "loop",
            "../secret",
            "..%2Fsecret",
            "%2e%2e/%2e%2e/secret",
            "new",
            "a%00b",
            "%ff",
            "sp%20ace",
            "x+y",
            "//",
            "./",
            "sub/../../secret",
        ],
    );
    match r.below(6) {
        0 => format!("/{bucket}"),
        1 => "/".to_owned(),
        _ => format!("/{bucket}/{key}"),
    }
}

fn query(r: &mut Rand) -> String {
    let mut q: Vec<String> = Vec::new();
    for _ in 0..r.below(5) {
        let v = match r.below(12) {
            0 => "list-type=2".to_owned(),
            1 => format!(
                "prefix={}",
                r.pick(&["sub/", "sub", "../", "%2e%2e%2F", "", "x"])
            ),
            2 => format!("delimiter={}", r.pick(&["/", "", ",", "%2F"])),
            3 => format!(
                "max-keys={}",
                r.pick(&["0", "1", "2", "-1", "x", "99999999999999999999"])
            ),
            4 => format!(
                "continuation-token={}",
                r.pick(&["", "zz", "6f6e65", "2e2e2f736563726574", "%ff"])
            ),
            5 => format!("start-after={}", r.pick(&["one", "", "~"])),
            6 => "encoding-type=url".to_owned(),
            7 => r
                .pick(&[
                    "acl",
                    "uploads",
                    "uploadId=1",
                    "tagging",
                    "location",
                    "delete",
                ])
                .to_owned(),
            8 => format!("marker={}", r.pick(&["a", "", "sub/"])),
            _ => {
                let n = r.below(8);
                String::from_utf8_lossy(&r.bytes(n)).into_owned()
            }
        };
        q.push(v);
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

fn headers(r: &mut Rand) -> (Vec<String>, Vec<u8>) {
    let mut h = Vec::new();
    if r.pct(40) {
        h.push(format!(
            "Range: {}",
            r.pick(&[
                "bytes=0-0",
                "bytes=1-",
                "bytes=-3",
                "bytes=0--2",
                "bytes=5-3",
                "bytes=99999-",
                "bytes=0-1,3-4",
                "bytes=",
                "junk",
                "bytes=-0",
                "bytes=18446744073709551615-",
            ])
        ));
    }
    if r.pct(20) {
        h.push("Authorization: AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00".into());
    }
    let mut body = Vec::new();
    if r.pct(30) {
        h.push("x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER".into());
        h.push("Content-Encoding: aws-chunked".into());
        body = match r.below(4) {
            0 => b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".to_vec(),
            1 => b"zz\r\nhello\r\n0\r\n\r\n".to_vec(),
            2 => b"ffffffffffffffff\r\nab".to_vec(),
            _ => {
                let n = r.below(64);
                r.bytes(n)
            }
        };
    } else if r.pct(40) {
        let n = r.below(2 * PAGE);
        body = r.bytes(n);
    }
    if r.pct(10) {
        h.push("x-amz-copy-source: /b/one".into());
    }
    (h, body)
}

fn request(r: &mut Rand) -> Request {
    let method = r.pick(&[
        "GET", "GET", "GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "get",
    ]);
    let target = format!("{}{}", path(r), query(r));
    let (h, body) = headers(r);
    if r.pct(85) {
        Request::with_headers(r, method, &target, &h, &body)
    } else {
        Request::build(r, method, &target, body)
    }
}

#[test]
fn r5_fuzz_worker_s3() {
    let budget = Budget::new("worker_s3", 2000);
    let f = Figures::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    fixture(&base);
    let rt = runtime("worker_s3");
    let input = WorkerInput {
        port: Some("0".into()),
        s3_port: Some("0".into()),
        cache_dir: Some(base.join("cache").display().to_string()),
        ufs: Some(format!("file://{}", base.join("ufs").display())),
        cache_size: Some("256KB".into()),
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        ..WorkerInput::default()
    };
    let worker = rt.block_on(async {
        RunningWorker::start(WorkerConfig::from_input(&input).expect("config"))
            .await
            .expect("worker")
    });
    let s3 = worker.s3_addr().expect("an S3 API port");
    let mut r = Rand::new(budget.seed);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut done = 0;
    while budget.more(done) {
        for _ in 0..BATCH.min(budget.cases - done) {
            let req = request(&mut r);
            Figures::bump(&f.cases);
            match rt.block_on(exchange(s3, &req, TIMEOUT)) {
                Outcome::Response { status, body } => {
                    Figures::bump(&f.accepted);
                    *statuses.entry(status).or_default() += 1;
                    assert!(
                        !body.windows(SECRET.len()).any(|w| w == SECRET),
                        "case {done}: secret leaked by {req:?}"
                    );
                    let text = String::from_utf8_lossy(&body);
                    let deliberate =
                        status == 501 || text.contains("Too many levels of symbolic links");
                    assert!(
                        status < 500 || deliberate,
                        "case {done}: {status} for {req:?}: {text}"
                    );
                }
                Outcome::Closed | Outcome::Aborted(_) => Figures::bump(&f.errors_ok),
                Outcome::Hang => {
                    eprintln!("R5 fuzz worker_s3: HANG (case {done}): {req:?}");
                    Figures::bump(&f.hangs);
                }
                Outcome::Malformed(why) => {
                    panic!("case {done}: malformed response ({why}) to {req:?}")
                }
            }
            done += 1;
        }
        let health = rt.block_on(exchange(worker.addr(), &Request::health(), TIMEOUT));
        assert!(
            matches!(health, Outcome::Response { status: 200, .. }),
            "after {done} requests /v1/health answered {health:?}"
        );
        fixture(&base);
    }
    rt.block_on(worker.stop());
    println!("R5 fuzz worker_s3: statuses {statuses:?}");
    assert_eq!(std::fs::read(base.join("secret")).expect("secret"), SECRET);
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .expect("base")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cache", "secret", "ufs"]);
    f.finish(&budget);
}
