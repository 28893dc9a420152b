//! Benchmark C1 in one process: a cold read of an S3 object (moto) through a
//! fresh worker, against one plain GET of the same object straight from moto.
//!
//! Usage: `cargo run --release --example c1_cold -- [MIB] [RUNS] [CONCURRENCY] [MODE]`
//! (defaults 64, 3, 64, `range`). MODE `range` sends one `/v1/range` per page
//! (what the client sends), `page` one `/v1/file/{id}/page/{i}`, `first` a
//! `/v1/range` for page 0 alone and then the rest concurrently (what
//! `cat_file` does when it does not know the size). Every run starts a new
//! worker on an empty cache directory. Prints one line per run and a JSON
//! summary `{"direct_s", "worker_s", "ratio", ...}` (ratio = direct time /
//! worker time, i.e. worker throughput as a fraction of the direct GET).
//!
//! With `C1_S3FS_PYTHON=/path/to/python` (a Python with s3fs, e.g. the
//! project's `.venv/bin/python`), s3fs `cat_file` of the same object is timed
//! too (what benches/run.py compares against) and `ratio_s3fs` is printed.
//!
//! `C1_LOG=1` prints the worker's debug log (each UFS span read, timed).
//!
//! `C1_READAHEAD=N` and `C1_READAHEAD_MAX=M` set the worker's
//! `readahead_pages` and `readahead_max_pages` (default: the worker's).
//!
//! moto_server comes from `ALLUXIOFS_MOTO_SERVER`, `.venv`, the main
//! checkout's `.venv` or `PATH` (see tests/common_ufs).

#[path = "../tests/common_ufs/mod.rs"]
mod common_ufs;

use std::time::Instant;

use _core::config::ConfigInput;
use _core::protocol::path_id::path_id;
use _core::worker::config::{WorkerConfig, WorkerInput};
use _core::worker::server::RunningWorker;
use futures::StreamExt;
use object_store::ObjectStoreExt;

const PAGE: u64 = 1 << 20;
const KEY: &str = "c1/cold.bin";

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn get(http: &reqwest::Client, url: &str) -> bytes::Bytes {
    let r = http.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.bytes().await.unwrap()
}

/// One cold read through a new worker; seconds, and the worker's UFS loads.
async fn through_worker(
    moto: &common_ufs::Moto,
    data: &[u8],
    conc: usize,
    mode: &str,
) -> (f64, u64) {
    let cache = tempfile::tempdir().unwrap();
    let input = WorkerInput {
        port: Some("0".into()),
        cache_dir: Some(cache.path().to_string_lossy().into()),
        ufs: Some("s3://bench".into()),
        s3_endpoint: Some(moto.endpoint()),
        s3_region: Some("us-east-1".into()),
        s3_access_key_id: Some("testing".into()),
        s3_secret_access_key: Some("testing".into()),
        cache_size: Some("4GB".into()),
        readahead_pages: std::env::var("C1_READAHEAD").ok(),
        readahead_max_pages: std::env::var("C1_READAHEAD_MAX").ok(),
        cluster: ConfigInput {
            page_size: Some(PAGE.to_string()),
            ..ConfigInput::default()
        },
        s3_port: Some("0".into()),
        ..WorkerInput::default()
    };
    let w = RunningWorker::start(WorkerConfig::from_input(&input).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", w.addr());
    let ufs = format!("s3://bench/{KEY}");
    let id = path_id(&ufs);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .unwrap();
    let pages = (data.len() as u64).div_ceil(PAGE);
    let url = |i: u64| match mode {
        "page" => format!("{base}/v1/file/{id}/page/{i}?ufsFullPath={ufs}"),
        _ => format!(
            "{base}/v1/range/{id}?ufsFullPath={ufs}&offset={}&length={PAGE}",
            i * PAGE
        ),
    };
    let t = Instant::now();
    let mut got = vec![bytes::Bytes::new(); pages as usize];
    let mut rest = 0..pages;
    if mode == "first" {
        got[0] = get(&http, &url(0)).await;
        rest = 1..pages;
        eprintln!("  first page after {:.3} s", t.elapsed().as_secs_f64());
    }
    let mut s = futures::stream::iter(rest)
        .map(|i| {
            let (http, u) = (http.clone(), url(i));
            async move { (i, get(&http, &u).await) }
        })
        .buffer_unordered(conc);
    while let Some((i, b)) = s.next().await {
        got[i as usize] = b;
    }
    let secs = t.elapsed().as_secs_f64();
    let joined: Vec<u8> = got.concat();
    assert!(joined == data, "bytes through the worker differ");
    let loads = w.worker().store().stats().loads;
    w.stop().await;
    (secs, loads)
}

/// `C1_LOG=1`: the worker's debug log (span loads and their timings) on stderr.
struct StderrLog(Instant);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("_core")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) && r.level() <= log::Level::Debug {
            eprintln!("  [{:8.3}] {}", self.0.elapsed().as_secs_f64(), r.args());
        }
    }
    fn flush(&self) {}
}

/// Median seconds of `runs` s3fs `cat_file`s of the object, in a Python
/// process of its own (after one untimed warm-up call).
fn s3fs_seconds(python: &str, endpoint: &str, runs: usize) -> f64 {
    let script = format!(
        r#"
import statistics, time, s3fs
fs = s3fs.S3FileSystem(key="testing", secret="testing",
                       client_kwargs={{"endpoint_url": "{endpoint}", "region_name": "us-east-1"}})
fs.info("bench/{KEY}")
t = []
for _ in range({runs}):
    s = time.perf_counter(); n = len(fs.cat_file("bench/{KEY}")); t.append(time.perf_counter() - s)
print(statistics.median(t))
"#
    );
    let out = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("running the s3fs baseline");
    assert!(
        out.status.success(),
        "s3fs baseline: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::var_os("C1_LOG").is_some() {
        let logger: &'static StderrLog = Box::leak(Box::new(StderrLog(Instant::now())));
        log::set_logger(logger).unwrap();
        log::set_max_level(log::LevelFilter::Debug);
    }
    let mib: u64 = arg(1, 64);
    let runs: usize = arg(2, 3);
    let conc: usize = arg(3, 64);
    let mode: String = arg(4, "range".to_string());
    let moto = common_ufs::Moto::start().expect("moto_server is needed");
    moto.create_bucket("bench").await;
    let data: Vec<u8> = (0..mib * PAGE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let http = reqwest::Client::new();
    let object = format!("{}/bench/{KEY}", moto.endpoint());
    let r = http.put(&object).body(data.clone()).send().await.unwrap();
    assert!(r.status().is_success(), "PUT: {}", r.status());

    // The baseline: one plain (signed) GET of the whole object.
    let s3 = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("bench")
        .with_endpoint(moto.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .build()
        .unwrap();
    let key = object_store::path::Path::from(KEY);
    let mut direct = Vec::new();
    let mut worker = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let b = s3.get(&key).await.unwrap().bytes().await.unwrap();
        let d = t.elapsed().as_secs_f64();
        assert!(b == data, "direct GET bytes differ");
        let (w, loads) = through_worker(&moto, &data, conc, &mode).await;
        eprintln!(
            "run {}: direct {d:.3} s, worker {w:.3} s ({loads} UFS loads), ratio {:.2}",
            run + 1,
            d / w
        );
        direct.push(d);
        worker.push(w);
    }
    let (d, w) = (median(&direct), median(&worker));
    let s3fs = std::env::var("C1_S3FS_PYTHON")
        .ok()
        .map(|py| s3fs_seconds(&py, &moto.endpoint(), runs));
    if let Some(s) = s3fs {
        eprintln!(
            "s3fs cat_file median {s:.3} s: worker/s3fs throughput ratio {:.2}",
            s / w
        );
        println!(
            "{{\"s3fs_s\": {s:.4}, \"worker_s\": {w:.4}, \"ratio_s3fs\": {:.3}}}",
            s / w
        );
    }
    println!(
        "{{\"mib\": {mib}, \"mode\": \"{mode}\", \"concurrency\": {conc}, \"direct_s\": {d:.4}, \
         \"worker_s\": {w:.4}, \"direct_mbps\": {:.1}, \"worker_mbps\": {:.1}, \"ratio\": {:.3}}}",
        mib as f64 * 1.048_576 / d,
        mib as f64 * 1.048_576 / w,
        d / w
    );
}
