//! The Rust client against a fake worker that answers with random faults:
//! every read returns the right bytes or an error (never wrong bytes), every
//! call ends within its deadline, a fault-free exchange always succeeds, and
//! the client's requests are well formed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use _core::client::{ClientCore, FileStatus};
use _core::config::{ClientConfig, ConfigInput};
use _core::{Error, Result};

use crate::fake::{self, Case, Served};
use crate::gen::Rand;
use crate::lends::Lends;
use crate::{runtime, Budget, Figures};

/// Per-request timeout of the client (seconds) and its operation deadline.
const TIMEOUT: &str = "0.3";
const DEADLINE: Duration = Duration::from_millis(1500);
/// An operation slower than this is a hang.
const HANG: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy)]
enum Op {
    /// `read_vec(s, e)` inside the file.
    Read(u64, u64),
    /// `read_slice` with Python bounds and an unknown size; with `true`,
    /// into buffers lent for the result (`read_slice_lent`).
    Slice(i64, Option<i64>, bool),
    Info,
    List,
    Size,
    Load,
    /// A whole-file write of this many bytes.
    Write(usize),
}

fn op(r: &mut Rand, size: u64, page: u64) -> Op {
    let n = i64::try_from(size).expect("small");
    let bound = |r: &mut Rand| -> i64 {
        #[allow(clippy::cast_possible_wrap)]
        let v = (r.next() % (size + 2 * page + 1)) as i64;
        if r.pct(25) {
            -v
        } else {
            v
        }
    };
    match r.below(12) {
        0..=3 => {
            let s = r.next() % (size + 1);
            let e = s + r.next() % (size - s + 1).min(6 * page + 1);
            Op::Read(s, e)
        }
        4..=6 => Op::Slice(
            bound(r),
            if r.pct(30) {
                None
            } else {
                Some(bound(r).min(n + 5))
            },
            r.pct(50),
        ),
        7 => Op::Info,
        8 => Op::List,
        9 => Op::Size,
        10 => Op::Load,
        _ => Op::Write(r.below(3 * usize::try_from(page).expect("small"))),
    }
}

fn client(port: u16, page: u64) -> Arc<ClientCore> {
    let mut cfg = ClientConfig::from_input(&ConfigInput {
        worker_hosts: Some(format!("127.0.0.1:{port}")),
        page_size: Some(page.to_string()),
        retries: Some("2".into()),
        timeout: Some(TIMEOUT.into()),
        concurrency: Some("4".into()),
        ..ConfigInput::default()
    })
    .expect("config");
    cfg.io.deadline = DEADLINE;
    _core::client::process::runtime::current()
        .expect("runtime")
        .client(&cfg)
        .expect("client")
}

/// Python's slice of `0..size`.
fn py(start: i64, end: Option<i64>, size: u64) -> (usize, usize) {
    let (s, e) = _core::client::pages::resolve(start, end, size);
    (
        usize::try_from(s).expect("small"),
        usize::try_from(e).expect("small"),
    )
}

/// What an operation returned.
enum Got {
    Bytes(Result<Vec<u8>>),
    Status(Box<Result<FileStatus>>),
    Size(Result<u64>),
    Load(Result<serde_json::Value>),
    Write(Result<()>),
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 256) as u8).collect()
}

async fn perform(c: &ClientCore, url: &str, op: Op) -> Got {
    match op {
        Op::Read(s, e) => Got::Bytes(c.reader().read_vec(url, s, e).await),
        Op::Slice(s, e, false) => Got::Bytes(c.reader().read_slice(url, s, e, None).await),
        Op::Slice(s, e, true) => {
            let lends = Lends::default();
            let got = c
                .reader()
                .read_slice_lent(url, s, e, None, Some(&lends))
                .await;
            Got::Bytes(got.map(|b| lends.bytes(b).0))
        }
        Op::Info => Got::Status(Box::new(c.info(url).await)),
        Op::List => Got::Status(Box::new(c.list(url).await.and_then(|l| {
            l.into_iter()
                .next()
                .ok_or_else(|| Error::NotFound("empty list".into()))
        }))),
        Op::Size => Got::Size(c.file_size(url).await),
        Op::Load => Got::Load(c.load_op(url, "progress").await),
        Op::Write(n) => Got::Write(c.write(url, bytes::Bytes::from(pattern(n))).await),
    }
}

/// How an operation ended, when it kept the properties.
#[derive(PartialEq)]
enum Verdict {
    Accepted,
    Rejected,
    /// A fault-free exchange that still timed out: only a loaded machine
    /// does that to a 0.3 s timeout; counted and printed, not failed.
    SlowFaultFree,
}

fn error_of(got: &Got) -> Option<&Error> {
    match got {
        Got::Bytes(r) => r.as_ref().err(),
        Got::Status(r) => r.as_ref().as_ref().err(),
        Got::Size(r) => r.as_ref().err(),
        Got::Load(r) => r.as_ref().err(),
        Got::Write(r) => r.as_ref().err(),
    }
}

/// Judges one operation by the answers it got, or names the property it
/// broke.
fn judge(case: &Case, op: Op, got: Got, log: &[Served]) -> std::result::Result<Verdict, String> {
    let error = error_of(&got).map(|e| (e.to_string(), e.is_timeout()));
    let t = &case.truth;
    let size = t.len() as u64;
    let faults = log.iter().any(|s| s.fault.is_some());
    let mut sizes: Vec<u64> = log.iter().flat_map(|s| s.sizes.iter().copied()).collect();
    sizes.push(size);
    let lied = sizes.iter().any(|&z| z != size);
    for s in log {
        if !s.request_ok {
            return Err(format!("malformed request {}", s.target));
        }
        if let Some(u) = &s.upload {
            if *u != pattern(u.len()) {
                return Err("the client sent other bytes than it was given".into());
            }
        }
    }
    let ok = match (op, got) {
        (Op::Read(s, e), Got::Bytes(r)) => match r {
            #[allow(clippy::cast_possible_truncation)]
            Ok(v) if v != t[s as usize..e as usize] => {
                return Err(format!("wrong bytes: {} for {s}..{e}", v.len()))
            }
            r => r.is_ok(),
        },
        (Op::Slice(s, e, _), Got::Bytes(r)) => match r {
            Ok(v) => {
                let (a, b) = py(s, e, size);
                // A size the server lied about consistently cannot be caught.
                let lie_ok = lied
                    && sizes.iter().filter(|&&z| z <= size).any(|&z| {
                        let (a, b) = py(s, e, z);
                        v == t[a..b]
                    });
                if v != t[a..b] && !lie_ok {
                    return Err(format!(
                        "wrong bytes: {} for [{s}:{e:?}], lied={lied}",
                        v.len()
                    ));
                }
                true
            }
            Err(_) => false,
        },
        (_, Got::Status(r)) => {
            let r = *r;
            if let (Ok(st), false) = (&r, faults) {
                if st.length != size || st.ufs_path != case.url || st.is_dir() {
                    return Err(format!("fault-free status parsed wrong: {st:?}"));
                }
            }
            r.is_ok()
        }
        (_, Got::Size(r)) => match r {
            Ok(n) if !sizes.contains(&n) => return Err(format!("size {n} never announced")),
            r => r.is_ok(),
        },
        (_, Got::Load(r)) => match r {
            Ok(v) if !faults && v != fake::load_answer() => return Err(format!("load answer {v}")),
            r => r.is_ok(),
        },
        (_, Got::Write(r)) => {
            if r.is_ok() && !log.iter().any(|s| s.upload.is_some() && s.success) {
                return Err("write succeeded without a 2xx".into());
            }
            r.is_ok()
        }
        (_, Got::Bytes(_)) => unreachable!("reads give bytes"),
    };
    Ok(match (ok, faults, error) {
        (true, _, _) => Verdict::Accepted,
        (false, true, _) => Verdict::Rejected,
        (false, false, Some((_, true))) => Verdict::SlowFaultFree,
        (false, false, e) => {
            return Err(format!(
                "failed although every answer was fault-free: {:?}",
                e.map(|e| e.0)
            ))
        }
    })
}

#[test]
fn r5_fuzz_client_server() {
    let budget = Budget::new("client_server", 300);
    let f = Figures::default();
    let rt = runtime("client_server");
    let slot: Arc<Mutex<Option<Arc<Case>>>> = Arc::default();
    let port = rt.block_on(fake::start(slot.clone()));
    let mut r = Rand::new(budget.seed ^ 0xc11e);
    let mut faults_seen = 0u64;
    let mut slow = 0u64;
    let trace = std::env::var_os("ALLUXIOFS_FUZZ_TRACE").is_some();
    let mut done = 0;
    while budget.more(done) {
        let page = r.pick(&[16u64, 64, 100]);
        let len = r.below(usize::try_from(5 * page).expect("small") + 3);
        let case = Arc::new(Case {
            truth: r.bytes(len),
            page,
            url: format!("file:///data/f {done}+ü.bin"),
            fault_pct: r.pick(&[0, 5, 20, 50]),
            stall: Duration::from_millis(450),
            rng: Mutex::new(Rand::new(r.next())),
            log: Mutex::new(Vec::new()),
        });
        *slot.lock().expect("slot") = Some(case.clone());
        let c = client(port, page);
        for _ in 0..1 + r.below(3) {
            let o = op(&mut r, len as u64, page);
            let from = case.log.lock().expect("log").len();
            let t0 = std::time::Instant::now();
            let got =
                rt.block_on(async { tokio::time::timeout(HANG, perform(&c, &case.url, o)).await });
            if trace {
                let log = case.log.lock().expect("log")[from..].to_vec();
                let faults: Vec<_> = log.iter().map(|s| s.fault.unwrap_or("-")).collect();
                eprintln!("R5 trace case {done} {o:?} {:?} {faults:?}", t0.elapsed());
            }
            Figures::bump(&f.cases);
            let Ok(got) = got else {
                eprintln!("R5 fuzz client_server: HANG in case {done}: {o:?}");
                Figures::bump(&f.hangs);
                continue;
            };
            let log = case.log.lock().expect("log")[from..].to_vec();
            faults_seen += log.iter().filter(|s| s.fault.is_some()).count() as u64;
            match judge(&case, o, got, &log) {
                Ok(Verdict::Accepted) => Figures::bump(&f.accepted),
                Ok(Verdict::Rejected) => Figures::bump(&f.errors_ok),
                Ok(Verdict::SlowFaultFree) => {
                    eprintln!("R5 fuzz client_server: case {done} {o:?} timed out fault-free");
                    slow += 1;
                    Figures::bump(&f.errors_ok);
                }
                Err(e) => panic!(
                    "R5 fuzz client_server: case {done} (seed {:#x}) {o:?} on a {len}-byte file, page {page}: {e}\nanswers: {log:#?}",
                    budget.seed
                ),
            }
        }
        drop(c);
        done += 1;
    }
    println!(
        "R5 fuzz client_server: {faults_seen} faulty answers served; \
         {slow} fault-free operations timed out (machine load)"
    );
    // Many would be a client that cannot finish an honest exchange in time.
    let ops = f.cases.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        slow <= 3.max(ops / 20),
        "{slow} of {ops} fault-free operations timed out"
    );
    f.finish(&budget);
}
