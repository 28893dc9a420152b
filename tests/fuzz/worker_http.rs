//! The worker end to end: random raw HTTP/1.1 requests over TCP, built from
//! the real routes (§5) and garbage. Every request must get a well-formed
//! response or a clean close in time; `/v1/health` stays 200; no 5xx but the
//! deliberate ones; nothing outside the under-storage root is touched.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use _core::config::ConfigInput;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;

use crate::gen::Rand;
use crate::raw::{exchange, Outcome, Request};
use crate::requests::{request, PAGE};
use crate::{runtime, Budget, Figures};

const SECRET: &[u8] = b"OUTSIDE-SECRET-BYTES";
/// Time a request may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(10);
const BATCH: u64 = 25;

fn fixture(base: &Path) {
    let ufs = base.join("ufs");
    // Renames may have put files where the directories were.
    for d in [ufs.join("sub"), ufs.join("sub/deeper")] {
        if std::fs::symlink_metadata(&d).is_ok_and(|m| !m.is_dir()) {
            std::fs::remove_file(&d).expect("rm");
        }
    }
    std::fs::create_dir_all(ufs.join("sub/deeper")).expect("mkdir");
    std::fs::create_dir_all(base.join("ufs2")).expect("mkdir");
    std::fs::write(base.join("secret"), SECRET).expect("write");
    std::fs::write(base.join("ufs2/x"), SECRET).expect("write");
    for (name, len) in [
        ("empty", 0),
        ("one", 1),
        ("page", PAGE),
        ("many", PAGE * 5 + 7),
    ] {
        if !ufs.join(name).exists() {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(ufs.join(name), data).expect("write");
        }
    }
    let _ = std::os::unix::fs::symlink(base, ufs.join("escape"));
    let _ = std::os::unix::fs::symlink(ufs.join("loop"), ufs.join("loop"));
}

#[test]
fn r5_fuzz_worker_http() {
    let budget = Budget::new("worker_http", 3000);
    let f = Figures::default();
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    fixture(&base);
    let ufs = base.join("ufs").display().to_string();
    let rt = runtime("worker_http");
    let input = WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(base.join("cache").display().to_string()),
        ufs: Some(format!("file://{ufs}")),
        cache_size: Some("256KB".into()),
        // Page writes are fuzzed too (they are refused by default).
        allow_page_writes: true,
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    };
    let worker = rt.block_on(async {
        RunningWorker::start(WorkerConfig::from_input(&input).expect("config"))
            .await
            .expect("worker")
    });
    let addr = worker.addr();
    let mut r = Rand::new(budget.seed);
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut five: BTreeMap<String, u64> = BTreeMap::new();
    let mut aborted: BTreeMap<String, u64> = BTreeMap::new();
    let trace = std::env::var_os("ALLUXIOFS_FUZZ_TRACE").is_some();
    let mut done = 0;
    while budget.more(done) {
        for _ in 0..BATCH.min(budget.cases - done) {
            let req = request(&mut r, &ufs);
            Figures::bump(&f.cases);
            let out = rt.block_on(exchange(addr, &req, TIMEOUT));
            if trace {
                eprintln!("R5 trace {req:?} -> {out:?}");
            }
            match out {
                Outcome::Response { status, body } => {
                    Figures::bump(&f.accepted);
                    *statuses.entry(status).or_default() += 1;
                    assert!(
                        !body.windows(SECRET.len()).any(|w| w == SECRET),
                        "case {done}: secret leaked by {req:?}"
                    );
                    if status >= 500 {
                        let msg = String::from_utf8_lossy(&body);
                        let kind = if body.is_empty() {
                            format!("(no body) {}", req.line())
                        } else {
                            msg.to_string()
                        };
                        let kind = format!("{status} {kind}");
                        if !deliberate_5xx(&kind) {
                            eprintln!("R5 fuzz worker_http: {status} for {req:?}: {msg}");
                        }
                        *five.entry(kind).or_default() += 1;
                    }
                }
                Outcome::Closed => Figures::bump(&f.errors_ok),
                // After our half-close hyper drops the connection mid-answer.
                Outcome::Aborted(_) if req.half_closed() => Figures::bump(&f.errors_ok),
                // A file replaced behind the worker's back (the fixture
                // rebuilds the tree now and then) can be read short, so a streamed answer ends before its
                // Content-Length and the connection is closed. (A page a
                // client PUT shorter than the file's page no longer is: its
                // length is checked against the file's size.)
                Outcome::Aborted(status) => {
                    eprintln!("R5 fuzz worker_http: {status} body cut short for {req:?}");
                    *aborted.entry(req.line()).or_default() += 1;
                    Figures::bump(&f.errors_ok);
                }
                Outcome::Hang => {
                    eprintln!("R5 fuzz worker_http: HANG (case {done}): {req:?}");
                    Figures::bump(&f.hangs);
                }
                Outcome::Malformed(why) => {
                    panic!("case {done}: malformed response ({why}) to {req:?}")
                }
            }
            done += 1;
        }
        let health = rt.block_on(exchange(addr, &Request::health(), TIMEOUT));
        assert!(
            matches!(health, Outcome::Response { status: 200, .. }),
            "after {done} requests /v1/health answered {health:?}"
        );
        // Recursive copies into the tree itself grow it: start afresh now and then.
        if done % (BATCH * 20) == 0 {
            let _ = std::fs::remove_dir_all(base.join("ufs"));
        }
        fixture(&base);
    }
    rt.block_on(worker.stop());
    println!("R5 fuzz worker_http: statuses {statuses:?}; 5xx {five:?}; cut short {aborted:?}");
    // Nothing outside the under-storage root changed.
    assert_eq!(std::fs::read(base.join("secret")).expect("secret"), SECRET);
    assert_eq!(std::fs::read(base.join("ufs2/x")).expect("ufs2"), SECRET);
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .expect("base")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cache", "secret", "ufs", "ufs2"]);
    assert_eq!(
        std::fs::read_dir(base.join("ufs2")).expect("ufs2").count(),
        1
    );
    assert!(
        five.keys().all(|k| deliberate_5xx(k)),
        "unexpected 5xx: {five:?}"
    );
    f.finish(&budget);
}

/// 5xx answers that are deliberate, reports of a broken or changed under
/// storage: a symlink loop inside the root, or a file that changed under its
/// cached metadata (a page read short). Everything else the fuzzer sends is
/// the client's mistake and must be a 4xx.
fn deliberate_5xx(kind: &str) -> bool {
    kind.starts_with("500 ")
        && (kind.contains("Too many levels of symbolic links") || kind.contains("(file changed?)"))
}
