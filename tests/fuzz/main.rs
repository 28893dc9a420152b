//! R5 fuzzing (issue 7): every parser that reads bytes from the network,
//! driven by proptest for a bounded time, with 0 panics and 0 hangs.
//!
//! Targets (one `#[test]` each; each prints one figure line
//! `R5 fuzz <target>: cases=N panics=0 hangs=0 errors_ok=K accepted=M secs=S`):
//!
//! * `etcd_value` — the etcd value parser (`WorkerInfo::from_etcd_value`, all
//!   that membership's `parse_entry` does with a value): arbitrary bytes,
//!   arbitrary JSON, and structured mutations of real §1.2 values; valid
//!   values round-trip byte for byte.
//! * `query` — the worker's query decoding (`Query`), and the client's
//!   encoders round-tripping through it.
//! * `ufs_path` — the worker's URL confinement (`Ufs::check`,
//!   `root_relative`, then `stat`, `read`, `list` and the mutating calls) over
//!   a local root with escaping and looping symlinks, and an S3 root: nothing
//!   accepted leaves its root, nothing outside it changes.
//! * `file_id` — page-store file ids (they become directory names).
//! * `worker_http` — raw random HTTP/1.1 over TCP against an in-process
//!   worker: every request answered or cleanly closed in time, no 5xx but
//!   the deliberate ones, `/v1/health` 200 after every batch, nothing outside
//!   the under-storage root touched.
//! * `worker_s3` — the same against the worker's S3 API port: random
//!   paths (traversal, encoded separators, escaping symlinks), listings with
//!   random parameters, `Range` headers, `aws-chunked` bodies: S3 answers,
//!   4xx or the deliberate 5xx (501 NotImplemented, a symlink loop),
//!   nothing outside the root read or written.
//! * `client_parse` — the client's response parsers (`parse_list`,
//!   `status_error`, page math).
//! * `client_server` — the Rust client against a fake worker answering
//!   garbage (statuses, headers, lying lengths, truncation, stalls, mutated
//!   JSON): the right bytes or an error, never wrong bytes, never a hang.
//!
//! Modes (environment):
//! * default (CI): a fixed seed and a few hundred to a few thousand cases per
//!   target, sized for the debug build (`cargo test -q --test fuzz --
//!   --nocapture`, well under a minute on two cores).
//! * `ALLUXIOFS_FUZZ_CASES=N`: N cases per target.
//! * `ALLUXIOFS_FUZZ_SECS=S`: run each target for S seconds (with `CASES`
//!   too, whichever ends first). Long runs want the release build:
//!   `ALLUXIOFS_FUZZ_SECS=600 cargo test --release --test fuzz -- --nocapture`.
//! * In either long mode the seed is random and printed
//!   (`R5 fuzz-seed <target>=0x…`); `ALLUXIOFS_FUZZ_SEED=0x…` replays one.
//! * `ALLUXIOFS_FUZZ_TRACE=1`: the network targets print every exchange.
//!
//! Run one target with `cargo test --test fuzz r5_fuzz_<target> --
//! --nocapture`. A failing case prints its input (proptest shrinks the pure
//! targets); the network targets print the case number and seed to replay.
//!
//! What counts as a pass, beyond "no panic, no hang": the worker answers a
//! client's mistake with a 4xx; its only 5xx are reports of a broken or
//! changed under storage (a symlink loop in the root, a file that changed
//! under cached metadata). A streamed answer may end before its
//! Content-Length (the connection is closed, so no client takes it as data):
//! that happens when a client cached a short page with `POST /v1/file/…/page`;
//! such cases are listed, not failed. Outside the client property, because
//! no client can detect them: a 2xx whose body has the right length and the
//! wrong bytes (the fake worker never sends one), and a lie about the file
//! size that the short body agrees with (when the fake worker lied about the
//! size, bytes equal to the file cut at the lied size are accepted).

mod client_parse;
mod client_server;
mod etcd_value;
mod fake;
mod gen;
#[path = "../common/lends.rs"]
mod lends;
mod paths;
mod raw;
mod requests;
mod worker_http;
mod worker_s3;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRunner};

/// The CI seed.
const CI_SEED: u64 = 0x5eed_a11a_0f5f_0007;

/// A synchronous call slower than this counts as a hang.
pub const HANG: Duration = Duration::from_secs(5);

/// Threads that panicked, by name (test threads are named after the test,
/// runtime threads after their target), for the `panics=` figure.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned();
            PANICS.lock().unwrap_or_else(|e| e.into_inner()).push(name);
            previous(info);
        }));
    });
}

/// Panics so far on threads whose name contains `key`.
pub fn panics(key: &str) -> u64 {
    let p = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    p.iter().filter(|n| n.contains(key)).count() as u64
}

/// How long one target runs, and with which seed.
pub struct Budget {
    /// Target name (also the thread-name key of its panics).
    pub target: &'static str,
    /// Most cases.
    pub cases: u64,
    /// Most time.
    pub secs: Option<f64>,
    /// Seed of the case generator.
    pub seed: u64,
    start: Instant,
}

fn env_num(name: &str) -> Option<f64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse::<f64>() {
        Ok(n) if n > 0.0 => Some(n),
        _ => panic!("{name}={v:?}: expected a positive number"),
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl Budget {
    /// The budget of `target`: `ci_cases` by default, the environment's in
    /// long mode.
    pub fn new(target: &'static str, ci_cases: u64) -> Self {
        install_panic_counter();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let env_cases = env_num("ALLUXIOFS_FUZZ_CASES").map(|n| n as u64);
        let secs = env_num("ALLUXIOFS_FUZZ_SECS");
        let long = env_cases.is_some() || secs.is_some();
        let seed = match std::env::var("ALLUXIOFS_FUZZ_SEED") {
            Ok(s) => {
                let t = s.trim();
                let parsed = match t.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => t.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("ALLUXIOFS_FUZZ_SEED={s:?}: not a number"))
            }
            Err(_) if long => random_seed(),
            Err(_) => CI_SEED,
        };
        let cases = match (env_cases, secs) {
            (Some(n), _) => n,
            (None, Some(_)) => u64::MAX,
            (None, None) => ci_cases,
        };
        println!(
            "R5 fuzz-seed {target}={seed:#018x} ({})",
            if long { "long mode" } else { "CI" }
        );
        Self {
            target,
            cases,
            secs,
            seed,
            start: Instant::now(),
        }
    }

    /// Whether another case may start after `done`.
    pub fn more(&self, done: u64) -> bool {
        done < self.cases
            && self
                .secs
                .is_none_or(|s| self.start.elapsed().as_secs_f64() < s)
    }

    /// A proptest runner seeded with this budget's seed, running `batch`
    /// cases per `run` call (call it while [`Budget::more`]).
    pub fn runner(&self, batch: u64) -> TestRunner {
        TestRunner::new(Config {
            #[allow(clippy::cast_possible_truncation)]
            cases: batch.min(self.cases).min(u64::from(u32::MAX)) as u32,
            rng_algorithm: RngAlgorithm::ChaCha,
            rng_seed: RngSeed::Fixed(self.seed),
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        })
    }

    /// Seconds since the budget was made.
    pub fn secs_so_far(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// The figures of one target.
#[derive(Default)]
pub struct Figures {
    /// Cases run.
    pub cases: AtomicU64,
    /// Calls that took longer than allowed.
    pub hangs: AtomicU64,
    /// Inputs rejected with a clean error.
    pub errors_ok: AtomicU64,
    /// Inputs accepted (and checked).
    pub accepted: AtomicU64,
}

impl Figures {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an `Ok` as accepted and an `Err` as a clean error.
    pub fn outcome<T, E>(&self, r: &Result<T, E>) {
        Self::bump(if r.is_ok() {
            &self.accepted
        } else {
            &self.errors_ok
        });
    }

    /// Prints the figure line and fails on any panic or hang.
    pub fn finish(&self, budget: &Budget) {
        let panics = panics(budget.target);
        let hangs = self.hangs.load(Ordering::Relaxed);
        println!(
            "R5 fuzz {}: cases={} panics={panics} hangs={hangs} errors_ok={} accepted={} secs={:.1}",
            budget.target,
            self.cases.load(Ordering::Relaxed),
            self.errors_ok.load(Ordering::Relaxed),
            self.accepted.load(Ordering::Relaxed),
            budget.secs_so_far()
        );
        assert_eq!(panics, 0, "{}: panics", budget.target);
        assert_eq!(hangs, 0, "{}: hangs", budget.target);
    }
}

/// Runs `f` and counts it as a hang if it took longer than [`HANG`].
pub fn timed<T>(figures: &Figures, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    if t.elapsed() > HANG {
        Figures::bump(&figures.hangs);
    }
    out
}

/// Runs a proptest strategy under `budget` in batches until it is spent.
pub fn run_prop<S: proptest::strategy::Strategy>(
    budget: &Budget,
    figures: &Figures,
    strategy: &S,
    test: impl Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    const BATCH: u64 = 256;
    let mut runner = budget.runner(BATCH);
    let mut done = 0;
    while budget.more(done) {
        let n = BATCH.min(budget.cases - done);
        if done > 0 {
            // A fresh runner per batch (a runner counts its successes across
            // calls), seeded from the previous one.
            runner = TestRunner::new_with_rng(
                Config {
                    #[allow(clippy::cast_possible_truncation)]
                    cases: n as u32,
                    ..runner.config().clone()
                },
                runner.new_rng(),
            );
        }
        let res = runner.run(strategy, |v| {
            Figures::bump(&figures.cases);
            test(v)
        });
        if let Err(e) = res {
            panic!(
                "R5 fuzz {}: property failed (seed {:#x}): {e}",
                budget.target, budget.seed
            );
        }
        done += n;
    }
}

/// A multi-threaded runtime whose threads carry the target's name, so that
/// panics in spawned tasks are counted for it.
pub fn runtime(target: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("r5-{target}"))
        .enable_all()
        .build()
        .expect("runtime")
}
